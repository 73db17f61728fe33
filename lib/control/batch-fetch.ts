/**
 * The fetch stage of an `rclone:` dataset, as the reconcile handler sees it (./batch-reconcile.ts):
 * which job of a launch it is, what its state changes mean for the dataset, and why a launch failed
 * when the fetch did. Kept apart from the other stages' rules so each reads on its own.
 *
 * A launch with a fetch is in -> fetch -> run: Batch fails the analysis job ("Dependent Job failed")
 * when the fetch fails, so the fetch's own end is what names the cause.
 */
import type { DatasetRecord } from '../job/job-store';
import type { JobState } from '../job/job-state';
import type { BatchJobView } from '../launch/batch-api';
import { BATCH_LOG_GROUP, JOB_PARAMETERS } from '../launch/batch-stages';

/**
 * A job the queue cancelled after it waited RUNNABLE too long (jobStateTimeLimitActions), for every
 * stage (./batch-reconcile.ts reads the others' with it).
 */
export const CAPACITY_CANCEL = /JobStateTimeLimit/i;
/** A job Batch stopped at its timeout (attemptDurationSeconds), for every stage. */
export const TIMEOUT = /attempt duration exceeded timeout|timed? ?out/i;

/** The fetch job's id of a launch, from its analysis job's parameters (none: an S3 dataset). */
export const fetchJobIdOf = (analysis: BatchJobView): string | undefined =>
  analysis.parameters[JOB_PARAMETERS.fetch] || undefined;

/** The status file's reason while the fetch runs. */
export const fetchRunningReason = (dataset: DatasetRecord, fetch: BatchJobView): string =>
  `fetching ${dataset.datasetKey} from the group's rclone remote${logOf(fetch, ' (live log: ', ')')}`;

/** Where a container's output is (a fetch's rclone messages, an analysis's live log), if Batch said. */
export const logOf = (view: BatchJobView, before: string, after: string): string =>
  view.logStreamName
    ? `${before}CloudWatch Logs group ${BATCH_LOG_GROUP}, stream ${view.logStreamName}${after}`
    : '';

/**
 * What the fetch's end says about the launch, or undefined when it did not fail (or never ran because
 * the stage-in failed first, which the stage-in's own account covers).
 */
export const fetchOutcome = (
  dataset: DatasetRecord,
  fetch: BatchJobView | undefined,
): { readonly status?: JobState; readonly reason: string } | undefined => {
  if (fetch?.status !== 'FAILED') return undefined;
  const why = fetch.statusReason ?? 'no reason given by Batch';
  if (CAPACITY_CANCEL.test(why)) {
    return {
      status: 'FAILED',
      reason: `no compute capacity: the fetch job waited in the Batch queue until the queue's time limit cancelled it (${why}). Submit the job again later; if it keeps happening, an operator should check the compute environment and the account's EC2 quotas`,
    };
  }
  if (TIMEOUT.test(why)) {
    return {
      status: 'TIMED_OUT',
      reason: `fetching ${dataset.datasetKey} did not finish before the job deadline (Batch: ${why})`,
    };
  }
  const exit = fetch.exitCode !== undefined ? `, rclone exit code ${fetch.exitCode}` : '';
  const advice =
    fetch.exitCode !== undefined
      ? `. rclone says why in the fetch job's log${logOf(fetch, ' (', ')')}; check the path on the remote and the group's rclone configuration`
      : /secret|ResourceInitializationError/i.test(why)
        ? "; Batch could not read the group's rclone configuration: an operator should check that its Secrets Manager secret (RemoteSources.Groups.<group>.RcloneConfigSecret) exists"
        : '';
  return { reason: `fetching ${dataset.datasetKey} failed: ${why}${exit}${advice}` };
};
