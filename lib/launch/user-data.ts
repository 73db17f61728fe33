/**
 * What an EC2 worker receives in its user data (docs/DESIGN.md "Worker contract"): a short POSIX sh script
 * that cloud-init runs once, as root, at first boot. It writes the worker script and the job file
 * from quoted here-documents (nothing in them is expanded, whatever they contain) and runs the
 * worker. The job is data (`encodeWorkerJob`: `NAME=BASE64` lines), never shell text.
 *
 * On the wire the script is gzip-compressed (`packUserData`): the worker script alone is larger than
 * EC2's 16 KB user-data limit, which applies to the raw bytes before base64; cloud-init decompresses
 * gzip user data before acting on it, so the instance still runs the same script.
 *
 * `ncaas dev run` sends the same script (`keepInstance`) through SSM Run Command to the developer's
 * dev instance: the worker must then leave the instance running (no power-off, no `shutdown -h`
 * armed), so the job's deadline is enforced by `timeout` around the worker instead, and its output
 * stays on stdout/stderr, where Run Command captures it.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeWorkerJob, type WorkerJob } from '../job/worker-job';
import { compactShellScript } from './compact-script';

/** EC2's limit on user data, in bytes before base64. */
export const USER_DATA_LIMIT_BYTES = 16 * 1024;

export const WORKER_DIR = '/var/lib/ncaas';
export const WORKER_LOG_FILE = '/var/log/ncaas-worker.log';

const WORKER_DELIMITER = 'NCAAS_WORKER';
const JOB_DELIMITER = 'NCAAS_JOB';

export interface UserDataOptions {
  /** The worker script (worker/run-job.sh), written byte for byte. */
  readonly workerScript: string;
  readonly job: WorkerJob;
  /** Where the script and job file go. @default WORKER_DIR (a dev run: a folder of its own under it) */
  readonly baseDir?: string;
  /** Where the worker's output goes. Tests only: an instance always uses WORKER_LOG_FILE. */
  readonly logFile?: string;
  /**
   * The instance is not the worker's own (a dev run): the worker never powers it off nor arms its
   * shutdown (the NCAAS_POWEROFF_COMMAND and NCAAS_ARM_DEADLINE_COMMAND overrides, set empty), the
   * deadline stops the worker instead (`timeout`: SIGTERM, which the worker turns into a TIMED_OUT
   * report, then SIGKILL after DEADLINE_KILL_AFTER_SECONDS), and the output is not redirected.
   * @default false
   */
  readonly keepInstance?: boolean;
}

/** A dev run's worker gets this long after SIGTERM at the deadline before it is killed. */
export const DEADLINE_KILL_AFTER_SECONDS = 60;

/** The user-data script (text, before compression). */
export const buildUserData = (options: UserDataOptions): string => {
  const baseDir = safePath(options.baseDir ?? WORKER_DIR, 'baseDir');
  const logFile = safePath(options.logFile ?? WORKER_LOG_FILE, 'logFile');
  // A here-document always ends its text with a newline; a script without one gets it (harmless
  // for sh), so what lands on disk is exactly what is checked below.
  const workerScript = options.workerScript.endsWith('\n')
    ? options.workerScript
    : `${options.workerScript}\n`;
  const jobFile = encodeWorkerJob(options.job);
  assertHereDocument(workerScript, WORKER_DELIMITER, 'the worker script');
  assertHereDocument(jobFile, JOB_DELIMITER, 'the job file');
  if (!/^(?:NCAAS_JOB_[A-Z_]+=[A-Za-z0-9+/=]*\n)+$/.test(jobFile)) {
    throw new Error('the job file must be NAME=BASE64 lines only');
  }
  // Comments here would count against EC2's 16 KB: the one line names the file that explains the rest.
  return [
    '#!/bin/sh',
    '# ncaas worker bootstrap: lib/launch/user-data.ts',
    'set -eu',
    `base='${baseDir}'`,
    'umask 077',
    'mkdir -p "$base"',
    `cat >"$base/run-job.sh" <<'${WORKER_DELIMITER}'`,
    `${workerScript}${WORKER_DELIMITER}`,
    `cat >"$base/job.env" <<'${JOB_DELIMITER}'`,
    `${jobFile}${JOB_DELIMITER}`,
    ...(options.keepInstance
      ? keepInstanceRun(options.job.deadlineEpochSeconds)
      : [
          // The worker only learns its launcher from the job file: without this, a worker that fails
          // before reading it would act as `local` and leave the instance running.
          'NCAAS_LAUNCHER=ec2',
          'export NCAAS_LAUNCHER',
          // In the foreground: cloud-init waits, and the worker powers the instance off when it is done.
          `exec sh "$base/run-job.sh" "$base/job.env" >>'${logFile}' 2>&1`,
        ]),
    '',
  ].join('\n');
};

