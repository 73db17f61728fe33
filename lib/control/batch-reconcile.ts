/**
 * Batch job state changes -> job state (DESIGN.md "Launchers": batch), the same way EC2 instance
 * states and the worker's final report drive it (./reconcile.ts), with the same forward-only
 * transitions, status files and job rows.
 *
 * A dataset is three Batch jobs (lib/launch/batch-stages.ts), each carrying its identity in its
 * parameters, so an event names its dataset even before the job table knows the launch:
 * - stage-in RUNNING: the dataset is IN PROGRESS (as an EC2 worker is when its instance runs);
 * - analysis RUNNING: the status file says so, with the container's CloudWatch log stream (the
 *   live log; the stage-out copies the complete stdout/stderr into logs/ at the end);
 * - fetch (an `rclone:` dataset, ./batch-fetch.ts) RUNNING: the status file says so;
 * - stage-in, fetch and analysis all ended (whichever event comes last, claimed once in the table):
 *   the stage-out is submitted, whatever the outcome, since Batch would fail a chained one. It
 *   uploads what there is and the final report, then removes the job folder. What the folder cannot
 *   tell goes with it: the dataset already ended (cancel, deadline), the queue cancelled a job stuck
 *   RUNNABLE (no capacity), the analysis ran out of time, a stage never started. If the stage-in
 *   never started, nothing reached EFS: the dataset ends here, no container needed;
 * - stage-out ended: its final report (also an S3 event, ./reconcile.ts onFinalReport) decides; a
 *   stage-out that failed without one fails the dataset, naming the stage and why.
 */
import type { EventBridgeEvent } from 'aws-lambda';
import type { DatasetRecord, Job } from '../job/job-store';
import { isFinal, type JobState } from '../job/job-state';
import type { WorkerJob } from '../job/worker-job';
import { type BatchJobView, isEndedBatchStatus, jobViewOf } from '../launch/batch-api';
import type { StageOutRequest } from '../launch/batch-launcher';
import { BATCH_LOG_GROUP, type BatchJobIdentity, identityOf } from '../launch/batch-stages';
import { finalReportKey, jobResultFolder } from '../layout';
import { fetchJobIdOf, fetchOutcome, fetchRunningReason } from './batch-fetch';
import type { ControlContext } from './control-context';
import { endDataset } from './dataset-finish';
import { onFinalReport } from './reconcile';

