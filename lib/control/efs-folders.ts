/**
 * No Batch path leaves a job folder on the analysis EFS (docs/DESIGN.md "Launchers": batch). The system
 * removes it whatever the outcome, not a client:
 *
 * - the launch records the folder in the job table (the dataset's `efsFolders`, and an entry in the
 *   sweep list) before the stage-in can create it (`jobFolderRecorder`), and the Batch jobs that use it;
 * - a stage-out or clean-up job that SUCCEEDED removed it (a stage-in that never started created
 *   none): the record is cleared (`folderRemoved`);
 * - a stage-out that ended FAILED may never have run its last step (an image it could not pull, a
 *   lost instance, a queue that cancelled it, a kill): the reconcile handler submits a clean-up
 *   (`onStageOutFailed`), and again when a clean-up fails (`onCleanupJob`), at most CLEANUP_TRIES in
 *   all, alternating the two images, so one that cannot run does not keep the folder;
 * - the watchdog's sweep (`sweepJobFolders`) finds folders still recorded a while after their dataset
 *   ended, whatever event was lost: it stops a stage still running, else submits the next clean-up;
 * - after CLEANUP_TRIES the folder is given up once, with a certificate line naming it and telling
 *   the operator what to remove.
 *
 * Each clean-up is claimed in the table first (`claimFolderCleanup`: a conditional count), so
 * duplicate events and concurrent sweeps submit it once.
 */
import type { DatasetRecord, EfsFolderRecord } from '../job/job-store';
import { isFinal } from '../job/job-state';
import { type BatchJobView, isEndedBatchStatus } from '../launch/batch-api';
import type { CleanupRequest } from '../launch/batch-launcher';
import { CLEANUP_TRIES, type CleanupImage, identityOf } from '../launch/batch-stages';
import type { JobFolderRecorder } from '../launch/launcher';
import { jobResultFolder } from '../layout';
import type { ControlContext } from './control-context';

/** What the folder clean-up needs of Batch (lib/launch/batch-launcher.ts). */
export interface EfsFolderControl {
  describe(jobIds: readonly string[]): Promise<BatchJobView[]>;
  submitCleanup(request: CleanupRequest): Promise<string>;
  /** TerminateJob of one job; unknown ids are not an error. */
  stopJob(jobId: string, reason: string): Promise<void>;
}

export const EFS_FOLDER_TIMING = {
  /**
   * How long after its dataset ended (or its last clean-up was claimed) a folder is left to the event
   * path before the sweep acts: a stage-out still starting, a clean-up whose event is on its way.
   */
  sweepAfterMs: 60 * 60 * 1000,
};

/** Why the sweep stops a stage still running after its dataset ended (Batch's statusReason). */
export const SWEEP_STOP_REASON = 'ncaas: still running after its dataset ended (watchdog)';

interface FolderSweepFindings {
  /** Clean-up jobs submitted. */
  cleanups: number;
  /** Folders given up (the operator was told). */
  abandoned: number;
  /** Stages stopped that still ran after their dataset ended. */
  stopped: number;
}

/** Where the launch service tells a dataset's job folders (lib/launch/launcher.ts). */
export const jobFolderRecorder = (
  ctx: ControlContext,
  dataset: Pick<DatasetRecord, 'group' | 'jobId' | 'datasetIndex'>,
): JobFolderRecorder => ({
  folder: (jobDir) => ctx.store.efsFolders.recordJobFolder(dataset, dataset.datasetIndex, jobDir),
  jobs: (jobDir, ids) => ctx.store.efsFolders.addJobFolderJobs(dataset, dataset.datasetIndex, jobDir, ids),
});

/** The folder is gone (a stage-out or clean-up SUCCEEDED) or never existed. */
export const folderRemoved = async (
  ctx: ControlContext,
  dataset: DatasetRecord,
  jobDir: string,
  by?: string,
): Promise<string> => {
  // Whether it was still recorded matters only for the certificate line (read before it is cleared).
  const known =
    by !== undefined &&
    (await ctx.store.getDataset(dataset, dataset.datasetIndex))?.efsFolders.includes(jobDir);
  await ctx.store.efsFolders.clearJobFolder(dataset, dataset.datasetIndex, jobDir);
  if (known && by)
    await certify(ctx, dataset, `the job folder ${jobDir} was removed from the analysis EFS (${by})`);
  return `job folder ${jobDir} removed`;
};

