/**
 * A submission checked before anything is uploaded, as the submit handler would check it: the
 * handler's own code (parseSubmission, readJobConfig) plus what it checks in the bucket (named keys
 * exist, the timestamp is new). Shared by `ncaas submit` (./submit-command.ts), `ncaas submit --csv`
 * (./bulk-submit.ts) and the web console, so it touches no file system: a plan's local config is read
 * through `LocalFiles`, which only the CLI passes.
 */
import { uncheckedAnalysisParts, type AnalysisConfig } from '../blueprint/analysis-config';
import { groupOfKey, jobResultFolder } from '../layout';
import { utf8ByteLength } from '../submission/characters';
import { readJobConfig } from '../submission/job-config';
import { parseSubmission } from '../submission/parse-submission';
import type { SubmissionProblem } from '../submission/submission-problem';
import { MAX_KEY_BYTES, MAX_TEXT_FILE_BYTES } from '../submission/submission-problem';
import { formatSize } from '../submission/text-body';
import { unlistedGroupProblem } from './bucket-groups';
import { s3Url, submissionKeyFor } from './job-folders';
import type { S3Target } from './s3-target';

/** The NeuroCAAS submit.json. */
export interface SubmitJson {
  readonly dataname: string | string[];
  readonly configname: string;
  readonly timestamp: string;
  readonly instance_type?: string;
  /** The job this one runs again (`ncaas rerun`). */
  readonly rerun_of?: string;
}

export interface Upload {
  readonly local: string;
  readonly key: string;
  readonly size: number;
}

export interface SubmissionPlan {
  readonly group: string;
  readonly jobId: string;
  readonly datasetKeys: readonly string[];
  readonly configKey: string;
  /** Local files to upload: every dataset's, then the config. */
  readonly uploads: readonly Upload[];
  /** The config file when it is local (read for the check). */
  readonly localConfig?: string;
  /** --data/--config values taken as keys already in the bucket. */
  readonly namedKeys: readonly string[];
  readonly submitKey: string;
  readonly submitJson: SubmitJson;
}

/**
 * Stands in for the blueprint when none is given: the group may submit, any instance type asked for
 * is allowed and there are no caps, so only the rules that need no blueprint are checked here.
 */
export const blueprintFreeAnalysis = (
  group: string,
  instanceType: string | undefined,
  analysisName: string | undefined,
): AnalysisConfig => ({
  sourceFile: '(no blueprint)',
  name: analysisName ?? 'analysis',
  region: '',
  stage: '',
  runtime: 'ec2',
  command: '',
  launchTimeoutSeconds: 0,
  workerTimeoutSeconds: 0,
  deployLimit: 0,
  maxCostUsd: 0,
  monitor: false,
  // Whether the group may name `rclone:` datasets is the blueprint's to say: without it, only their
  // form is checked here (the handler checks the rest).
  groups: [
    {
      name: group,
      userNames: [],
      userEmails: [],
      userInput: true,
      rcloneConfigSecret: '(not known without the blueprint)',
    },
  ],
  limits: {
    allowedInstanceTypes: instanceType !== undefined ? [instanceType] : [],
    maxDurationMinutes: Number.POSITIVE_INFINITY,
    maxDatasetSizeGiB: Number.POSITIVE_INFINITY,
    maxDatasets: Number.POSITIVE_INFINITY,
  },
  ...uncheckedAnalysisParts(),
});

export interface SubmissionCheck {
  readonly problems: SubmissionProblem[];
  readonly warnings: string[];
  /** The config's `__duration__` estimate, when the config was read and is ok (`ncaas dev run` passes it on). */
  readonly durationMinutes?: number;
}

export const submitJsonText = (plan: SubmissionPlan): string =>
  `${JSON.stringify(plan.submitJson, null, 2)}\n`;

