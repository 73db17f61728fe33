/**
 * `ncaas results <job> [--download DIR]`: what the analysis wrote to `process_results/`, listed, or
 * downloaded into DIR keeping its folders. A key that would land outside DIR (`..`, an absolute
 * path) is skipped and named: results are the analysis's output, not trusted paths.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { processResultsPrefix } from '../layout';
import { EXIT } from './errors';
import { formatBytes, type Output } from './output';
import { findJob } from './status-command';
import type { S3Target } from './s3-target';
import { mapLimited } from '../map-limited';
import { listResults, type ResultFile } from './result-files';
import { downloadFile } from './transfer';

export { listResults, type ResultFile };

/** Where `relative` goes under `dir`, or undefined when it would leave `dir`. */
export const safeLocalPath = (dir: string, relative: string): string | undefined => {
  const segments = relative.split('/');
  if (
    relative === '' ||
    relative.startsWith('/') ||
    segments.some((s) => s === '..' || s === '.' || s === '')
  ) {
    return undefined;
  }
  if (/[\\\u0000]/.test(relative) || /^[a-zA-Z]:/.test(relative)) return undefined;
  const root = path.resolve(dir);
  const target = path.resolve(root, ...segments);
  return target.startsWith(root + path.sep) ? target : undefined;
};

export interface DownloadReport {
  readonly files: number;
  readonly bytes: number;
  /** Keys not written because their names would leave DIR. */
  readonly skipped: string[];
}

/** Results downloaded at once: several small files are bound by round trips, not bandwidth. */
const FILES_IN_FLIGHT = 4;

export const downloadResults = async (
  target: S3Target,
  files: readonly ResultFile[],
  dir: string,
  onFile: (file: ResultFile, index: number) => void = () => undefined,
): Promise<DownloadReport> => {
  fs.mkdirSync(dir, { recursive: true });
  const skipped: string[] = [];
  const wanted: { file: ResultFile; index: number; local: string }[] = [];
  for (const [index, file] of files.entries()) {
    const local = safeLocalPath(dir, file.relative);
    if (local === undefined) skipped.push(file.key);
    else wanted.push({ file, index, local });
  }
  const sizes = await mapLimited(wanted, FILES_IN_FLIGHT, async ({ file, index, local }) => {
    onFile(file, index);
    fs.mkdirSync(path.dirname(local), { recursive: true });
    return downloadFile(target, file.key, local);
  });
  return { files: sizes.length, bytes: sizes.reduce((sum, size) => sum + size, 0), skipped };
};

export const runResults = async (
  target: S3Target,
  options: { readonly group?: string; readonly job: string; readonly download?: string },
  output: Output,
): Promise<number> => {
  const view = await findJob(target, options);
  const files = await listResults(target, view);
  const where = `s3://${target.bucket}/${processResultsPrefix(view.ref.resultFolder)}`;
  if (!view.final) output.err(`note: job ${view.ref.jobId} is ${view.state}: its results may be incomplete`);
  if (files.length === 0) {
    output.err(`no results under ${where}${view.final ? '' : ' yet'}`);
    return EXIT.failed;
  }
  if (options.download === undefined) {
    for (const f of files) output.out(`${formatBytes(f.size).padStart(9)}  ${f.relative}`);
    output.err(
      `${files.length} file${files.length === 1 ? '' : 's'} under ${where}; download them with --download DIR`,
    );
    return EXIT.ok;
  }
  const report = await downloadResults(target, files, options.download, (file, index) =>
    output.live(`downloading ${index + 1}/${files.length} ${file.relative} (${formatBytes(file.size)})`),
  );
  output.clearLive();
  for (const key of report.skipped)
    output.err(`skipped ${key}: its name would place it outside ${options.download}`);
  output.out(
    `downloaded ${report.files} file${report.files === 1 ? '' : 's'} (${formatBytes(report.bytes)}) to ${path.resolve(options.download)}`,
  );
  return report.skipped.length > 0 ? EXIT.failed : EXIT.ok;
};
