/**
 * A cancel is a request the group uploads (`{group}/submissions/<timestamp>.cancel.json`), not an
 * EC2 call: lab members hold only S3 permissions. Every unfinished dataset of the job becomes
 * CANCELLED and its worker is stopped; finished datasets keep their results.
 */
import type { DatasetRecord } from '../job/job-store';
import { isFinal, type JobState } from '../job/job-state';
import { CANCEL_SUFFIX, jobResultFolder, submissionsPrefix } from '../layout';
import { decodeTextBody } from '../submission/text-body';
import type { ControlContext } from './control-context';
import { finishDataset } from './dataset-finish';

export type CancelOutcome =
  | { readonly kind: 'cancelled'; readonly datasets: number }
  | { readonly kind: 'nothing-to-cancel'; readonly messageKey?: string }
  | { readonly kind: 'refused'; readonly messageKey: string };

/** The job id: the body's `timestamp` when given, else the file name without `.cancel.json`. */
export const cancelledJobId = (key: string, body: Uint8Array | undefined): string | undefined => {
  if (body && body.byteLength > 0) {
    const decoded = decodeTextBody(body);
    if (decoded.ok && decoded.text.trim()) {
      try {
        const parsed = JSON.parse(decoded.text) as { timestamp?: unknown };
        if (typeof parsed.timestamp === 'string' && parsed.timestamp) return parsed.timestamp;
        if (typeof parsed.timestamp === 'number') return String(parsed.timestamp);
      } catch {
        // Not JSON: the file name says which job.
      }
    }
  }
  const name = key.slice(key.lastIndexOf('/') + 1);
  return name.endsWith(CANCEL_SUFFIX) && name.length > CANCEL_SUFFIX.length
    ? name.slice(0, -CANCEL_SUFFIX.length)
    : undefined;
};

export const processCancel = async (ctx: ControlContext, key: string): Promise<CancelOutcome> => {
  const group = key.split('/')[0];
  const groupConfig = ctx.config.groups.find((g) => g.name === group);
  if (!groupConfig || !key.startsWith(submissionsPrefix(group))) {
    return {
      kind: 'refused',
      messageKey: await ctx.report.writeBesideSubmission(
        key,
        `${key}: not a cancel request of a group of ${ctx.config.name}.\n`,
      ),
    };
  }
  const jobId = cancelledJobId(key, await ctx.objects.read(key));
  const job = jobId ? await ctx.store.getJob({ group, jobId }) : undefined;
  if (!jobId || !job) {
    const text = `Cancel request ${key}: no job "${jobId ?? ''}" of group ${group} was found. Name the job's timestamp in the file name (<timestamp>.cancel.json) or as {"timestamp": "..."} inside it.\n`;
    return { kind: 'refused', messageKey: await ctx.report.writeBesideSubmission(key, text) };
  }

  const resultFolder = jobResultFolder(group, ctx.config.name, jobId);
  const reason = `cancelled at the group's request (${key})`;
  // Every dataset first, then the follow-ups: a slot freed by the first must not launch the next one.
  const cancelled: { dataset: DatasetRecord; previous: JobState | undefined }[] = [];
  for (const dataset of job.datasets) {
    if (isFinal(dataset.state)) continue;
    const t = await ctx.store.transition(dataset, dataset.datasetIndex, 'CANCELLED', { reason });
    if (t.applied) cancelled.push({ dataset, previous: t.previous });
  }
  for (const { dataset, previous } of cancelled) {
    // Read again: a launcher may have recorded its worker since the job was read (it checks too).
    const current = (await ctx.store.getDataset(dataset, dataset.datasetIndex)) ?? dataset;
    if (current.launcherId && ctx.launcher) await ctx.launcher.terminate(current.launcherId);
    await finishDataset(ctx, { dataset: current, state: 'CANCELLED', previous, reason });
  }
  if (cancelled.length === 0) {
    await ctx.report.certify(
      resultFolder,
      job.header.submittedAt,
      `cancel request ${key}: the job had already finished`,
    );
    return { kind: 'nothing-to-cancel' };
  }
  return { kind: 'cancelled', datasets: cancelled.length };
};
