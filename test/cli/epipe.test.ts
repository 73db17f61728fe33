/**
 * A reader that closes the pipe (`ncaas status <job> | head -1`): every command exits quietly, never
 * with a stack trace. Runs the real entry (`node bin/ncaas.js`, as test/cli/entry.test.ts does)
 * against an S3 emulator holding one finished job, with the child's stdout (or stderr) already
 * closed on the reading side, so its first write fails with EPIPE.
 */
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { guardClosedPipes } from '../../lib/cli/output';
import {
  certificateKey,
  jobResultFolder,
  outputLogKey,
  processResultsPrefix,
  statusKey,
} from '../../lib/layout';
import { startS3Emulator, type S3Emulator } from '../support/s3-emulator';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'ncaas.js');
const BUCKET = 'cli-epipe';
const JOB = 'p1';

let s3: S3Emulator;
let dir: string;

const put = (key: string, body: string) =>
  s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));

beforeAll(async () => {
  s3 = await startS3Emulator([BUCKET]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-cli-epipe-'));
  // A job that FAILED: `watch` would exit 1 with its reader there; with the reader gone it exits 0.
  const folder = jobResultFolder('labA', 'mock', JOB);
  const lines = (n: number, what: string) => Array.from({ length: n }, (_, i) => `${what} ${i}`).join('\n');
  await put(
    statusKey(folder, 'rec.bin'),
    JSON.stringify({ status: 'FAILED', reason: 'exit code 1', input: 'labA/inputs/rec.bin' }),
  );
  await put(certificateKey(folder), lines(50, 'certificate line'));
  await put(outputLogKey(folder, 'rec.bin', 'stdout'), lines(500, 'stdout line'));
  await put(outputLogKey(folder, 'rec.bin', 'stderr'), lines(500, 'stderr line'));
  for (const name of ['a.txt', 'b.txt', 'sub/c.txt'])
    await put(`${processResultsPrefix(folder)}${name}`, name);
}, 30_000);
afterAll(async () => {
  await s3.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** `source <dir>/env.sh`, pointed at this file's emulator, and nothing else of AWS or ncaas. */
const env = (): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('NCAAS_')),
  ),
  ...s3.env,
  NCAAS_BUCKET: BUCKET,
  NCAAS_ANALYSIS: 'mock',
  NCAAS_GROUP: 'labA',
});

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** What the child wrote to the stream that stayed open. */
  readonly text: string;
}

/** Runs `ncaas args` with the reading end of `closed` shut before the child writes anything. */
const intoClosedPipe = (args: string[], closed: 'stdout' | 'stderr' = 'stdout') =>
  new Promise<Run>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: env(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child[closed].destroy();
    let text = '';
    child[closed === 'stdout' ? 'stderr' : 'stdout'].on(
      'data',
      (chunk: Buffer) => (text += chunk.toString()),
    );
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, text }));
  });

const quiet = (stderr: string) => {
  expect(stderr).not.toMatch(/^\s+at .*:\d+:\d+\)?$/m);
  expect(stderr).not.toMatch(/Error|EPIPE/);
};

const READ_COMMANDS: Array<[string, string[]]> = [
  ['status', ['status', JOB]],
  ['status --json', ['status', JOB, '--json']],
  ['logs', ['logs', JOB]],
  ['jobs', ['jobs']],
  ['results', ['results', JOB]],
  ['watch', ['watch', JOB]],
  ['validate', ['validate', 'mock']],
  ['help', ['--help']],
  ['help of a command', ['submit', '--help']],
];

