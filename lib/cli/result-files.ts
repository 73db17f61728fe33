/** A job's result files: everything under its `process_results/` (the CLI's `ncaas results`, the console). */
import { processResultsPrefix } from '../layout';
import type { JobView } from './job-status';
import { listAllKeys } from './list-keys';
import type { S3Target } from './s3-target';

export interface ResultFile {
  readonly key: string;
  /** Path under process_results/ (with `/`). */
  readonly relative: string;
  readonly size: number;
}

export const listResults = async (target: S3Target, view: JobView): Promise<ResultFile[]> => {
  const prefix = processResultsPrefix(view.ref.resultFolder);
  return (await listAllKeys(target, prefix))
    .filter((k) => !k.key.endsWith('/'))
    .map((k) => ({ key: k.key, relative: k.key.slice(prefix.length), size: k.size }));
};