/**
 * The first clean-up of a folder nothing else will remove (a failed stage-out, a stage-in whose
 * launch was replaced), unless one was tried already: a duplicate event, or the sweep came first.
 */
export const firstCleanup = async (
  ctx: ControlContext,
  batch: EfsFolderControl,
  dataset: DatasetRecord,
  jobDir: string,
  image: CleanupImage,
  why: string,
): Promise<string> => {
  const folder = await ctx.store.efsFolders.getJobFolder(dataset, dataset.datasetIndex, jobDir);
  if (!folder) return 'no job folder recorded';
  if (folder.cleanups > 0) return 'its clean-up is already under way';
  return nextCleanup(ctx, batch, dataset, folder, image, why);
};

/**
 * A stage-out ended FAILED: it may never have reached its last step (the folder's removal). The
 * staging image may be what failed, so the first clean-up runs on the analysis image.
 */
export const onStageOutFailed = (
  ctx: ControlContext,
  batch: EfsFolderControl,
  dataset: DatasetRecord,
  jobDir: string,
  stageOut: BatchJobView,
): Promise<string> =>
  firstCleanup(ctx, batch, dataset, jobDir, 'analysis', `stage-out job ${stageOut.jobId} ${ended(stageOut)}`);

/** A clean-up job changed state: SUCCEEDED clears the record, FAILED tries again or gives up. */
export const onCleanupJob = async (
  ctx: ControlContext,
  batch: EfsFolderControl,
  dataset: DatasetRecord,
  jobDir: string,
  view: BatchJobView,
): Promise<string> => {
  if (view.status === 'SUCCEEDED') return folderRemoved(ctx, dataset, jobDir, `clean-up job ${view.jobId}`);
  if (view.status !== 'FAILED') return `clean-up job ${view.jobId} ${view.status}`;
  const folder = await ctx.store.efsFolders.getJobFolder(dataset, dataset.datasetIndex, jobDir);
  if (!folder) return `clean-up job ${view.jobId} FAILED; no job folder recorded`;
  // Only the latest clean-up's failure leads to the next (a duplicate event finds a newer one).
  if (folder.lastCleanup !== undefined && folder.lastCleanup !== view.jobId) {
    return 'a later clean-up is under way';
  }
  const image = folder.lastCleanupOn === 'analysis' ? 'staging' : 'analysis';
  return nextCleanup(ctx, batch, dataset, folder, image, `clean-up job ${view.jobId} ${ended(view)}`);
};

/**
 * The watchdog's sweep: folders still recorded `sweepAfterMs` after their dataset ended (or their
 * last clean-up was claimed). A stage still running then is stopped (no Batch job outlives its
 * dataset); once none of the folder's jobs runs, the next clean-up is submitted, or the folder is
 * given up after CLEANUP_TRIES.
 */
export const sweepJobFolders = async (
  ctx: ControlContext,
  batch: EfsFolderControl,
): Promise<FolderSweepFindings> => {
  const found: FolderSweepFindings = { cleanups: 0, abandoned: 0, stopped: 0 };
  const now = ctx.now().getTime();
  for (const { folder, dataset } of await ctx.store.efsFolders.listJobFolders()) {
    if (folder.abandonedAt || !isFinal(dataset.state)) continue;
    const since = Math.max(
      Date.parse(dataset.finishedAt ?? dataset.updatedAt),
      folder.claimedAt ? Date.parse(folder.claimedAt) : 0,
    );
    if (now - since < EFS_FOLDER_TIMING.sweepAfterMs) continue;

    const known = [...folder.batchJobs, ...(dataset.launcherId ? [dataset.launcherId] : [])];
    const running = (await batch.describe([...new Set(known)])).filter(
      (v) => !isEndedBatchStatus(v.status) && identityOf(v.parameters)?.jobDir === folder.jobDir,
    );
    if (running.length > 0) {
      // A stage-out or clean-up still under way will remove the folder; a stage-in or analysis job
      // must not run on after its dataset ended (its end event then settles the folder as usual).
      for (const view of running.filter((v) => identityOf(v.parameters)?.stage !== 'out')) {
        await batch.stopJob(view.jobId, SWEEP_STOP_REASON);
        found.stopped += 1;
        await certify(
          ctx,
          dataset,
          `Batch job ${view.jobId} (${identityOf(view.parameters)?.stage === 'in' ? 'stage-in' : 'analysis'}) was still ${view.status} after the dataset ended (${dataset.state}): stopped by the watchdog`,
        );
      }
      continue;
    }
    const image = folder.lastCleanupOn === 'analysis' ? 'staging' : 'analysis';
    const why =
      folder.cleanups === 0
        ? `the dataset ended (${dataset.state}) and nothing removed it`
        : `clean-up ${folder.lastCleanup ?? '(not submitted)'} did not remove it`;
    const outcome = await nextCleanup(ctx, batch, dataset, folder, image, why);
    if (outcome.startsWith('clean-up job')) found.cleanups += 1;
    if (outcome.startsWith('given up')) found.abandoned += 1;
  }
  return found;
};