/** Reads the config as the handler would (local file, or the key in the bucket), within the size cap. */
const readConfig = async (
  target: S3Target,
  plan: SubmissionPlan,
  localFiles: LocalFiles | undefined,
): Promise<{ body?: Uint8Array; problem?: SubmissionProblem }> => {
  const tooLarge = (size: number): SubmissionProblem => ({
    field: 'configname',
    message: `the config ${plan.configKey} is ${formatSize(size)}; a config may be at most ${formatSize(MAX_TEXT_FILE_BYTES)}`,
  });
  if (plan.localConfig !== undefined) {
    if (localFiles === undefined) {
      return { problem: { field: 'configname', message: `${plan.localConfig} cannot be read here` } };
    }
    const size = localFiles.size(plan.localConfig);
    return size > MAX_TEXT_FILE_BYTES
      ? { problem: tooLarge(size) }
      : { body: localFiles.read(plan.localConfig) };
  }
  const head = await target.objects.head(plan.configKey);
  if (head === undefined) {
    return {
      problem: {
        field: 'configname',
        message: `"${plan.configKey}" is not a local file and does not exist in s3://${target.bucket}/: give a config file, or the key of one already uploaded`,
      },
    };
  }
  if (head.size > MAX_TEXT_FILE_BYTES) return { problem: tooLarge(head.size) };
  return { body: (await target.objects.read(plan.configKey)) ?? new Uint8Array() };
};

/** Everything the submit handler would refuse, found before anything is uploaded. */
export const checkPlannedSubmission = async (
  target: S3Target,
  plan: SubmissionPlan,
  analysis: AnalysisConfig | undefined,
  options: {
    /** A dev run's own job (its id starts with `dev-`, which a submission may not use). */
    readonly devRun?: boolean;
    /**
     * The bucket's groups (listBucketGroups), when known: without the blueprint, they are the
     * groups a submission may name (./bucket-groups.ts).
     */
    readonly bucketGroups?: readonly string[];
    /** Reads a plan's local config (the CLI's file system); the console's plans name keys only. */
    readonly localFiles?: LocalFiles;
  } = {},
): Promise<SubmissionCheck> => {
  const rules = analysis ?? blueprintFreeAnalysis(plan.group, plan.submitJson.instance_type, target.analysis);
  const parsed = parseSubmission({
    body: submitJsonText(plan),
    key: plan.submitKey,
    analysis: rules,
    ...(options.devRun ? { devRun: true } : {}),
  });
  const problems: SubmissionProblem[] = parsed.ok ? [] : [...parsed.problems];
  const warnings = parsed.ok ? [...parsed.warnings] : [];
  if (analysis === undefined) {
    // The blueprint's groups are not known here: the bucket's folders stand in for them.
    const unlisted = await unlistedGroupProblem(target, plan.group, options.bucketGroups);
    if (unlisted !== undefined) problems.unshift(unlisted);
  }
  const refusedFields = new Set(problems.map((p) => p.field));
  const many = plan.datasetKeys.length > 1;

  // Keys given by name must exist, as the handler checks (only the group's own: others are refused above).
  const ownKey = (key: string): boolean => groupOfKey(key) === plan.group;
  await Promise.all(
    plan.datasetKeys.map(async (key, i) => {
      const field = many ? `dataname[${i}]` : 'dataname';
      if (!plan.namedKeys.includes(key) || !ownKey(key) || refusedFields.has(field)) return;
      const exists = key.endsWith('/')
        ? await target.objects.hasObjectsUnder(key)
        : (await target.objects.head(key)) !== undefined;
      if (!exists) {
        problems.push({
          field,
          message: `"${key}" is not a local file${key.endsWith('/') ? ' or folder' : ''} and ${key.endsWith('/') ? 'is empty or missing' : 'does not exist'} in s3://${target.bucket}/: give a local path, or the key of data already uploaded (keys are case-sensitive)`,
        });
      }
    }),
  );
  let durationMinutes: number | undefined;
  if (!refusedFields.has('configname') && (plan.localConfig !== undefined || ownKey(plan.configKey))) {
    const config = await readConfig(target, plan, options.localFiles);
    if (config.problem) problems.push(config.problem);
    else if (config.body) {
      const result = readJobConfig(config.body, plan.configKey, rules.limits);
      if (!result.ok) problems.push(...result.problems);
      else durationMinutes = result.durationMinutes;
    }
  }

  // The timestamp is the job id: a second job with it would be refused (and must not overwrite the first).
  if (!refusedFields.has('timestamp')) {
    if ((await target.objects.head(plan.submitKey)) !== undefined) {
      problems.push({
        field: 'timestamp',
        message: `a submission with timestamp "${plan.jobId}" already exists (${s3Url(target, plan.submitKey)}): choose another --timestamp, or leave it out for a new one`,
      });
    } else {
      const analysisName = analysis?.name ?? target.analysis;
      const folder = analysisName ? jobResultFolder(plan.group, analysisName, plan.jobId) : undefined;
      if (folder !== undefined && (await target.objects.hasObjectsUnder(`${folder}/`))) {
        problems.push({
          field: 'timestamp',
          message: `job "${plan.jobId}" already exists (${s3Url(target, `${folder}/`)}): choose another --timestamp, or leave it out for a new one`,
        });
      }
    }
  }
  if (analysis !== undefined && target.analysis !== undefined && analysis.name !== target.analysis) {
    warnings.push(
      `the blueprint is analysis "${analysis.name}", but NCAAS_ANALYSIS/--analysis says "${target.analysis}": check that they name the same analysis`,
    );
  }
  for (const upload of plan.uploads) {
    if (utf8ByteLength(upload.key) > MAX_KEY_BYTES) {
      problems.push({
        field: 'dataname',
        message: `${upload.local} would get the key ${upload.key}, longer than S3's ${MAX_KEY_BYTES} bytes: use a shorter name`,
      });
    }
  }
  return { problems, warnings, ...(durationMinutes !== undefined ? { durationMinutes } : {}) };
};

