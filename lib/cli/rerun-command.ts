/**
 * `ncaas rerun <job> [--failed] [--timestamp T] [--instance-type T]`: the job's datasets and config
 * submitted again as a new job, through the normal intake (a submit.json like any other, checked as
 * `ncaas submit` checks one). With `--failed`, only the datasets that ended FAILED, TIMED_OUT or
 * INTERRUPTED. The submit.json carries `rerun_of`, so the new job's certificate names the job it
 * reruns; a plain S3 user can write the same key by hand.
 */
import type { AnalysisConfig } from '../blueprint/analysis-config';
import type { UserVisibleState } from '../job/job-state';
import { datasetLabel } from '../layout';
import { defaultJobId } from '../submission/job-id';
import { listBucketGroups } from './bucket-groups';
import { CliError, EXIT } from './errors';
import { s3Url, submissionKeyFor } from './job-folders';
import type { Output } from './output';
import type { S3Target } from './s3-target';
import { findJob } from './status-command';
import {
  checkPlannedSubmission,
  keyPlan,
  readSubmittedJob,
  submitJsonText,
  type SubmissionPlan,
  type SubmittedJob,
} from './submission-check';

/** The ends `--failed` runs again: the analysis failed, ran out of time, or lost its worker. */
export const RERUN_STATES: readonly UserVisibleState[] = ['FAILED', 'TIMED_OUT', 'INTERRUPTED'];

export interface RerunRequest {
  readonly group?: string;
  readonly job: string;
  /** Only the datasets that ended in one of RERUN_STATES. */
  readonly failedOnly?: boolean;
  /** The new job's id; a new one is made when absent. */
  readonly timestamp?: string;
  /** Else the original job's. */
  readonly instanceType?: string;
  /** The analysis (its blueprint), for the handler's full check. */
  readonly analysis?: AnalysisConfig;
}

/** What the job was submitted with; a submit.json that cannot be run again is a usage error. */
const readSubmitted = async (
  target: S3Target,
  group: string,
  jobId: string,
): Promise<SubmittedJob & { readonly configKey: string }> => {
  const read = await readSubmittedJob(target, group, jobId);
  const unreadable = (why: string) =>
    new CliError(
      `job ${jobId} cannot be run again: ${s3Url(target, submissionKeyFor(group, jobId))} ${why}`,
      EXIT.usage,
    );
  if (read.kind === 'gone') throw unreadable('is gone (deleted since the job ran?)');
  if (read.kind === 'not-json') throw unreadable('is not valid JSON');
  const { configKey } = read.job;
  if (read.job.datasetKeys.length === 0 || configKey === undefined) {
    throw unreadable('names no dataset or no config');
  }
  return { ...read.job, configKey };
};

/** The new job's plan: which datasets run again, under which id. */
export const planRerun = async (
  target: S3Target,
  request: RerunRequest,
  now: Date = new Date(),
): Promise<{ plan: SubmissionPlan; of: string; total: number }> => {
  const view = await findJob(target, {
    job: request.job,
    ...(request.group ? { group: request.group } : {}),
  });
  const { group, jobId } = view.ref;
  const submitted = await readSubmitted(target, group, jobId);
  const stateOf = new Map(view.datasets.map((d) => [d.label, d.state]));
  // A refused submission ran nothing: every dataset is to run.
  const datasetKeys =
    request.failedOnly === true && view.refusal === undefined
      ? submitted.datasetKeys.filter((key, index, all) => {
          const state = stateOf.get(datasetLabel(key, index, all));
          return state !== undefined && RERUN_STATES.includes(state);
        })
      : submitted.datasetKeys;
  if (datasetKeys.length === 0) {
    const states = view.datasets.map((d) => `${d.label} ${d.state ?? d.status}`).join(', ');
    throw new CliError(
      `no dataset of job ${jobId} ended ${RERUN_STATES.join(', ')} (${states || 'none has a status yet'}): nothing to rerun; without --failed every dataset runs again`,
      EXIT.usage,
    );
  }
  const instanceType = request.instanceType ?? submitted.instanceType;
  const plan = keyPlan({
    group,
    datasetKeys,
    configKey: submitted.configKey,
    jobId: request.timestamp ?? defaultJobId(now),
    rerunOf: jobId,
    ...(instanceType !== undefined ? { instanceType } : {}),
  });
  return { plan, of: jobId, total: submitted.datasetKeys.length };
};

/** `ncaas rerun`: prints the new job id (stdout) or, for a dry run, its submit.json; returns the exit code. */
export const runRerun = async (
  target: S3Target,
  request: RerunRequest,
  output: Output,
  options: { readonly dryRun?: boolean; readonly now?: Date } = {},
): Promise<number> => {
  const { plan, of, total } = await planRerun(target, request, options.now);
  const bucketGroups = request.analysis === undefined ? await listBucketGroups(target) : undefined;
  const check = await checkPlannedSubmission(target, plan, request.analysis, {
    ...(bucketGroups !== undefined ? { bucketGroups } : {}),
  });
  for (const warning of check.warnings) output.err(`warning: ${warning}`);
  const what = `${plan.datasetKeys.length} of ${total} dataset${total === 1 ? '' : 's'} of job ${of}`;
  if (check.problems.length > 0) {
    output.err(
      `job ${of} was not run again (${check.problems.length} problem${check.problems.length === 1 ? '' : 's'}):`,
    );
    for (const p of check.problems) output.err(`  - ${p.message}`);
    return EXIT.failed;
  }
  if (options.dryRun) {
    output.out(submitJsonText(plan).trimEnd());
    output.err(`dry run: would run ${what} again as job ${plan.jobId}; nothing was written`);
    return EXIT.ok;
  }
  await target.objects.write(plan.submitKey, submitJsonText(plan), 'application/json');
  output.err(`running ${what} again as job ${plan.jobId}: ${s3Url(target, plan.submitKey)}`);
  output.err(`follow it: ncaas watch ${plan.jobId} --group ${plan.group}`);
  output.out(plan.jobId);
  return EXIT.ok;
};
