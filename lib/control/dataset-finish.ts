/**
 * What happens once a dataset reaches a final state, whoever noticed (the worker's final report, a
 * lost instance, a cancel, the watchdog, a failed launch). Called only on the path whose state
 * transition applied, so each step happens exactly once per dataset.
 */
import type { DatasetRecord, TransitionResult } from '../job/job-store';
import { budgetMonth } from '../job/job-store';
import { isFinal, type JobState } from '../job/job-state';
import { readStatusFile } from '../job/status-file';
import { endMarkerKey, jobResultFolder, statusKey } from '../layout';
import { datasetCost, jobCostText, withEarlierLaunches, type DatasetCost } from '../pricing/dataset-cost';
import type { ControlContext } from './control-context';
import { drainQueue } from './queue-drain';
import { datasetLinePrefix } from './job-report';
import { sendNotification } from './notify';
import { spendFile, spendFileKey } from './spend-file';

/** Final states that make a job's notification FAIL rather than END (a cancel is the user's own). */
const FAILURES: readonly JobState[] = ['FAILED', 'TIMED_OUT', 'INTERRUPTED'];

/** States that hold one of the DEPLOY_LIMIT worker slots. */
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
  /**
   * When the event that ended it happened (an EC2 state change's time): its certificate line is
   * stamped so (JobReport.certifyDatasetEvent). Absent: when it is handled.
   */
  readonly happenedAt?: Date;
  /** The launcher said no worker started for it (a launch that failed): its cost is 0, not unknown. */
  readonly noWorkerStarted?: boolean;
}

/** What ended a dataset, beyond its state. */
export type EndDetails = Pick<
  FinishedDataset,
  'reason' | 'exitCode' | 'workerReported' | 'happenedAt' | 'noWorkerStarted'
>;

/**
 * Moves a dataset to a final state and, only when this call's transition applied, does the
 * follow-ups (`beforeFollowUps` first: e.g. stop its worker). Returns the transition's result.
 */
export const endDataset = async (
  ctx: ControlContext,
  dataset: DatasetRecord,
  state: JobState,
  details: EndDetails = {},
  beforeFollowUps?: () => Promise<void>,
): Promise<TransitionResult> => {
  const t = await ctx.store.transition(dataset, dataset.datasetIndex, state, {
    ...(details.reason !== undefined ? { reason: details.reason } : {}),
    ...(details.exitCode !== undefined ? { exitCode: details.exitCode } : {}),
  });
  if (t.applied) {
    await beforeFollowUps?.();
    await finishDataset(ctx, { dataset, state, previous: t.previous, ...details });
  } else if (t.previous !== undefined && isFinal(t.previous)) {
    // Already final: a retried event (or another one) finishes what an interrupted handler left.
    await resumeFinish(ctx, dataset);
  }
  return t;
};

export const finishDataset = async (ctx: ControlContext, finished: FinishedDataset): Promise<void> => {
  const { dataset, state } = finished;
  if (!isFinal(state)) throw new Error(`finishDataset called with live state ${state}`);
  const { store, report, config } = ctx;
  const resultFolder = jobResultFolder(dataset.group, config.name, dataset.jobId);
  const now = ctx.now();

  if (holdsSlot(finished.previous)) await store.counters.releaseSlot();
  const cost = await costOf(ctx, finished, finished.happenedAt ?? now);
  if (cost.known) await store.setActualCost(dataset, dataset.datasetIndex, cost.usd);
  await store.counters.recordSpend(
    dataset.group,
    budgetMonth(dataset.submittedAt),
    cost.known ? cost : undefined,
  );
  // The budget is reserved on admission (SUBMITTED -> QUEUED): a dataset refused or cancelled before
  // it has no reservation to settle, and settling would hand the group its estimate a second time.
  if (finished.previous !== 'SUBMITTED') await settleCost(ctx, dataset, cost);

  // The worker's own final status stays as it wrote it; the cost is added to it.
  await report.setStatus(resultFolder, dataset.datasetLabel, {
    ...(finished.workerReported
      ? {}
      : {
          status: state,
          reason: finished.reason,
          input: dataset.datasetKey,
          instance: dataset.launcherId,
          job_finish: now.toISOString(),
          exit_code: finished.exitCode,
        }),
    cost,
  });
  const line = finalLine(dataset.datasetKey, state, finished.reason);
  if (finished.happenedAt === undefined) await report.certify(resultFolder, dataset.submittedAt, line);
  else await report.certifyDatasetEvent(resultFolder, dataset, finished.happenedAt, line);

  if (await store.markDatasetFinished(dataset, dataset.datasetIndex)) await endJob(ctx, dataset, now);
  // A slot may have freed: start the oldest queued dataset.
  if (holdsSlot(finished.previous)) await drainQueue(ctx);
};

