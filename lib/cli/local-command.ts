/**
 * `ncaas local`: starts the local runtime (emulated S3 and DynamoDB, the same handlers, workers as
 * child processes), prints what a client shell needs, and stays in the foreground until SIGINT or
 * SIGTERM, then stops it. The runtime is passed in: the CLI loads it only for this command, so the
 * other commands never load the emulators. The runtime holds its folder with a pid file
 * (local/local-dir.ts): a second `ncaas local` on it is refused, and `ncaas local stop` ends it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  DEFAULT_LOCAL_DIR,
  isRuntimeProcess,
  LocalRuntimeRunning,
  pidFileOf,
  PID_FILE,
  readPidFile,
} from '../../local/local-dir';
import type { LocalRuntime, LocalRuntimeOptions } from '../../local/local-runtime-api';
import { CliError, EXIT } from './errors';
import type { Output } from './output';

export type StartLocalRuntime = (options: LocalRuntimeOptions) => Promise<LocalRuntime>;

/** Resolves with the signal's name on the first SIGINT or SIGTERM. */
export const nextStopSignal = (): Promise<string> =>
  new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });

/** `--port` as a TCP port (0: any free one). */
export const parsePort = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new CliError(`--port "${value}" is not a port number (0 to 65535; 0 picks a free one)`, EXIT.usage);
  }
  return port;
};

/**
 * `--secret NAME=FILE` (repeatable): a secret the blueprint names (RemoteSources ...
 * RcloneConfigSecret), read locally from FILE (relative to the current directory) instead of
 * Secrets Manager. The name is everything before the first `=`.
 */
export const parseSecretFlags = (values: readonly string[] | undefined): Record<string, string> => {
  const files: Record<string, string> = {};
  for (const value of values ?? []) {
    const equals = value.indexOf('=');
    const name = equals > 0 ? value.slice(0, equals) : '';
    const file = equals > 0 ? value.slice(equals + 1) : '';
    if (name.trim() === '' || file.trim() === '') {
      throw new CliError(
        `--secret "${value}" is not NAME=FILE: give the secret's name as the blueprint writes it (RcloneConfigSecret), "=", and a local file holding its value, e.g. --secret ncaas/rclone/labA=./rclone.conf`,
        EXIT.usage,
      );
    }
    if (Object.hasOwn(files, name)) {
      throw new CliError(`--secret names ${name} twice: give each secret once`, EXIT.usage);
    }
    files[name] = path.resolve(file);
  }
  return files;
};

