/**
 * `ncaas cancel <job>`: uploads the cancel request `{group}/submissions/<job>.cancel.json`, whose
 * upload triggers the control plane; it stops the job's workers and marks unfinished datasets
 * CANCELLED. A lab member needs nothing but S3 permissions for it.
 */
import { CANCEL_SUFFIX, submissionsPrefix } from '../layout';
import { EXIT } from './errors';
import { s3Url, type JobRef } from './job-folders';
import type { JobView } from './job-status';
import type { Output } from './output';
import type { S3Target } from './s3-target';
import { findJob } from './status-command';

export const cancelKeyFor = (ref: JobRef): string =>
  `${submissionsPrefix(ref.group)}${ref.jobId}${CANCEL_SUFFIX}`;

export type CancelResult =
  | { readonly kind: 'requested'; readonly key: string }
  | { readonly kind: 'already-final'; readonly view: JobView };

/** Writes the cancel request unless the job has already finished (then there is nothing to stop). */
export const requestCancel = async (target: S3Target, view: JobView): Promise<CancelResult> => {
  if (view.final) return { kind: 'already-final', view };
  const key = cancelKeyFor(view.ref);
  await target.objects.write(
    key,
    `${JSON.stringify({ timestamp: view.ref.jobId, requested: new Date().toISOString() })}\n`,
    'application/json',
  );
  return { kind: 'requested', key };
};

export const runCancel = async (
  target: S3Target,
  options: { readonly group?: string; readonly job: string },
  output: Output,
): Promise<number> => {
  const view = await findJob(target, options);
  const result = await requestCancel(target, view);
  if (result.kind === 'already-final') {
    output.out(
      `job ${view.ref.jobId} has already finished (${output.paint.state(view.state)}): nothing to cancel`,
    );
    return EXIT.ok;
  }
  output.out(`cancel requested for job ${view.ref.jobId}: ${s3Url(target, result.key)}`);
  output.err(
    `its workers are stopped by the analysis; follow it with: ncaas watch ${view.ref.jobId} --group ${view.ref.group}`,
  );
  return EXIT.ok;
};