/** The job's last dataset is counted: its summary line, end.txt, the END or FAIL notification. */
const endJob = async (
  ctx: ControlContext,
  dataset: DatasetRecord,
  now: Date,
  /** Redoing an interrupted end: what is in place already is not written again. */
  resumed?: { readonly written: (certificateLine: string) => boolean },
): Promise<void> => {
  const { store, report } = ctx;
  const resultFolder = jobResultFolder(dataset.group, ctx.config.name, dataset.jobId);
  const job = await store.getJob(dataset);
  const counts = new Map<string, number>();
  for (const s of Object.values(job?.header.finalStates ?? {})) counts.set(s, (counts.get(s) ?? 0) + 1);
  const summary = [...counts].map(([s, n]) => `${n} ${s}`).join(', ');
  const cost = jobCostText((job?.datasets ?? []).map((d) => d.actualCostUsd));
  const line = `job finished: ${summary}; cost ${cost}`;
  if (!resumed?.written(line)) await report.certify(resultFolder, dataset.submittedAt, line);
  // Resumed: end.txt may be there already (only marking it written failed).
  if (!resumed || !(await ctx.objects.head(endMarkerKey(resultFolder)))) {
    await report.writeEnd(resultFolder, `job ${dataset.jobId} finished at ${now.toISOString()}: ${summary}`);
  }
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
  // Last: a failure here (the event is retried and finds the job's end done) leaves the group's figures
  // as they were until its next job ends; it never holds up this job's end.
  await writeSpendFile(ctx, dataset, now);
};

/**
 * The group's spend file of the job's month (lib/control/spend-file.ts), with this job counted. Once:
 * it runs after the job's end is marked written, which a resumed end never finds done.
 */
const writeSpendFile = async (ctx: ControlContext, dataset: DatasetRecord, now: Date): Promise<void> => {
  const month = budgetMonth(dataset.submittedAt);
  const spend = await ctx.store.counters.recordJobEnded(dataset.group, month);
  const file = spendFile(
    { analysis: ctx.config.name, group: dataset.group, month },
    spend,
    ctx.config.monitor ? ctx.config.maxCostUsd : undefined,
    now,
  );
  await ctx.objects.write(
    spendFileKey(dataset.group, month),
    `${JSON.stringify(file, null, 2)}\n`,
    'application/json',
  );
};

/**
 * How long after a final transition (or the claim of a job's end) its follow-ups are taken for
 * interrupted: longer than the 60 s timeout of the handlers whose events are retried (reconcile,
 * submit), so the handler that made it is over, and no longer than the first retry's wait.
 */
export const FINISH_RESUME_AFTER_MS = 60 * 1000;

/**
 * Only the caller whose final transition applied does the follow-ups; one that failed midway (an S3
 * or DynamoDB error, a timeout) would leave them undone for good, its retried event finding the
 * dataset already final. So whoever finds a dataset already final calls this: once the follow-ups
 * are evidently interrupted (FINISH_RESUME_AFTER_MS), it redoes those that are safe to repeat: the
 * status file and the certificate line unless they are there, the dataset's count towards its job
 * (exactly once), end.txt, the notification, the drain. The slot and the budget are not given back
 * a second time: the watchdog repairs the running count from the live datasets, and an estimate left
 * unsettled only errs on the cautious side. Returns whether anything was left to finish.
 */