/** Claims and submits the next clean-up of a folder, or gives it up after CLEANUP_TRIES. */
const nextCleanup = async (
  ctx: ControlContext,
  batch: EfsFolderControl,
  dataset: DatasetRecord,
  folder: EfsFolderRecord,
  image: CleanupImage,
  why: string,
): Promise<string> => {
  if (folder.cleanups >= CLEANUP_TRIES) return giveUp(ctx, dataset, folder, why);
  const { datasetIndex } = dataset;
  if (
    !(await ctx.store.efsFolders.claimFolderCleanup(
      dataset,
      datasetIndex,
      folder.jobDir,
      folder.cleanups,
      CLEANUP_TRIES,
    ))
  ) {
    return 'its clean-up is already under way';
  }
  const tryNumber = folder.cleanups + 1;
  let jobId: string;
  try {
    jobId = await batch.submitCleanup({
      job: { analysis: ctx.config.name, group: dataset.group, jobId: dataset.jobId, datasetIndex },
      jobDir: folder.jobDir,
      attempt: Math.max(1, dataset.attempt),
      image,
    });
  } catch (error) {
    // The claim stays (the tries stay bounded); the sweep tries again once this claim is old.
    ctx.log.warn('a clean-up job could not be submitted', {
      jobDir: folder.jobDir,
      error: error instanceof Error ? error.message : String(error),
    });
    return `clean-up ${tryNumber} of ${folder.jobDir} could not be submitted: the watchdog tries again`;
  }
  await ctx.store.efsFolders.recordFolderCleanup(dataset, datasetIndex, folder.jobDir, jobId, image);
  await certify(
    ctx,
    dataset,
    `${why}: clean-up job ${jobId} submitted to remove the job folder ${folder.jobDir} from the analysis EFS (try ${tryNumber} of ${CLEANUP_TRIES}, on the ${image} image)`,
  );
  return `clean-up job ${jobId} submitted`;
};

/** Every clean-up failed: told once, in the certificate and the log, with what to remove. */
const giveUp = async (
  ctx: ControlContext,
  dataset: DatasetRecord,
  folder: EfsFolderRecord,
  why: string,
): Promise<string> => {
  if (!(await ctx.store.efsFolders.abandonJobFolder(dataset, dataset.datasetIndex, folder.jobDir))) {
    return 'already given up';
  }
  const path = `/${dataset.group}/jobs/${folder.jobDir}`;
  ctx.log.error('a job folder could not be removed from the analysis EFS', { path, why });
  await certify(
    ctx,
    dataset,
    `the job folder ${folder.jobDir} is still on the analysis EFS: ${CLEANUP_TRIES} clean-up jobs did not remove it (last: ${why}). An operator should remove ${path} from the analysis file system (jobs/${folder.jobDir} under group ${dataset.group}'s access point); it holds this dataset's staged copy and any output not uploaded`,
  );
  return `given up: ${path}`;
};

const certify = (ctx: ControlContext, dataset: DatasetRecord, line: string): Promise<void> =>
  ctx.report.certify(
    jobResultFolder(dataset.group, ctx.config.name, dataset.jobId),
    dataset.submittedAt,
    `dataset ${dataset.datasetKey}: ${line}`,
  );

const ended = (view: BatchJobView): string =>
  [view.status, view.statusReason ? `(${view.statusReason})` : ''].filter(Boolean).join(' ');