test('every read command into a closed pipe: no trace, no error, exit 0', async () => {
  // Two at a time (two cores): each is a Node process of its own.
  const results: Array<[string, Run]> = [];
  for (let i = 0; i < READ_COMMANDS.length; i += 2) {
    const pair = READ_COMMANDS.slice(i, i + 2);
    results.push(
      ...(await Promise.all(
        pair.map(async ([name, args]): Promise<[string, Run]> => [name, await intoClosedPipe(args)]),
      )),
    );
  }
  for (const [name, run] of results) {
    // The name in each assertion: which command failed. A note written before the pipe's close was
    // seen may remain (results names its count on stderr); no trace, no error.
    expect({ name, trace: /^\s+at .*:\d+:\d+\)?$/m.test(run.text) }).toEqual({ name, trace: false });
    expect({ name, error: /Error|EPIPE|ncaas:/.test(run.text) }).toEqual({ name, error: false });
    expect({ name, code: run.code, signal: run.signal }).toEqual({ name, code: 0, signal: null });
  }
});

test('stderr closed: the command goes on to its end with its own exit code, no trace', async () => {
  // A NeuroCAAS blueprint: valid, with a note on stderr about the keys it ignores.
  const valid = await intoClosedPipe(
    ['validate', path.join(ROOT, 'test', 'fixtures', 'neurocaas', 'blueprints', 'epi_web_stack.json')],
    'stderr',
  );
  expect(valid.code).toBe(0);
  expect(valid.text).toMatch(/^valid: /);
  // A failure stays a failure even when nobody reads why.
  const ghost = await intoClosedPipe(['status', 'ghost'], 'stderr');
  expect(ghost.code).toBe(2);
  expect(ghost.text).toBe('');
});

test('submit --csv into a closed pipe still submits every row', async () => {
  fs.writeFileSync(path.join(dir, 'a.bin'), 'A');
  fs.writeFileSync(path.join(dir, 'config.yaml'), '__duration__: 5\n');
  fs.writeFileSync(
    path.join(dir, 'jobs.csv'),
    'group,data,config,timestamp\nlabA,a.bin,config.yaml,row-1\nlabA,a.bin,config.yaml,row-2\nlabB,a.bin,config.yaml,row-3\n',
  );
  const run = await intoClosedPipe(['submit', '--csv', path.join(dir, 'jobs.csv'), '--blueprint', 'mock']);
  quiet(run.text);
  expect(run.code).toBe(0);
  const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  const submitted = (listed.Contents ?? [])
    .map((o) => o.Key ?? '')
    .filter((k) => k.endsWith('submit.json'))
    .sort();
  expect(submitted).toEqual([
    'labA/submissions/row-1submit.json',
    'labA/submissions/row-2submit.json',
    'labB/submissions/row-3submit.json',
  ]);
});

describe('guardClosedPipes', () => {
  const setup = () => {
    const stdout = new EventEmitter();
    const stderr = Object.assign(new EventEmitter(), { written: [] as string[] });
    const stderrStream = Object.assign(stderr, { write: (text: string) => stderr.written.push(text) });
    const exits: number[] = [];
    const guard = guardClosedPipes({ stdout, stderr: stderrStream, exit: (code) => exits.push(code) });
    const fail = (stream: EventEmitter, code: string) =>
      stream.emit('error', Object.assign(new Error(`write ${code}`), { code }));
    return { stdout, stderr, exits, guard, fail };
  };

  test('stdout EPIPE: exit 0 at once; in finish mode, nothing (the command ends by itself)', () => {
    const read = setup();
    read.fail(read.stdout, 'EPIPE');
    expect(read.exits).toEqual([0]);
    expect(read.stderr.written).toEqual([]);
    const change = setup();
    change.guard.setMode('finish');
    change.fail(change.stdout, 'EPIPE');
    expect(change.exits).toEqual([]);
    expect([...change.guard.closed]).toEqual(['stdout']);
  });

  test('stderr EPIPE: dropped, never an exit', () => {
    const { stderr, exits, guard, fail } = setup();
    fail(stderr, 'EPIPE');
    expect(exits).toEqual([]);
    expect([...guard.closed]).toEqual(['stderr']);
  });

  test('another write error on stdout (a full disk): one line, exit 1', () => {
    const { stdout, stderr, exits, fail } = setup();
    fail(stdout, 'ENOSPC');
    expect(stderr.written).toEqual(['ncaas: cannot write the output: ENOSPC\n']);
    expect(exits).toEqual([1]);
  });
});
