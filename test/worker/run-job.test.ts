/**
 * The worker script (worker/run-job.sh) run for real, as a child process, against s3rver, with the
 * AWS CLI behind the local runtime's `aws` wrapper, and fake power-off / deadline commands that
 * record their calls.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  datasetLabel,
  finalReportKey,
  jobResultFolder,
  processResultsPrefix,
  statusKey,
} from '../../lib/layout';
import { encodeWorkerJob, WorkerJob } from '../../lib/job/worker-job';
import { S3Emulator, startS3Emulator } from '../support/s3-emulator';

const ROOT = path.resolve(__dirname, '../..');
const WORKER = path.join(ROOT, 'worker/run-job.sh');
const LOCAL_BIN = path.join(ROOT, 'local/bin');
const BUCKET = 'ncaas-mock-bucket';
const GROUP = 'lab';
const DATASET = 'lab/inputs/recording.txt';
const CONFIG = 'lab/configs/config.yaml';

interface WorkerStatus {
  status: string;
  reason: string;
  input: string;
  instance: string;
  job_start: string;
  job_finish: string | null;
  exit_code: number | null;
  deadline: string;
  duration_estimate_exceeded: boolean;
  std: { stdout: string; stderr: string };
}

interface RunOptions {
  readonly command: string;
  readonly datasetKey?: string;
  readonly configKey?: string;
  readonly jobId?: string;
  readonly deadlineInSeconds?: number;
  readonly durationEstimateMinutes?: number;
  readonly launcher?: WorkerJob['launcher'];
  readonly env?: Readonly<Record<string, string>>;
  /** Called while the worker runs; the worker's exit is awaited after it resolves. */
  readonly whileRunning?: (job: WorkerJob) => Promise<void>;
}

interface WorkerRun {
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

const put = async (key: string, body: string): Promise<void> => {
  await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
};

const getBytes = async (key: string): Promise<Uint8Array> => {
  const out = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  if (!out.Body) throw new Error(`no body for ${key}`);
  return out.Body.transformToByteArray();
};

const getText = async (key: string): Promise<string> => Buffer.from(await getBytes(key)).toString('utf8');

/** Parses a status file, failing on invalid UTF-8 as well as invalid JSON. */
const getStatus = async (key: string): Promise<WorkerStatus> => {
  const text = new TextDecoder('utf-8', { fatal: true }).decode(await getBytes(key));
  return JSON.parse(text) as WorkerStatus;
};

const listKeys = async (prefix: string): Promise<string[]> => {
  const out = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key ?? '');
};

const exists = async (key: string): Promise<boolean> => (await listKeys(key)).includes(key);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const labelOf = (job: WorkerJob): string => job.datasetLabel;

/** Fake power-off and deadline commands for the local launcher: they only record their calls. */
const RECORDING_COMMANDS: Readonly<Record<string, string>> = {
  NCAAS_ARM_DEADLINE_COMMAND: 'printf "arm-deadline %s\\n" "$1" >>"$FAKE_RECORD"',
  NCAAS_POWEROFF_COMMAND: 'printf "poweroff %s\\n" "$1" >>"$FAKE_RECORD"',
};

