/**
 * End-to-end tests through the CLI against the local runtime (docs/DESIGN.md "Launchers": local).
 *
 * One runtime per test file, on a temp folder, with a test blueprint from test/fixtures/e2e/. The
 * CLI is driven through the same lib/cli functions `ncaas` calls, with the runtime's client
 * environment (what `source <dir>/env.sh` exports) as its whole environment:
 *
 * ```ts
 * let e2e: E2eRuntime;
 * beforeAll(async () => { e2e = await startE2eRuntime({ blueprint: 'e2e' }); });
 * afterAll(() => e2e.stop());
 * const job = await e2e.submitJob({ group: 'labA', data: [e2e.file('a.txt', 'x')], config: ... });
 * expect((await e2e.cli.watch(job, { group: 'labA' }).done).code).toBe(0);
 * ```
 *
 * Everything is polled with generous bounds: the tests run on a loaded two-core machine.
 */
import { S3Client } from '@aws-sdk/client-s3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCancel } from '../../lib/cli/cancel-command';
import { runJobs } from '../../lib/cli/jobs-table';
import { runLogs } from '../../lib/cli/logs-command';
import { createOutput, type Output, type TextStream } from '../../lib/cli/output';
import { runResults } from '../../lib/cli/results-command';
import { resolveTarget } from '../../lib/cli/s3-target';
import { CliSession } from '../../lib/cli/session';
import { runStatus } from '../../lib/cli/status-command';
import { runSubmit } from '../../lib/cli/submit-command';
import { loadBlueprintForCommand } from '../../lib/cli/validate-command';
import { runWatch } from '../../lib/cli/watch';
import { startLocalRuntime, type LocalRuntime } from '../../local/local-runtime';

export const E2E_FIXTURES = path.join(__dirname, '..', 'fixtures', 'e2e');

/** What one CLI command printed, line by line (filled while it runs), and its exit code. */
export interface CliCall {
  readonly stdout: string[];
  readonly stderr: string[];
  readonly done: Promise<CliResult>;
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string[];
  readonly stderr: string[];
}

/** `status --json` / `jobs --json`, as far as the tests read it. */
export interface JobJson {
  readonly job: string;
  readonly group: string;
  readonly analysis: string;
  readonly state: string;
  readonly final: boolean;
  readonly ended: boolean;
  readonly summary: string;
  readonly cost: string | null;
  readonly refusal?: string;
  readonly datasets: readonly {
    readonly label: string;
    readonly input: string | null;
    readonly status: string;
    readonly reason: string | null;
    readonly exit_code: number | null;
    readonly instance: string | null;
    readonly cost_usd: number | 'unknown' | null;
    readonly cost_unknown_reason?: string;
  }[];
}

/** A stream that collects complete lines. */
const lineSink = (into: string[]): TextStream => {
  let partial = '';
  return {
    isTTY: false,
    write: (text: string) => {
      partial += text;
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      into.push(...parts);
      return true;
    },
  };
};

type Group = { readonly group?: string };

/** The `ncaas` commands, wired as bin/ncaas.ts wires them, with `env` as the whole environment. */
export class E2eCli {
  constructor(private readonly env: () => Readonly<Record<string, string>>) {}

  private invoke(work: (session: CliSession, output: Output) => Promise<number>): CliCall {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const output = createOutput({ stdout: lineSink(stdout), stderr: lineSink(stderr), env: {} });
    const session = new CliSession(output, this.env());
    const done = session.run(() => work(session, output)).then((code) => ({ code, stdout, stderr }));
    return { stdout, stderr, done };
  }

  submit(request: {
    readonly group: string;
    readonly data: readonly string[];
    readonly config: string;
    readonly timestamp?: string;
  }): Promise<CliResult> {
    return this.invoke((session, output) => {
      // As bin/ncaas.ts: the blueprint env.sh names (NCAAS_BLUEPRINT) makes the check the handler's.
      const blueprint = session.env.NCAAS_BLUEPRINT;
      const analysis = blueprint ? loadBlueprintForCommand(blueprint) : undefined;
      return runSubmit(session.s3({}), { ...request, ...(analysis ? { analysis } : {}) }, output);
    }).done;
  }

  /** Runs in the background: `stdout` fills while the job runs, `done` resolves when it ends. */
  watch(job: string, options: Group & { readonly intervalMs?: number } = {}): CliCall {
    return this.invoke((session, output) =>
      runWatch(session.s3({}), { job, intervalMs: options.intervalMs ?? 500, ...group(options) }, output),
    );
  }

  status(job: string, options: Group & { readonly json?: boolean } = {}): Promise<CliResult> {
    return this.invoke((session, output) =>
      runStatus(session.s3({}), { job, json: options.json === true, ...group(options) }, output),
    ).done;
  }

