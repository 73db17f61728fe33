/**
 * `ncaas logs <job>`: the job's certificate (one line per step), then per dataset its status and the
 * analysis's stdout and stderr: the full copies the worker uploads beside the status file
 * (`DATASET_NAME:{label}_stdout.txt`), else the tail kept in the status file itself.
 */
import { certificateKey, outputLogKey } from '../layout';
import { CliError, EXIT } from './errors';
import type { JobView } from './job-status';
import type { Output, Paint } from './output';
import { findJob } from './status-command';
import type { S3Target } from './s3-target';

const body = (text: string): string[] => {
  const trimmed = text.replace(/\s+$/, '');
  return trimmed === '' ? ['(empty)'] : trimmed.split('\n');
};

export const renderLogs = async (
  target: S3Target,
  view: JobView,
  paint: Paint,
  options: { readonly dataset?: string } = {},
): Promise<string[]> => {
  const { resultFolder } = view.ref;
  const datasets =
    options.dataset === undefined ? view.datasets : view.datasets.filter((d) => d.label === options.dataset);
  if (options.dataset !== undefined && datasets.length === 0) {
    throw new CliError(
      `job ${view.ref.jobId} has no dataset "${options.dataset}": its datasets are ${view.datasets.map((d) => d.label).join(', ') || 'none yet'}`,
      EXIT.usage,
    );
  }
  const lines: string[] = [];
  if (view.refusal !== undefined) {
    lines.push(paint.bold('== the submission was refused'), ...body(view.refusal));
  }
  if (options.dataset === undefined) {
    const certificate = await target.objects.readText(certificateKey(resultFolder));
    if (certificate !== undefined) lines.push(paint.bold('== certificate'), ...body(certificate));
  }
  for (const d of datasets) {
    if (lines.length > 0) lines.push('');
    const reason = d.reason ? `: ${d.reason}` : '';
    lines.push(
      paint.bold(`== dataset ${d.label} ${d.input ? `(${d.input}) ` : ''}`) + paint.state(d.status) + reason,
    );
    const streams = await Promise.all(
      (['stdout', 'stderr'] as const).map(async (stream) => ({
        stream,
        full: await target.objects.readText(outputLogKey(resultFolder, d.label, stream)),
        tail: stream === 'stdout' ? d.stdout : d.stderr,
      })),
    );
    if (streams.every((s) => s.full === undefined && s.tail === '')) {
      lines.push(paint.dim('(no output recorded)'));
      continue;
    }
    for (const { stream, full, tail } of streams) {
      lines.push(
        paint.dim(`-- ${stream}${full === undefined && tail !== '' ? ' (last lines)' : ''}`),
        ...body(full ?? tail),
      );
    }
  }
  if (lines.length === 0)
    lines.push(
      `no logs yet for job ${view.ref.jobId} (${view.state}${view.summary ? `: ${view.summary}` : ''})`,
    );
  return lines;
};

export const runLogs = async (
  target: S3Target,
  options: { readonly group?: string; readonly job: string; readonly dataset?: string },
  output: Output,
): Promise<number> => {
  const view = await findJob(target, options);
  const lines = await renderLogs(
    target,
    view,
    output.paint,
    options.dataset !== undefined ? { dataset: options.dataset } : {},
  );
  for (const line of lines) output.out(line);
  return EXIT.ok;
};
