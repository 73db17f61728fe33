/**
 * The local runtime's stand-in for CloudWatch Logs (local/local-container-logs.ts): a local Batch
 * job's output file, read back as its log stream, and nothing outside the local Batch's jobs folder.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type ContainerLogLine, LogStreamNotFound } from '../../lib/control/container-log';
import { localLogStreamName } from '../../local/local-batch';
import { LocalContainerLogs } from '../../local/local-container-logs';

let dir: string;
let jobsDir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-container-logs-'));
  jobsDir = path.join(dir, 'batch-jobs');
  fs.mkdirSync(path.join(jobsDir, 'home'), { recursive: true });
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const readAll = async (logs: LocalContainerLogs, stream: string): Promise<ContainerLogLine[][]> => {
  const pages: ContainerLogLine[][] = [];
  for await (const page of logs.read(stream, new AbortController().signal)) pages.push([...page]);
  return pages;
};

test("a job's output file, line by line, in pages of 1000 lines", async () => {
  const file = path.join(jobsDir, 'local:batch:1-2-x.log');
  const lines = Array.from({ length: 2500 }, (_, i) => `line ${i}`);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  const logs = new LocalContainerLogs(jobsDir);
  const pages = await readAll(logs, localLogStreamName(file));
  expect(pages.map((p) => p.length)).toEqual([1000, 1000, 500]);
  expect(pages.flat().map((l) => l.message)).toEqual(lines);
  expect(logs.where(localLogStreamName(file))).toBe(`the local Batch job's output file ${file}`);
});

test.each([
  [
    'a file that is not there (the job never started)',
    () => localLogStreamName(path.join(jobsDir, 'gone.log')),
  ],
  ['a file outside the jobs folder', () => localLogStreamName(path.join(dir, 'outside.log'))],
  [
    'a path climbing out of the jobs folder',
    () => localLogStreamName(path.join(jobsDir, '..', 'outside.log')),
  ],
  ['a system file', () => localLogStreamName('/etc/passwd')],
  ['the jobs folder itself', () => localLogStreamName(jobsDir)],
  ['a folder in the jobs folder (a job home)', () => localLogStreamName(path.join(jobsDir, 'home'))],
  ['a CloudWatch stream name', () => 'ncaas-mock_labA-run/default/0a1b2c3d'],
  ['an empty name', () => ''],
])('%s is no stream', async (_what, stream) => {
  fs.writeFileSync(path.join(dir, 'outside.log'), 'not a job log\n');
  await expect(readAll(new LocalContainerLogs(jobsDir), stream())).rejects.toBeInstanceOf(LogStreamNotFound);
});
