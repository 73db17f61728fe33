/**
 * The local Batch's containers' logs (lib/control/container-log.ts `ContainerLogSource`): what
 * CloudWatch Logs is on AWS, the file each job's process wrote its stdout and stderr to
 * (./local-batch.ts names it as the job's log stream). Only files in the local Batch's own jobs
 * folder are read, whatever a stream name says.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import {
  type ContainerLogLine,
  type ContainerLogSource,
  LogStreamNotFound,
} from '../lib/control/container-log';
import { localLogFileOf } from './local-batch';

/** Lines a page, as GetLogEvents answers at most 10,000 events. */
const PAGE_LINES = 1000;

export class LocalContainerLogs implements ContainerLogSource {
  /** `jobsDir`: the local Batch's jobs folder (LocalBatchProps.jobsDir). */
  constructor(private readonly jobsDir: string) {}

  where(stream: string): string {
    return `the local Batch job's output file ${localLogFileOf(stream) ?? stream}`;
  }

  async *read(stream: string, signal: AbortSignal): AsyncIterable<readonly ContainerLogLine[]> {
    const file = this.fileOf(stream);
    if (file === undefined || !fs.statSync(file, { throwIfNoEntry: false })?.isFile()) {
      throw new LogStreamNotFound(`${this.where(stream)} does not exist`);
    }
    const lines = readline.createInterface({
      input: fs.createReadStream(file, { encoding: 'utf8', signal }),
      crlfDelay: Infinity,
    });
    let page: ContainerLogLine[] = [];
    try {
      for await (const message of lines) {
        page.push({ message });
        if (page.length >= PAGE_LINES) {
          yield page;
          page = [];
        }
      }
      if (page.length > 0) yield page;
    } finally {
      lines.close();
    }
  }

  private fileOf(stream: string): string | undefined {
    const named = localLogFileOf(stream);
    if (named === undefined) return undefined;
    const file = path.resolve(named);
    return file.startsWith(path.resolve(this.jobsDir) + path.sep) ? file : undefined;
  }
}