/** How the check reads a local file: its size, then its bytes. */
export interface LocalFiles {
  size(file: string): number;
  read(file: string): Uint8Array;
}

/** A plan whose datasets and config are keys already in the bucket (the console's; nothing to upload). */
export const keyPlan = (request: {
  readonly group: string;
  readonly datasetKeys: readonly string[];
  readonly configKey: string;
  readonly jobId: string;
  readonly instanceType?: string;
  readonly rerunOf?: string;
}): SubmissionPlan => ({
  group: request.group,
  jobId: request.jobId,
  datasetKeys: [...request.datasetKeys],
  configKey: request.configKey,
  uploads: [],
  namedKeys: [...request.datasetKeys, request.configKey],
  submitKey: submissionKeyFor(request.group, request.jobId),
  submitJson: {
    dataname: request.datasetKeys.length === 1 ? request.datasetKeys[0] : [...request.datasetKeys],
    configname: request.configKey,
    timestamp: request.jobId,
    ...(request.instanceType !== undefined ? { instance_type: request.instanceType } : {}),
    ...(request.rerunOf !== undefined ? { rerun_of: request.rerunOf } : {}),
  },
});

/** What a job was submitted with, read from its submit.json as it stays in the bucket. */
export interface SubmittedJob {
  readonly datasetKeys: readonly string[];
  readonly configKey?: string;
  readonly instanceType?: string;
}

export type SubmittedRead =
  | { readonly kind: 'gone' }
  | { readonly kind: 'not-json' }
  | { readonly kind: 'read'; readonly job: SubmittedJob };

/**
 * A job's submit.json, read leniently (the console's "submit again" and `ncaas rerun`): the keys it
 * names, whatever else it holds. The handler already checked it when the job was accepted.
 */
export const readSubmittedJob = async (
  target: S3Target,
  group: string,
  jobId: string,
): Promise<SubmittedRead> => {
  const text = await target.objects.readText(submissionKeyFor(group, jobId));
  if (text === undefined) return { kind: 'gone' };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { kind: 'not-json' };
  }
  const { dataname, configname, instance_type } = (json ?? {}) as Record<string, unknown>;
  return {
    kind: 'read',
    job: {
      datasetKeys: (Array.isArray(dataname) ? dataname : [dataname]).filter(
        (d): d is string => typeof d === 'string',
      ),
      ...(typeof configname === 'string' ? { configKey: configname } : {}),
      ...(typeof instance_type === 'string' ? { instanceType: instance_type } : {}),
    },
  };
};
