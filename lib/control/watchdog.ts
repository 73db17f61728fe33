/**
 * The periodic sweep that makes the system safe when events are lost or a handler crashed:
 * deadlines, launches that never started, workers with no live job, submissions whose event never
 * arrived, jobs recorded but never admitted, queued work stranded with free slots, and the running
 * count. Each repair is the same forward-only transition the event path would have made.
 */
import type { DatasetRecord } from '../job/job-store';
import { isFinal } from '../job/job-state';
import type { LaunchMessage } from '../launch/launcher';
import { jobResultFolder, SUBMIT_SUFFIX, submissionMessageKey, submissionsPrefix } from '../layout';
import { admitJob, drainQueue } from './admission';
import type { ControlContext } from './control-context';
import { finishDataset, holdsSlot } from './dataset-finish';
import { processSubmission } from './submission-intake';

/** A worker the cloud says exists (EC2: instances tagged with this analysis, not terminated). */
export interface RunningWorker {
  readonly launcherId: string;
  readonly launchedAt: Date;
}

export interface WatchdogSources {
  /** Workers that exist now; absent where the runtime cannot list them. */
  readonly listWorkers?: () => Promise<RunningWorker[]>;
  /** Launch messages that exhausted their retries (the dead-letter queue), each acknowledged once handled. */
  readonly deadLetters?: () => Promise<{ message: LaunchMessage; acknowledge: () => Promise<void> }[]>;
}

export interface WatchdogFindings {
  timedOut: number;
  launchesFailed: number;
  launchesResent: number;
  orphansTerminated: number;
  lostSubmissions: number;
  admitted: number;
  drained: number;
  runningRepairedFrom?: number;
}

export const WATCHDOG_TIMING = {
  /** After the deadline, time for the worker's own shutdown and final report to land. */
  deadlineGraceMs: 5 * 60 * 1000,
  /** A worker with no live job is terminated only after this (a launch may not be recorded yet). */
  orphanGraceMs: 10 * 60 * 1000,
  /** An event younger than this may still be in flight. */
  eventGraceMs: 2 * 60 * 1000,
  /** A job recorded but not admitted after this: its submit handler died (its timeout is 1 minute). */
  admissionGraceMs: 5 * 60 * 1000,
  /** How far back submissions are checked for a lost event. */
  submissionLookbackMs: 24 * 60 * 60 * 1000,
};

export const runWatchdog = async (
  ctx: ControlContext,
  sources: WatchdogSources = {},
): Promise<WatchdogFindings> => {
  const found: WatchdogFindings = {
    timedOut: 0,
    launchesFailed: 0,
    launchesResent: 0,
    orphansTerminated: 0,
    lostSubmissions: 0,
    admitted: 0,
    drained: 0,
  };
  const now = ctx.now();
  const live = await ctx.store.listLive();

  for (const dataset of live) {
    if (dataset.state === 'IN PROGRESS') await enforceDeadline(ctx, dataset, now, found);
    else if (dataset.state === 'INITIALIZING') await checkLaunch(ctx, dataset, now, found);
  }
  await failDeadLetters(ctx, sources, found);
  await terminateOrphans(ctx, sources, now, found);
  await sweepSubmissions(ctx, now, found);

  const admittedJobs = new Set<string>();
  for (const dataset of await ctx.store.listUnadmitted(
    new Date(now.getTime() - WATCHDOG_TIMING.admissionGraceMs),
  )) {
    const id = `${dataset.group}/${dataset.jobId}`;
    if (admittedJobs.has(id)) continue;
    admittedJobs.add(id);
    const job = await ctx.store.getJob(dataset);
    if (job) {
      await admitJob(ctx, job, ['admitted by the watchdog after an interrupted submission']);
      found.admitted += 1;
    }
  }

  const holding = (await ctx.store.listLive()).filter((d) => holdsSlot(d.state)).length;
  if ((await ctx.store.runningCount()) !== holding)
    found.runningRepairedFrom = await ctx.store.repairRunningCount(holding);
  found.drained = await drainQueue(ctx);
  ctx.log.info('watchdog finished', { ...found });
  return found;
};

const ageMs = (since: string | undefined, now: Date): number =>
  since ? now.getTime() - new Date(since).getTime() : Number.POSITIVE_INFINITY;

const stop = async (ctx: ControlContext, dataset: DatasetRecord): Promise<void> => {
  if (dataset.launcherId && ctx.launcher) await ctx.launcher.terminate(dataset.launcherId);
};

const enforceDeadline = async (
  ctx: ControlContext,
  dataset: DatasetRecord,
  now: Date,
  found: WatchdogFindings,
) => {
  const deadline = dataset.deadline
    ? new Date(dataset.deadline).getTime()
    : new Date(dataset.startedAt ?? dataset.updatedAt).getTime() + ctx.config.workerTimeoutSeconds * 1000;
  if (now.getTime() <= deadline + WATCHDOG_TIMING.deadlineGraceMs) return;
  const hours = (ctx.config.workerTimeoutSeconds / 3600).toFixed(1);
  const reason = `the job ran past its deadline (SSM_TIMEOUT, ${hours} h) and its worker was stopped`;
  const t = await ctx.store.transition(dataset, dataset.datasetIndex, 'TIMED_OUT', { reason });
  if (!t.applied) return;
  await stop(ctx, dataset);
  await finishDataset(ctx, { dataset, state: 'TIMED_OUT', previous: t.previous, reason });
  found.timedOut += 1;
};

