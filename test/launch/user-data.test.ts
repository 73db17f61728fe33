import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { encodeWorkerJob, type WorkerJob } from '../../lib/job/worker-job';
import {
  buildUserData,
  packUserData,
  readEc2WorkerScript,
  readWorkerScript,
  USER_DATA_LIMIT_BYTES,
  WORKER_DIR,
  WORKER_LOG_FILE,
} from '../../lib/launch/user-data';

const realisticJob: WorkerJob = {
  analysis: 'dlc2-web',
  region: 'us-east-1',
  bucket: 'ncaas-dlc2-web-data-123456789012',
  group: 'labA',
  jobId: '16:52:06.836494condition_2_3',
  datasetIndex: 3,
  datasetKey: 'labA/inputs/session 2024-05-01/mouse_12 camera-left.mp4',
  datasetLabel: 'mouse_12 camera-left.mp4',
  configKey: 'labA/configs/config.yaml',
  resultFolder: 'labA/results/job__dlc2-web_16:52:06.836494condition_2_3',
  command:
    'ls; cd /home/ubuntu; neurocaas_contrib/run_main_cli.sh "{}" "{}" "{}" "{}" "neurocaas_contrib/dlc/run_dlc2_cli.sh"; . neurocaas_contrib/ncap_utils/workflow.sh; cleanup',
  deadlineEpochSeconds: 1767225600,
  durationEstimateMinutes: 45,
  launcher: 'ec2',
};

/** Everything a shell could trip over, including text that looks like the here-document delimiters. */
const hostile = 'it\'s "quoted" `date` $(touch pwned) $HOME \\n \\\nline\nNCAAS_JOB\nNCAAS_WORKER\nEOF\n';

const hostileJob: WorkerJob = {
  ...realisticJob,
  jobId: `job ${hostile}`,
  datasetKey: `labA/inputs/${hostile}.bin`,
  datasetLabel: hostile,
  configKey: `labA/configs/${hostile}.yaml`,
  command: `echo ${hostile} "{}" '{}' {} {}; cleanup`,
};

interface Run {
  readonly status: number | null;
  readonly stderr: string;
  readonly dir: string;
  readonly baseDir: string;
  readonly logFile: string;
  /** The arguments the worker was started with. */
  readonly workerArgs: string[];
}

const sandboxes: string[] = [];

afterAll(() => {
  for (const dir of sandboxes) rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs user data with `shell` in a fresh directory. A stub `sh` first on PATH stands in for the worker
 * run (it records its arguments and prints a line), so the worker script itself never executes.
 */
const runUserData = (
  shell: string,
  options: { readonly workerScript: string; readonly job: WorkerJob },
): Run => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ncaas-user-data-'));
  sandboxes.push(dir);
  const baseDir = path.join(dir, 'var-lib-ncaas');
  const logFile = path.join(dir, 'ncaas-worker.log');
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(
    path.join(bin, 'sh'),
    '#!/bin/sh\nfor arg in "$@"; do printf \'%s\\n\' "$arg"; done >"$NCAAS_TEST_ARGS"\necho "stub worker ran"\n',
  );
  chmodSync(path.join(bin, 'sh'), 0o755);
  const script = path.join(dir, 'user-data');
  writeFileSync(script, buildUserData({ ...options, baseDir, logFile }));
  const argsFile = path.join(dir, 'args');
  const result = spawnSync(shell, [script], {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, NCAAS_TEST_ARGS: argsFile, HOME: dir },
  });
  return {
    status: result.status,
    stderr: result.stderr,
    dir,
    baseDir,
    logFile,
    workerArgs: existsSync(argsFile) ? readFileSync(argsFile, 'utf8').split('\n').slice(0, -1) : [],
  };
};

const shells = ['/bin/sh', '/bin/bash'].filter((shell) => existsSync(shell));

