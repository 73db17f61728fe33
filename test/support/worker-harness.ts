/**
 * The worker script (worker/run-job.sh) run for real, as a child process, against s3rver, with the
 * AWS CLI behind the local runtime's `aws` wrapper, and fake power-off / deadline commands that
 * record their calls. One emulator per test file: call `setupWorkerHarness()` at the top of the file.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { datasetLabel, finalReportKey, jobResultFolder } from '../../lib/layout';
import { prepareCommand } from '../../lib/blueprint/command-template';
import { encodeWorkerJob, WorkerJob } from '../../lib/job/worker-job';
import { S3Emulator, startS3Emulator } from './s3-emulator';

export const ROOT = path.resolve(__dirname, '../..');
export const WORKER = path.join(ROOT, 'worker/run-job.sh');
export const LOCAL_BIN = path.join(ROOT, 'local/bin');
export const BUCKET = 'ncaas-mock-bucket';
export const GROUP = 'lab';
export const DATASET = 'lab/inputs/recording.txt';
export const CONFIG = 'lab/configs/config.yaml';

/** The final report's fields (the status file has the same, with `reason` a list). */
export interface WorkerStatus {
  status: string;
  reason: string | string[];
  cpu_usage?: string[];
  stdout?: Record<string, string>;
  stderr?: Record<string, string>;
  input: string;
  instance: string;
  job_start: string;
  job_finish: string | null;
  exit_code: number | null;
  deadline: string;
  duration_estimate_exceeded: boolean;
  std: { stdout: string; stderr: string };
}

export interface RunOptions {
  readonly command: string;
  readonly datasetKey?: string;
  readonly configKey?: string;
  readonly jobId?: string;
  readonly deadlineInSeconds?: number;
  readonly durationEstimateMinutes?: number;
  readonly launcher?: WorkerJob['launcher'];
  readonly workingDirectory?: string;
  readonly datasetCount?: number;
  readonly env?: Readonly<Record<string, string>>;
  /** Called while the worker runs; the worker's exit is awaited after it resolves. */
  readonly whileRunning?: (job: WorkerJob) => Promise<void>;
}

export interface WorkerRun {
  readonly job: WorkerJob;
  readonly exitCode: number | null;
  readonly workDir: string;
  /** Lines written by the fake shutdown / power-off / deadline commands, in call order. */
  readonly record: string[];
  readonly stderr: string;
}

/**
 * Worker runs at once. Each is a chain of AWS CLI start-ups (CPU-bound): on two cores more in parallel
 * only time-slice and stretch every test. Tests that wait for a slot get a generous hang guard.
 */
const MAX_PARALLEL_WORKERS = 3;
const WORKER_TEST_TIMEOUT_MS = 90_000;
let runningWorkers = 0;
const waitingForSlot: (() => void)[] = [];
const acquireWorkerSlot = async (): Promise<void> => {
  if (runningWorkers < MAX_PARALLEL_WORKERS) {
    runningWorkers += 1;
    return;
  }
  await new Promise<void>((resolve) => waitingForSlot.push(resolve));
};
const releaseWorkerSlot = (): void => {
  const next = waitingForSlot.shift();
  if (next) next();
  else runningWorkers -= 1;
};

let s3: S3Emulator;
let tmp: string;
let fakeBin: string;
let analysisScript: string;
let caseNumber = 0;

/** The emulator and the folders of this file's harness (set once `setupWorkerHarness`'s beforeAll ran). */
export const harnessState = (): {
  readonly s3: S3Emulator;
  readonly tmp: string;
  readonly fakeBin: string;
} => ({
  s3,
  tmp,
  fakeBin,
});

