/**
 * Batch job state changes -> job state (docs/DESIGN.md "Launchers": batch), the same way EC2 instance
 * states and the worker's final report drive it (./reconcile.ts), with the same forward-only
 * transitions, status files and job rows.
 *
 * A dataset is three Batch jobs (lib/launch/batch-stages.ts), each carrying its identity in its
 * parameters, so an event names its dataset even before the job table knows the launch:
 * - stage-in RUNNING: the dataset is IN PROGRESS (as an EC2 worker is when its instance runs);
 * - analysis RUNNING: the status file says so, with the container's CloudWatch log stream (the
 *   live log; the stage-out also uploads the complete stdout/stderr files at the end);
 * - fetch (an `rclone:` dataset, ./batch-fetch.ts) RUNNING: the status file says so;
 * - stage-in, fetch and analysis all ended (whichever event comes last, claimed once in the table):
 *   the analysis container's log stream is copied into logs/ (./container-log.ts) before anything
 *   can write the final state; then the stage-out is submitted, whatever the outcome, since Batch
 *   would fail a chained one. It uploads what there is and the final report, then removes the job
 *   folder. What the folder cannot tell goes with it: the dataset already ended (cancel,
 *   deadline), the queue cancelled a job stuck RUNNABLE (no capacity), the analysis ran out of
 *   time, a stage never started. If the stage-in never started, nothing reached EFS: the dataset
 *   ends here, no container needed;
 * - stage-out ended: its final report (also an S3 event, ./reconcile.ts onFinalReport) decides; a
 *   stage-out that failed without one fails the dataset, naming the stage and why;
 * - the job folder (./efs-folders.ts): a stage-out or clean-up that SUCCEEDED removed it; one that
 *   FAILED may not have, so a clean-up job follows (bounded), and the watchdog sweeps what is left.
 */
import type { EventBridgeEvent } from 'aws-lambda';
import type { DatasetRecord, Job } from '../job/job-store';
import { isFinal, type JobState } from '../job/job-state';
import { buildWorkerJob, type WorkerJob } from '../job/worker-job';
import { type BatchJobView, isEndedBatchStatus, jobViewOf } from '../launch/batch-api';
import type { StageOutRequest } from '../launch/batch-launcher';
import type { LaunchOutcome as LauncherOutcome, LaunchRequest } from '../launch/launcher';
import { type BatchJobIdentity, identityOf } from '../launch/batch-stages';
import { analysisLogKey, finalReportKey, jobResultFolder } from '../layout';
import {
  CAPACITY_CANCEL,
  fetchJobIdOf,
  fetchOutcome,
  fetchRunningReason,
  logOf,
  TIMEOUT,
} from './batch-fetch';
import { type ContainerLogSource, copyContainerLog, describeCopy } from './container-log';
import type { ControlContext } from './control-context';
import { endDataset } from './dataset-finish';
import {
  type EfsFolderControl,
  firstCleanup,
  folderRemoved,
  jobFolderRecorder,
  onCleanupJob,
  onStageOutFailed,
} from './efs-folders';
import { workerJobFor } from './launch-service';
import { applyFinalReport, isOwnReport } from './reconcile';

/** What the reconcile handler needs of the batch launcher (lib/launch/batch-launcher.ts). */
export interface BatchStageControl extends EfsFolderControl {
  submitStageOut(request: StageOutRequest): Promise<string>;
  /** With a Spot-first queue: a dataset's launch again, on on-demand capacity. */
  readonly launchOnDemand?: (request: LaunchRequest) => Promise<LauncherOutcome>;
}

export type BatchJobStateEvent = EventBridgeEvent<'Batch Job State Change', Record<string, unknown>>;

export const isBatchJobStateEvent = (event: unknown): event is BatchJobStateEvent => {
  const e = event as Partial<BatchJobStateEvent> | null;
  return (
    e?.source === 'aws.batch' &&
    e['detail-type'] === 'Batch Job State Change' &&
    typeof e.detail?.jobId === 'string'
  );
};

/** The instance under a running job went away (a Spot reclaim): "Host EC2 (instance i-...) terminated." */
const SPOT_RECLAIMED = /^Host EC2 .*terminated/i;
/** A job the queue cancelled because no compute environment could ever fit it (not a capacity matter). */
const MISFIT = /JOB_RESOURCE_REQUIREMENT/i;