/** Single-quoted for a POSIX shell. */
const shellQuote = (value: string): string => `'${value.replace(/'/g, `'\\''`)}'`;

export interface RunLocalOptions {
  readonly blueprint: string;
  readonly port?: number;
  readonly dir?: string;
  /** Secret name -> local file (`--secret`). */
  readonly secretFiles?: Readonly<Record<string, string>>;
  /** Run the sign-in emulator (`--no-sign-in` turns it off). @default true */
  readonly signIn?: boolean;
  /** Serve the web console (`--no-console` turns it off). @default true */
  readonly console?: boolean;
}

export const runLocal = async (
  options: RunLocalOptions,
  output: Output,
  start: StartLocalRuntime,
  waitForStop: () => Promise<string> = nextStopSignal,
): Promise<number> => {
  // Listen first: a signal during start-up still stops the runtime once it is up.
  const stopRequested = waitForStop();
  let runtime: LocalRuntime;
  try {
    runtime = await start({
      blueprint: options.blueprint,
      ...(options.port !== undefined ? { port: options.port } : {}),
      ...(options.dir !== undefined ? { dir: options.dir } : {}),
      ...(options.secretFiles && Object.keys(options.secretFiles).length > 0
        ? { secretFiles: options.secretFiles }
        : {}),
      signIn: options.signIn ?? true,
      console: options.console ?? true,
      print: (line) => output.err(line),
    });
  } catch (error) {
    if (error instanceof LocalRuntimeRunning) throw new CliError(error.message, EXIT.failed);
    throw error;
  }
  const { paint } = output;
  output.out(
    `${paint.green('ncaas local')}: analysis ${runtime.config.name}, bucket ${runtime.bucket}, S3 at ${runtime.s3Endpoint}, DynamoDB at ${runtime.dynamoDbEndpoint}`,
  );
  output.out(
    `In another shell: ${paint.bold(`source ${shellQuote(runtime.envFile)}`)}   (${runtime.envFile})`,
  );
  for (const [name, value] of Object.entries(runtime.clientEnv))
    output.out(`export ${name}=${shellQuote(value)}`);
  if (runtime.consoleUrl !== undefined) {
    output.out(`Web console: ${paint.bold(runtime.consoleUrl)}`);
  }
  if (runtime.signIn !== undefined) {
    output.out(
      `Sign-in: ncaas users add <email> --group <group>, then ncaas login --email <email> (invitations are printed here and kept in ${runtime.signIn.invitationsFile})`,
    );
  }
  output.out(
    `Then e.g.: ncaas submit --group <group> --data <file> --config <file>; ncaas jobs. Ctrl-C (or ncaas local stop${options.dir !== undefined ? ` --dir ${shellQuote(options.dir)}` : ''}) stops.`,
  );
  const signal = await stopRequested;
  output.err(`${signal}: stopping the local runtime (running jobs become INTERRUPTED)...`);
  await runtime.stop();
  output.err('stopped');
  return EXIT.ok;
};

export interface LocalStopOptions {
  /** The runtime's folder. @default .ncaas-local */
  readonly dir?: string;
  /** How long to wait for it to exit (it first stops its workers). @default 120 s */
  readonly timeoutMs?: number;
  readonly pollMs?: number;
}

/**
 * `ncaas local stop [--dir DIR]`: SIGTERM to the runtime that holds DIR (its pid file), waits until
 * the process has exited, says so. No runtime there (no pid file, or one whose process has ended,
 * which is removed): says it is not running, exit 0 — the runtime is stopped either way.
 */
export const runLocalStop = async (options: LocalStopOptions, output: Output): Promise<number> => {
  const dir = path.resolve(options.dir ?? DEFAULT_LOCAL_DIR);
  const file = pidFileOf(dir);
  const pid = readPidFile(dir);
  if (pid === undefined || !isRuntimeProcess(pid)) {
    const stale = fs.existsSync(file);
    if (stale) fs.rmSync(file, { force: true });
    output.out(
      `ncaas local is not running on ${dir}` +
        (pid !== undefined
          ? ` (its pid file named pid ${pid}, which has ended; removed it)`
          : stale
            ? ` (removed a ${PID_FILE} that held no pid)`
            : ''),
    );
    return EXIT.ok;
  }
  output.err(`stopping ncaas local (pid ${pid}) on ${dir}: its running jobs become INTERRUPTED...`);
  try {
    process.kill(pid, 'SIGTERM');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EPERM') throw new CliError(`not allowed to stop pid ${pid} (another user's process?)`);
    if (code !== 'ESRCH') throw error;
  }
  const timeoutMs = options.timeoutMs ?? 120_000;
  const until = Date.now() + timeoutMs;
  while (isRuntimeProcess(pid)) {
    if (Date.now() > until) {
      throw new CliError(
        `ncaas local (pid ${pid}) did not exit within ${Math.round(timeoutMs / 1000)} s of SIGTERM: see its output; \`kill -9 ${pid}\` ends it at once`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 100));
  }
  // It removes its pid file as it stops; not if it was killed meanwhile.
  if (readPidFile(dir) === pid) fs.rmSync(file, { force: true });
  output.out(`ncaas local (pid ${pid}) on ${dir} stopped`);
  return EXIT.ok;
};