export const setupWorkerHarness = (): void => {
  beforeAll(async () => {
    s3 = await startS3Emulator([BUCKET]);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-worker-test-'));
    fakeBin = path.join(tmp, 'fake-bin');
    fs.mkdirSync(fakeBin);
    // Stands in for the system's shutdown: the worker on EC2 arms and powers off with it.
    fs.writeFileSync(
      path.join(fakeBin, 'shutdown'),
      '#!/bin/sh\nprintf "system-shutdown %s\\n" "$*" >>"$FAKE_RECORD"\n',
      { mode: 0o755 },
    );
    // The mock analysis: records its arguments, reads its config and dataset, writes a result.
    analysisScript = path.join(tmp, 'analysis.sh');
    fs.writeFileSync(
      analysisScript,
      [
        '#!/bin/sh',
        'set -eu',
        'i=1',
        'for arg in "$@"; do printf "%s" "$arg" >"$NCAAS_OUTPUT_DIR/arg$i"; i=$((i + 1)); done',
        '{ printf "config: "; cat "$NCAAS_CONFIG_FILE"; printf "input: "; cat "$NCAAS_INPUT_PATH"; } >"$NCAAS_OUTPUT_DIR/result.txt"',
        'echo "analysis done"',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    await put(DATASET, 'frames 1-100\n');
    await put(CONFIG, 'threshold: 3\n');
  });

  afterAll(async () => {
    await s3?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });
};

export const put = async (key: string, body: string): Promise<void> => {
  await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
};

export const getBytes = async (key: string): Promise<Uint8Array> => {
  const out = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  if (!out.Body) throw new Error(`no body for ${key}`);
  return out.Body.transformToByteArray();
};

export const getText = async (key: string): Promise<string> =>
  Buffer.from(await getBytes(key)).toString('utf8');

/** Parses a status file, failing on invalid UTF-8 as well as invalid JSON. */
export const getStatus = async (key: string): Promise<WorkerStatus> => {
  const text = new TextDecoder('utf-8', { fatal: true }).decode(await getBytes(key));
  return JSON.parse(text) as WorkerStatus;
};

export const listKeys = async (prefix: string): Promise<string[]> => {
  const out = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key ?? '');
};

export const exists = async (key: string): Promise<boolean> => (await listKeys(key)).includes(key);

/** COMMAND as buildWorkerJob hands it to the worker. */
export const preparedCommand = (command: string): string => {
  const prepared = prepareCommand(command);
  if (!prepared.ok) throw new Error(prepared.problem);
  return prepared.text;
};

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const labelOf = (job: WorkerJob): string => job.datasetLabel;

/** Fake power-off and deadline commands for the local launcher: they only record their calls. */
export const RECORDING_COMMANDS: Readonly<Record<string, string>> = {
  NCAAS_ARM_DEADLINE_COMMAND: 'printf "arm-deadline %s\\n" "$1" >>"$FAKE_RECORD"',
  NCAAS_POWEROFF_COMMAND: 'printf "poweroff %s\\n" "$1" >>"$FAKE_RECORD"',
};

export const runWorker = async (options: RunOptions): Promise<WorkerRun> => {
  await acquireWorkerSlot();
  try {
    return await runWorkerNow(options);
  } finally {
    releaseWorkerSlot();
  }
};

const runWorkerNow = async (options: RunOptions): Promise<WorkerRun> => {
  caseNumber += 1;
  const caseDir = path.join(tmp, `case-${caseNumber}`);
  const workDir = path.join(caseDir, 'work');
  fs.mkdirSync(caseDir);
  const recordFile = path.join(caseDir, 'record.txt');
  const datasetKey = options.datasetKey ?? DATASET;
  const jobId = options.jobId ?? `job-${caseNumber}`;
  const job: WorkerJob = {
    analysis: 'mock',
    region: 'us-east-1',
    bucket: BUCKET,
    group: GROUP,
    jobId,
    datasetIndex: 0,
    datasetKey,
    datasetLabel: datasetLabel(datasetKey, 0, [datasetKey]),
    configKey: options.configKey ?? CONFIG,
    resultFolder: jobResultFolder(GROUP, 'mock', jobId),
    command: preparedCommand(options.command),
    deadlineEpochSeconds: Math.floor(Date.now() / 1000) + (options.deadlineInSeconds ?? 600),
    durationEstimateMinutes: options.durationEstimateMinutes,
    launcher: options.launcher ?? 'local',
    ...(options.workingDirectory !== undefined ? { workingDirectory: options.workingDirectory } : {}),
    ...(options.datasetCount !== undefined ? { datasetCount: options.datasetCount } : {}),
  };
  const jobFile = path.join(caseDir, 'job.env');
  fs.writeFileSync(jobFile, encodeWorkerJob(job));

  const child = spawn('sh', [WORKER, jobFile], {
    env: s3.childEnv({
      PATH: `${LOCAL_BIN}:${fakeBin}:${process.env.PATH ?? ''}`,
      NCAAS_WORK_DIR: workDir,
      NCAAS_INSTANCE_ID: 'i-0123456789abcdef0',
      NCAAS_STATUS_INTERVAL: '1',
      NCAAS_RETRY_DELAY: '0',
      FAKE_RECORD: recordFile,
      FAKE_BUCKET: BUCKET,
      MOCK_ANALYSIS: analysisScript,
      // As EC2 user data does: the machine, not the job, says it is an instance (power-off, deadline).
      ...(options.launcher === 'ec2' ? { NCAAS_LAUNCHER: 'ec2' } : RECORDING_COMMANDS),
      ...options.env,
    }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  if (options.whileRunning) await options.whileRunning(job);
  const exitCode = await exited;
  const record = fs.existsSync(recordFile)
    ? fs.readFileSync(recordFile, 'utf8').split('\n').filter(Boolean)
    : [];
  return { job, exitCode, workDir, record, stderr };
};

/** A test that runs the worker: concurrent with the others, with the hang guard above. */
export const workerTest = (name: string, fn: () => Promise<void>): void =>
  test.concurrent(name, fn, WORKER_TEST_TIMEOUT_MS);

export const finalStatus = (run: WorkerRun): Promise<WorkerStatus> =>
  getStatus(finalReportKey(run.job.resultFolder, labelOf(run.job)));
