/**
 * What happens once a dataset reaches a final state, whoever noticed (the worker's final report, a
 * lost instance, a cancel, the watchdog, a failed launch). Called only on the path whose state
 * transition applied, so each step happens exactly once per dataset.
 */
import type { DatasetRecord, TransitionResult } from '../job/job-store';
import { budgetMonth } from '../job/job-store';
import { isFinal, type JobState } from '../job/job-state';
import { jobResultFolder } from '../layout';
import type { ControlContext } from './control-context';
import { drainQueue } from './admission';
import { sendNotification } from './notify';

/** States that hold one of the DEPLOY_LIMIT worker slots. */
/** Final states that make a job's notification FAIL rather than END (a cancel is the user's own). */
const FAILURES: readonly JobState[] = ['FAILED', 'TIMED_OUT', 'INTERRUPTED'];

export const holdsSlot = (state: JobState | undefined): boolean =>
  state === 'INITIALIZING' || state === 'IN PROGRESS';

export interface FinishedDataset {
  readonly dataset: DatasetRecord;
  readonly state: JobState;
  /** The state before the transition that applied. */
  readonly previous: JobState | undefined;
  readonly reason?: string;
  readonly exitCode?: number;
  /** The worker already wrote the final status file (its final report): keep it as it is. */
  readonly workerReported?: boolean;
}

/**
 * Moves a dataset to a final state and, only when this call's transition applied, does the
 * follow-ups (`beforeFollowUps` first: e.g. stop its worker). Returns the transition's result.
 */
export const endDataset = async (
  ctx: ControlContext,
  dataset: DatasetRecord,
  state: JobState,
  details: { readonly reason?: string; readonly exitCode?: number; readonly workerReported?: boolean } = {},
  beforeFollowUps?: () => Promise<void>,
): Promise<TransitionResult> => {
  const t = await ctx.store.transition(dataset, dataset.datasetIndex, state, {
    ...(details.reason !== undefined ? { reason: details.reason } : {}),
    ...(details.exitCode !== undefined ? { exitCode: details.exitCode } : {}),
  });
  if (t.applied) {
    await beforeFollowUps?.();
    await finishDataset(ctx, { dataset, state, previous: t.previous, ...details });
  }
  return t;
};

export const finishDataset = async (ctx: ControlContext, finished: FinishedDataset): Promise<void> => {
  const { dataset, state } = finished;
  if (!isFinal(state)) throw new Error(`finishDataset called with live state ${state}`);
  const { store, report, config } = ctx;
  const resultFolder = jobResultFolder(dataset.group, config.name, dataset.jobId);
  const now = ctx.now();

  if (holdsSlot(finished.previous)) await store.releaseSlot();
  // The budget is reserved on admission (SUBMITTED -> QUEUED): a dataset refused or cancelled before
  // it has no reservation to settle, and settling would hand the group its estimate a second time.
  if (finished.previous !== 'SUBMITTED') await settleCost(ctx, dataset, now);

  if (!finished.workerReported) {
    await report.setStatus(resultFolder, dataset.datasetLabel, {
      status: state,
      reason: finished.reason,
      input: dataset.datasetKey,
      instance: dataset.launcherId,
      job_finish: now.toISOString(),
      exit_code: finished.exitCode,
    });
  }
  await report.certify(
    resultFolder,
    dataset.submittedAt,
    `dataset ${dataset.datasetKey}: ${state}${finished.reason ? ` (${finished.reason})` : ''}`,
  );

  if (await store.markDatasetFinished(dataset, dataset.datasetIndex)) {
    const job = await store.getJob(dataset);
    const counts = new Map<string, number>();
    for (const s of Object.values(job?.header.finalStates ?? {})) counts.set(s, (counts.get(s) ?? 0) + 1);
    const summary = [...counts].map(([s, n]) => `${n} ${s}`).join(', ');
    await report.certify(resultFolder, dataset.submittedAt, `job finished: ${summary}`);
    await report.writeEnd(resultFolder, `job ${dataset.jobId} finished at ${now.toISOString()}: ${summary}`);
    await store.markEndWritten(dataset);
    const failed = (job?.datasets ?? []).filter((d) => FAILURES.includes(d.state));
    await sendNotification(ctx, {
      kind: failed.length > 0 ? 'FAIL' : 'END',
      group: dataset.group,
      jobId: dataset.jobId,
      outcome: summary,
      ...(failed.length > 0
        ? {
            reason: failed
              .map((d) => `${d.datasetKey}: ${d.state}${d.reason ? ` (${d.reason})` : ''}`)
              .join('; '),
          }
        : {}),
      resultsUrl: `s3://${ctx.bucket}/${resultFolder}/`,
    });
  }
  // A slot may have freed: start the oldest queued dataset.
  if (holdsSlot(finished.previous)) await drainQueue(ctx);
};

/** Replaces this dataset's estimate in the group's monthly budget with what it actually cost. */
const settleCost = async (ctx: ControlContext, dataset: DatasetRecord, now: Date): Promise<void> => {
  if (!ctx.config.monitor) return;
  const price = await ctx.prices.hourly(dataset.instanceType);
  const started = dataset.startedAt ? new Date(dataset.startedAt) : undefined;
  // EC2 bills per second with a one-minute minimum.
  const seconds = started ? Math.max(60, (now.getTime() - started.getTime()) / 1000) : 0;
  const actual = price ? (price.usd * seconds) / 3600 : 0;
  await ctx.store.settleBudget(
    dataset.group,
    budgetMonth(dataset.submittedAt),
    dataset.estimatedCostUsd,
    actual,
  );
};
