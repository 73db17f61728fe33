/**
 * The job table's items as typed records, and the conversions between the two (layout: the comment at
 * the top of ./job-store.ts). Item attribute names stay here and in the store; everything else reads
 * the records.
 */
import {
  datasetItemKey,
  headerItemKey,
  type ItemKey,
  type JobKey,
  liveItemKey,
  queueItemKey,
  submissionItemKey,
} from './job-keys';
import { isJobState } from './job-rank';
import type { JobState } from './job-state';

/** An item as the document client returns it. */
export type Item = Record<string, unknown>;

export type ItemType =
  'SUBMISSION' | 'JOB' | 'DATASET' | 'QUEUE' | 'LIVE' | 'EFS_FOLDER' | 'COUNTER' | 'BUDGET';

/** Which job a submission object created (the dedupe item). */
export interface SubmissionRecord extends JobKey {
  readonly submissionBucket: string;
  readonly submissionKey: string;
  /** Version id, or ETag when unversioned (./job-keys.ts `submissionIdentity`). */
  readonly submissionId: string;
  readonly recordedAt: string;
}

export interface JobHeader extends JobKey {
  readonly analysis: string;
  readonly submissionBucket: string;
  readonly submissionKey: string;
  readonly submissionId: string;
  readonly submissionEtag: string;
  readonly submissionVersionId?: string;
  /** ISO time of the submission (the S3 event's time: the same on every delivery). */
  readonly submittedAt: string;
  readonly configKey: string;
  /**
   * What the config said at submission (`__duration__`, `__dataset_size__`), so a launch needs neither
   * the config nor a YAML parser. Absent only on jobs recorded before the estimates were kept.
   */
  readonly estimates?: JobEstimates;
  readonly instanceType: string;
  readonly datasetCount: number;
  /**
   * Summary: the furthest live state any dataset reached (SUBMITTED until the job is admitted: show
   * users `userVisibleState`), then the job's final state once all are final.
   */
  readonly state: JobState;
  readonly resultFolder: string;
  readonly estimatedCostUsd: number;
  /** Datasets counted as final by `markDatasetFinished`. */
  readonly finishedDatasets: number;
  /** Final state of each counted dataset, by index. */
  readonly finalStates: Readonly<Record<string, JobState>>;
  /** One caller has been told to write end.txt. */
  readonly endClaimed: boolean;
  /** end.txt has been written (set by `markEndWritten`). */
  readonly endWritten: boolean;
  /** Every item of the job exists (header, datasets, live entries): set by the call told `created`. */
  readonly complete: boolean;
  /** When `complete` was set (the job was created); absent while incomplete. */
  readonly createdAt?: string;
  readonly finishedAt?: string;
  readonly updatedAt: string;
}

export interface DatasetRecord extends JobKey {
  readonly analysis: string;
  readonly datasetIndex: number;
  readonly datasetKey: string;
  readonly datasetLabel: string;
  readonly state: JobState;
  /** Launch attempt (0 before the first launch). */
  readonly attempt: number;
  readonly instanceType: string;
  readonly submittedAt: string;
  /** When it was admitted to the launch queue (FIFO order); undefined while SUBMITTED or if never admitted. */
  readonly queuedAt?: string;
  readonly estimatedCostUsd: number;
  /** EC2 instance id, Batch job id or `local:<pid>`. */
  readonly launcherId?: string;
  /**
   * The secret the worker launched for `reportTokenAttempt` carries in its final report: only a
   * report with it can end the dataset (lib/control/reconcile.ts). Only the control plane reads it.
   */
  readonly reportToken?: string;
  readonly reportTokenAttempt?: number;
  /** When its current worker's launch was asked for (the billed time starts there). */
  readonly launchedAt?: string;
  /** The root volume EC2 was asked for (gp3), for the cost. */
  readonly rootVolumeGiB?: number;
  /** Its current worker runs on Spot capacity (Ec2.Spot). */
  readonly spot?: boolean;
  /** When EC2 warned that Spot reclaims its current worker (two minutes before). */
  readonly spotWarnedAt?: string;
  /** What its earlier workers cost (a Spot one reclaimed, then relaunched on on-demand). */
  readonly priorCostUsd?: number;
  readonly priorBilledSeconds?: number;
  /** An earlier worker's cost could not be computed: the dataset's total is unknown. */
  readonly priorCostUnknown?: boolean;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  /** ISO time the worker's hard deadline expires. */
  readonly deadline?: string;
  readonly exitCode?: number;
  readonly reason?: string;
  readonly actualCostUsd?: number;
  /**
   * Batch: job folders on the analysis EFS that a stage-in may have created and no stage-out or
   * clean-up is known to have removed (lib/control/efs-folders.ts). Empty on other runtimes.
   */
  readonly efsFolders: readonly string[];
  readonly updatedAt: string;
}