/** How a worker runs on an instance it must leave running (see UserDataOptions.keepInstance). */
const keepInstanceRun = (deadlineEpochSeconds: number): string[] => {
  if (!Number.isSafeInteger(deadlineEpochSeconds) || deadlineEpochSeconds <= 0) {
    throw new Error(
      `the job's deadline must be a positive whole number of seconds, got ${deadlineEpochSeconds}`,
    );
  }
  return [
    "# Not this worker's instance: no power-off at the end, no `shutdown -h` armed at the deadline.",
    "NCAAS_POWEROFF_COMMAND=''",
    "NCAAS_ARM_DEADLINE_COMMAND=''",
    'export NCAAS_POWEROFF_COMMAND NCAAS_ARM_DEADLINE_COMMAND',
    '# The deadline stops the worker instead: SIGTERM (it stops the analysis and reports TIMED_OUT),',
    '# then SIGKILL. At least a minute, so a deadline already past is still reported by the worker.',
    `seconds=$((${deadlineEpochSeconds} - $(date +%s)))`,
    'if [ "$seconds" -lt 60 ]; then seconds=60; fi',
    'if command -v timeout >/dev/null 2>&1; then',
    `  exec timeout -k ${DEADLINE_KILL_AFTER_SECONDS} "$seconds" sh "$base/run-job.sh" "$base/job.env"`,
    'fi',
    'echo "ncaas: no timeout command on this instance: the deadline is enforced by Run Command\'s executionTimeout only" >&2',
    'exec sh "$base/run-job.sh" "$base/job.env"',
  ];
};

/** The bytes EC2 receives (before base64): the script, gzip-compressed for cloud-init. */
export const packUserData = (script: string): Buffer => gzipSync(Buffer.from(script, 'utf8'), { level: 9 });

/**
 * The worker script: `worker/run-job.sh` in the repository (tests, local runtime, CLI), or a copy next
 * to the bundled Lambda (the stack copies it there when bundling).
 */
export const readWorkerScript = (): string => {
  const candidates = [
    path.join(__dirname, '..', '..', 'worker', 'run-job.sh'),
    path.join(__dirname, 'run-job.sh'),
  ];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (found === undefined) {
    throw new Error(`worker script not found: looked for ${candidates.join(' and ')}`);
  }
  return readFileSync(found, 'utf8');
};

let shippedWorkerScript: string | undefined;
let ec2WorkerScript: string | undefined;

/**
 * The worker script as the Batch launcher ships it: without comment and blank lines
 * (./compact-script.ts), a third of its compressed size, and without what only EC2 workers run.
 * Read and compacted once.
 */
export const readShippedWorkerScript = (): string =>
  (shippedWorkerScript ??= compactShellScript(readWorkerScript(), { dropEc2Only: true }));

/** The worker script for EC2 user data and dev runs: compacted, without the Batch stages. */
export const readEc2WorkerScript = (): string =>
  (ec2WorkerScript ??= compactShellScript(readWorkerScript(), { dropBatchOnly: true }));

/** No line of the text would end its here-document early, and sh can carry every byte of it. */
const assertHereDocument = (text: string, delimiter: string, what: string): void => {
  if (text.includes('\0')) throw new Error(`${what} contains a NUL byte, which sh cannot carry`);
  if (text.split('\n').some((line) => line === delimiter)) {
    throw new Error(`${what} contains a line "${delimiter}", which would end its here-document early`);
  }
};

/** Paths go into the script inside single quotes: absolute, and nothing a shell could read as syntax. */
const safePath = (value: string, name: string): string => {
  if (!/^\/[A-Za-z0-9._/-]*$/.test(value)) {
    throw new Error(
      `${name} must be an absolute path of letters, digits, . _ - and /, got ${JSON.stringify(value)}`,
    );
  }
  return value;
};
