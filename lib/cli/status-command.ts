/** `ncaas status <job>`: one job's state, per dataset, from its status files. */
import { CliError, EXIT } from './errors';
import { locateJob, type JobRef } from './job-folders';
import { formatUsd } from '../pricing/dataset-cost';
import { jobCost, readJob, type JobView } from './job-status';
import { jobJson } from './jobs-table';
import { formatTime, type Output, type Paint } from './output';
import type { S3Target } from './s3-target';

export const renderStatus = (view: JobView, bucket: string, paint: Paint): string[] => {
  const { ref } = view;
  const lines = [
    `${paint.bold('job')}       ${ref.jobId}  (group ${ref.group}, analysis ${ref.analysis})`,
    `${paint.bold('state')}     ${paint.state(view.state)}${view.final ? '' : ' (running)'}${view.summary ? `: ${view.summary}` : ''}`,
    `${paint.bold('submitted')} ${formatTime(view.submittedAt)}    ${paint.bold('updated')} ${formatTime(view.updatedAt)}`,
    `${paint.bold('results')}   s3://${bucket}/${ref.resultFolder}/`,
  ];
  const cost = jobCost(view);
  if (cost !== undefined) lines.push(`${paint.bold('cost')}      ${cost}${view.final ? '' : ' so far'}`);
  if (view.refusal !== undefined) {
    lines.push('', ...view.refusal.trimEnd().split('\n'));
  }
  if (view.datasets.length > 0) {
    lines.push('', paint.bold('datasets'));
    for (const d of view.datasets) {
      const exit = d.exitCode !== undefined ? `  exit ${d.exitCode}` : '';
      const input = d.input !== undefined && d.input !== d.label ? `  ${paint.dim(d.input)}` : '';
      const cost =
        d.cost === undefined ? '' : `  ${typeof d.cost === 'number' ? formatUsd(d.cost) : 'cost unknown'}`;
      lines.push(`  ${d.label}  ${paint.state(d.status)}${exit}${cost}${input}`);
      if (d.reason) lines.push(`    ${d.reason}`);
      if (d.costUnknownReason) lines.push(`    ${paint.dim(`cost unknown: ${d.costUnknownReason}`)}`);
      if (d.durationEstimateExceeded)
        lines.push(`    ${paint.yellow('running longer than its __duration__ estimate')}`);
    }
  }
  return lines;
};

/** Reads a located job; a job with no trace at all is "not found" (exit 2). */
export const readLocatedJob = async (target: S3Target, ref: JobRef): Promise<JobView> => {
  const view = await readJob(target, ref);
  if (view === undefined) {
    throw new CliError(`no job "${ref.jobId}" in group ${ref.group} of analysis ${ref.analysis}`, EXIT.usage);
  }
  return view;
};

/** Finds the job the user named and reads it. */
export const findJob = async (
  target: S3Target,
  options: { readonly group?: string; readonly job: string },
): Promise<JobView> => readLocatedJob(target, await locateJob(target, options));

export const runStatus = async (
  target: S3Target,
  options: { readonly group?: string; readonly job: string; readonly json?: boolean },
  output: Output,
): Promise<number> => {
  const view = await findJob(target, options);
  if (options.json) output.out(JSON.stringify(jobJson(view, target.bucket), null, 2));
  else for (const line of renderStatus(view, target.bucket, output.paint)) output.out(line);
  return EXIT.ok;
};
