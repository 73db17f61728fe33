/**
 * EC2 workers on Spot (blueprint `Ec2.Spot`): EC2 warns two minutes before it reclaims an instance
 * (the EventBridge "EC2 Spot Instance Interruption Warning"); the worker sees the same notice in its
 * instance metadata and uploads what it has (worker/run-job.sh). When the reclaimed instance then
 * ends without a final report, the dataset is relaunched once on on-demand capacity with the same
 * deadline and the same attempt (its secret), as the Batch runtime does after Spot
 * (./batch-reconcile.ts). The interruption is never the user's failure: if the relaunch itself
 * fails, the dataset ends INTERRUPTED, not FAILED. What the Spot worker cost is kept and added to
 * the dataset's total (./dataset-finish.ts).
 */
import type { DatasetRecord } from '../job/job-store';
import { isFinal } from '../job/job-state';
import { jobResultFolder } from '../layout';
import type { LaunchOutcome } from '../launch/launcher';
import type { ControlContext } from './control-context';
import { endDataset, workerCost } from './dataset-finish';
import { datasetLinePrefix } from './job-report';
import { launchedAs, workerJobFor } from './launch-service';
import { findDatasetOfWorker } from './worker-lookup';

export const SPOT_RECLAIMED_REASON = 'Spot reclaimed the instance';

/** The two-minute warning: recorded for the dataset's current Spot worker, and written where users look. */
export const onSpotWarning = async (
  ctx: ControlContext,
  launcherId: string,
  action: string,
  time: string,
): Promise<string> => {
  const dataset = await findDatasetOfWorker(ctx, launcherId);
  if (!dataset) return `no dataset of ${ctx.config.name} runs on ${launcherId}`;
  if (isFinal(dataset.state)) return `ignored: the dataset is ${dataset.state}`;
  if (dataset.launcherId !== launcherId) return `ignored: ${launcherId} is not the dataset's current worker`;
  if (!(await ctx.store.markSpotWarning(dataset, dataset.datasetIndex, launcherId, time))) {
    return 'already warned';
  }
  await ctx.report.certifyDatasetEvent(
    jobResultFolder(dataset.group, ctx.config.name, dataset.jobId),
    dataset,
    new Date(time),
    `${datasetLinePrefix(dataset.datasetKey)}Spot will reclaim worker ${launcherId} in two minutes (${action}); the worker uploads what it has, and the dataset will be relaunched on on-demand capacity`,
  );
  return 'warned';
};

/** Whether a worker that ended without a final report was taken by Spot (warned, and still current). */
export const reclaimedBySpot = (dataset: DatasetRecord, launcherId: string): boolean =>
  dataset.spot === true && dataset.spotWarnedAt !== undefined && dataset.launcherId === launcherId;

/**
 * The reclaimed Spot worker's dataset, launched again on on-demand capacity (once). A launch that
 * cannot be made now throws, so the event is delivered again and the next delivery relaunches.
 */
export const relaunchAfterSpot = async (
  ctx: ControlContext,
  dataset: DatasetRecord,
  launcherId: string,
  happenedAt: Date,
): Promise<string> => {
  if (!ctx.launcher) throw new Error('relaunchAfterSpot needs a launcher');
  if (!(await ctx.store.claims.claimOnDemandFallback(dataset, dataset.datasetIndex))) {
    return 'the on-demand relaunch of this dataset is already under way';
  }
  const folder = jobResultFolder(dataset.group, ctx.config.name, dataset.jobId);
  const certify = (line: string) =>
    ctx.report.certify(folder, dataset.submittedAt, `${datasetLinePrefix(dataset.datasetKey)}${line}`);
  let outcome: LaunchOutcome;
  const launchedAt = ctx.now().toISOString();
  try {
    const { workerJob, datasetSizeGiB } = await workerJobFor(
      ctx,
      dataset,
      await ctx.store.getJob(dataset),
      ctx.launcher.kind,
      dataset.attempt,
    );
    outcome = await ctx.launcher.launch({
      job: workerJob,
      attempt: dataset.attempt,
      instanceType: dataset.instanceType,
      ...(datasetSizeGiB !== undefined ? { datasetSizeGiB } : {}),
      capacity: 'on-demand',
    });
    if (outcome.kind === 'retry') throw new Error(outcome.reason);
  } catch (error) {
    await ctx.store.claims.releaseOnDemandFallback(dataset, dataset.datasetIndex);
    throw error;
  }
  // The Spot worker's time, launch to reclaim, is counted before the relaunch replaces its record.
  const spent = await workerCost(ctx, dataset, happenedAt);
  await ctx.store.addPriorCost(
    dataset,
    dataset.datasetIndex,
    spent.known ? { usd: spent.usd, billedSeconds: spent.billedSeconds } : undefined,
  );
  if (outcome.kind === 'failed') {
    const t = await endDataset(ctx, dataset, 'INTERRUPTED', {
      reason: `${SPOT_RECLAIMED_REASON} (worker ${launcherId}); the relaunch on on-demand capacity failed: ${outcome.reason}`,
      happenedAt,
    });
    return t.applied ? 'INTERRUPTED (on-demand relaunch failed)' : `unchanged (${t.previous})`;
  }
  await ctx.store.setLauncher(dataset, dataset.datasetIndex, outcome.launcherId, dataset.attempt, {
    launchedAt,
    ...(outcome.rootVolumeGiB !== undefined ? { rootVolumeGiB: outcome.rootVolumeGiB } : {}),
  });
  await ctx.report.setStatus(folder, dataset.datasetLabel, {
    status: dataset.state,
    reason: `${SPOT_RECLAIMED_REASON} (worker ${launcherId}): relaunched on on-demand capacity`,
    input: dataset.datasetKey,
    instance: outcome.launcherId,
  });
  await certify(
    `INTERRUPTED: ${SPOT_RECLAIMED_REASON} (worker ${launcherId}); relaunched on on-demand capacity: worker ${outcome.launcherId} launched (${launchedAs(dataset.instanceType, outcome)})`,
  );
  return `relaunched on on-demand as ${outcome.launcherId}`;
};