/**
 * The sweep's entry for one job folder still on EFS (its dataset's `efsFolders` is the truth; an
 * entry whose dataset no longer lists the folder is stale). It counts the clean-up jobs tried.
 */
export interface EfsFolderRecord extends DatasetRef {
  readonly jobDir: string;
  readonly recordedAt: string;
  /** Clean-up jobs claimed so far (each claim is one conditional increment). */
  readonly cleanups: number;
  /** When the last clean-up was claimed. */
  readonly claimedAt?: string;
  /** The last clean-up's Batch job id and image. */
  readonly lastCleanup?: string;
  readonly lastCleanupOn?: 'analysis' | 'staging';
  /** Batch jobs known to use the folder (stage-in, analysis, stage-out, clean-ups). */
  readonly batchJobs: readonly string[];
  /** Set once every clean-up failed and the operator was told (no more tries). */
  readonly abandonedAt?: string;
}

export interface Job {
  readonly header: JobHeader;
  /** By index. A job whose creation was interrupted may have fewer than `datasetCount` until completed. */
  readonly datasets: readonly DatasetRecord[];
}

/** A job config's estimates, as checked at submission (lib/submission/job-config.ts). */
export interface JobEstimates {
  /** `__duration__`, minutes. */
  readonly durationMinutes?: number;
  /** `__dataset_size__`, GiB added to the worker's root volume. */
  readonly datasetSizeGiB?: number;
}

/** A dataset as named by a queue or live entry. */
export interface DatasetRef extends JobKey {
  readonly datasetIndex: number;
}

// ---- building items ------------------------------------------------------------------------------

export interface NewJobFields extends JobKey {
  readonly submissionBucket: string;
  readonly submissionKey: string;
  readonly submissionId: string;
  readonly submissionEtag: string;
  readonly submissionVersionId?: string;
  readonly submittedAt: string;
  readonly configKey: string;
  readonly estimates: JobEstimates;
  readonly instanceType: string;
  readonly resultFolder: string;
  readonly datasets: readonly NewDatasetFields[];
}

export interface NewDatasetFields {
  readonly datasetKey: string;
  readonly datasetLabel: string;
  readonly estimatedCostUsd: number;
}

const withKey = (key: ItemKey, itemType: ItemType, fields: Item): Item => ({ ...key, itemType, ...fields });

/** Drops undefined fields (the document client refuses them unless told otherwise). */
const defined = (fields: Item): Item =>
  Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));

export const submissionItem = (job: NewJobFields, recordedAt: string): Item =>
  withKey(submissionItemKey(job.submissionBucket, job.submissionKey, job.submissionId), 'SUBMISSION', {
    group: job.group,
    jobId: job.jobId,
    submissionBucket: job.submissionBucket,
    submissionKey: job.submissionKey,
    submissionId: job.submissionId,
    recordedAt,
  });

/** USD amounts are kept to a millionth of a dollar so sums stay exact decimals. */
export const roundUsd = (usd: number): number => Math.round(usd * 1e6) / 1e6;

export const headerItem = (analysis: string, job: NewJobFields, now: string): Item =>
  withKey(
    headerItemKey(analysis, job),
    'JOB',
    defined({
      analysis,
      // `groupName` + `submittedAt` put the header (and only the header) in the byGroup index.
      groupName: job.group,
      jobId: job.jobId,
      submissionBucket: job.submissionBucket,
      submissionKey: job.submissionKey,
      submissionId: job.submissionId,
      submissionEtag: job.submissionEtag,
      submissionVersionId: job.submissionVersionId,
      submittedAt: job.submittedAt,
      configKey: job.configKey,
      estimates: defined({ ...job.estimates }),
      instanceType: job.instanceType,
      datasetCount: job.datasets.length,
      state: 'SUBMITTED' satisfies JobState,
      resultFolder: job.resultFolder,
      estimatedCostUsd: roundUsd(job.datasets.reduce((sum, d) => sum + d.estimatedCostUsd, 0)),
      finishedDatasets: 0,
      finalStates: {},
      endClaimed: false,
      endWritten: false,
      complete: false,
      updatedAt: now,
    }),
  );

