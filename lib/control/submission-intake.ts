/**
 * The submit handler's work, as a plain function the Lambda, the local runtime and the watchdog's
 * sweep share: read and validate one submit.json, check what it names exists, record the job
 * exactly once, then admit it (budget, queue, launch). Bad input never throws: the refusal is
 * written where the user looks, in plain words, and nothing is launched.
 */
import type { SubmissionResult, ValidatedSubmission } from '../submission/parse-submission';
import { parseSubmission } from '../submission/parse-submission';
import { readJobConfig, DURATION_KEY } from '../submission/job-config';
import { renderProblems } from '../submission/problems-text';
import type { SubmissionProblem } from '../submission/submission-problem';
import { MAX_TEXT_FILE_BYTES } from '../submission/submission-problem';
import { isRcloneDataset } from '../submission/remote-source';
import { formatSize } from '../submission/text-body';
import { describeProvenance } from '../blueprint/provenance';
import { jobResultFolder, REFUSAL_LABEL } from '../layout';
import type { JobEstimates } from '../job/job-store';
import type { ControlContext } from './control-context';
import type { ObjectHead } from './s3-objects';
import { admitJob } from './admission';

/** A submit.json as an S3 event (or the watchdog's sweep) names it. */
export interface SubmissionRef {
  readonly key: string;
  readonly etag: string;
  readonly versionId?: string;
  /** The event's time: the same on every delivery of one event. */
  readonly eventTime: string;
}

export type IntakeOutcome =
  | { readonly kind: 'accepted'; readonly group: string; readonly jobId: string }
  | { readonly kind: 'duplicate'; readonly group: string; readonly jobId: string }
  | { readonly kind: 'refused'; readonly messageKey: string; readonly problems: readonly SubmissionProblem[] }
  | { readonly kind: 'ignored'; readonly why: string };

/** Without `__duration__` the budget assumes this many minutes per dataset (and says so). */
export const DEFAULT_DURATION_MINUTES = 60;
/** A duplicate delivery finishes admission only when the first one evidently died (older than this). */
const ADMISSION_STALE_MS = 5 * 60 * 1000;

export const processSubmission = async (ctx: ControlContext, ref: SubmissionRef): Promise<IntakeOutcome> => {
  const { objects, config } = ctx;
  // Never download more than the cap: a bigger object is refused from its size alone.
  const read = await objects.readUpTo(ref.key, MAX_TEXT_FILE_BYTES);
  if (!read) return { kind: 'ignored', why: 'the submission was deleted before it could be read' };
  const { head, body } = read;
  const parsed: SubmissionResult = body
    ? parseSubmission({ body, key: ref.key, analysis: config })
    : {
        ok: false,
        problems: [
          {
            field: 'submit.json',
            message: `submit.json is ${formatSize(head.size)}; a submission is a small JSON file of at most ${formatSize(MAX_TEXT_FILE_BYTES)}: upload only the submit.json that names your data and config`,
          },
        ],
      };
  if (!parsed.ok) return refuse(ctx, ref, parsed.problems, parsed.jobId);

  const submission = parsed.submission;
  const checked = await checkReferencedObjects(ctx, submission);
  if (checked.problems.length > 0) return refuse(ctx, ref, checked.problems, submission.jobId);

  const instanceType = submission.instanceType ?? config.ec2?.instanceType ?? 'batch';
  const price = config.monitor ? await ctx.prices.hourly(instanceType) : undefined;
  const minutes = checked.estimates?.durationMinutes ?? DEFAULT_DURATION_MINUTES;
  const perDataset = price ? (price.usd * minutes) / 60 : 0;
  const notes: string[] = [reproducibilityLine(ctx, instanceType, checked.versions ?? [])];
  if (submission.rerunOf !== undefined) notes.push(`reruns job ${submission.rerunOf}`);
  if (config.monitor && !price) {
    notes.push(`no price is known for ${instanceType}: this job is not counted against the MAXCOST budget`);
  } else if (config.monitor && checked.estimates?.durationMinutes === undefined) {
    notes.push(
      `the config sets no ${DURATION_KEY}: the budget assumes ${DEFAULT_DURATION_MINUTES} minutes per dataset`,
    );
  }

  const outcome = await ctx.store.recordSubmission({
    bucket: ctx.bucket,
    submissionKey: ref.key,
    versionId: ref.versionId ?? head.versionId,
    etag: ref.etag || head.etag,
    jobId: submission.jobId,
    submittedAt: ref.eventTime,
    configKey: submission.configKey,
    estimates: checked.estimates ?? {},
    instanceType,
    datasets: submission.datasetKeys.map((datasetKey) => ({ datasetKey, estimatedCostUsd: perDataset })),
  });

  if (outcome.kind === 'timestamp-taken') {
    return refuse(
      ctx,
      ref,
      [
        {
          field: 'timestamp',
          message: `timestamp "${submission.jobId}" is already the id of the job submitted by ${outcome.existingSubmissionKey} at ${outcome.existingSubmittedAt}; its results are kept. Choose a new timestamp and upload the submission again`,
        },
      ],
      undefined,
    );
  }
  if (outcome.kind === 'duplicate-delivery') {
    // Finish an admission only when the creator evidently died (its record is old), not while it works.
    const age =
      ctx.now().getTime() -
      new Date(outcome.job.header.createdAt ?? outcome.job.header.submittedAt).getTime();
    if (outcome.job.datasets.some((d) => d.state === 'SUBMITTED') && age > ADMISSION_STALE_MS) {
      await admitJob(ctx, outcome.job, notes);
    }
    return { kind: 'duplicate', group: submission.group, jobId: submission.jobId };
  }
  await admitJob(ctx, outcome.job, notes);
  for (const warning of parsed.warnings) ctx.log.info('submission warning', { key: ref.key, warning });
  return { kind: 'accepted', group: submission.group, jobId: submission.jobId };
};