export const onBatchJobState = async (
  ctx: ControlContext,
  batch: BatchStageControl,
  /** Where the analysis containers' logs are (CloudWatch Logs on AWS, process output locally). */
  logs: ContainerLogSource,
  detail: unknown,
  time: string,
): Promise<string> => {
  const view = jobViewOf(detail);
  if (!view) return 'not a Batch job detail';
  const identity = identityOf(view.parameters);
  if (!identity) return `Batch job ${view.jobId} was not submitted by ncaas`;
  if (identity.analysis !== ctx.config.name) return `Batch job of analysis ${identity.analysis}`;
  const dataset = await ctx.store.getDataset(identity, identity.datasetIndex);
  if (!dataset) return `no dataset ${identity.datasetIndex} of job ${identity.jobId}`;
  if (identity.cleanupOnly) return onCleanupJob(ctx, batch, dataset, identity.jobDir, view);
  const folder = jobResultFolder(dataset.group, ctx.config.name, dataset.jobId);
  // Stamped with when the job started or ended (Batch's own times): the certificate keeps the order
  // things happened in, whatever order their events arrive in.
  const happened = new Date(
    (view.status === 'RUNNING' ? view.startedAt : (view.stoppedAt ?? view.startedAt)) ?? Date.parse(time),
  );
  const certify = (line: string) =>
    ctx.report.certifyAt(
      folder,
      dataset.submittedAt,
      Number.isNaN(happened.getTime()) ? ctx.now() : happened,
      `dataset ${dataset.datasetKey}: ${line}`,
    );

  if (identity.stage === 'out') return onStageOut(ctx, batch, dataset, identity.jobDir, view, folder);

  if (view.status === 'RUNNING') {
    const t = await ctx.store.transition(dataset, dataset.datasetIndex, 'IN PROGRESS', { startedAt: time });
    if (identity.stage === 'in') {
      if (t.applied) await certify(`Batch stage-in job ${view.jobId} is running (staging the dataset)`);
      return t.applied ? 'IN PROGRESS' : `unchanged (${t.previous})`;
    }
    // Not applied: `previous` is the state now (read by the transition), final or not.
    const state = t.applied ? 'IN PROGRESS' : (t.previous ?? dataset.state);
    if (isFinal(state)) return `unchanged (${state})`;
    if (identity.stage === 'fetch') {
      const reason = fetchRunningReason(dataset, view);
      await ctx.report.setStatus(folder, dataset.datasetLabel, {
        status: 'IN PROGRESS',
        reason,
        input: dataset.datasetKey,
        instance: view.jobId,
      });
      await certify(`Batch fetch job ${view.jobId} is running: ${reason}`);
      return 'IN PROGRESS (fetching)';
    }
    const live = logOf(view, ' (live log: ', ')');
    await ctx.report.setStatus(folder, dataset.datasetLabel, {
      status: 'IN PROGRESS',
      reason: `running the analysis${live}`,
      input: dataset.datasetKey,
      instance: view.jobId,
    });
    await certify(`Batch analysis job ${view.jobId} is running${live}`);
    return 'IN PROGRESS (analysis running)';
  }
  if (!isEndedBatchStatus(view.status)) return `ignored ${identity.stage} ${view.status}`;

  const stageName = { in: 'stage-in', fetch: 'fetch', run: 'analysis' }[identity.stage];
  await certify(`Batch ${stageName} job ${view.jobId} ${describeEnd(view)}`);
  return settleLaunch(ctx, batch, logs, dataset, identity, view);
};

/**
 * Once the stage-in, the fetch (if any) and the analysis job of one launch have all ended: the
 * stage-out (or, if the stage-in never started, the final state right here). Called on the end of each.
 */