export const resumeFinish = async (ctx: ControlContext, ref: DatasetRecord): Promise<boolean> => {
  const job = await ctx.store.getJob(ref);
  const dataset = job?.datasets.find((d) => d.datasetIndex === ref.datasetIndex);
  if (!job || !dataset || !isFinal(dataset.state)) return false;
  const { header } = job;
  const now = ctx.now();
  const interrupted = (since: string | undefined): boolean =>
    since === undefined || now.getTime() - Date.parse(since) >= FINISH_RESUME_AFTER_MS;
  const counted = header.finalStates[String(dataset.datasetIndex)] !== undefined;
  if (counted) {
    // What may be left is the job's end, once every dataset is counted: a claim not made yet is made
    // (exactly once) by markDatasetFinished; one made long ago but never followed by end.txt is redone.
    const endLeft = !header.endWritten && header.finishedDatasets >= header.datasetCount;
    if (!endLeft || (header.endClaimed && !interrupted(header.finishedAt))) return false;
  } else if (!interrupted(dataset.finishedAt)) {
    return false;
  }

  ctx.log.warn('finishing what an interrupted handler left undone', {
    group: dataset.group,
    jobId: dataset.jobId,
    datasetIndex: dataset.datasetIndex,
    state: dataset.state,
  });
  const { report, objects } = ctx;
  const resultFolder = jobResultFolder(dataset.group, ctx.config.name, dataset.jobId);
  const logged = await report.logLines(resultFolder);
  const written = (line: string): boolean => logged.some((l) => l.endsWith(`  ${line}`));
  if (!counted) {
    if (statusOf(await objects.readText(statusKey(resultFolder, dataset.datasetLabel))) !== dataset.state) {
      await report.setStatus(resultFolder, dataset.datasetLabel, {
        status: dataset.state,
        reason: dataset.reason,
        input: dataset.datasetKey,
        instance: dataset.launcherId,
        job_finish: dataset.finishedAt ?? now.toISOString(),
        exit_code: dataset.exitCode,
      });
    }
    const line = finalLine(dataset.datasetKey, dataset.state, dataset.reason);
    if (!written(line)) await report.certify(resultFolder, dataset.submittedAt, line);
  }
  const claimed = await ctx.store.markDatasetFinished(dataset, dataset.datasetIndex);
  if (claimed || (counted && header.endClaimed)) await endJob(ctx, dataset, now, { written });
  await drainQueue(ctx);
  return true;
};

/** The certificate's line of a dataset's end: resumeFinish finds it written by this very text. */
const finalLine = (datasetKey: string, state: JobState, reason: string | undefined): string =>
  `${datasetLinePrefix(datasetKey)}${state}${reason ? ` (${reason})` : ''}`;

const statusOf = (text: string | undefined): string | undefined => {
  const read = text === undefined ? undefined : readStatusFile(text);
  return read?.readable ? read.file.status : undefined;
};

/**
 * What the dataset's worker cost, launch to end (lib/pricing/dataset-cost.ts). With no launch
 * recorded it cost nothing if no worker was ever asked for (it ended before INITIALIZING) or the
 * launcher said none started; otherwise a worker may have run unrecorded, and the cost is unknown.
 */
const costOf = async (
  ctx: ControlContext,
  finished: FinishedDataset,
  endedAt: Date,
): Promise<DatasetCost> => {
  const { dataset } = finished;
  const { launchedAt } = dataset;
  if (launchedAt === undefined && !finished.noWorkerStarted && holdsSlot(finished.previous)) {
    return { known: false, reason: 'a worker may have started, but its launch was not recorded' };
  }
  return withEarlierLaunches(await workerCost(ctx, dataset, endedAt), {
    ...(dataset.priorCostUsd !== undefined ? { usd: dataset.priorCostUsd } : {}),
    ...(dataset.priorBilledSeconds !== undefined ? { billedSeconds: dataset.priorBilledSeconds } : {}),
    ...(dataset.priorCostUnknown ? { unknown: true } : {}),
  });
};

/**
 * What the dataset's current worker cost from its launch to `endedAt`. A Spot worker is priced at
 * the on-demand rate: an upper bound (Spot bills its own, lower, price, which is not looked up).
 */
export const workerCost = async (
  ctx: ControlContext,
  dataset: DatasetRecord,
  endedAt: Date,
): Promise<DatasetCost> => {
  const { launchedAt } = dataset;
  const price = launchedAt === undefined ? undefined : await ctx.prices.hourly(dataset.instanceType);
  return datasetCost({
    instanceType: dataset.instanceType,
    ...(launchedAt !== undefined ? { launchedAt } : {}),
    endedAt,
    ...(dataset.rootVolumeGiB !== undefined ? { rootVolumeGiB: dataset.rootVolumeGiB } : {}),
    price:
      price && dataset.spot
        ? { ...price, source: `${price.source}, on-demand rate: Spot bills less` }
        : price,
    ...(ctx.config.runtime === 'batch'
      ? {
          notComputable:
            "AWS Batch chose the instance the job ran on, and the job's share of it is not recorded",
        }
      : {}),
  });
};

/**
 * Replaces this dataset's estimate in the group's monthly budget with what it actually cost; a cost
 * nobody knows keeps the estimate (never 0: that would hand the group money it may have spent).
 */
const settleCost = async (ctx: ControlContext, dataset: DatasetRecord, cost: DatasetCost): Promise<void> => {
  if (!ctx.config.monitor) return;
  await ctx.store.counters.settleBudget(
    dataset.group,
    budgetMonth(dataset.submittedAt),
    dataset.estimatedCostUsd,
    cost.known ? cost.usd : dataset.estimatedCostUsd,
  );
};