  async statusJson(job: string, options: Group = {}): Promise<JobJson> {
    const result = await this.status(job, { ...options, json: true });
    if (result.code !== 0)
      throw new Error(`status ${job} exited ${result.code}: ${result.stderr.join('\n')}`);
    return JSON.parse(result.stdout.join('\n')) as JobJson;
  }

  jobs(options: Group & { readonly json?: boolean; readonly state?: string } = {}): Promise<CliResult> {
    return this.invoke((session, output) =>
      runJobs(
        session.s3({}),
        {
          json: options.json === true,
          ...group(options),
          ...(options.state !== undefined ? { state: options.state } : {}),
        },
        output,
      ),
    ).done;
  }

  async jobsJson(options: Group = {}): Promise<JobJson[]> {
    const result = await this.jobs({ ...options, json: true });
    if (result.code !== 0) throw new Error(`jobs exited ${result.code}: ${result.stderr.join('\n')}`);
    return JSON.parse(result.stdout.join('\n')) as JobJson[];
  }

  logs(job: string, options: Group = {}): Promise<CliResult> {
    return this.invoke((session, output) => runLogs(session.s3({}), { job, ...group(options) }, output)).done;
  }

  results(job: string, options: Group & { readonly download?: string } = {}): Promise<CliResult> {
    return this.invoke((session, output) =>
      runResults(
        session.s3({}),
        { job, ...group(options), ...(options.download !== undefined ? { download: options.download } : {}) },
        output,
      ),
    ).done;
  }

  cancel(job: string, options: Group = {}): Promise<CliResult> {
    return this.invoke((session, output) => runCancel(session.s3({}), { job, ...group(options) }, output))
      .done;
  }
}

const group = (options: Group): Group => (options.group !== undefined ? { group: options.group } : {});

/** A worker the local launcher started, read from its folder (`<dir>/workers/*` holds job.env). */
export interface LaunchedWorker {
  readonly folder: string;
  readonly group: string;
  readonly jobId: string;
  readonly datasetKey: string;
}

export interface E2eOptions {
  /** A file in test/fixtures/e2e/ without `.json`, or (with a `/`) the path of a blueprint file. */
  readonly blueprint: string;
  /** Seconds between a worker's live status uploads (each one runs the AWS CLI). @default 2 */
  readonly statusIntervalSeconds?: number;
  /** How often the runtime's watchdog runs. @default 1000 */
  readonly watchdogIntervalMs?: number;
  /** Runs the sign-in emulator too. @default false */
  readonly signIn?: boolean;
  /** Serves the web console too. @default false */
  readonly console?: boolean;
}

export class E2eRuntime {
  /** Every line the runtime printed, across restarts. */
  readonly lines: string[] = [];
  readonly cli: E2eCli;
  private current: LocalRuntime | undefined;
  private fileCount = 0;

  private constructor(
    readonly dir: string,
    private readonly options: E2eOptions,
  ) {
    this.cli = new E2eCli(() => this.env);
  }

  static async start(options: E2eOptions): Promise<E2eRuntime> {
    const dir = fs.mkdtempSync(
      path.join(os.tmpdir(), `ncaas-e2e-${path.basename(options.blueprint, '.json')}-`),
    );
    const e2e = new E2eRuntime(dir, options);
    await e2e.startRuntime();
    return e2e;
  }

  get runtime(): LocalRuntime {
    if (!this.current) throw new Error('the local runtime is stopped');
    return this.current;
  }

  /** What env.sh exports: the CLI's whole environment. */
  get env(): Readonly<Record<string, string>> {
    return this.runtime.clientEnv;
  }

  /** The runtime's data folder (emulators, env.sh, workers). */
  get runtimeDir(): string {
    return path.join(this.dir, 'runtime');
  }

  /** A local file for `--data` / `--config`, in a folder of its own (names repeat across tests). */
  file(name: string, content: string): string {
    this.fileCount += 1;
    const folder = path.join(this.dir, 'files', String(this.fileCount));
    fs.mkdirSync(folder, { recursive: true });
    const file = path.join(folder, name);
    fs.writeFileSync(file, content);
    return file;
  }

  /** A new empty folder (downloads). */
  folder(name: string): string {
    const folder = path.join(this.dir, 'out', name);
    fs.mkdirSync(folder, { recursive: true });
    return folder;
  }

  /** An SDK client configured from the environment, as a lab member's own script would be. */
  s3(): S3Client {
    return resolveTarget({}, this.env).client;
  }

  /** `ncaas submit`; returns the job id it printed. */
  async submitJob(request: Parameters<E2eCli['submit']>[0]): Promise<string> {
    const result = await this.cli.submit(request);
    if (result.code !== 0) {
      throw new Error(`submit exited ${result.code}:\n${[...result.stdout, ...result.stderr].join('\n')}`);
    }
    return result.stdout[result.stdout.length - 1];
  }