const settleLaunch = async (
  ctx: ControlContext,
  batch: BatchStageControl,
  logs: ContainerLogSource,
  dataset: DatasetRecord,
  identity: BatchJobIdentity,
  ended: BatchJobView,
): Promise<string> => {
  let stageIn: BatchJobView | undefined = identity.stage === 'in' ? ended : undefined;
  let analysis: BatchJobView | undefined = identity.stage === 'run' ? ended : undefined;
  if (analysis && dataset.launcherId !== undefined && dataset.launcherId !== analysis.jobId) {
    // Replaced (an on-demand relaunch after Spot failed it): its folder is cleaned up, not reported.
    const replacedStageIn = await stageInOf(batch, identity, analysis);
    if (!replacedStageIn) return 'an analysis job of a replaced launch (no stage-in known)';
    if (!isEndedBatchStatus(replacedStageIn.status)) return 'waiting for the stage-in of a replaced launch';
    return cleanUpOrphan(ctx, batch, dataset, identity, replacedStageIn);
  }
  if (!analysis) {
    // The analysis job of this launch is the dataset's launcher id, if this stage-in is that launch's
    // (`dataset` was read as this event came in).
    const recorded = dataset.launcherId ? (await batch.describe([dataset.launcherId]))[0] : undefined;
    analysis = identityOf(recorded?.parameters)?.jobDir === identity.jobDir ? recorded : undefined;
    if (!analysis) return cleanUpOrphan(ctx, batch, dataset, identity, ended);
  }
  stageIn ??= await stageInOf(batch, identity, analysis);
  const fetchId = fetchJobIdOf(analysis);
  const fetch =
    identity.stage === 'fetch' ? ended : fetchId ? (await batch.describe([fetchId]))[0] : undefined;
  if (stageIn && !isEndedBatchStatus(stageIn.status)) return 'waiting for the stage-in job to end';
  if (fetch && !isEndedBatchStatus(fetch.status)) return 'waiting for the fetch job to end';
  if (!isEndedBatchStatus(analysis.status)) return 'waiting for the analysis job to end';

  const latest = (await ctx.store.getDataset(dataset, dataset.datasetIndex)) ?? dataset;
  const lost = launchOutcome(latest, stageIn, analysis, fetch);
  if (lost.spotCapacityLost && identity.spot && batch.launchOnDemand) {
    return relaunchOnDemand(ctx, batch, batch.launchOnDemand, latest, identity, stageIn, lost);
  }
  // The claim returns the dataset as it was claimed: a cancel or deadline that came since `latest`
  // was read is what the stage-out is told.
  const current = await ctx.store.claims.claimStageOut(dataset, dataset.datasetIndex, identity.jobDir);
  if (!current) return 'the stage-out of this launch is already under way';
  // Only a transition changes the state (and its reason): the same state, the same outcome.
  const outcome = current.state === latest.state ? lost : launchOutcome(current, stageIn, analysis, fetch);
  const folder = jobResultFolder(dataset.group, ctx.config.name, dataset.jobId);
  // Here, once per launch (after the claim), and before the final state is written: below when no
  // container ran, else by the stage-out's report, which cannot exist before it is submitted. The
  // copy's time is capped, so it cannot hold the claim past the Lambda's timeout.
  await copyAnalysisLog(ctx, logs, current, folder, analysis);

  if (stageIn !== undefined && stageIn.startedAt === undefined) {
    // No container ever touched EFS: nothing to upload or remove. The dataset ends here.
    const state = outcome.status ?? 'FAILED';
    const reason =
      outcome.reason ??
      `the stage-in job never started${stageIn.statusReason ? ` (${stageIn.statusReason})` : ''}`;
    await folderRemoved(ctx, current, identity.jobDir);
    if (isFinal(current.state)) return `unchanged (${current.state})`;
    const t = await endDataset(ctx, current, state, { reason });
    return t.applied ? state : `unchanged (${t.previous})`;
  }

  const job = await ctx.store.getJob(dataset);
  let stageOutId: string;
  try {
    stageOutId = await batch.submitStageOut({
      job: stageOutJob(ctx, current, job),
      jobDir: identity.jobDir,
      attempt: identity.attempt,
      analysisJobId: analysis.jobId,
      ...(outcome.status ? { status: outcome.status } : {}),
      ...(outcome.reason ? { reason: outcome.reason } : {}),
      ...(analysis.logStreamName ? { logStreamName: analysis.logStreamName } : {}),
    });
  } catch (error) {
    // The event is delivered again (Lambda and EventBridge retries): let that delivery claim it.
    await ctx.store.claims.releaseStageOut(dataset, dataset.datasetIndex, identity.jobDir);
    throw error;
  }
  // While it runs, the sweep leaves the folder to it.
  await ctx.store.efsFolders.addJobFolderJobs(dataset, dataset.datasetIndex, identity.jobDir, [stageOutId]);
  await ctx.report.certify(
    folder,
    dataset.submittedAt,
    `dataset ${dataset.datasetKey}: Batch stage-out job ${stageOutId} submitted (uploads the results and logs, then removes the job folder)`,
  );
  return `stage-out ${stageOutId} submitted`;
};