/** A launch requested but never seen running: resend once if the message was lost, else fail. */
const checkLaunch = async (
  ctx: ControlContext,
  dataset: DatasetRecord,
  now: Date,
  found: WatchdogFindings,
) => {
  const boundMs = ctx.config.launchTimeoutSeconds * 1000;
  const age = ageMs(dataset.updatedAt, now);
  if (age <= boundMs) return;
  if (!dataset.launcherId && age <= 3 * boundMs) {
    // Lost between the drain and the queue: the same attempt again (its ClientToken makes it idempotent).
    await ctx.launchQueue.send({
      analysis: ctx.config.name,
      group: dataset.group,
      jobId: dataset.jobId,
      datasetIndex: dataset.datasetIndex,
      attempt: Math.max(1, dataset.attempt),
    });
    found.launchesResent += 1;
    return;
  }
  const reason = dataset.launcherId
    ? `the worker ${dataset.launcherId} did not start within ${ctx.config.launchTimeoutSeconds} s (EXECUTION_TIMEOUT) and was stopped`
    : 'the worker could not be launched: no launch was recorded';
  const t = await ctx.store.transition(dataset, dataset.datasetIndex, 'FAILED', { reason });
  if (!t.applied) return;
  await stop(ctx, dataset);
  await finishDataset(ctx, { dataset, state: 'FAILED', previous: t.previous, reason });
  found.launchesFailed += 1;
};

const failDeadLetters = async (ctx: ControlContext, sources: WatchdogSources, found: WatchdogFindings) => {
  for (const { message, acknowledge } of (await sources.deadLetters?.()) ?? []) {
    const dataset = await ctx.store.getDataset(message, message.datasetIndex);
    if (dataset && dataset.state === 'INITIALIZING') {
      const reason = 'the worker could not be launched: every launch attempt failed (see the analysis logs)';
      const t = await ctx.store.transition(dataset, dataset.datasetIndex, 'FAILED', { reason });
      if (t.applied) {
        await stop(ctx, dataset);
        await finishDataset(ctx, { dataset, state: 'FAILED', previous: t.previous, reason });
        found.launchesFailed += 1;
      }
    }
    await acknowledge();
  }
};

/** No instance outlives its job: a tagged worker with no live dataset is terminated, and said so. */
const terminateOrphans = async (
  ctx: ControlContext,
  sources: WatchdogSources,
  now: Date,
  found: WatchdogFindings,
) => {
  if (!sources.listWorkers || !ctx.launcher) return;
  const liveIds = new Set((await ctx.store.listLive()).map((d) => d.launcherId).filter(Boolean));
  for (const worker of await sources.listWorkers()) {
    if (liveIds.has(worker.launcherId)) continue;
    if (now.getTime() - worker.launchedAt.getTime() < WATCHDOG_TIMING.orphanGraceMs) continue;
    const dataset = await ctx.store.findByLauncher(worker.launcherId);
    if (dataset && !isFinal(dataset.state)) continue;
    await ctx.launcher.terminate(worker.launcherId);
    found.orphansTerminated += 1;
    ctx.log.warn('terminated a worker with no live job', { launcherId: worker.launcherId });
    if (dataset) {
      const folder = jobResultFolder(dataset.group, ctx.config.name, dataset.jobId);
      await ctx.report.certify(
        folder,
        dataset.submittedAt,
        `worker ${worker.launcherId} was still running after the dataset ended (${dataset.state}): terminated by the watchdog`,
      );
    }
  }
};

/** Submissions uploaded in the lookback window with no job record: their event was lost. */
const sweepSubmissions = async (ctx: ControlContext, now: Date, found: WatchdogFindings) => {
  for (const group of ctx.config.groups.filter((g) => g.userInput)) {
    for (const object of await ctx.objects.listKeys(submissionsPrefix(group.name))) {
      if (!object.key.endsWith(SUBMIT_SUFFIX) || !object.lastModified) continue;
      const age = now.getTime() - object.lastModified.getTime();
      if (age < WATCHDOG_TIMING.eventGraceMs || age > WATCHDOG_TIMING.submissionLookbackMs) continue;
      const head = await ctx.objects.head(object.key);
      if (!head) continue;
      if (await ctx.store.hasSubmission(ctx.bucket, object.key, head.versionId ?? head.etag)) continue;
      // A refusal is written beside the submission: already handled.
      const refusal = await ctx.objects.head(submissionMessageKey(object.key));
      if (refusal && refusal.lastModified && refusal.lastModified >= object.lastModified) continue;
      const outcome = await processSubmission(ctx, {
        key: object.key,
        etag: head.etag,
        versionId: head.versionId,
        eventTime: object.lastModified.toISOString(),
      });
      found.lostSubmissions += 1;
      ctx.log.warn('processed a submission whose event was lost', { key: object.key, outcome: outcome.kind });
    }
  }
};
