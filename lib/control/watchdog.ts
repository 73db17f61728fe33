/**
 * The periodic sweep that makes the system safe when events are lost or a handler crashed:
 * deadlines, launches that never started, workers with no live job, submissions whose event never
 * arrived, jobs recorded but never admitted, queued work stranded with free slots, the running
 * count, and (batch) job folders left on the analysis EFS. Each repair is the same forward-only transition the event path would have made.
 */
import type { DatasetRecord } from '../job/job-store';
import { isFinal } from '../job/job-state';
import type { LaunchMessage } from '../launch/launcher';
import {
  CANCEL_SUFFIX,
  jobResultFolder,
  SUBMIT_SUFFIX,
  submissionMessageKey,
  submissionsPrefix,
} from '../layout';
import { cancelledJobId, processCancel } from './cancel-request';
import { admitJob, drainQueue } from './admission';
import type { ControlContext } from './control-context';
import { endDataset, holdsSlot } from './dataset-finish';
import { stopExpiredDevInstances, type DevInstanceSource } from './dev-expiry';
import { type EfsFolderControl, sweepJobFolders } from './efs-folders';
import { findDatasetOfWorker } from './worker-lookup';
import { processSubmission } from './submission-intake';
import { parseSubmission } from '../submission/parse-submission';

/** A worker the cloud says exists (EC2: instances tagged with this analysis, not terminated). */
export interface RunningWorker {
  readonly launcherId: string;
  readonly launchedAt: Date;
  /** EC2's state name (`pending`, `running`, `stopped`...), when the source knows it. */
  readonly state?: string;
}

export interface WatchdogSources {
  /** Workers that exist now; absent where the runtime cannot list them. */
  readonly listWorkers?: () => Promise<RunningWorker[]>;
  /** Launch messages that exhausted their retries (the dead-letter queue), each acknowledged once handled. */
  readonly deadLetters?: () => Promise<{ message: LaunchMessage; acknowledge: () => Promise<void> }[]>;
  /** The analysis developers' dev instances (EC2 only): stopped once past their expiry. */
  readonly devInstances?: DevInstanceSource;
  /** Batch (batch runtime only): job folders left on EFS get clean-up jobs, stages left running stop. */
  readonly batch?: EfsFolderControl;
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
  /** Dev instances stopped past their expiry (only when the source is given). */
  devInstancesStopped?: number;
  /** Batch: clean-up jobs submitted for job folders left on EFS (only when the source is given). */
  efsCleanups?: number;
  /** Batch: job folders given up after every clean-up failed (the operator was told). */
  efsFoldersAbandoned?: number;
  /** Batch: stages stopped that still ran after their dataset ended. */
  batchJobsStopped?: number;
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
  /** How long after its upload a recorded submission's job is checked for an interrupted recording. */
  incompleteJobCheckMs: 60 * 60 * 1000,
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
  const workers = (await sources.listWorkers?.()) ?? [];
  const runningIds = new Set(workers.filter((w) => w.state === 'running').map((w) => w.launcherId));
  // Workers this run stops for a reason of their own are not stopped again as orphans.
  const stopped = new Set<string>();

  for (const dataset of live) {
    if (dataset.state === 'IN PROGRESS') await enforceDeadline(ctx, dataset, now, found, stopped);
    else if (dataset.state === 'INITIALIZING')
      await checkLaunch(ctx, dataset, now, runningIds, found, stopped);
  }
  await failDeadLetters(ctx, sources, found, stopped);
  if (sources.listWorkers) {
    await terminateOrphans(
      ctx,
      workers.filter((w) => !stopped.has(w.launcherId)),
      now,
      found,
    );
  }
  await sweepCancelRequests(ctx, now);
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
  const counted = await ctx.store.counters.runningCount();
  const repairedFrom = await ctx.store.counters.repairRunningCount(holding);
  if (repairedFrom !== undefined) found.runningRepairedFrom = repairedFrom;
  // A counter below the slots held would let a drain exceed DEPLOY_LIMIT: wait for its repair.
  const countTooLow = repairedFrom === undefined && counted < holding;
  found.drained = countTooLow ? 0 : await drainQueue(ctx);
  if (sources.devInstances)
    found.devInstancesStopped = await stopExpiredDevInstances(ctx, sources.devInstances);
  if (sources.batch) {
    const folders = await sweepJobFolders(ctx, sources.batch);
    found.efsCleanups = folders.cleanups;
    found.efsFoldersAbandoned = folders.abandoned;
    found.batchJobsStopped = folders.stopped;
  }
  ctx.log.info('watchdog finished', { ...found });
  return found;
};