/**
 * Spot capacity failed a launch (its queue cancelled a job waiting for Spot, or Spot took the
 * instance back): remove what the launch staged and launch the dataset again on the on-demand queue,
 * once. The dataset keeps its state, attempt and deadline; its launcher id becomes the new analysis job.
 */
const relaunchOnDemand = async (
  ctx: ControlContext,
  batch: BatchStageControl,
  launchOnDemand: (request: LaunchRequest) => Promise<LauncherOutcome>,
  dataset: DatasetRecord,
  identity: BatchJobIdentity,
  stageIn: BatchJobView | undefined,
  lost: LaunchOutcome,
): Promise<string> => {
  const folder = jobResultFolder(dataset.group, ctx.config.name, dataset.jobId);
  const certify = (line: string) =>
    ctx.report.certify(folder, dataset.submittedAt, `dataset ${dataset.datasetKey}: ${line}`);
  // The old job folder first: a retried event finds this claimed and goes on to the relaunch.
  if (stageIn?.startedAt !== undefined) await cleanUpOrphan(ctx, batch, dataset, identity, stageIn);
  if (!(await ctx.store.claims.claimOnDemandFallback(dataset, dataset.datasetIndex))) {
    return 'the on-demand relaunch of this dataset is already under way';
  }
  let outcome: LauncherOutcome;
  try {
    // Built as the first launch built it (the config's estimates included).
    const { workerJob, datasetSizeGiB } = await workerJobFor(
      ctx,
      dataset,
      await ctx.store.getJob(dataset),
      'batch',
      // The same attempt: the same secret (the first launch's stage-out, if it ever ran, is cancelled).
      dataset.attempt,
    );
    outcome = await launchOnDemand({
      job: workerJob,
      attempt: identity.attempt,
      instanceType: dataset.instanceType,
      ...(datasetSizeGiB !== undefined ? { datasetSizeGiB } : {}),
      jobFolders: jobFolderRecorder(ctx, dataset),
    });
    if (outcome.kind === 'retry') throw new Error(outcome.reason);
  } catch (error) {
    // The event is delivered again (Lambda and EventBridge retries): let that delivery relaunch.
    await ctx.store.claims.releaseOnDemandFallback(dataset, dataset.datasetIndex);
    throw error;
  }
  if (outcome.kind === 'failed') {
    const t = await endDataset(ctx, dataset, 'FAILED', {
      reason: `${lost.reason ?? 'Spot capacity was lost'}; the relaunch on on-demand capacity failed: ${outcome.reason}`,
    });
    return t.applied ? 'FAILED (on-demand relaunch failed)' : `unchanged (${t.previous})`;
  }
  await ctx.store.setLauncher(dataset, dataset.datasetIndex, outcome.launcherId, identity.attempt);
  const why = lost.spotCapacityLost === 'reclaimed' ? 'Spot took the instance back' : 'no Spot capacity';
  await ctx.report.setStatus(folder, dataset.datasetLabel, {
    status: dataset.state,
    reason: `${why}: relaunched on on-demand capacity`,
    input: dataset.datasetKey,
    instance: outcome.launcherId,
  });
  await certify(
    `${why} (${lost.reason ?? ''}); relaunched on on-demand capacity: Batch analysis job ${outcome.launcherId}`,
  );
  return `relaunched on on-demand capacity as ${outcome.launcherId}`;
};

/**
 * The analysis container's log into `logs/DATASET_NAME:{label}_analysis-log.txt`, and a certificate
 * line saying what was copied. Never throws: a log that cannot be copied must not stop the stage-out
 * or the final state (the whole log stays in CloudWatch Logs, and the stage-out uploads the
 * stdout/stderr files the analysis stage wrote).
 */
