/**
 * Turns what happened to workers into job state (docs/DESIGN.md "The flow"): instance state changes,
 * and the final report a worker uploads before it powers off. Duplicate and out-of-order events are
 * harmless: every state change is a forward-only conditional write, and only the caller whose write
 * applied does the follow-up (slot, budget, certificate, end.txt, next queued job).
 */
import { timingSafeEqual } from 'node:crypto';
import type { DatasetRecord } from '../job/job-store';
import { isFinal, type JobState } from '../job/job-state';
import { readFinalReport } from '../job/status-file';
import { finalReportKey, FINAL_REPORT_SUFFIX, jobFolderName, jobResultFolder } from '../layout';
import type { ControlContext } from './control-context';
import { endDataset } from './dataset-finish';
import { datasetLinePrefix } from './job-report';
import { reclaimedBySpot, relaunchAfterSpot } from './spot-interruption';
import { findDatasetOfWorker } from './worker-lookup';

/** EC2 states that mean the worker is gone or going. */
const ENDING_STATES = ['shutting-down', 'terminated', 'stopping', 'stopped'];
/** INTERRUPTED: a Batch stage-out reports a Spot reclaim the control plane saw (./batch-reconcile.ts). */
const WORKER_FINAL_STATES: readonly JobState[] = ['SUCCESS', 'FAILED', 'TIMED_OUT', 'INTERRUPTED'];

export const onWorkerState = async (
  ctx: ControlContext,
  launcherId: string,
  state: string,
  time: string,
): Promise<string> => {
  const dataset = await findDatasetOfWorker(ctx, launcherId);
  if (!dataset) return `no dataset of ${ctx.config.name} runs on ${launcherId}`;
  const resultFolder = jobResultFolder(dataset.group, ctx.config.name, dataset.jobId);
  // Certificate lines are stamped with the event's own time, not when it is handled: EventBridge
  // keeps no order, and a late "running" must still read before the end that came after it.
  const happened = new Date(time);

  if (state === 'running') {
    const t = await ctx.store.transition(dataset, dataset.datasetIndex, 'IN PROGRESS', { startedAt: time });
    if (t.applied) {
      await ctx.report.certifyDatasetEvent(
        resultFolder,
        dataset,
        happened,
        `${datasetLinePrefix(dataset.datasetKey)}worker ${launcherId} is running`,
      );
    }
    return t.applied ? 'IN PROGRESS' : `unchanged (${t.previous})`;
  }
  if (!ENDING_STATES.includes(state)) return `ignored state ${state}`;

  // A stopped worker still costs its volume and could be restarted: no instance outlives its job.
  if ((state === 'stopping' || state === 'stopped') && ctx.launcher) await ctx.launcher.terminate(launcherId);

  // The final report is uploaded before power-off, but its S3 event may arrive after this one.
  const report = await ctx.objects.readText(finalReportKey(resultFolder, dataset.datasetLabel));
  if (report !== undefined && isOwnReport(dataset, report)) return applyFinalReport(ctx, dataset, report);

  // A worker that is no longer the dataset's (replaced by a relaunch, or an orphan of a lost launch)
  // ends nothing: the dataset's current worker still runs.
  if (dataset.launcherId !== undefined && dataset.launcherId !== launcherId) {
    return `ignored: ${launcherId} is not the dataset's current worker (${dataset.launcherId})`;
  }

  // The hard deadline stops the worker itself (shutdown armed at boot): that is a timeout, not a crash.
  const pastDeadline =
    dataset.deadline !== undefined && new Date(time).getTime() >= new Date(dataset.deadline).getTime();
  if (!pastDeadline && !isFinal(dataset.state) && reclaimedBySpot(dataset, launcherId)) {
    return relaunchAfterSpot(ctx, dataset, launcherId, happened);
  }
  const ended: JobState = pastDeadline ? 'TIMED_OUT' : 'FAILED';
  const reason = pastDeadline
    ? `the job reached its deadline (SSM_TIMEOUT) and its worker ${launcherId} was stopped; the logs it wrote are kept in logs/`
    : `the worker stopped unexpectedly (instance ${launcherId} ${state}) before reporting a result; the logs it wrote are kept in logs/`;
  const t = await endDataset(ctx, dataset, ended, { reason, happenedAt: happened });
  return t.applied ? ended : `unchanged (${t.previous})`;
};