const runWorker = async (options: RunOptions): Promise<WorkerRun> => {
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
    command: options.command,
    deadlineEpochSeconds: Math.floor(Date.now() / 1000) + (options.deadlineInSeconds ?? 600),
    durationEstimateMinutes: options.durationEstimateMinutes,
    launcher: options.launcher ?? 'local',
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
      ...(options.launcher === 'ec2' ? {} : RECORDING_COMMANDS),
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
const workerTest = (name: string, fn: () => Promise<void>): void =>
  test.concurrent(name, fn, WORKER_TEST_TIMEOUT_MS);

const finalStatus = (run: WorkerRun): Promise<WorkerStatus> =>
  getStatus(finalReportKey(run.job.resultFolder, labelOf(run.job)));

describe('worker/run-job.sh', () => {
  workerTest(
    'a successful analysis: results, config copy, SUCCESS status and final report, then power-off',
    async () => {
      const run = await runWorker({
        command: '"$MOCK_ANALYSIS" "{}" "{}" "{}" "{}"',
        env: {
          // Lists the results at power-off time: proves power-off comes after every upload.
          NCAAS_POWEROFF_COMMAND:
            'printf "poweroff %s\\n" "$1" >>"$FAKE_RECORD"; aws s3 ls --recursive "s3://$FAKE_BUCKET/lab/results/" >>"$FAKE_RECORD"',
        },
      });
      const { resultFolder } = run.job;
      const label = labelOf(run.job);
      expect(run.exitCode).toBe(0);
      expect(await getText(`${processResultsPrefix(resultFolder)}result.txt`)).toBe(
        'config: threshold: 3\ninput: frames 1-100\n',
      );
      expect(await getText(`${processResultsPrefix(resultFolder)}config.yaml`)).toBe('threshold: 3\n');

      const status = await getStatus(statusKey(resultFolder, label));
      expect(status).toMatchObject({
        status: 'SUCCESS',
        input: DATASET,
        instance: 'i-0123456789abcdef0',
        exit_code: 0,
        duration_estimate_exceeded: false,
      });
      expect(status.std.stdout).toContain('analysis done');
      expect(status.job_finish).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(await finalStatus(run)).toEqual(status);
      expect(await getText(`${resultFolder}/logs/DATASET_NAME:${label}_stdout.txt`)).toBe('analysis done\n');

      expect(run.record[0]).toMatch(/^arm-deadline (9|10)$/);
      const powerOff = run.record.findIndex((line) => line.startsWith('poweroff'));
      expect(run.record[powerOff]).toBe('poweroff SUCCESS');
      const listedAtPowerOff = run.record.slice(powerOff + 1).join('\n');
      expect(listedAtPowerOff).toContain(finalReportKey(resultFolder, label));
      expect(listedAtPowerOff).toContain(`${processResultsPrefix(resultFolder)}result.txt`);
    },
  );

  // The two long, mostly idle cases come early so they overlap the short ones (see MAX_PARALLEL_WORKERS).
  workerTest('an analysis that runs into its deadline is stopped and reported TIMED_OUT', async () => {
    // Room for slow staging on a busy machine: the analysis gets what is left minus a 2 s grace.
    const run = await runWorker({
      deadlineInSeconds: 10,
      env: { NCAAS_UPLOAD_GRACE_SECONDS: '2' },
      command: 'echo "started"; sleep 60; echo "never"',
    });
    const status = await finalStatus(run);
    expect(status.status).toBe('TIMED_OUT');
    expect(status.std.stdout).toBe('started'); // stopped in its sleep, long before the test's timeout
    expect(status.reason).toContain('stopped at its deadline');
    expect(run.record[0]).toBe('arm-deadline 1');
    expect(run.record).toContain('poweroff TIMED_OUT');
  });

  workerTest(
    'while it runs, the status is IN PROGRESS with a stdout tail, and an exceeded estimate is flagged',
    async () => {
      let live: WorkerStatus | undefined;
      const release = path.join(tmp, 'release-live');
      const run = await runWorker({
        durationEstimateMinutes: 0.001,
        env: { RELEASE_FILE: release },
        command:
          'i=0; while [ ! -e "$RELEASE_FILE" ] && [ "$i" -lt 600 ]; do echo "tick $i"; i=$((i + 1)); sleep 0.1; done',
        whileRunning: async (job) => {
          const key = statusKey(job.resultFolder, labelOf(job));
          const giveUp = Date.now() + 45_000;
          while (!live && Date.now() < giveUp) {
            await sleep(250);
            const status = (await exists(key)) ? await getStatus(key) : undefined;
            if (status?.status === 'IN PROGRESS' && status.std.stdout.includes('tick')) live = status;
          }
          fs.writeFileSync(release, '');
        },
      });
      expect(live).toBeDefined();
      expect(live?.job_finish).toBeNull();
      expect(live?.duration_estimate_exceeded).toBe(true);
      expect(live?.reason).toContain('longer than its __duration__ estimate');
      const status = await finalStatus(run);
      expect(status.status).toBe('SUCCESS'); // flagged, not killed
      expect(status.duration_estimate_exceeded).toBe(true);
    },
  );

  workerTest('a non-zero exit is FAILED with the exit code and the stderr tail', async () => {
    const run = await runWorker({
      command: 'echo "loading frames"; echo "ValueError: frame 17 is empty" >&2; exit 3',
    });
    expect(run.exitCode).toBe(1);
    const status = await finalStatus(run);
    expect(status.status).toBe('FAILED');
    expect(status.exit_code).toBe(3);
    expect(status.reason).toBe('the analysis exited with code 3: ValueError: frame 17 is empty');
    expect(status.std.stderr).toContain('ValueError: frame 17 is empty');
    expect(status.std.stdout).toContain('loading frames');
    expect(run.record).toContain('poweroff FAILED');
  });

  test("NeuroCAAS's cleanup (sudo poweroff, shutdown -h 1) does not cut off the uploads", async () => {
    // EC2 defaults: the worker arms and powers off with the system `shutdown` (a fake one here).
    const env = s3.childEnv({ PATH: `${LOCAL_BIN}:${fakeBin}:${process.env.PATH ?? ''}` });
    const resolved = await new Promise<string>((resolve) => {
      const probe = spawn('sh', ['-c', 'command -v shutdown'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      probe.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      probe.on('close', () => resolve(out.trim()));
    });
    expect(resolved).toBe(path.join(fakeBin, 'shutdown')); // never the machine's own

    const run = await runWorker({
      launcher: 'ec2',
      command:
        '"$MOCK_ANALYSIS" {} {} {} {}; cleanup () { sudo poweroff; shutdown -h 1; }; cleanup; ' +
        'echo "still running" >"$NCAAS_OUTPUT_DIR/after-cleanup.txt"',
    });
    const processResults = processResultsPrefix(run.job.resultFolder);
    expect((await finalStatus(run)).status).toBe('SUCCESS');
    expect(await getText(`${processResults}after-cleanup.txt`)).toBe('still running\n');
    expect(await exists(`${processResults}result.txt`)).toBe(true);
    // Armed first, re-armed after the analysis, powered off last; the analysis's requests never
    // reached the system.
    expect(run.record).toEqual([
      expect.stringMatching(/^system-shutdown -h \+(9|10)$/),
      expect.stringMatching(/^system-shutdown -h \+(9|10)$/),
      'system-shutdown -h now',
    ]);
    const requests = fs.readFileSync(path.join(run.workDir, 'shutdown-requests.txt'), 'utf8');
    expect(requests).toBe('poweroff \nshutdown -h 1\n');
  });

  const nastyKeys = (tag: string) => {
    const pwned = path.join(os.tmpdir(), `ncaas-pwned-${tag}-${process.pid}`);
    const backtickPwned = `${pwned}-backtick`;
    return {
      pwned: [pwned, backtickPwned],
      datasetKey: `lab/inputs/my "best" 'run' \`touch ${backtickPwned}\` $(touch ${pwned}); echo x.txt`,
      configKey: `lab/configs/conf $(touch ${pwned}) "q" 'q'; \`touch ${backtickPwned}\`.yaml`,
      jobId: `16:52:06.8 $(touch ${pwned}) "q"; 'q'`,
    };
  };

  const placeholderStyles: readonly (readonly [string, string])[] = [
    ['quoted', '"$MOCK_ANALYSIS" "{}" "{}" "{}" "{}"'],
    ['bare', '"$MOCK_ANALYSIS" {} {} {} {}'],
  ];
  for (const [tag, command] of placeholderStyles) {
    workerTest(
      `keys with quotes, backticks, $(...) and ; reach the analysis verbatim (${tag} placeholders)`,
      async () => {
        const nasty = nastyKeys(tag);
        await put(nasty.datasetKey, 'nasty data\n');
        await put(nasty.configKey, 'nasty: config\n');
        const run = await runWorker({ command, ...nasty });
        const output = path.join(run.workDir, 'output');
        expect(fs.readFileSync(path.join(output, 'arg1'), 'utf8')).toBe(BUCKET);
        expect(fs.readFileSync(path.join(output, 'arg2'), 'utf8')).toBe(nasty.datasetKey);
        expect(fs.readFileSync(path.join(output, 'arg3'), 'utf8')).toBe(run.job.resultFolder);
        expect(fs.readFileSync(path.join(output, 'arg4'), 'utf8')).toBe(nasty.configKey);
        for (const file of nasty.pwned) expect(fs.existsSync(file)).toBe(false);
        const status = await finalStatus(run);
        expect(status.status).toBe('SUCCESS');
        expect(status.input).toBe(nasty.datasetKey);
        expect(await getText(`${processResultsPrefix(run.job.resultFolder)}result.txt`)).toBe(
          'config: nasty: config\ninput: nasty data\n',
        );
      },
    );
  }

  workerTest('a folder dataset (key ending in /) is staged whole', async () => {
    await put('lab/inputs/session1/a.txt', 'a\n');
    await put('lab/inputs/session1/sub/b.txt', 'b\n');
    await put('lab/inputs/session10/not-this.txt', 'no\n');
    const run = await runWorker({
      datasetKey: 'lab/inputs/session1/',
      command:
        'cd "$NCAAS_INPUT_DIR" && find . -type f | sort >"$NCAAS_OUTPUT_DIR/files.txt"; echo "$dataname"',
    });
    expect(run.job.datasetLabel).toBe('session1');
    expect(await getText(`${processResultsPrefix(run.job.resultFolder)}files.txt`)).toBe(
      './a.txt\n./sub/b.txt\n',
    );
    const status = await finalStatus(run);
    expect(status.status).toBe('SUCCESS');
    expect(status.std.stdout).toBe('session1');
  });

  workerTest(
    'an rclone dataset outside the batch runtime is FAILED, saying only Batch fetches it',
    async () => {
      const run = await runWorker({
        datasetKey: 'rclone:labdrive:day 1/x.nwb',
        command: 'touch "$NCAAS_OUTPUT_DIR/ran"',
      });
      expect(run.exitCode).toBe(1);
      const status = await finalStatus(run);
      expect(status.status).toBe('FAILED');
      expect(status.reason).toMatch(/is on an rclone remote: only the batch runtime fetches such datasets/);
      expect(fs.existsSync(path.join(run.workDir, 'output', 'ran'))).toBe(false);
    },
  );

  workerTest('a missing config is FAILED with a reason naming the config, and still powers off', async () => {
    const run = await runWorker({
      configKey: 'lab/configs/does-not-exist.yaml',
      command: 'touch "$NCAAS_OUTPUT_DIR/ran"',
    });
    expect(run.exitCode).toBe(1);
    const status = await finalStatus(run);
    expect(status.status).toBe('FAILED');
    expect(status.reason).toContain('staging the config');
    expect(status.reason).toContain('lab/configs/does-not-exist.yaml');
    expect(fs.existsSync(path.join(run.workDir, 'output', 'ran'))).toBe(false);
    expect(await listKeys(processResultsPrefix(run.job.resultFolder))).toEqual([]);
    expect(run.record).toContain('poweroff FAILED');
  });

  workerTest('the status is valid JSON and UTF-8 whatever the analysis prints', async () => {
    const run = await runWorker({
      command:
        "printf 'q\"uote back\\\\slash\\ttab\\001\\002\\033[31m\\r\\377\\376 caf\\303\\251 \\346\\227\\245\\n'; " +
        "printf 'nul\\000byte\\n'; printf 'err \"x\" \\\\ \\t\\001\\n' >&2",
    });
    const status = await finalStatus(run);
    expect(status.status).toBe('SUCCESS');
    expect(status.std.stdout).toBe(
      'q"uote back\\slash\ttab\u0001\u0002\u001b[31m\r\ufffd\ufffd café 日\nnulbyte',
    );
    expect(status.std.stderr).toBe('err "x" \\ \t\u0001');
  });
});

describe('COMMAND placeholders', () => {
  const rewrite = (command: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = spawn('sh', [WORKER, '--rewrite-command'], { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
      child.on('error', reject);
      child.on('close', () => resolve(out.replace(/\n$/, '')));
      child.stdin.end(command);
    });

  test.each([
    ['run.sh "{}" "{}" "{}" "{}"', 'run.sh "$1" "$2" "$3" "$4"'],
    ['run.sh {} {} {} {}', 'run.sh "$1" "$2" "$3" "$4"'],
    ["run.sh '{}' {} \"{}\" '{}'; cleanup", 'run.sh "$1" "$2" "$3" "$4"; cleanup'],
    ['run.sh --in="{}/x" \'at {}\' {}{} extra {}', 'run.sh --in="${1}/x" \'at \'"$2"\'\' "$3""$4" extra {}'],
  ])('%s becomes %s', async (command, expected) => {
    expect(await rewrite(command)).toBe(expected);
  });

  test('every quoting context passes a value through unchanged', async () => {
    const value = `a b "c" 'd' \`touch /tmp/x\` $(touch /tmp/y) ; e \\ $HOME *`;
    const rewritten = await rewrite(`printf '%s|' {} "{}" 'x{}' "y={}"`);
    const out = await new Promise<string>((resolve) => {
      const child = spawn('sh', ['-c', rewritten, 'ncaas', value, value, value, value], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      child.on('close', () => resolve(text));
    });
    expect(out).toBe(`${value}|${value}|x${value}|y=${value}|`);
  });
});