/**
 * Data and config must exist (a folder dataset must hold something); the config is read for estimates.
 * An rclone dataset is on the group's own remote, which the control plane cannot see (its
 * credentials reach only the fetch container): the fetch stage finds out, and names it if missing.
 */
const checkReferencedObjects = async (
  ctx: ControlContext,
  submission: ValidatedSubmission,
): Promise<{ problems: SubmissionProblem[]; estimates?: JobEstimates; versions?: string[] }> => {
  const { objects, bucket, config } = ctx;
  const problems: SubmissionProblem[] = [];
  // What was there when the job was accepted, by S3 version (the bucket is versioned): reproducibility.
  const versions: string[] = [];
  const many = submission.datasetKeys.length > 1;
  // The config is read beside the datasets' checks: neither waits for the other.
  const checkDatasets = Promise.all(
    submission.datasetKeys.map(async (key, i) => {
      const field = many ? `dataname[${i}]` : 'dataname';
      if (isRcloneDataset(key)) {
        versions[i] = `dataset ${key} (on the group's rclone remote)`;
        return;
      }
      if (key.endsWith('/')) {
        if (!(await objects.hasObjectsUnder(key))) {
          problems.push({
            field,
            message: `${field} names the folder "${key}", which is empty or does not exist in s3://${bucket}/: upload the dataset's files into it first`,
          });
        }
        versions[i] = `dataset folder ${key}`;
        return;
      }
      const head = await objects.head(key);
      if (head) {
        versions[i] = `dataset ${key} ${versionText(head.versionId)}`;
      } else {
        problems.push({
          field,
          message: `${field} "${key}" does not exist in s3://${bucket}/: upload the dataset first (the key is case-sensitive)`,
        });
      }
    }),
  );
  const [, configRead] = await Promise.all([checkDatasets, readConfig(ctx, submission.configKey)]);
  if (!configRead.ok) return { problems: sortByField([...problems, configRead.problem]) };
  const jobConfig = readJobConfig(configRead.body, submission.configKey, config.limits);
  if (!jobConfig.ok) return { problems: sortByField([...problems, ...jobConfig.problems]) };
  return {
    problems: sortByField(problems),
    estimates: {
      ...(jobConfig.durationMinutes !== undefined ? { durationMinutes: jobConfig.durationMinutes } : {}),
      ...(jobConfig.datasetSizeGiB !== undefined ? { datasetSizeGiB: jobConfig.datasetSizeGiB } : {}),
    },
    versions: [
      ...versions.filter(Boolean),
      `config ${submission.configKey} ${versionText(configRead.head.versionId)}`,
    ],
  };
};