describe.each(shells)('user data run by %s', (shell) => {
  test('writes the worker script and the job file byte for byte and starts the worker on them', () => {
    const workerScript = readWorkerScript();
    const run = runUserData(shell, { workerScript, job: realisticJob });

    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(readFileSync(path.join(run.baseDir, 'run-job.sh'), 'utf8')).toBe(workerScript);
    expect(readFileSync(path.join(run.baseDir, 'job.env'), 'utf8')).toBe(encodeWorkerJob(realisticJob));
    expect(run.workerArgs).toEqual([path.join(run.baseDir, 'run-job.sh'), path.join(run.baseDir, 'job.env')]);
    expect(readFileSync(run.logFile, 'utf8')).toBe('stub worker ran\n');
  });

  test('quotes, backticks, $(...), backslashes, newlines and delimiter-like lines reach the files verbatim', () => {
    // Its own delimiter may appear anywhere but alone on a line (that is refused, see below).
    const workerScript =
      '#!/bin/sh\n# it\'s "quoted" `date` $(touch pwned) $HOME \\n \\\nline\nNCAAS_JOB\nEOF\n' +
      'echo \'$(touch pwned)\' "`touch pwned`"\n NCAAS_WORKER\nNCAAS_WORKER \nNCAAS_WORKER_2\n';
    const run = runUserData(shell, { workerScript, job: hostileJob });

    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(readFileSync(path.join(run.baseDir, 'run-job.sh'), 'utf8')).toBe(workerScript);
    const jobFile = readFileSync(path.join(run.baseDir, 'job.env'), 'utf8');
    expect(jobFile).toBe(encodeWorkerJob(hostileJob));
    const command = jobFile.split('\n').find((line) => line.startsWith('NCAAS_JOB_COMMAND='));
    expect(Buffer.from(command?.split('=', 2)[1] ?? '', 'base64').toString('utf8')).toBe(hostileJob.command);
    expect(existsSync(path.join(run.dir, 'pwned'))).toBe(false);
  });
});

test('the job file is NAME=BASE64 lines: nothing in it a shell could interpret', () => {
  for (const line of encodeWorkerJob(hostileJob).trimEnd().split('\n')) {
    expect(line).toMatch(/^NCAAS_JOB_[A-Z_]+=[A-Za-z0-9+/=]*$/);
  }
});

test('a worker script without a final newline gets one (a here-document always ends with one)', () => {
  const run = runUserData(shells[0] ?? '/bin/sh', {
    workerScript: '#!/bin/sh\necho no newline',
    job: realisticJob,
  });
  expect(run.status).toBe(0);
  expect(readFileSync(path.join(run.baseDir, 'run-job.sh'), 'utf8')).toBe('#!/bin/sh\necho no newline\n');
});

test('a worker script with a line equal to its here-document delimiter is refused', () => {
  expect(() =>
    buildUserData({ workerScript: '#!/bin/sh\nNCAAS_WORKER\necho after\n', job: realisticJob }),
  ).toThrow(/line "NCAAS_WORKER"/);
});

test('a worker script with a NUL byte is refused', () => {
  expect(() => buildUserData({ workerScript: '#!/bin/sh\necho \0\n', job: realisticJob })).toThrow(/NUL/);
});

test('on an instance the files go to /var/lib/ncaas and the output to /var/log/ncaas-worker.log', () => {
  const script = buildUserData({ workerScript: '#!/bin/sh\n', job: realisticJob });
  expect(WORKER_DIR).toBe('/var/lib/ncaas');
  expect(WORKER_LOG_FILE).toBe('/var/log/ncaas-worker.log');
  expect(script.startsWith('#!/bin/sh\n')).toBe(true);
  expect(script).toContain("base='/var/lib/ncaas'\n");
  expect(script).toContain(`cat >"$base/run-job.sh" <<'NCAAS_WORKER'\n`);
  expect(script).toContain(`cat >"$base/job.env" <<'NCAAS_JOB'\n`);
  expect(script).toContain(`exec sh "$base/run-job.sh" "$base/job.env" >>'/var/log/ncaas-worker.log' 2>&1\n`);
});

test('a base directory a shell could misread is refused', () => {
  expect(() =>
    buildUserData({ workerScript: '#!/bin/sh\n', job: realisticJob, baseDir: "/tmp/x'; reboot; '" }),
  ).toThrow(/baseDir must be an absolute path/);
  expect(() =>
    buildUserData({ workerScript: '#!/bin/sh\n', job: realisticJob, baseDir: 'relative' }),
  ).toThrow(/baseDir must be an absolute path/);
});

test('readWorkerScript finds worker/run-job.sh in the repository', () => {
  const inRepository = readFileSync(path.join(__dirname, '..', '..', 'worker', 'run-job.sh'), 'utf8');
  expect(readWorkerScript()).toBe(inRepository);
});

