/**
 * S3 errors in the worker's transfers: worker/run-job.sh run for real against s3rver, with an `aws`
 * first on PATH that fails chosen `aws s3 cp` / `aws s3 sync` calls the way the CLI does when S3
 * answers 500 (exit 1, "An error occurred (InternalError)"), then hands the others to the local
 * runtime's wrapper (local/bin/aws) and the real CLI. Transient errors are retried and the job ends as
 * if nothing happened; errors that persist are reported (status FAILED naming the step, or the
 * worker's own log when even the report cannot be uploaded), and the worker powers off regardless.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GetObjectCommand, ListObjectsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { encodeWorkerJob, type WorkerJob } from '../../lib/job/worker-job';
import { finalReportKey, jobResultFolder, processResultsPrefix, statusKey } from '../../lib/layout';
import { type S3Emulator, startS3Emulator } from '../support/s3-emulator';

const ROOT = path.resolve(__dirname, '../..');
const WORKER = path.join(ROOT, 'worker/run-job.sh');
const LOCAL_AWS = path.join(ROOT, 'local/bin/aws');
const BUCKET = 'ncaas-faults-bucket';
const DATASET = 'lab/inputs/recording.txt';
const CONFIG = 'lab/configs/config.yaml';
/** NCAAS_RETRY_ATTEMPTS: tries of one transfer before the worker gives up on it. */
const ATTEMPTS = 4;

/**
 * The failing `aws`. FAULT_AWS_PATTERN is a shell pattern matched against the whole command line;
 * each distinct matching command line fails its first FAULT_AWS_FAILURES calls (`all`: every call).
 * FAULT_AWS_WHEN=after runs the transfer first and fails only then (it happened, the CLI said no).
 * Every call is logged to $FAULT_AWS_DIR/calls.log as `FAIL|PASS <arguments>`.
 */
const FAULTY_AWS = `#!/bin/sh
self_dir=$(cd "$(dirname "$0")" && pwd -P)
# local/bin/aws looks for the next aws on PATH: not this one.
NCAAS_AWS_WRAPPER_DIRS="\${NCAAS_AWS_WRAPPER_DIRS-}:$self_dir"
export NCAAS_AWS_WRAPPER_DIRS
args="$*"
fail=0
case $args in
  $FAULT_AWS_PATTERN)
    key=$(printf '%s' "$args" | cksum | cut -d ' ' -f 1)
    n=$(cat "$FAULT_AWS_DIR/count-$key" 2>/dev/null || echo 0)
    n=$((n + 1))
    echo "$n" >"$FAULT_AWS_DIR/count-$key"
    if [ "$FAULT_AWS_FAILURES" = all ] || [ "$n" -le "$FAULT_AWS_FAILURES" ]; then fail=1; fi
    ;;
esac
if [ "$fail" = 0 ]; then
  printf 'PASS %s\\n' "$args" >>"$FAULT_AWS_DIR/calls.log"
  exec "$FAULT_AWS_NEXT" "$@"
fi
printf 'FAIL %s\\n' "$args" >>"$FAULT_AWS_DIR/calls.log"
if [ "\${FAULT_AWS_WHEN-}" = after ]; then "$FAULT_AWS_NEXT" "$@" >/dev/null 2>&1 || true; fi
echo "upload failed: to s3://somewhere An error occurred (InternalError) when calling the PutObject operation (reached max retries: 4): We encountered an internal error. Please try again." >&2
exit 1
`;

let s3: S3Emulator;
let tmp: string;
let faultBin: string;
let analysisScript: string;
let runs = 0;

beforeAll(async () => {
  s3 = await startS3Emulator([BUCKET]);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-upload-faults-'));
  faultBin = path.join(tmp, 'fault-bin');
  fs.mkdirSync(faultBin);
  fs.writeFileSync(path.join(faultBin, 'aws'), FAULTY_AWS, { mode: 0o755 });
  analysisScript = path.join(tmp, 'analysis.sh');
  fs.writeFileSync(
    analysisScript,
    [
      '#!/bin/sh',
      'set -eu',
      '{ printf "config: "; cat "$NCAAS_CONFIG_FILE"; printf "input: "; cat "$NCAAS_INPUT_PATH"; } >"$NCAAS_OUTPUT_DIR/result.txt"',
      'mkdir -p "$NCAAS_OUTPUT_DIR/plots" && echo "plot" >"$NCAAS_OUTPUT_DIR/plots/trace.txt"',
      'echo "analysis done"',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: DATASET, Body: 'frames 1-100\n' }));
  await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: CONFIG, Body: 'threshold: 3\n' }));
});