/** The config's head and bytes, or the problem that it is missing or too large (then never read). */
const readConfig = async (
  { objects, bucket }: ControlContext,
  configKey: string,
): Promise<
  | { readonly ok: true; readonly head: ObjectHead; readonly body: Uint8Array }
  | { readonly ok: false; readonly problem: SubmissionProblem }
> => {
  const read = await objects.readUpTo(configKey, MAX_TEXT_FILE_BYTES);
  if (!read) {
    return {
      ok: false,
      problem: {
        field: 'configname',
        message: `configname "${configKey}" does not exist in s3://${bucket}/: upload the config first (the key is case-sensitive)`,
      },
    };
  }
  if (!read.body) {
    return {
      ok: false,
      problem: {
        field: 'configname',
        message: `configname "${configKey}" is ${formatSize(read.head.size)}, but a config may be at most ${formatSize(MAX_TEXT_FILE_BYTES)}: a config holds settings, not data; put large files under inputs/ instead`,
      },
    };
  }
  return { ok: true, head: read.head, body: read.body };
};

const versionText = (versionId: string | undefined): string =>
  versionId ? `version ${versionId}` : '(no S3 version: the bucket keeps none)';

/** The reproducibility line of a job's certificate: what will run, on what, with which inputs. */
const reproducibilityLine = (
  ctx: ControlContext,
  instanceType: string,
  versions: readonly string[],
): string => {
  const { config } = ctx;
  const image =
    config.runtime === 'batch' && config.batch
      ? `container image ${config.batch.image}`
      : `AMI ${config.ec2?.ami ?? 'unknown'}`;
  return `reproducibility: ${describeProvenance(config.provenance)}; worker ${image}, instance type ${instanceType}; ${versions.join(', ')}`;
};

/** File order: the datanames by index, then the config. */
const sortByField = (problems: SubmissionProblem[]): SubmissionProblem[] => {
  const rank = (field: string): number => {
    const index = /^dataname(?:\[(\d+)\])?$/.exec(field);
    return index ? Number(index[1] ?? 0) : field === 'configname' ? 1e6 : 2e6;
  };
  return [...problems].sort((a, b) => rank(a.field) - rank(b.field));
};

/**
 * Writes the refusal into the job's results folder when the timestamp is usable and no other job
 * owns it; otherwise beside the submission. Never overwrites another job's results.
 */
const refuse = async (
  ctx: ControlContext,
  ref: SubmissionRef,
  problems: readonly SubmissionProblem[],
  jobId: string | undefined,
): Promise<IntakeOutcome> => {
  const text = renderProblems(ref.key, problems);
  ctx.log.info('submission refused', { key: ref.key, problems: problems.map((p) => p.field) });
  const group = ref.key.split('/')[0];
  const resultFolder = jobId ? jobResultFolder(group, ctx.config.name, jobId) : undefined;
  // Always beside the submission too: the user sees it next to what they uploaded, and the
  // watchdog's sweep knows this submission was handled.
  const besideKey = await ctx.report.writeBesideSubmission(ref.key, text);
  // A job that exists owns its folder: a refusal never lands among its results.
  if (jobId && resultFolder && !(await ctx.store.getJob({ group, jobId }))) {
    await ctx.report.certify(resultFolder, ref.eventTime, ...text.trimEnd().split('\n'));
    await ctx.report.setStatus(resultFolder, REFUSAL_LABEL, {
      status: 'FAILED',
      reason: problems.map((p) => `${p.field}: ${p.message}`).join('; '),
      input: ref.key,
    });
    return { kind: 'refused', messageKey: `${resultFolder}/logs/certificate.txt`, problems };
  }
  return { kind: 'refused', messageKey: besideKey, problems };
};