/** A dataset item as first written: SUBMITTED (not in the launch queue until admitted), no `queuedAt`. */
export const datasetItem = (
  analysis: string,
  header: JobHeader,
  index: number,
  dataset: NewDatasetFields,
): Item =>
  withKey(datasetItemKey(analysis, header, index), 'DATASET', {
    analysis,
    // `group`, not `groupName`: dataset items must stay out of the byGroup index.
    group: header.group,
    jobId: header.jobId,
    datasetIndex: index,
    datasetKey: dataset.datasetKey,
    datasetLabel: dataset.datasetLabel,
    state: 'SUBMITTED' satisfies JobState,
    attempt: 0,
    instanceType: header.instanceType,
    submittedAt: header.submittedAt,
    estimatedCostUsd: roundUsd(dataset.estimatedCostUsd),
    updatedAt: header.updatedAt,
  });

const refFields = (job: JobKey, index: number): Item => ({
  group: job.group,
  jobId: job.jobId,
  datasetIndex: index,
});

export const queueEntryItem = (analysis: string, job: JobKey, index: number, queuedAt: string): Item =>
  withKey(queueItemKey(analysis, job, index, queuedAt), 'QUEUE', { ...refFields(job, index), queuedAt });

export const liveEntryItem = (analysis: string, job: JobKey, index: number): Item =>
  withKey(liveItemKey(analysis, job, index), 'LIVE', refFields(job, index));

// ---- reading items -------------------------------------------------------------------------------

const where = (item: Item): string => `job table item ${String(item.pk)} / ${String(item.sk)}`;

const str = (item: Item, name: string): string => {
  const value = item[name];
  if (typeof value !== 'string') throw new Error(`${where(item)}: "${name}" is not a string`);
  return value;
};

const optStr = (item: Item, name: string): string | undefined => {
  const value = item[name];
  return value === undefined ? undefined : str(item, name);
};

const num = (item: Item, name: string): number => {
  const value = item[name];
  if (typeof value !== 'number') throw new Error(`${where(item)}: "${name}" is not a number`);
  return value;
};

const optNum = (item: Item, name: string): number | undefined => {
  const value = item[name];
  return value === undefined ? undefined : num(item, name);
};

const bool = (item: Item, name: string): boolean => item[name] === true;

/** The header's `estimates` map; undefined when the job was recorded before they were kept. */
const estimates = (item: Item): JobEstimates | undefined => {
  const value = item.estimates;
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(`${where(item)}: "estimates" is not a map`);
  const map = value as Item;
  const read = (name: keyof JobEstimates): number | undefined => {
    const entry = map[name];
    if (entry === undefined) return undefined;
    if (typeof entry !== 'number') throw new Error(`${where(item)}: "estimates.${name}" is not a number`);
    return entry;
  };
  const durationMinutes = read('durationMinutes');
  const datasetSizeGiB = read('datasetSizeGiB');
  return {
    ...(durationMinutes !== undefined ? { durationMinutes } : {}),
    ...(datasetSizeGiB !== undefined ? { datasetSizeGiB } : {}),
  };
};

/** A DynamoDB string set (the document client reads it as a Set), sorted; absent: empty. */
const stringSet = (item: Item, name: string): string[] => {
  const value = item[name];
  if (value === undefined) return [];
  if (!(value instanceof Set)) throw new Error(`${where(item)}: "${name}" is not a string set`);
  return [...(value as Set<unknown>)].filter((v): v is string => typeof v === 'string').sort();
};

const state = (item: Item, name = 'state'): JobState => {
  const value = item[name];
  if (!isJobState(value)) throw new Error(`${where(item)}: "${name}" is not a job state: ${String(value)}`);
  return value;
};

const stateMap = (item: Item, name: string): Record<string, JobState> => {
  const value = item[name];
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null) throw new Error(`${where(item)}: "${name}" is not a map`);
  const result: Record<string, JobState> = {};
  for (const [key, entry] of Object.entries(value)) {
    if (!isJobState(entry)) throw new Error(`${where(item)}: "${name}.${key}" is not a job state`);
    result[key] = entry;
  }
  return result;
};