test('packed user data is gzip (cloud-init decompresses it) of the script', () => {
  const script = buildUserData({ workerScript: readWorkerScript(), job: realisticJob });
  const packed = packUserData(script);
  expect([...packed.subarray(0, 2)]).toEqual([0x1f, 0x8b]);
  expect(gunzipSync(packed).toString('utf8')).toBe(script);
  expect(packUserData(script).equals(packed)).toBe(true);
});

// As the launcher sends it: the worker without comment lines (lib/launch/compact-script.ts).
const realisticScript = buildUserData({
  workerScript: readEc2WorkerScript(),
  job: realisticJob,
});
const realisticSize = packUserData(realisticScript).length;
const realisticRawSize = Buffer.byteLength(realisticScript, 'utf8');

// A quarter left for long keys (each up to 1,024 bytes): EC2 user data carries no Batch stage.
test(`user data for a realistic job is ${realisticSize} bytes compressed (${realisticRawSize} raw), under 3/4 of EC2's ${USER_DATA_LIMIT_BYTES}-byte limit`, () => {
  expect(realisticSize).toBeLessThan(USER_DATA_LIMIT_BYTES * 0.75);
});

/** Puts wrappers for the system's `tools` in `bin`, so a PATH of `bin` alone offers nothing else. */
const linkTools = (bin: string, tools: readonly string[]): void => {
  for (const tool of tools) {
    const found = ['/usr/bin', '/bin'].map((d) => path.join(d, tool)).find((p) => existsSync(p));
    if (!found) throw new Error(`${tool} not found`);
    writeFileSync(path.join(bin, tool), `#!/bin/sh\nexec ${found} "$@"\n`, { mode: 0o755 });
  }
};

test('an EC2 worker that fails before it reads its launcher from the job file still powers the instance off', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ncaas-user-data-ec2-'));
  sandboxes.push(dir);
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  // No base64 on PATH: the worker cannot decode the first line of its job file.
  linkTools(bin, ['cat', 'mkdir', 'date', 'sh']);
  writeFileSync(
    path.join(bin, 'shutdown'),
    '#!/bin/sh\nprintf \'shutdown %s\\n\' "$*" >>"$NCAAS_TEST_ARGS"\n',
    {
      mode: 0o755,
    },
  );
  const baseDir = path.join(dir, 'var-lib-ncaas');
  const logFile = path.join(dir, 'ncaas-worker.log');
  const script = path.join(dir, 'user-data');
  writeFileSync(
    script,
    buildUserData({ workerScript: readWorkerScript(), job: realisticJob, baseDir, logFile }),
  );
  const argsFile = path.join(dir, 'args');
  const result = spawnSync('/bin/sh', [script], {
    encoding: 'utf8',
    env: { PATH: bin, NCAAS_TEST_ARGS: argsFile, HOME: dir },
  });

  expect(result.status).toBe(1);
  expect(readFileSync(logFile, 'utf8')).toMatch(/the job cannot be reported: powering off/);
  expect(existsSync(argsFile) ? readFileSync(argsFile, 'utf8') : '').toBe('shutdown -h now\n');
  // A dev run's instance is not the worker's: its bootstrap leaves the launcher to the job file.
  expect(buildUserData({ workerScript: '#!/bin/sh\n', job: realisticJob, keepInstance: true })).not.toContain(
    'NCAAS_LAUNCHER',
  );
});

test('an EC2 worker powers off whatever its job data says (the machine decides, not the job)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ncaas-user-data-launcher-'));
  sandboxes.push(dir);
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(
    path.join(bin, 'shutdown'),
    '#!/bin/sh\nprintf \'shutdown %s\\n\' "$*" >>"$NCAAS_TEST_ARGS"\n',
    {
      mode: 0o755,
    },
  );
  // No AWS here: every call fails at once (the worker reports as far as it can, then powers off).
  writeFileSync(path.join(bin, 'aws'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  const logFile = path.join(dir, 'ncaas-worker.log');
  const argsFile = path.join(dir, 'args');
  for (const launcher of ['bogus', 'local', 'batch'] as const) {
    writeFileSync(argsFile, '');
    const script = path.join(dir, `user-data-${launcher}`);
    const job = { ...realisticJob, launcher: launcher as WorkerJob['launcher'] };
    writeFileSync(
      script,
      buildUserData({ workerScript: readEc2WorkerScript(), job, baseDir: path.join(dir, launcher), logFile }),
    );
    spawnSync('/bin/sh', [script], {
      encoding: 'utf8',
      env: {
        PATH: `${bin}:${process.env.PATH ?? ''}`,
        NCAAS_TEST_ARGS: argsFile,
        HOME: dir,
        AWS_EC2_METADATA_DISABLED: 'true',
        NCAAS_RETRY_ATTEMPTS: '1',
      },
      timeout: 60_000,
    });
    // Armed at once (a valid launcher) or not, it always ends with the power-off.
    expect(readFileSync(argsFile, 'utf8').trim().split('\n').pop()).toBe('shutdown -h now');
  }
});