const copyAnalysisLog = async (
  ctx: ControlContext,
  logs: ContainerLogSource,
  dataset: DatasetRecord,
  folder: string,
  analysis: BatchJobView,
): Promise<void> => {
  const key = analysisLogKey(folder, dataset.datasetLabel);
  const file = key.slice(folder.length + 1);
  let line: string;
  try {
    const copy = await copyContainerLog({
      source: logs,
      stream: analysis.logStreamName,
      noStreamBecause:
        analysis.startedAt === undefined
          ? `the analysis container never started${analysis.statusReason ? ` (Batch: ${analysis.statusReason})` : ''}`
          : 'Batch named no log stream for the analysis container',
      key,
      objects: ctx.objects,
    });
    if (copy.kind === 'failed' || copy.kind === 'cut') {
      ctx.log.warn('analysis log copied in part', { key, analysisJobId: analysis.jobId, ...copy });
    }
    line = describeCopy(copy, file);
  } catch (error) {
    ctx.log.error('analysis log not copied', { key, analysisJobId: analysis.jobId, error: String(error) });
    const where = analysis.logStreamName ? logs.where(analysis.logStreamName) : 'no log stream';
    line = `the analysis container's log could not be copied to ${file} (${String(error)}); the whole log is in ${where}`;
  }
  try {
    await ctx.report.certify(folder, dataset.submittedAt, `dataset ${dataset.datasetKey}: ${line}`);
  } catch (error) {
    ctx.log.error('certificate line about the analysis log not written', { key, error: String(error) });
  }
};

/** A stage-in whose launch did not go through (or was replaced): remove what it may have staged. */
const cleanUpOrphan = async (
  ctx: ControlContext,
  batch: BatchStageControl,
  dataset: DatasetRecord,
  identity: BatchJobIdentity,
  stageIn: BatchJobView,
): Promise<string> => {
  if (stageIn.startedAt === undefined) {
    await folderRemoved(ctx, dataset, identity.jobDir);
    return 'a stage-in of another launch that never started';
  }
  // Its image just ran: the staging image first.
  const outcome = await firstCleanup(
    ctx,
    batch,
    dataset,
    identity.jobDir,
    'staging',
    `stage-in job ${stageIn.jobId} ran for a launch that did not go through`,
  );
  return outcome.startsWith('clean-up job') ? `${outcome} for the job folder of an orphan stage-in` : outcome;
};

interface LaunchOutcome {
  /** A final state decided here; otherwise the job folder decides (exit code, stage-in error). */
  readonly status?: JobState;
  readonly reason?: string;
  /** Capacity, not the analysis, ended the launch: on a Spot-first queue, relaunch on on-demand. */
  readonly spotCapacityLost?: 'no-capacity' | 'reclaimed';
}

/** What the control plane knows that the job folder cannot tell. */
const launchOutcome = (
  dataset: DatasetRecord,
  stageIn: BatchJobView | undefined,
  analysis: BatchJobView,
  fetch?: BatchJobView,
): LaunchOutcome => {
  if (isFinal(dataset.state)) {
    return { status: dataset.state, reason: dataset.reason ?? `the job was ended (${dataset.state})` };
  }
  const cancelled = [stageIn, analysis].find((v) => v && CAPACITY_CANCEL.test(v.statusReason ?? ''));
  if (cancelled) {
    return {
      ...(MISFIT.test(cancelled.statusReason ?? '') ? {} : { spotCapacityLost: 'no-capacity' as const }),
      status: 'FAILED',
      reason: `no compute capacity: the ${cancelled === stageIn ? 'stage-in' : 'analysis'} job waited in the Batch queue until the queue's time limit cancelled it (${cancelled.statusReason ?? ''}). Submit the job again later; if it keeps happening, an operator should check the compute environment (instance types, vCPU limit, Spot capacity) and the account's EC2 quotas`,
    };
  }
  if (stageIn?.status === 'FAILED' && SPOT_RECLAIMED.test(stageIn.statusReason ?? '')) {
    return {
      status: 'INTERRUPTED',
      reason: `the instance staging the dataset was taken back (Batch: ${stageIn.statusReason ?? ''}); submit the job again`,
      spotCapacityLost: 'reclaimed',
    };
  }
  if (stageIn?.status === 'FAILED' && TIMEOUT.test(stageIn.statusReason ?? '')) {
    return { status: 'TIMED_OUT', reason: 'staging the dataset did not finish before the job deadline' };
  }
  if (stageIn?.status === 'FAILED') {
    // The stage-in's own account of why (stage-in.error in the job folder) comes first.
    return { reason: `stage-in failed: ${describeEnd(stageIn)}` };
  }
  // A failed fetch fails the analysis as a dependent job: the fetch's own end names the cause.
  const fetched = fetchOutcome(dataset, fetch);
  if (fetched) return fetched;
  if (analysis.status === 'FAILED' && TIMEOUT.test(analysis.statusReason ?? '')) {
    return {
      status: 'TIMED_OUT',
      reason: `the analysis was stopped at its deadline (Batch: ${analysis.statusReason ?? 'timeout'})`,
    };
  }
  if (analysis.status === 'FAILED' && SPOT_RECLAIMED.test(analysis.statusReason ?? '')) {
    return {
      status: 'INTERRUPTED',
      reason: `the instance running the analysis was taken back (Batch: ${analysis.statusReason ?? ''}); submit the job again`,
      spotCapacityLost: 'reclaimed',
    };
  }
  if (analysis.status === 'FAILED' && analysis.exitCode === undefined) {
    return { reason: `the analysis stage failed: ${analysis.statusReason ?? 'no reason given by Batch'}` };
  }
  return {};
};