export const parseSubmission = (item: Item): SubmissionRecord => ({
  group: str(item, 'group'),
  jobId: str(item, 'jobId'),
  submissionBucket: str(item, 'submissionBucket'),
  submissionKey: str(item, 'submissionKey'),
  submissionId: str(item, 'submissionId'),
  recordedAt: str(item, 'recordedAt'),
});

export const parseHeader = (item: Item): JobHeader => ({
  analysis: str(item, 'analysis'),
  group: str(item, 'groupName'),
  jobId: str(item, 'jobId'),
  submissionBucket: str(item, 'submissionBucket'),
  submissionKey: str(item, 'submissionKey'),
  submissionId: str(item, 'submissionId'),
  submissionEtag: str(item, 'submissionEtag'),
  submissionVersionId: optStr(item, 'submissionVersionId'),
  submittedAt: str(item, 'submittedAt'),
  configKey: str(item, 'configKey'),
  estimates: estimates(item),
  instanceType: str(item, 'instanceType'),
  datasetCount: num(item, 'datasetCount'),
  state: state(item),
  resultFolder: str(item, 'resultFolder'),
  estimatedCostUsd: num(item, 'estimatedCostUsd'),
  finishedDatasets: num(item, 'finishedDatasets'),
  finalStates: stateMap(item, 'finalStates'),
  endClaimed: bool(item, 'endClaimed'),
  endWritten: bool(item, 'endWritten'),
  complete: bool(item, 'complete'),
  createdAt: optStr(item, 'createdAt'),
  finishedAt: optStr(item, 'finishedAt'),
  updatedAt: str(item, 'updatedAt'),
});

export const parseDataset = (item: Item): DatasetRecord => ({
  analysis: str(item, 'analysis'),
  group: str(item, 'group'),
  jobId: str(item, 'jobId'),
  datasetIndex: num(item, 'datasetIndex'),
  datasetKey: str(item, 'datasetKey'),
  datasetLabel: str(item, 'datasetLabel'),
  state: state(item),
  attempt: num(item, 'attempt'),
  instanceType: str(item, 'instanceType'),
  submittedAt: str(item, 'submittedAt'),
  queuedAt: optStr(item, 'queuedAt'),
  estimatedCostUsd: num(item, 'estimatedCostUsd'),
  launcherId: optStr(item, 'launcherId'),
  reportToken: optStr(item, 'reportToken'),
  reportTokenAttempt: optNum(item, 'reportTokenAttempt'),
  startedAt: optStr(item, 'startedAt'),
  finishedAt: optStr(item, 'finishedAt'),
  deadline: optStr(item, 'deadline'),
  exitCode: optNum(item, 'exitCode'),
  reason: optStr(item, 'reason'),
  actualCostUsd: optNum(item, 'actualCostUsd'),
  launchedAt: optStr(item, 'launchedAt'),
  rootVolumeGiB: optNum(item, 'rootVolumeGiB'),
  spot: item.spot === true ? true : undefined,
  spotWarnedAt: optStr(item, 'spotWarnedAt'),
  priorCostUsd: optNum(item, 'priorCostUsd'),
  priorBilledSeconds: optNum(item, 'priorBilledSeconds'),
  priorCostUnknown: item.priorCostUnknown === true ? true : undefined,
  efsFolders: stringSet(item, 'efsFolders'),
  updatedAt: str(item, 'updatedAt'),
});

export const parseEfsFolder = (item: Item): EfsFolderRecord => {
  const on = optStr(item, 'lastCleanupOn');
  return {
    group: str(item, 'group'),
    jobId: str(item, 'jobId'),
    datasetIndex: num(item, 'datasetIndex'),
    jobDir: str(item, 'jobDir'),
    recordedAt: str(item, 'recordedAt'),
    cleanups: optNum(item, 'cleanups') ?? 0,
    claimedAt: optStr(item, 'claimedAt'),
    lastCleanup: optStr(item, 'lastCleanup'),
    ...(on === 'analysis' || on === 'staging' ? { lastCleanupOn: on } : {}),
    batchJobs: stringSet(item, 'batchJobs'),
    abandonedAt: optStr(item, 'abandonedAt'),
  };
};

export const parseDatasetRef = (item: Item): DatasetRef => ({
  group: str(item, 'group'),
  jobId: str(item, 'jobId'),
  datasetIndex: num(item, 'datasetIndex'),
});

export const isItemType = (item: Item, type: ItemType): boolean => item.itemType === type;
