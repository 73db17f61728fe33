/**
 * Key builders for the job table (layout: the comment at the top of ./job-store.ts). Pure functions:
 * the store, the watchdog and tests build the same keys from here.
 */

/** A job within one analysis: the group that submitted it and its `timestamp` (the job id). */
export interface JobKey {
  readonly group: string;
  readonly jobId: string;
}

export interface ItemKey {
  readonly pk: string;
  readonly sk: string;
}

/** Width of the zero-padded dataset index in sort keys: sorts numerically up to 99 999 datasets. */
export const DATASET_INDEX_WIDTH = 5;
export const MAX_DATASETS_PER_JOB = 10 ** DATASET_INDEX_WIDTH;

/**
 * Longest job id (the submission's `timestamp`), UTF-8 bytes. It is part of sort keys (at most
 * 1024 bytes) next to a time, the group (an IAM-safe name, at most 128) and the index. The submit
 * handler should refuse a longer timestamp with a message before it gets here.
 */
export const MAX_JOB_ID_BYTES = 512;

export const HEADER_SK = 'JOB';
export const DATASET_SK_PREFIX = 'DATASET#';
export const RUNNING_COUNTER_SK = 'RUNNING';

/**
 * Analysis and group names are segments of `#`-separated keys, so they may not contain `#` (the job id
 * may: it is always the last segment before a fixed-width index). Analysis names are lowercase, digits
 * and dashes, and group names are IAM-name-safe, so this only catches programming errors.
 */
const segment = (what: string, value: string): string => {
  if (value.length === 0 || value.includes('#')) {
    throw new Error(`${what} "${value}" cannot be part of a job table key (empty or contains "#")`);
  }
  return value;
};

export const padIndex = (index: number): string => {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_DATASETS_PER_JOB) {
    throw new Error(`dataset index ${index} is out of range 0..${MAX_DATASETS_PER_JOB - 1}`);
  }
  return String(index).padStart(DATASET_INDEX_WIDTH, '0');
};

/**
 * The identity of one submission object: its version id when the bucket is versioned (ours are), else
 * its ETag. The submit handler and the watchdog's sweep of lost events must both use this.
 */
export const submissionIdentity = (object: { readonly versionId?: string; readonly etag: string }): string =>
  object.versionId && object.versionId !== 'null' ? object.versionId : object.etag;

export const submissionItemKey = (bucket: string, submissionKey: string, identity: string): ItemKey => ({
  pk: `SUBMISSION#${bucket}/${submissionKey}`,
  sk: identity,
});

export const jobPartitionKey = (analysis: string, job: JobKey): string =>
  `JOB#${segment('analysis', analysis)}#${segment('group', job.group)}#${job.jobId}`;

export const headerItemKey = (analysis: string, job: JobKey): ItemKey => ({
  pk: jobPartitionKey(analysis, job),
  sk: HEADER_SK,
});

export const datasetItemKey = (analysis: string, job: JobKey, index: number): ItemKey => ({
  pk: jobPartitionKey(analysis, job),
  sk: `${DATASET_SK_PREFIX}${padIndex(index)}`,
});

export const runningCounterKey = (analysis: string): ItemKey => ({
  pk: `COUNTER#${segment('analysis', analysis)}`,
  sk: RUNNING_COUNTER_SK,
});

export const budgetItemKey = (analysis: string, group: string, month: string): ItemKey => {
  if (!/^\d{4}-\d{2}$/.test(month)) throw new Error(`budget month "${month}" is not YYYY-MM`);
  return { pk: `BUDGET#${segment('analysis', analysis)}#${segment('group', group)}`, sk: month };
};

/** Partition of the launch queue: one entry per QUEUED dataset, sorted by the time it was queued. */
export const queuePartitionKey = (analysis: string): string => `QUEUE#${segment('analysis', analysis)}`;

export const queueItemKey = (analysis: string, job: JobKey, index: number, queuedAt: string): ItemKey => ({
  pk: queuePartitionKey(analysis),
  sk: `${queuedAt}#${segment('group', job.group)}#${job.jobId}#${padIndex(index)}`,
});

/** Partition of the live set: one entry per dataset that is not final (the watchdog's work list). */
export const livePartitionKey = (analysis: string): string => `LIVE#${segment('analysis', analysis)}`;

export const liveItemKey = (analysis: string, job: JobKey, index: number): ItemKey => ({
  pk: livePartitionKey(analysis),
  sk: `${segment('group', job.group)}#${job.jobId}#${padIndex(index)}`,
});

/**
 * Partition of the job folders still on the analysis EFS (batch runtime): one entry per folder a
 * stage-in may have created and nothing is known to have removed (the watchdog's sweep list).
 */
export const efsFolderPartitionKey = (analysis: string): string => `EFS#${segment('analysis', analysis)}`;

export const efsFolderItemKey = (analysis: string, job: JobKey, index: number, jobDir: string): ItemKey => ({
  pk: efsFolderPartitionKey(analysis),
  sk: `${segment('group', job.group)}#${job.jobId}#${padIndex(index)}#${segment('job folder', jobDir)}`,
});

/** Budget month of a time: `YYYY-MM`, UTC (a calendar month, as MAXCOST means it). */
export const budgetMonth = (time: Date | string): string => {
  const date = typeof time === 'string' ? new Date(time) : time;
  if (Number.isNaN(date.getTime())) throw new Error(`"${String(time)}" is not a time`);
  return date.toISOString().slice(0, 7);
};