/** `{group}/results/job__{analysis}_{jobId}/logs/DATASET_NAME:{label}_STATUS.final.json`. */
export const parseFinalReportKey = (
  analysis: string,
  key: string,
): { group: string; jobId: string; label: string } | undefined => {
  const match = /^([^/]+)\/results\/([^/]+)\/logs\/DATASET_NAME:(.+)_STATUS(\.final\.json)$/.exec(key);
  if (!match || match[4] !== FINAL_REPORT_SUFFIX) return undefined;
  const prefix = jobFolderName(analysis, '');
  if (!match[2].startsWith(prefix)) return undefined;
  return { group: match[1], jobId: match[2].slice(prefix.length), label: match[3] };
};

export const onFinalReport = async (ctx: ControlContext, key: string): Promise<string> => {
  const parsed = parseFinalReportKey(ctx.config.name, key);
  if (!parsed) return `not a final report of ${ctx.config.name}: ${key}`;
  const job = await ctx.store.getJob(parsed);
  const dataset = job?.datasets.find((d) => d.datasetLabel === parsed.label);
  if (!dataset) return `no dataset ${parsed.label} in job ${parsed.jobId}`;
  const text = await ctx.objects.readText(key);
  if (text === undefined) return 'the final report disappeared';
  return applyFinalReport(ctx, dataset, text);
};

/**
 * Whether a final report comes from the worker launched for this dataset's current attempt: it
 * carries that launch's secret (lib/job/job-store.ts reportTokenFor), which only that worker was
 * given. Any worker of a group may write into any job folder of its group; only this one knows it.
 */
export const isOwnReport = (dataset: DatasetRecord, text: string): boolean => {
  const read = readFinalReport(text);
  const token = read.readable ? read.file.report_token : undefined;
  // Launched before launches carried a secret (a job in flight while this version was deployed):
  // its worker cannot carry one, so its report is taken as before. Every launch since records one.
  if (dataset.reportToken === undefined && dataset.reportTokenAttempt === undefined && dataset.launcherId) {
    return true;
  }
  if (typeof dataset.reportToken !== 'string' || typeof token !== 'string') return false;
  const expected = Buffer.from(dataset.reportToken);
  const given = Buffer.from(token);
  return expected.length === given.length && timingSafeEqual(expected, given);
};

/**
 * A dataset's final report (its text, already read) decides its final state, if it is the dataset's
 * own (isOwnReport); a stray or forged one is ignored, logged and noted in the certificate.
 */
export const applyFinalReport = async (
  ctx: ControlContext,
  dataset: DatasetRecord,
  text: string,
): Promise<string> => {
  if (!isOwnReport(dataset, text)) {
    ctx.log.warn('final report ignored: not from the worker launched for it', {
      group: dataset.group,
      jobId: dataset.jobId,
      datasetIndex: dataset.datasetIndex,
      state: dataset.state,
    });
    if (!isFinal(dataset.state)) {
      await ctx.report.certify(
        jobResultFolder(dataset.group, ctx.config.name, dataset.jobId),
        dataset.submittedAt,
        `dataset ${dataset.datasetKey}: a final report was ignored: it does not carry the secret of this dataset's current launch (a report of an earlier launch, or a stray or forged one)`,
      );
    }
    return 'ignored: not from its worker';
  }
  const read = readFinalReport(text);
  const report = read.readable ? read.file : {};
  const reported = WORKER_FINAL_STATES.find((s) => s === report.status);
  const state: JobState = reported ?? 'FAILED';
  const exitCode = typeof report.exit_code === 'number' ? report.exit_code : undefined;
  const reason = reported
    ? report.reason || undefined
    : 'the worker wrote a final report that could not be read';
  // Through endDataset: a retried report also finishes what an interrupted first delivery left undone.
  const t = await endDataset(ctx, dataset, state, {
    ...(reason ? { reason } : {}),
    ...(exitCode !== undefined ? { exitCode } : {}),
    workerReported: reported !== undefined,
  });
  return t.applied ? state : `unchanged (${t.previous})`;
};
