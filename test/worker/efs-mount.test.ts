/**
 * EFS on EC2 workers (`Efs.MountOnEc2Workers`): the worker mounts the group's access point before
 * staging, and says clearly when the AMI lacks amazon-efs-utils. Run for real against s3rver, with
 * fake `mount` / `mount.efs` commands on PATH that record how they were called.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { finalReportKey, jobResultFolder, processResultsPrefix } from '../../lib/layout';
import { encodeWorkerJob, type WorkerJob } from '../../lib/job/worker-job';
import { type S3Emulator, startS3Emulator } from '../support/s3-emulator';

const ROOT = path.resolve(__dirname, '../..');
const BUCKET = 'ncaas-efs-test';

let s3: S3Emulator;
let tmp: string;

beforeAll(async () => {
  s3 = await startS3Emulator([BUCKET]);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-efs-test-'));
  for (const [key, body] of [
    ['lab/inputs/a.txt', 'data\n'],
    ['lab/configs/c.yaml', 'x: 1\n'],
  ]) {
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  }
}, 30_000);

afterAll(async () => {
  await s3?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs the worker on an EC2-style job with EFS ids; `withHelper` puts a fake mount.efs on PATH. */
const run = async (name: string, withHelper: boolean) => {
  const dir = path.join(tmp, name);
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  const record = path.join(dir, 'record.txt');
  const mountPoint = path.join(dir, 'mnt-efs');
  // `mount` records its arguments; mount.efs exists only to be found (the real one is called by mount).
  fs.writeFileSync(path.join(bin, 'mount'), `#!/bin/sh\nprintf '%s\\n' "$*" >>"$FAKE_RECORD"\n`, {
    mode: 0o755,
  });
  if (withHelper) fs.writeFileSync(path.join(bin, 'mount.efs'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  const jobId = `efs-${name}`;
  const job: WorkerJob = {
    analysis: 'mock',
    region: 'us-east-1',
    bucket: BUCKET,
    group: 'lab',
    jobId,
    datasetIndex: 0,
    datasetKey: 'lab/inputs/a.txt',
    datasetLabel: 'a.txt',
    configKey: 'lab/configs/c.yaml',
    resultFolder: jobResultFolder('lab', 'mock', jobId),
    command: 'echo "$NCAAS_EFS_DIR" > "$NCAAS_OUTPUT_DIR/efs-dir.txt" # {} {} {} {}',
    deadlineEpochSeconds: Math.floor(Date.now() / 1000) + 600,
    launcher: 'local',
    efsFileSystemId: 'fs-0123456789abcdef0',
    efsAccessPointId: 'fsap-0123456789abcdef0',
  };
  const jobFile = path.join(dir, 'job.env');
  fs.writeFileSync(jobFile, encodeWorkerJob(job));
  // The system's own mount.efs, if this machine had one, must not be found: PATH is ours first and
  // the test asserts on what it found.
  const child = spawn('sh', [path.join(ROOT, 'worker/run-job.sh'), jobFile], {
    env: s3.childEnv({
      PATH: `${path.join(ROOT, 'local/bin')}:${bin}:${process.env.PATH ?? ''}`,
      NCAAS_WORK_DIR: path.join(dir, 'work'),
      NCAAS_EFS_MOUNT_POINT: mountPoint,
      NCAAS_INSTANCE_ID: 'i-0123456789abcdef0',
      NCAAS_RETRY_DELAY: '0',
      NCAAS_ARM_DEADLINE_COMMAND: '',
      NCAAS_POWEROFF_COMMAND: '',
      FAKE_RECORD: record,
    }),
    stdio: 'ignore',
  });
  await new Promise((resolve) => child.on('close', resolve));
  const read = async (key: string) =>
    (await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body?.transformToString();
  const report = JSON.parse((await read(finalReportKey(job.resultFolder, 'a.txt'))) ?? '{}') as {
    status: string;
    reason: string;
  };
  const mounts = fs.existsSync(record) ? fs.readFileSync(record, 'utf8').split('\n').filter(Boolean) : [];
  return { job, report, mounts, mountPoint, read };
};

test('with amazon-efs-utils: the group access point is mounted over TLS with IAM, and the analysis sees it', async () => {
  const systemHasHelper = (process.env.PATH ?? '')
    .split(':')
    .some((dir) => fs.existsSync(path.join(dir, 'mount.efs')));
  expect(systemHasHelper).toBe(false);
  const { job, report, mounts, mountPoint, read } = await run('helper', true);
  expect(report.status).toBe('SUCCESS');
  expect(mounts).toEqual([
    `-t efs -o tls,iam,accesspoint=fsap-0123456789abcdef0 fs-0123456789abcdef0 ${mountPoint}`,
  ]);
  expect(await read(`${processResultsPrefix(job.resultFolder)}efs-dir.txt`)).toBe(`${mountPoint}\n`);
}, 60_000);

test('without amazon-efs-utils: FAILED, naming the missing package, before anything is staged', async () => {
  const { report, mounts } = await run('no-helper', false);
  expect(report.status).toBe('FAILED');
  expect(report.reason).toContain('amazon-efs-utils');
  expect(report.reason).toContain('mount.efs');
  expect(mounts).toEqual([]);
}, 60_000);