const describeEnd = (view: BatchJobView): string =>
  [
    view.status,
    view.statusReason ? `(${view.statusReason})` : '',
    view.exitCode !== undefined ? `exit code ${view.exitCode}` : '',
  ]
    .filter(Boolean)
    .join(' ');

/**
 * The stage-out's final report decides; without one the stage-out itself failed the dataset. The
 * job folder: SUCCEEDED removed it; FAILED may not have, so a clean-up job follows.
 */
const onStageOut = async (
  ctx: ControlContext,
  batch: BatchStageControl,
  dataset: DatasetRecord,
  jobDir: string,
  view: BatchJobView,
  folder: string,
): Promise<string> => {
  if (!isEndedBatchStatus(view.status)) return `ignored stage-out ${view.status}`;
  const report = await ctx.objects.readText(finalReportKey(folder, dataset.datasetLabel));
  let outcome: string;
  if (report !== undefined && isOwnReport(dataset, report)) {
    outcome = await applyFinalReport(ctx, dataset, report);
  } else {
    const reason =
      view.status === 'FAILED'
        ? `stage-out failed: ${describeEnd(view)}; the results and logs could not be uploaded`
        : 'stage-out finished without writing the final report';
    const t = await endDataset(ctx, dataset, 'FAILED', { reason });
    outcome = t.applied ? 'FAILED' : `unchanged (${t.previous})`;
  }
  // What these use of the dataset (its keys, attempt, certificate) the end above did not change.
  if (view.status === 'SUCCEEDED') await folderRemoved(ctx, dataset, jobDir);
  else await onStageOutFailed(ctx, batch, dataset, jobDir, view);
  return outcome;
};

/** The stage-in job of a launch: named in the analysis job's identity, else its dependency. */
const stageInOf = async (
  batch: BatchStageControl,
  identity: BatchJobIdentity,
  analysis: BatchJobView,
): Promise<BatchJobView | undefined> => {
  const stageInId = identity.stageInJobId ?? analysis.dependsOn[0];
  return stageInId ? (await batch.describe([stageInId]))[0] : undefined;
};

/** The job as the stage-out container reads it, rebuilt from the job table (as the launch built it). */
const stageOutJob = (ctx: ControlContext, dataset: DatasetRecord, job: Job | undefined): WorkerJob =>
  buildWorkerJob({
    config: ctx.config,
    bucket: ctx.bucket,
    dataset,
    configKey: job?.header.configKey ?? '',
    // The stage-out writes the final report: it carries the launch's secret, as the worker would.
    ...(dataset.reportToken !== undefined ? { reportToken: dataset.reportToken } : {}),
    datasetCount: job?.header.datasetCount ?? 1,
    deadline: dataset.deadline ? new Date(dataset.deadline) : ctx.now(),
    launcher: 'batch',
  });
