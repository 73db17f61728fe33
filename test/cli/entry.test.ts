/**
 * The `ncaas` entry as a user runs it (`node bin/ncaas.js ...`, through tsx): the wiring of commands
 * and flags, exit codes, and errors as one line without a stack trace.
 */
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { jobResultFolder, statusKey } from '../../lib/layout';
import { startS3Emulator, type S3Emulator } from '../support/s3-emulator';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'ncaas.js');
const BUCKET = 'cli-entry';

let s3: S3Emulator;
let dir: string;

beforeAll(async () => {
  s3 = await startS3Emulator([BUCKET]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-cli-entry-'));
});
afterAll(async () => {
  await s3.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The environment of a shell with nothing set: no AWS_* and no NCAAS_* variables. */
const bareEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('NCAAS_')),
  );

/** The environment `source <dir>/env.sh` gives, pointed at this file's emulator. */
const localEnv = (): NodeJS.ProcessEnv => ({
  ...bareEnv(),
  ...s3.env,
  NCAAS_BUCKET: BUCKET,
  NCAAS_ANALYSIS: 'mock',
});

const ncaas = (args: string[], env: NodeJS.ProcessEnv = bareEnv()) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });

const noStackTrace = (text: string) => expect(text).not.toMatch(/^\s+at .*:\d+:\d+\)?$/m);

test('--help lists the commands; exit 0', async () => {
  const result = await ncaas(['--help']);
  expect(result.code).toBe(0);
  for (const command of [
    'validate',
    'submit',
    'watch',
    'status',
    'jobs',
    'costs',
    'logs',
    'results',
    'cancel',
    'local',
    'dev',
  ]) {
    expect(result.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  }
  const submit = await ncaas(['submit', '--help']);
  expect(submit.stdout).toContain('--dry-run');
  expect(submit.stdout).toContain('--bucket <name>');
  expect(submit.stdout).toContain('--csv <file>');
  const dev = await ncaas(['dev', '--help']);
  for (const command of [
    'launch',
    'status',
    'extend',
    'stop',
    'start',
    'run',
    'save-ami',
    'use-ami',
    'terminate',
  ]) {
    expect(dev.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  }
});

test('submit --csv: every row from the file, so per-job flags are a usage error', async () => {
  const both = await ncaas(['submit', '--csv', 'jobs.csv', '--group', 'labA', '--data', 'x']);
  expect(both.code).toBe(2);
  expect(both.stderr).toBe(
    "ncaas: --csv takes each job's --group, --data from its columns: leave them out\n",
  );
});

test('dev run: needs the blueprint; bad --timeout and --interval are usage errors before any AWS call', async () => {
  const noBlueprint = await ncaas(['dev', 'run', 'submit.json']);
  expect(noBlueprint.code).toBe(2);
  expect(noBlueprint.stderr).toBe(
    'ncaas: ncaas dev needs the blueprint: pass --blueprint <name|path> or set NCAAS_BLUEPRINT\n',
  );
  const timeout = await ncaas(['dev', 'run', 'submit.json', '--blueprint', 'mock', '--timeout', 'soon']);
  expect(timeout.code).toBe(2);
  expect(timeout.stderr).toBe('ncaas: --timeout "soon" is not a number of minutes greater than 0\n');
  const interval = await ncaas(['dev', 'run', 'submit.json', '--blueprint', 'mock', '--interval', '0']);
  expect(interval.code).toBe(2);
  expect(interval.stderr).toMatch(/^ncaas: --interval "0" must be a number of seconds/);
  const help = await ncaas(['dev', 'run', '--help']);
  for (const flag of ['--group', '--bucket', '--timestamp', '--timeout', '--instance', '--interval']) {
    expect(help.stdout).toContain(flag);
  }
});

test('submit --csv against the emulator: the rows become jobs, one id a line', async () => {
  const csvDir = fs.mkdtempSync(path.join(dir, 'csv-'));
  fs.writeFileSync(path.join(csvDir, 'a.bin'), 'A');
  fs.writeFileSync(path.join(csvDir, 'config.yaml'), '__duration__: 5\n');
  fs.writeFileSync(
    path.join(csvDir, 'jobs.csv'),
    'group,data,config,timestamp\nlabA,a.bin,config.yaml,csv-1\nlabB,a.bin,config.yaml,csv-2\n',
  );
  // A bucket of its own: the jobs of this test stay out of the other tests' listings.
  await s3.client.send(new CreateBucketCommand({ Bucket: `${BUCKET}-csv` }));
  const result = await ncaas(['submit', '--csv', path.join(csvDir, 'jobs.csv'), '--blueprint', 'mock'], {
    ...localEnv(),
    NCAAS_BUCKET: `${BUCKET}-csv`,
  });
  expect(result.stderr).not.toContain('problem');
  expect(result.code).toBe(0);
  expect(result.stdout).toBe('csv-1\ncsv-2\n');
});

test('validate: exit 0 for the mock blueprint, exit 1 with every problem for a bad one', async () => {
  const good = await ncaas(['validate', 'mock']);
  expect(good.code).toBe(0);
  expect(good.stdout).toContain('valid: blueprints/mock.json: analysis mock');

  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(
    bad,
    JSON.stringify({ PipelineName: 'x y', REGION: 'us-east-1', UXData: { Affiliates: [] } }),
  );
  const result = await ncaas(['validate', bad]);
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/bad\.json: \d+ problems in this blueprint:/);
  expect(result.stderr).toContain('PipelineName');
  expect(result.stderr).toContain('Lambda');
  noStackTrace(result.stderr);
});

test('no bucket: one line, exit 2', async () => {
  const result = await ncaas(['status', 'some-job', '--group', 'labA']);
  expect(result.code).toBe(2);
  expect(result.stderr).toBe(
    'ncaas: no bucket given: pass --bucket NAME or set NCAAS_BUCKET (for the local runtime: source <dir>/env.sh)\n',
  );
  expect(result.stdout).toBe('');
});

test('users without a user pool, or with a bad address: one line, exit 2, no AWS call', async () => {
  const noPool = await ncaas(['users', 'add', 'ana@lab.example.org', '--group', 'labA']);
  expect(noPool.code).toBe(2);
  expect(noPool.stderr).toBe(
    'ncaas: no user pool given: pass --user-pool ID or set NCAAS_USER_POOL_ID (the stack output UserPoolId)\n',
  );
  const badEmail = await ncaas([
    'users',
    'add',
    '$(reboot)',
    '--group',
    'labA',
    '--user-pool',
    'us-east-1_AbC123',
  ]);
  expect(badEmail.code).toBe(2);
  expect(badEmail.stderr).toBe('ncaas: "$(reboot)" is not an email address: give the person\'s address\n');
  noStackTrace(badEmail.stderr);
});

test('usage errors: one line, exit 2', async () => {
  const missing = await ncaas(['watch']);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toBe("ncaas: missing required argument 'job'\n");
  const unknown = await ncaas(['jobs', '--colour']);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toBe("ncaas: unknown option '--colour'\n");
});

test('an emulator that is not running: one line, exit 1', async () => {
  const env = {
    ...localEnv(),
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
    AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9',
  };
  const result = await ncaas(['jobs', '--group', 'labA'], env);
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/^ncaas: cannot reach S3 at http:\/\/127\.0\.0\.1:9: ECONNREFUSED .*\n$/);
});