/** What the reconcile handler needs of the batch launcher (lib/launch/batch-launcher.ts). */
export interface BatchStageControl {
  describe(jobIds: readonly string[]): Promise<BatchJobView[]>;
  submitStageOut(request: StageOutRequest): Promise<string>;
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

/** A job the queue cancelled after it waited RUNNABLE too long (jobStateTimeLimitActions). */
const CAPACITY_CANCEL = /JobStateTimeLimit/i;
/** The instance under a running job went away (a Spot reclaim): "Host EC2 (instance i-...) terminated." */
const SPOT_RECLAIMED = /^Host EC2 .*terminated/i;
/** A job Batch stopped at its timeout (attemptDurationSeconds). */
const TIMEOUT = /attempt duration exceeded timeout|timed? ?out/i;

export const onBatchJobState = async (
  ctx: ControlContext,
  batch: BatchStageControl,
  detail: unknown,
  time: string,
): Promise<string> => {
  const view = jobViewOf(detail);
  if (!view) return 'not a Batch job detail';
  const identity = identityOf(view.parameters);
  if (!identity) return `Batch job ${view.jobId} was not submitted by ncaas`;
  if (identity.analysis !== ctx.config.name) return `Batch job of analysis ${identity.analysis}`;
  if (identity.cleanupOnly) return `clean-up job ${view.jobId} ${view.status}`;
  const dataset = await ctx.store.getDataset(identity, identity.datasetIndex);
  if (!dataset) return `no dataset ${identity.datasetIndex} of job ${identity.jobId}`;
  const folder = jobResultFolder(dataset.group, ctx.config.name, dataset.jobId);
  const certify = (line: string) =>
    ctx.report.certify(folder, dataset.submittedAt, `dataset ${dataset.datasetKey}: ${line}`);

  if (identity.stage === 'out') return onStageOut(ctx, dataset, view, folder);

  if (view.status === 'RUNNING') {
    const t = await ctx.store.transition(dataset, dataset.datasetIndex, 'IN PROGRESS', { startedAt: time });
    if (identity.stage === 'in') {
      if (t.applied) await certify(`Batch stage-in job ${view.jobId} is running (staging the dataset)`);
      return t.applied ? 'IN PROGRESS' : `unchanged (${t.previous})`;
    }
    const current = (await ctx.store.getDataset(dataset, dataset.datasetIndex)) ?? dataset;
    if (isFinal(current.state)) return `unchanged (${current.state})`;
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
    const live = view.logStreamName
      ? ` (live log: CloudWatch Logs group ${BATCH_LOG_GROUP}, stream ${view.logStreamName})`
      : '';
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
  return settleLaunch(ctx, batch, dataset, identity, view);
};

/**
 * Once the stage-in, the fetch (if any) and the analysis job of one launch have all ended: the
 * stage-out (or, if the stage-in never started, the final state right here). Called on the end of each.
 */
const settleLaunch = async (
  ctx: ControlContext,
  batch: BatchStageControl,
  dataset: DatasetRecord,
  identity: BatchJobIdentity,
  ended: BatchJobView,
): Promise<string> => {
  let stageIn: BatchJobView | undefined = identity.stage === 'in' ? ended : undefined;
  let analysis: BatchJobView | undefined = identity.stage === 'run' ? ended : undefined;
  if (!analysis) {
    // The analysis job of this launch is the dataset's launcher id, if this stage-in is that launch's.
    const current = await ctx.store.getDataset(dataset, dataset.datasetIndex);
    const recorded = current?.launcherId ? (await batch.describe([current.launcherId]))[0] : undefined;
    analysis = identityOf(recorded?.parameters)?.jobDir === identity.jobDir ? recorded : undefined;
    if (!analysis) return cleanUpOrphan(ctx, batch, dataset, identity, ended);
  }
  if (!stageIn) {
    const stageInId = identity.stageInJobId ?? analysis.dependsOn[0];
    stageIn = stageInId ? (await batch.describe([stageInId]))[0] : undefined;
  }
  const fetchId = fetchJobIdOf(analysis);
  const fetch =
    identity.stage === 'fetch' ? ended : fetchId ? (await batch.describe([fetchId]))[0] : undefined;
  if (stageIn && !isEndedBatchStatus(stageIn.status)) return 'waiting for the stage-in job to end';
  if (fetch && !isEndedBatchStatus(fetch.status)) return 'waiting for the fetch job to end';
  if (!isEndedBatchStatus(analysis.status)) return 'waiting for the analysis job to end';
  if (!(await ctx.store.claimStageOut(dataset, dataset.datasetIndex, identity.jobDir))) {
    return 'the stage-out of this launch is already under way';
  }

  const current = (await ctx.store.getDataset(dataset, dataset.datasetIndex)) ?? dataset;
  const outcome = launchOutcome(current, stageIn, analysis, fetch);
  const folder = jobResultFolder(dataset.group, ctx.config.name, dataset.jobId);

  if (stageIn !== undefined && stageIn.startedAt === undefined) {
    // No container ever touched EFS: nothing to upload or remove. The dataset ends here.
    const state = outcome.status ?? 'FAILED';
    const reason =
      outcome.reason ??
      `the stage-in job never started${stageIn.statusReason ? ` (${stageIn.statusReason})` : ''}`;
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
    await ctx.store.releaseStageOut(dataset, dataset.datasetIndex, identity.jobDir);
    throw error;
  }
  await ctx.report.certify(
    folder,
    dataset.submittedAt,
    `dataset ${dataset.datasetKey}: Batch stage-out job ${stageOutId} submitted (uploads the results and logs, then removes the job folder)`,
  );
  return `stage-out ${stageOutId} submitted`;
};

/** A stage-in whose launch did not go through (or was replaced): remove what it may have staged. */
const cleanUpOrphan = async (
  ctx: ControlContext,
  batch: BatchStageControl,
  dataset: DatasetRecord,
  identity: BatchJobIdentity,
  stageIn: BatchJobView,
): Promise<string> => {
  if (stageIn.startedAt === undefined) return 'a stage-in of another launch that never started';
  if (!(await ctx.store.claimStageOut(dataset, dataset.datasetIndex, identity.jobDir))) {
    return 'its clean-up is already under way';
  }
  const job = await ctx.store.getJob(dataset);
  try {
    const id = await batch.submitStageOut({
      job: stageOutJob(ctx, dataset, job),
      jobDir: identity.jobDir,
      attempt: identity.attempt,
      cleanupOnly: true,
    });
    return `clean-up job ${id} submitted for the job folder of an orphan stage-in`;
  } catch (error) {
    await ctx.store.releaseStageOut(dataset, dataset.datasetIndex, identity.jobDir);
    throw error;
  }
};

interface LaunchOutcome {
  /** A final state decided here; otherwise the job folder decides (exit code, stage-in error). */
  readonly status?: JobState;
  readonly reason?: string;
}

/** What the control plane knows that the job folder cannot tell. */
export const launchOutcome = (
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
      status: 'FAILED',
      reason: `no compute capacity: the ${cancelled === stageIn ? 'stage-in' : 'analysis'} job waited in the Batch queue until the queue's time limit cancelled it (${cancelled.statusReason ?? ''}). Submit the job again later; if it keeps happening, an operator should check the compute environment (instance types, vCPU limit, Spot capacity) and the account's EC2 quotas`,
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

/** The stage-out's final report decides; without one the stage-out itself failed the dataset. */
const onStageOut = async (
  ctx: ControlContext,
  dataset: DatasetRecord,
  view: BatchJobView,
  folder: string,
): Promise<string> => {
  if (!isEndedBatchStatus(view.status)) return `ignored stage-out ${view.status}`;
  const reportKey = finalReportKey(folder, dataset.datasetLabel);
  if ((await ctx.objects.readText(reportKey)) !== undefined) return onFinalReport(ctx, reportKey);
  const reason =
    view.status === 'FAILED'
      ? `stage-out failed: ${describeEnd(view)}; the results and logs could not be uploaded, and the job folder may remain on the analysis EFS`
      : 'stage-out finished without writing the final report';
  const t = await endDataset(ctx, dataset, 'FAILED', { reason });
  return t.applied ? 'FAILED' : `unchanged (${t.previous})`;
};

/** The job as the stage-out container reads it, rebuilt from the job table (as the launch built it). */
const stageOutJob = (ctx: ControlContext, dataset: DatasetRecord, job: Job | undefined): WorkerJob => {
  const deadline = dataset.deadline ? new Date(dataset.deadline) : ctx.now();
  return {
    analysis: ctx.config.name,
    region: ctx.config.region,
    bucket: ctx.bucket,
    group: dataset.group,
    jobId: dataset.jobId,
    datasetIndex: dataset.datasetIndex,
    datasetKey: dataset.datasetKey,
    datasetLabel: dataset.datasetLabel,
    configKey: job?.header.configKey ?? '',
    resultFolder: jobResultFolder(dataset.group, ctx.config.name, dataset.jobId),
    command: ctx.config.command,
    deadlineEpochSeconds: Math.floor(deadline.getTime() / 1000),
    launcher: 'batch',
  };
};