const ageMs = (since: string | undefined, now: Date): number =>
  since ? now.getTime() - new Date(since).getTime() : Number.POSITIVE_INFINITY;

const stop = async (ctx: ControlContext, dataset: DatasetRecord, stopped: Set<string>): Promise<void> => {
  if (dataset.launcherId && ctx.launcher) {
    await ctx.launcher.terminate(dataset.launcherId);
    stopped.add(dataset.launcherId);
  }
};

const enforceDeadline = async (
  ctx: ControlContext,
  dataset: DatasetRecord,
  now: Date,
  found: WatchdogFindings,
  stopped: Set<string>,
) => {
  const deadline = dataset.deadline
    ? new Date(dataset.deadline).getTime()
    : new Date(dataset.startedAt ?? dataset.updatedAt).getTime() + ctx.config.workerTimeoutSeconds * 1000;
  if (now.getTime() <= deadline + WATCHDOG_TIMING.deadlineGraceMs) return;
  const hours = (ctx.config.workerTimeoutSeconds / 3600).toFixed(1);
  const reason = `the job ran past its deadline (SSM_TIMEOUT, ${hours} h) and its worker was stopped`;
  const t = await endDataset(ctx, dataset, 'TIMED_OUT', { reason }, () => stop(ctx, dataset, stopped));
  if (!t.applied) return;
  found.timedOut += 1;
};

/** A launch requested but never seen running: resend once if the message was lost, else fail. */
const checkLaunch = async (
  ctx: ControlContext,
  dataset: DatasetRecord,
  now: Date,
  runningWorkers: ReadonlySet<string>,
  found: WatchdogFindings,
  stopped: Set<string>,
) => {
  const boundMs = ctx.config.launchTimeoutSeconds * 1000;
  const age = ageMs(dataset.updatedAt, now);
  if (age <= boundMs) return;
  const attempt = Math.max(1, dataset.attempt);
  if (!dataset.launcherId && age <= 3 * boundMs) {
    // Lost between the drain and the queue: the same attempt again, once (its ClientToken makes a
    // launch that did happen come back as the same instance).
    if (!(await ctx.store.claims.claimLaunchResend(dataset, dataset.datasetIndex, attempt))) return;
    await ctx.launchQueue.send({
      analysis: ctx.config.name,
      group: dataset.group,
      jobId: dataset.jobId,
      datasetIndex: dataset.datasetIndex,
      attempt,
    });
    found.launchesResent += 1;
    return;
  }
  if (dataset.launcherId && runningWorkers.has(dataset.launcherId)) {
    // Its "running" event was lost, not the worker: record what the cloud says.
    await ctx.store.transition(dataset, dataset.datasetIndex, 'IN PROGRESS', {});
    return;
  }
  const reason = dataset.launcherId
    ? `the worker ${dataset.launcherId} did not start within ${ctx.config.launchTimeoutSeconds} s (EXECUTION_TIMEOUT) and was stopped`
    : 'the worker could not be launched: no launch was recorded';
  const t = await endDataset(ctx, dataset, 'FAILED', { reason }, () => stop(ctx, dataset, stopped));
  if (!t.applied) return;
  found.launchesFailed += 1;
};