describe('keepInstance (a dev run over Run Command): the worker leaves the instance running', () => {
  /** Runs the bootstrap with stub `timeout` and `sh` that record how they were called. */
  const runKept = (withTimeout: boolean, deadlineInSeconds: number) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ncaas-user-data-kept-'));
    sandboxes.push(dir);
    const bin = path.join(dir, 'bin');
    mkdirSync(bin);
    // Only what the bootstrap needs, so `command -v timeout` finds the stub or nothing.
    linkTools(bin, ['cat', 'mkdir', 'date']);
    const record =
      'printf \'%s\\n\' "${0##*/} $*" "poweroff=[${NCAAS_POWEROFF_COMMAND-unset}] arm=[${NCAAS_ARM_DEADLINE_COMMAND-unset}]" >>"$NCAAS_TEST_ARGS"\n';
    writeFileSync(path.join(bin, 'sh'), `#!/bin/sh\n${record}`, { mode: 0o755 });
    if (withTimeout) writeFileSync(path.join(bin, 'timeout'), `#!/bin/sh\n${record}`, { mode: 0o755 });
    const baseDir = path.join(dir, 'run');
    const job = { ...realisticJob, deadlineEpochSeconds: Math.floor(Date.now() / 1000) + deadlineInSeconds };
    const script = path.join(dir, 'bootstrap');
    writeFileSync(script, buildUserData({ workerScript: '#!/bin/sh\n', job, baseDir, keepInstance: true }));
    const argsFile = path.join(dir, 'args');
    const result = spawnSync('/bin/sh', [script], {
      encoding: 'utf8',
      env: { PATH: bin, NCAAS_TEST_ARGS: argsFile, HOME: dir },
    });
    return {
      job,
      status: result.status,
      stderr: result.stderr,
      baseDir,
      calls: existsSync(argsFile) ? readFileSync(argsFile, 'utf8').split('\n').filter(Boolean) : [],
    };
  };

  test('no power-off and no shutdown armed (both overrides exported empty); `timeout` stops it at the deadline', () => {
    const run = runKept(true, 3600);
    expect(run.status).toBe(0);
    expect(run.calls).toHaveLength(2);
    const match = /^timeout -k 60 (\d+) sh (\S+)\/run-job\.sh \S+\/job\.env$/.exec(run.calls[0]);
    expect(match).not.toBeNull();
    expect(Number(match?.[1])).toBeGreaterThanOrEqual(3590);
    expect(Number(match?.[1])).toBeLessThanOrEqual(3600);
    expect(match?.[2]).toBe(run.baseDir);
    expect(run.calls[1]).toBe('poweroff=[] arm=[]');
    expect(readFileSync(path.join(run.baseDir, 'job.env'), 'utf8')).toBe(encodeWorkerJob(run.job));
  });

  test('a deadline already past still gives the worker a minute to report TIMED_OUT', () => {
    const run = runKept(true, -300);
    expect(run.calls[0]).toMatch(/^timeout -k 60 60 sh /);
  });

  test('without `timeout` the worker runs anyway (Run Command executionTimeout is the limit) and says so', () => {
    const run = runKept(false, 3600);
    expect(run.status).toBe(0);
    expect(run.calls[0]).toMatch(/^sh \S+\/run-job\.sh \S+\/job\.env$/);
    expect(run.calls[1]).toBe('poweroff=[] arm=[]');
    expect(run.stderr).toMatch(/no timeout command on this instance/);
  });

  test('a boot worker keeps its log file and sets no override; a bad deadline is refused', () => {
    const boot = buildUserData({ workerScript: '#!/bin/sh\n', job: realisticJob });
    expect(boot).not.toContain('NCAAS_POWEROFF_COMMAND');
    expect(boot).not.toContain('timeout');
    expect(() =>
      buildUserData({
        workerScript: '#!/bin/sh\n',
        job: { ...realisticJob, deadlineEpochSeconds: 1.5 },
        keepInstance: true,
      }),
    ).toThrow(/deadline must be a positive whole number/);
  });
});