afterAll(async () => {
  await s3?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

interface Faults {
  readonly pattern: string;
  readonly failures: number | 'all';
  readonly when?: 'before' | 'after';
}

interface Run {
  readonly job: WorkerJob;
  readonly exitCode: number | null;
  /** What the fake deadline and power-off commands recorded, in order. */
  readonly record: string[];
  /** `FAIL|PASS <arguments>` per aws call. */
  readonly calls: string[];
  /** The worker's own log, as kept in its scratch dir. */
  readonly workerLog: string;
}

const runWorker = async (faults: Faults): Promise<Run> => {
  runs += 1;
  const dir = path.join(tmp, `run-${runs}`);
  const faultDir = path.join(dir, 'faults');
  fs.mkdirSync(faultDir, { recursive: true });
  const jobId = `upload-${runs}`;
  const job: WorkerJob = {
    analysis: 'mock',
    region: 'us-east-1',
    bucket: BUCKET,
    group: 'lab',
    jobId,
    datasetIndex: 0,
    datasetKey: DATASET,
    datasetLabel: 'recording.txt',
    configKey: CONFIG,
    resultFolder: jobResultFolder('lab', 'mock', jobId),
    command: '"$MOCK_ANALYSIS" "{}" "{}" "{}" "{}"',
    deadlineEpochSeconds: Math.floor(Date.now() / 1000) + 600,
    launcher: 'local',
  };
  const jobFile = path.join(dir, 'job.env');
  fs.writeFileSync(jobFile, encodeWorkerJob(job));
  const recordFile = path.join(dir, 'record.txt');
  const child = spawn('sh', [WORKER, jobFile], {
    env: s3.childEnv({
      PATH: `${faultBin}:${process.env.PATH ?? ''}`,
      FAULT_AWS_NEXT: LOCAL_AWS,
      FAULT_AWS_DIR: faultDir,
      FAULT_AWS_PATTERN: faults.pattern,
      FAULT_AWS_FAILURES: String(faults.failures),
      FAULT_AWS_WHEN: faults.when ?? 'before',
      NCAAS_WORK_DIR: path.join(dir, 'work'),
      NCAAS_INSTANCE_ID: 'i-0123456789abcdef0',
      // No live uploads during the short analysis: the transfers are the worker's own steps, in order.
      NCAAS_STATUS_INTERVAL: '3600',
      NCAAS_RETRY_ATTEMPTS: String(ATTEMPTS),
      NCAAS_RETRY_DELAY: '0',
      NCAAS_ARM_DEADLINE_COMMAND: 'printf "arm-deadline %s\\n" "$1" >>"$FAKE_RECORD"',
      NCAAS_POWEROFF_COMMAND: 'printf "poweroff %s\\n" "$1" >>"$FAKE_RECORD"',
      FAKE_RECORD: recordFile,
      MOCK_ANALYSIS: analysisScript,
    }),
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const lines = (file: string): string[] =>
    fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
  const workerLog = path.join(dir, 'work', 'logs', 'worker.txt');
  return {
    job,
    exitCode,
    record: lines(recordFile),
    calls: lines(path.join(faultDir, 'calls.log')),
    workerLog: fs.existsSync(workerLog) ? fs.readFileSync(workerLog, 'utf8') : '',
  };
};

const readText = async (key: string): Promise<string | undefined> => {
  try {
    const out = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return out.Body ? Buffer.from(await out.Body.transformToByteArray()).toString('utf8') : '';
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
    throw error;
  }
};

const readJson = async (key: string): Promise<Record<string, unknown> | undefined> => {
  const text = await readText(key);
  return text === undefined ? undefined : (JSON.parse(text) as Record<string, unknown>);
};

const keysUnder = async (prefix: string): Promise<string[]> => {
  const out = await s3.client.send(new ListObjectsCommand({ Bucket: BUCKET, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
};

/** The deadline is armed first, and again once the analysis has exited (worker/README.md). */
const ARMED_TWICE = [
  expect.stringMatching(/^arm-deadline \d+$/),
  expect.stringMatching(/^arm-deadline \d+$/),
];

/** The calls of one kind (`s3 cp`, `s3 sync`), by outcome. */
const transfers = (run: Run): { failed: string[]; passed: string[] } => ({
  failed: run.calls.filter((c) => c.startsWith('FAIL s3 ')).map((c) => c.slice(5)),
  passed: run.calls.filter((c) => c.startsWith('PASS s3 ')).map((c) => c.slice(5)),
});

describe('the worker, when S3 fails some of its transfers', () => {
  test.concurrent(
    'every transfer fails twice with a 500 first: retried, and the job ends SUCCESS',
    async () => {
      const run = await runWorker({ pattern: 's3 *', failures: 2 });
      const { resultFolder } = run.job;
      const results = processResultsPrefix(resultFolder);

      expect(run.exitCode).toBe(0);
      const report = await readJson(finalReportKey(resultFolder, 'recording.txt'));
      expect(report).toMatchObject({ status: 'SUCCESS', exit_code: 0, reason: 'the analysis finished' });
      expect(await readJson(statusKey(resultFolder, 'recording.txt'))).toEqual({
        ...report,
        reason: ['the analysis finished'],
      });
      expect(await keysUnder(results)).toEqual([
        `${results}config.yaml`,
        `${results}plots/trace.txt`,
        `${results}result.txt`,
      ]);
      expect(await readText(`${results}result.txt`)).toBe('config: threshold: 3\ninput: frames 1-100\n');
      expect(await readText(`${resultFolder}/logs/DATASET_NAME:recording.txt_stdout.txt`)).toBe(
        'analysis done\n',
      );
      expect(run.record).toEqual([...ARMED_TWICE, 'poweroff SUCCESS']);

      // Each transfer (first status, dataset, config, the status read back for the analysis's
      // verdict, results, logs, the status, final report) failed twice, then went through on its
      // third try; the final status is the same call as the first, whose failures were used up.
      const { failed, passed } = transfers(run);
      expect(passed).toHaveLength(8);
      expect(failed).toHaveLength(14);
      for (const call of passed) expect(failed.filter((f) => f === call)).toHaveLength(2);
      expect(passed.map((c) => c.split(' ').slice(0, 2).join(' '))).toEqual([
        's3 cp',
        's3 cp',
        's3 cp',
        's3 cp',
        's3 sync',
        's3 cp',
        's3 cp',
        's3 cp',
      ]);
      // The user can see it happened: the uploaded worker log says what was retried.
      const uploadedLog =
        (await readText(`${resultFolder}/logs/DATASET_NAME:recording.txt_worker.txt`)) ?? '';
      expect(uploadedLog).toMatch(/aws s3 sync failed \(attempt 2, exit 1\): retrying/);
      expect(uploadedLog).toContain('An error occurred (InternalError)');
    },
  );

  test.concurrent(
    'a results upload that went through but was reported failed: the retry finds it done',
    async () => {
      const run = await runWorker({ pattern: 's3 sync *', failures: 1, when: 'after' });
      const results = processResultsPrefix(run.job.resultFolder);
      expect(run.exitCode).toBe(0);
      expect(await readJson(finalReportKey(run.job.resultFolder, 'recording.txt'))).toMatchObject({
        status: 'SUCCESS',
      });
      expect(await keysUnder(results)).toEqual([
        `${results}config.yaml`,
        `${results}plots/trace.txt`,
        `${results}result.txt`,
      ]);
      expect(transfers(run).failed).toEqual([
        expect.stringMatching(/^s3 sync .* s3:\/\/.*\/process_results\/ /),
      ]);
      expect(run.record).toContain('poweroff SUCCESS');
    },
  );

  test.concurrent(
    'the results upload keeps failing: FAILED naming the upload, the logs and report still land, power-off',
    async () => {
      const run = await runWorker({ pattern: 's3 sync * s3://*/process_results/*', failures: 'all' });
      const { resultFolder } = run.job;

      expect(run.exitCode).toBe(1);
      const report = await readJson(finalReportKey(resultFolder, 'recording.txt'));
      expect(report).toMatchObject({ status: 'FAILED', exit_code: 0 });
      expect(String(report?.reason)).toMatch(
        new RegExp(
          `^uploading the results to ${resultFolder}/process_results/ failed: .*\\(InternalError\\)`,
        ),
      );
      // What the worker could write is there: the status, the full logs, the final report.
      expect(await readJson(statusKey(resultFolder, 'recording.txt'))).toEqual({
        ...report,
        reason: [report?.reason],
      });
      expect(await readText(`${resultFolder}/logs/DATASET_NAME:recording.txt_stdout.txt`)).toBe(
        'analysis done\n',
      );
      expect(await keysUnder(processResultsPrefix(resultFolder))).toEqual([]);
      // Tried NCAAS_RETRY_ATTEMPTS times, not forever; then the worker powered off.
      expect(transfers(run).failed).toHaveLength(ATTEMPTS);
      expect(run.record).toEqual([...ARMED_TWICE, 'poweroff FAILED']);
      expect(run.workerLog).toContain('ERROR: uploading the results failed');
    },
  );

  test.concurrent(
    'staging keeps failing with a 500: FAILED naming the step, the analysis never runs',
    async () => {
      const run = await runWorker({ pattern: 's3 cp s3://*/inputs/*', failures: 'all' });
      const report = await readJson(finalReportKey(run.job.resultFolder, 'recording.txt'));
      expect(report).toMatchObject({ status: 'FAILED', exit_code: null });
      expect(String(report?.reason)).toMatch(
        new RegExp(`^staging the dataset s3://${BUCKET}/${DATASET} failed: .*\\(InternalError\\)`),
      );
      expect(transfers(run).failed).toHaveLength(ATTEMPTS);
      expect(await keysUnder(processResultsPrefix(run.job.resultFolder))).toEqual([]);
      expect(run.exitCode).toBe(1);
      expect(run.record).toEqual([expect.stringMatching(/^arm-deadline \d+$/), 'poweroff FAILED']);
    },
  );

  test.concurrent(
    'every upload to the results folder keeps failing: nothing to report to, so it logs it and powers off',
    async () => {
      const run = await runWorker({ pattern: '* s3://*/results/*', failures: 'all' });
      const { resultFolder } = run.job;

      // The control plane hears of it from the instance's end (FAILED, "stopped unexpectedly").
      expect(await keysUnder(`${resultFolder}/`)).toEqual([]);
      expect(run.exitCode).toBe(1);
      expect(run.record).toEqual([...ARMED_TWICE, 'poweroff FAILED']);
      // Each transfer under results/ was tried NCAAS_RETRY_ATTEMPTS times: first status, the status
      // read back for the analysis's verdict (once), results, logs, status, final report.
      const { failed, passed } = transfers(run);
      expect(failed).toHaveLength(6 * ATTEMPTS);
      // Dataset and config are staged at the same time: in either order.
      expect(passed.map((c) => c.split(' ').slice(0, 3).join(' ')).sort()).toEqual([
        expect.stringMatching(/^s3 cp s3:\/\/.*\/configs\/config\.yaml$/),
        expect.stringMatching(/^s3 cp s3:\/\/.*\/inputs\/recording\.txt$/),
      ]);
      expect(run.workerLog).toContain('WARNING: uploading the first status failed');
      expect(run.workerLog).toContain('ERROR: uploading the results failed');
      expect(run.workerLog).toContain('ERROR: uploading the logs failed');
      expect(run.workerLog).toContain('ERROR: uploading the status failed');
      expect(run.workerLog).toContain('ERROR: uploading the final report failed');
      expect(run.workerLog).toMatch(/final status FAILED: uploading the results to .* failed/);
    },
  );
});
