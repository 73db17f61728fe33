/**
 * A job's files: its results, everything under `process_results/` (the CLI's `ncaas results`, the
 * console), and its logs, everything under `logs/` (the console's downloads).
 */
import { logsPrefix, processResultsPrefix } from '../layout';
import type { JobView } from './job-status';
import { listAllKeys } from './list-keys';
import type { S3Target } from './s3-target';

export interface ResultFile {
  readonly key: string;
  /** Path under process_results/ (with `/`). */
  readonly relative: string;
  readonly size: number;
}

const filesUnder = async (target: S3Target, prefix: string): Promise<ResultFile[]> =>
  (await listAllKeys(target, prefix))
    .filter((k) => !k.key.endsWith('/'))
    .map((k) => ({ key: k.key, relative: k.key.slice(prefix.length), size: k.size }));

export const listResults = (target: S3Target, view: JobView): Promise<ResultFile[]> =>
  filesUnder(target, processResultsPrefix(view.ref.resultFolder));

export const listLogs = (target: S3Target, view: JobView): Promise<ResultFile[]> =>
  filesUnder(target, logsPrefix(view.ref.resultFolder));