  /** Launcher ids of the workers the runtime said it started for a job. */
  workersStarted(group: string, jobId: string): string[] {
    const prefix = `job ${group}/${jobId}: worker `;
    return this.lines
      .filter((l) => l.startsWith(prefix) && l.endsWith(' started'))
      .map((l) => l.slice(prefix.length, -' started'.length));
  }

  /** The workers the launcher started, from their folders (the launcher's own record). */
  launchedWorkers(): LaunchedWorker[] {
    const workers = path.join(this.runtimeDir, 'workers');
    if (!fs.existsSync(workers)) return [];
    return fs.readdirSync(workers).map((name) => {
      const folder = path.join(workers, name);
      const fields = new Map<string, string>();
      for (const line of fs.readFileSync(path.join(folder, 'job.env'), 'utf8').split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) fields.set(line.slice(0, eq), Buffer.from(line.slice(eq + 1), 'base64').toString('utf8'));
      }
      return {
        folder,
        group: fields.get('NCAAS_JOB_GROUP') ?? '',
        jobId: fields.get('NCAAS_JOB_JOB_ID') ?? '',
        datasetKey: fields.get('NCAAS_JOB_DATASET_KEY') ?? '',
      };
    });
  }

  /** The last lines the runtime printed, for failure messages. */
  recentLines(count = 30): string {
    return this.lines.slice(-count).join('\n');
  }

  /** Stops the runtime (running jobs become INTERRUPTED) and starts a new one on the same folder. */
  async restart(): Promise<void> {
    await this.stopRuntime();
    await this.startRuntime();
  }

  async stopRuntime(): Promise<void> {
    const runtime = this.current;
    this.current = undefined;
    await runtime?.stop();
  }

  /** Stops the runtime and removes the temp folder (kept when NCAAS_E2E_KEEP is set). */
  async stop(): Promise<void> {
    await this.stopRuntime();
    if (!process.env.NCAAS_E2E_KEEP) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private async startRuntime(): Promise<void> {
    this.current = await startLocalRuntime({
      blueprint: this.options.blueprint.includes('/')
        ? this.options.blueprint
        : path.join(E2E_FIXTURES, `${this.options.blueprint}.json`),
      dir: this.runtimeDir,
      watchdogIntervalMs: this.options.watchdogIntervalMs ?? 1000,
      statusIntervalSeconds: this.options.statusIntervalSeconds ?? 2,
      signIn: this.options.signIn === true,
      console: this.options.console === true,
      print: (line) => this.lines.push(line),
    });
  }
}

export const startE2eRuntime = (options: E2eOptions): Promise<E2eRuntime> => E2eRuntime.start(options);

/**
 * Polls `probe` until it returns something other than undefined or false; fails after `timeoutMs`
 * with `what`, the last error the probe threw (a poll that fails, e.g. a connection reset by the
 * emulator on a loaded machine, is tried again) and `context()` (e.g. the runtime's last lines).
 */
export const waitFor = async <T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: {
    readonly timeoutMs?: number;
    readonly intervalMs?: number;
    readonly context?: () => string;
  } = {},
): Promise<T> => {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const intervalMs = options.intervalMs ?? 250;
  const until = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > until) {
      const context = options.context?.();
      const failed = lastError === undefined ? '' : ` (last failure: ${String(lastError)})`;
      throw new Error(
        `timed out after ${timeoutMs / 1000} s waiting for ${what}${failed}${context ? `\n${context}` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
};

/** The pid in a local launcher id `local:<pid>:<ms>`. */
export const pidOfLauncherId = (launcherId: string): number => {
  const match = /^local:(\d+):\d+$/.exec(launcherId);
  if (!match) throw new Error(`not a local launcher id: ${launcherId}`);
  return Number(match[1]);
};

/** The process exists and is not a zombie (an exited child nobody reaped is not running). */
export const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

/** Running processes whose argv is exactly `argv` (from /proc; Linux). */
export const processesWithArgv = (argv: readonly string[]): number[] => {
  const wanted = `${argv.join('\0')}\0`;
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8') === wanted && isRunning(Number(entry)))
        found.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
};

/** Every file under `dir`, as sorted `/`-separated relative paths. */
export const filesIn = (dir: string): string[] => {
  const found: string[] = [];
  const walk = (folder: string, relative: string): void => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      const rel = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) walk(path.join(folder, entry.name), rel);
      else found.push(rel);
    }
  };
  walk(dir, '');
  return found.sort();
};

/** True when `expected` appear in `lines` in this order (each a substring of a later line). */
export const inOrder = (lines: readonly string[], expected: readonly string[]): boolean => {
  let at = 0;
  for (const want of expected) {
    const index = lines.findIndex((line, i) => i >= at && line.includes(want));
    if (index < 0) return false;
    at = index + 1;
  }
  return true;
};
