/**
 * The launcher's work for one launch message: re-read the dataset (the table is the truth, the
 * message only a reference), build the worker's job, launch it, record the launcher id. Retryable
 * failures go back to the queue; a final failure makes the dataset FAILED with a plain reason.
 */
import type { DatasetRecord, Job } from '../job/job-store';
import { isFinal } from '../job/job-state';
import { buildWorkerJob, type WorkerJob } from '../job/worker-job';
import type { LaunchMessage } from '../launch/launcher';
import type { ControlContext } from './control-context';
import { endDataset } from './dataset-finish';
import { jobFolderRecorder } from './efs-folders';
import { sendNotification } from './notify';

export type LaunchResult =
  | { readonly kind: 'launched'; readonly launcherId: string }
  | { readonly kind: 'skipped'; readonly why: string }
  | { readonly kind: 'retry'; readonly reason: string }
  | { readonly kind: 'failed'; readonly reason: string };

export interface LaunchOptions {
  /** This delivery is the last before the dead-letter queue: a retryable failure becomes final. */
  readonly lastAttempt: boolean;
}

export const launchDataset = async (
  ctx: ControlContext,
  message: LaunchMessage,
  options: LaunchOptions,
): Promise<LaunchResult> => {
  const { store, config } = ctx;
  if (!ctx.launcher) throw new Error('launchDataset needs a launcher');
  if (message.analysis !== config.name)
    return { kind: 'skipped', why: `message for analysis ${message.analysis}` };
  const jobKey = { group: message.group, jobId: message.jobId };
  const dataset = await store.getDataset(jobKey, message.datasetIndex);
  if (!dataset) return { kind: 'skipped', why: 'no such dataset' };
  if (dataset.state !== 'INITIALIZING') return { kind: 'skipped', why: `dataset is ${dataset.state}` };
  if (dataset.launcherId && dataset.attempt >= message.attempt)
    return { kind: 'skipped', why: 'already launched' };
  const job = await store.getJob(jobKey);
  if (!job) return { kind: 'skipped', why: 'no such job' };

  const { workerJob, datasetSizeGiB } = await workerJobFor(
    ctx,
    dataset,
    job,
    ctx.launcher.kind,
    message.attempt,
  );
  const { resultFolder } = workerJob;

  // Billing starts when the instance does, moments after this request: the cost counts from here.
  const launchedAt = ctx.now().toISOString();
  const outcome = await ctx.launcher.launch({
    job: workerJob,
    attempt: message.attempt,
    instanceType: dataset.instanceType,
    ...(datasetSizeGiB !== undefined ? { datasetSizeGiB } : {}),
    // Batch stages work in a job folder on EFS: recorded, so it is removed whatever happens.
    ...(ctx.launcher.kind === 'batch' ? { jobFolders: jobFolderRecorder(ctx, dataset) } : {}),
  });

  if (outcome.kind === 'launched') {
    await store.setLauncher(jobKey, dataset.datasetIndex, outcome.launcherId, message.attempt, {
      launchedAt,
      ...(outcome.rootVolumeGiB !== undefined ? { rootVolumeGiB: outcome.rootVolumeGiB } : {}),
      ...(outcome.spot ? { spot: true } : {}),
    });
    await ctx.report.certify(
      resultFolder,
      dataset.submittedAt,
      `dataset ${dataset.datasetKey}: worker ${outcome.launcherId} launched (${launchedAs(dataset.instanceType, outcome)})`,
    );
    // Cancelled (or failed) while the worker was being started: whoever ended it may not have known
    // the worker's id yet, so no instance outlives its dataset (the canceller reads again too).
    const now = await store.getDataset(jobKey, dataset.datasetIndex);
    if (now && isFinal(now.state)) {
      await ctx.launcher.terminate(outcome.launcherId);
      await ctx.report.certify(
        resultFolder,
        dataset.submittedAt,
        `dataset ${dataset.datasetKey}: worker ${outcome.launcherId} terminated: the dataset ended (${now.state}) while it was starting`,
      );
    }
    return { kind: 'launched', launcherId: outcome.launcherId };
  }
  if (outcome.kind === 'retry' && !options.lastAttempt) {
    ctx.log.warn('launch will be retried', { ...message, reason: outcome.reason });
    await sendNotification(ctx, {
      kind: 'RETRY',
      group: dataset.group,
      jobId: dataset.jobId,
      outcome: `dataset ${dataset.datasetKey}: its worker could not be launched yet; the launch will be retried`,
      reason: outcome.reason,
      resultsUrl: `s3://${ctx.bucket}/${resultFolder}/`,
    });
    return outcome;
  }
  const reason =
    outcome.kind === 'retry'
      ? `the worker could not be launched after several attempts: ${outcome.reason}`
      : outcome.reason;
  // The launcher said no worker started: nothing is billed.
  await endDataset(ctx, dataset, 'FAILED', { reason, noWorkerStarted: true });
  return { kind: 'failed', reason };
};

/** `m5.xlarge`, `m5.xlarge on Spot`, or with why a Spot-first launch runs on on-demand capacity. */
export const launchedAs = (
  instanceType: string,
  outcome: { readonly spot?: boolean; readonly note?: string },
): string => `${instanceType}${outcome.spot ? ' on Spot' : ''}${outcome.note ? `; ${outcome.note}` : ''}`;

/**
 * A dataset's worker job as a launch builds it, from the job as recorded: the config's estimates were
 * checked and kept at submission, so a launch (and a relaunch: an on-demand one after Spot failed,
 * ./batch-reconcile.ts and ./spot-interruption.ts) reads neither the config nor YAML.
 */
export const workerJobFor = async (
  ctx: ControlContext,
  dataset: DatasetRecord,
  /** Undefined (no job header): no config to read, as for a job not recorded. */
  job: Job | undefined,
  launcher: WorkerJob['launcher'],
  /** The launch attempt: its final report's secret is made (once) for it. */
  attempt: number,
): Promise<{ readonly workerJob: WorkerJob; readonly datasetSizeGiB?: number }> => {
  const { config } = ctx;
  const configKey = job?.header.configKey ?? '';
  const estimates = job?.header.estimates;
  if (job !== undefined && estimates === undefined) {
    ctx.log.warn(
      'job recorded without its config estimates: launched without __duration__ and __dataset_size__',
      {
        group: job.header.group,
        jobId: job.header.jobId,
      },
    );
  }
  const deadline = dataset.deadline
    ? new Date(dataset.deadline)
    : new Date(ctx.now().getTime() + config.workerTimeoutSeconds * 1000);
  const workerJob = buildWorkerJob({
    config,
    bucket: ctx.bucket,
    dataset,
    configKey,
    reportToken: await ctx.store.reportTokenFor(dataset, dataset.datasetIndex, attempt),
    datasetCount: job?.header.datasetCount ?? 1,
    deadline,
    ...(estimates?.durationMinutes !== undefined
      ? { durationEstimateMinutes: estimates.durationMinutes }
      : {}),
    launcher,
  });
  return {
    workerJob,
    ...(estimates?.datasetSizeGiB !== undefined ? { datasetSizeGiB: estimates.datasetSizeGiB } : {}),
  };
};