const failDeadLetters = async (
  ctx: ControlContext,
  sources: WatchdogSources,
  found: WatchdogFindings,
  stopped: Set<string>,
) => {
  for (const { message, acknowledge } of (await sources.deadLetters?.()) ?? []) {
    const dataset = await ctx.store.getDataset(message, message.datasetIndex);
    if (dataset && dataset.state === 'INITIALIZING') {
      const reason = 'the worker could not be launched: every launch attempt failed (see the analysis logs)';
      const t = await endDataset(ctx, dataset, 'FAILED', { reason }, () => stop(ctx, dataset, stopped));
      if (t.applied) found.launchesFailed += 1;
    }
    await acknowledge();
  }
};

/** No instance outlives its job: a tagged worker with no live dataset is terminated, and said so. */
const terminateOrphans = async (
  ctx: ControlContext,
  workers: readonly RunningWorker[],
  now: Date,
  found: WatchdogFindings,
) => {
  if (!ctx.launcher) return;
  const liveIds = new Set((await ctx.store.listLive()).map((d) => d.launcherId).filter(Boolean));
  for (const worker of workers) {
    if (liveIds.has(worker.launcherId)) continue;
    if (now.getTime() - worker.launchedAt.getTime() < WATCHDOG_TIMING.orphanGraceMs) continue;
    // Not in the table: its launcher may have died before recording it, and its state events may
    // have been lost too. Its tags name its dataset, which adopts it if that has no worker yet.
    const dataset = await findDatasetOfWorker(ctx, worker.launcherId);
    const itsWorker =
      dataset !== undefined && (dataset.launcherId ?? worker.launcherId) === worker.launcherId;
    if (itsWorker && !isFinal(dataset.state)) continue;
    await ctx.launcher.terminate(worker.launcherId);
    found.orphansTerminated += 1;
    ctx.log.warn('terminated a worker with no live job', { launcherId: worker.launcherId });
    if (dataset && itsWorker) {
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
      if (await ctx.store.hasSubmission(ctx.bucket, object.key, head.versionId ?? head.etag)) {
        // Recorded, but a handler that died after the dedupe item, every retry of its event failing
        // too, leaves the job incomplete, and only another delivery completes it: this sweep is one.
        if (age > WATCHDOG_TIMING.incompleteJobCheckMs || !(await jobIncomplete(ctx, object.key))) continue;
      }
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

/** The submission's job has no header, or one never completed (recordSubmission's last write). */
const jobIncomplete = async (ctx: ControlContext, key: string): Promise<boolean> => {
  const body = await ctx.objects.read(key);
  const parsed = body ? parseSubmission({ body, key, analysis: ctx.config }) : undefined;
  if (!parsed?.ok) return false;
  const job = await ctx.store.getJob({ group: parsed.submission.group, jobId: parsed.submission.jobId });
  return !job?.header.complete;
};

/** Cancel requests whose event was lost: acted on while their job still has unfinished datasets. */
const sweepCancelRequests = async (ctx: ControlContext, now: Date) => {
  for (const group of ctx.config.groups.filter((g) => g.userInput)) {
    for (const object of await ctx.objects.listKeys(submissionsPrefix(group.name))) {
      if (!object.key.endsWith(CANCEL_SUFFIX) || !object.lastModified) continue;
      const age = now.getTime() - object.lastModified.getTime();
      if (age < WATCHDOG_TIMING.eventGraceMs || age > WATCHDOG_TIMING.submissionLookbackMs) continue;
      const jobId = cancelledJobId(object.key, await ctx.objects.read(object.key));
      const job = jobId ? await ctx.store.getJob({ group: group.name, jobId }) : undefined;
      if (!job || job.datasets.every((d) => isFinal(d.state))) continue;
      ctx.log.warn('processing a cancel request whose event was lost', { key: object.key });
      await processCancel(ctx, object.key);
    }
  }
};