test('with the local runtime environment: submit, status, watch and jobs need no flags but --group', async () => {
  const data = path.join(dir, 'rec.bin');
  const config = path.join(dir, 'config.yaml');
  fs.writeFileSync(data, 'data');
  fs.writeFileSync(config, '__duration__: 5\n');

  const dry = await ncaas(
    [
      'submit',
      '--group',
      'labA',
      '--data',
      data,
      '--config',
      config,
      '--timestamp',
      'e1',
      '--dry-run',
      '--blueprint',
      'mock',
    ],
    localEnv(),
  );
  expect(dry.code).toBe(0);
  expect(JSON.parse(dry.stdout)).toEqual({
    dataname: 'labA/inputs/rec.bin',
    configname: 'labA/configs/config.yaml',
    timestamp: 'e1',
  });

  const submitted = await ncaas(
    ['submit', '--group', 'labA', '--data', data, '--config', config, '--timestamp', 'e1'],
    localEnv(),
  );
  expect(submitted.code).toBe(0);
  expect(submitted.stdout).toBe('e1\n');

  // The worker's final status: watch exits with the job's outcome.
  const folder = jobResultFolder('labA', 'mock', 'e1');
  const body = JSON.stringify({
    status: 'FAILED',
    reason: 'the analysis exited with code 1',
    input: 'labA/inputs/rec.bin',
  });
  await s3.client.send(
    new PutObjectCommand({ Bucket: BUCKET, Key: statusKey(folder, 'rec.bin'), Body: body }),
  );
  const watch = await ncaas(['watch', 'e1', '--group', 'labA'], localEnv());
  expect(watch.code).toBe(1);
  expect(watch.stdout).toContain('FAILED after');

  const status = await ncaas(['status', 'e1', '--group', 'labA', '--json'], localEnv());
  expect(status.code).toBe(0);
  expect(JSON.parse(status.stdout)).toMatchObject({ job: 'e1', state: 'FAILED' });

  const jobs = await ncaas(['jobs'], localEnv());
  expect(jobs.code).toBe(0);
  expect(jobs.stdout).toMatch(/^e1\s+FAILED\s+1\/1 done/m);

  const ghost = await ncaas(['status', 'ghost', '--group', 'labA'], localEnv());
  expect(ghost.code).toBe(2);
  expect(ghost.stderr.trimEnd().split('\n')).toHaveLength(1);
});
