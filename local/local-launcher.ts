/**
 * The `local` launcher: the same worker script as on EC2, run as a child process in its own process
 * group. Power-off is the process exiting; the deadline kills the group; its AWS calls (the
 * worker's and the analysis's) go to the emulators through the environment and the `aws` wrapper.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeWorkerJob } from '../lib/job/worker-job';
import type { LaunchOutcome, LaunchRequest, Launcher } from '../lib/launch/launcher';
import type { RunningWorker } from '../lib/control/watchdog';
import type { WorkerIdentity } from '../lib/control/control-context';

export const REPOSITORY_ROOT = path.join(__dirname, '..');
export const WORKER_SCRIPT = path.join(REPOSITORY_ROOT, 'worker', 'run-job.sh');
/** The `aws` wrapper that adds `--endpoint-url` for CLIs too old to read AWS_ENDPOINT_URL. */
export const AWS_WRAPPER_DIR = path.join(REPOSITORY_ROOT, 'local', 'bin');
/** The `sitecustomize` that points botocore < 1.31.57 (it ignores AWS_ENDPOINT_URL) at the emulators. */
export const PYTHON_HOOK_DIR = path.join(REPOSITORY_ROOT, 'local', 'python');

/**
 * The environment of a local worker (and so of its analysis): `workerEnv` (emulator endpoints and
 * credentials), the `aws` wrapper first on PATH and the botocore hook first on PYTHONPATH. Whatever
 * `workerEnv` leaves out cannot reach AWS either: no shared config or credentials file (HOME is the
 * developer's, whose ~/.aws must stay unread), no instance metadata, no profile.
 */
export const localWorkerEnvironment = (
  workerEnv: Readonly<Record<string, string>>,
  folder: string,
  statusIntervalSeconds = 5,
): Record<string, string> => {
  const env: Record<string, string> = { ...workerEnv };
  delete env.AWS_PROFILE;
  delete env.AWS_DEFAULT_PROFILE;
  const pythonPath = env.PYTHONPATH ?? process.env.PYTHONPATH;
  return {
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    ...env,
    AWS_EC2_METADATA_DISABLED: 'true',
    PATH: `${AWS_WRAPPER_DIR}${path.delimiter}${process.env.PATH ?? ''}`,
    PYTHONPATH: pythonPath ? `${PYTHON_HOOK_DIR}${path.delimiter}${pythonPath}` : PYTHON_HOOK_DIR,
    HOME: process.env.HOME ?? folder,
    NCAAS_WORK_DIR: path.join(folder, 'work'),
    NCAAS_STATUS_INTERVAL: String(statusIntervalSeconds),
  };
};

export interface LocalLauncherProps {
  /** Where each worker gets a folder (job file, scratch, its own log). */
  readonly workersDir: string;
  /** The environment of every worker: emulator endpoints and credentials, and nothing real. */
  readonly workerEnv: Readonly<Record<string, string>>;
  /** Seconds between the worker's status uploads. @default 5 */
  readonly statusIntervalSeconds?: number;
  /** The blueprint's `Ec2.Spot`: workers run "on Spot" (and report so) unless a relaunch asks for on-demand. */
  readonly spot?: boolean;
  /** Which Spot workers Spot reclaims, and when: plays EC2's warning and termination. @default none */
  readonly spotReclaim?: (request: LaunchRequest) => LocalSpotReclaim | undefined;
  readonly now?: () => Date;
}

/** When Spot takes a local worker back: its notice `afterMs` after the launch, the kill `noticeMs` later. */
export interface LocalSpotReclaim {
  readonly afterMs: number;
  /** EC2 gives two minutes. @default 3000 */
  readonly noticeMs?: number;
}

interface Worker {
  readonly child: ChildProcess;
  readonly identity: WorkerIdentity;
  readonly launchedAt: Date;
  readonly exited: Promise<void>;
  deadlineTimer?: NodeJS.Timeout;
}

/**
 * Emits `state` (launcherId, 'running' | 'terminated', isoTime) as EC2 would through EventBridge, and
 * `spot-warning` (launcherId, action, isoTime) two "minutes" before a Spot reclaim it plays.
 */
export class LocalLauncher extends EventEmitter implements Launcher {
  readonly kind = 'local' as const;
  private readonly workers = new Map<string, Worker>();
  private readonly now: () => Date;

  constructor(private readonly props: LocalLauncherProps) {
    super();
    this.now = props.now ?? (() => new Date());
  }

  async launch(request: LaunchRequest): Promise<LaunchOutcome> {
    const { job } = request;
    const startedAt = this.now();
    const folder = path.join(
      this.props.workersDir,
      `${startedAt.getTime()}-${job.group}-${job.datasetIndex}`,
    );
    fs.mkdirSync(path.join(folder, 'work'), { recursive: true });
    const jobFile = path.join(folder, 'job.env');
    fs.writeFileSync(jobFile, encodeWorkerJob(job));
    const spot = this.props.spot === true && request.capacity !== 'on-demand';
    // The worker reads Spot's notice from this file, as it reads instance metadata on EC2.
    const spotNotice = path.join(folder, 'spot-notice.json');
    const log = fs.openSync(path.join(folder, 'worker.log'), 'a');
    // The worker names itself by its launcher id (the status's `instance`, like an EC2 instance id):
    // `exec` keeps the pid, which only exists once spawned. Paths are arguments, never shell text.
    const ms = startedAt.getTime();
    const naming = `NCAAS_INSTANCE_ID="local:$$:${ms}"; export NCAAS_INSTANCE_ID; exec sh "$0" "$1"`;
    const child = spawn('sh', ['-c', naming, WORKER_SCRIPT, jobFile], {
      cwd: folder,
      detached: true, // its own process group: the deadline and cancel stop the analysis too
      stdio: ['ignore', log, log],
      env: {
        ...localWorkerEnvironment(this.props.workerEnv, folder, this.props.statusIntervalSeconds),
        ...(spot ? { NCAAS_SPOT_NOTICE_FILE: spotNotice, NCAAS_SPOT_POLL_SECONDS: '1' } : {}),
      },
    });
    fs.closeSync(log);
    if (child.pid === undefined) {
      return { kind: 'failed', reason: 'the local worker process could not be started (is `sh` on PATH?)' };
    }
    const launcherId = `local:${child.pid}:${ms}`;
    const exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        const worker = this.workers.get(launcherId);
        if (worker?.deadlineTimer) clearTimeout(worker.deadlineTimer);
        this.workers.delete(launcherId);
        this.emit('state', launcherId, 'terminated', this.now().toISOString());
        resolve();
      }),
    );
    const worker: Worker = {
      child,
      identity: { group: job.group, jobId: job.jobId, datasetIndex: job.datasetIndex },
      launchedAt: startedAt,
      exited,
    };
    this.workers.set(launcherId, worker);
    const msToDeadline = job.deadlineEpochSeconds * 1000 - startedAt.getTime();
    // At the deadline: SIGTERM to the worker (it stops the analysis, reports and exits), then the
    // group is killed if it has not exited (the instance's hard power-off, on EC2).
    worker.deadlineTimer = setTimeout(
      () => {
        this.signal(child, 'SIGTERM');
        setTimeout(() => this.killGroup(child, 'SIGKILL'), 15_000).unref();
      },
      Math.max(0, msToDeadline),
    );
    // Like EC2's "running" event, after the launch call has returned and been recorded.
    setImmediate(() => {
      if (this.workers.has(launcherId)) this.emit('state', launcherId, 'running', this.now().toISOString());
    });
    const reclaim = spot ? this.props.spotReclaim?.(request) : undefined;
    if (reclaim) this.playSpotReclaim(launcherId, child, spotNotice, reclaim);
    return { kind: 'launched', launcherId, ...(spot ? { spot: true } : {}) };
  }

  /** EC2's notice (metadata and EventBridge), then the instance gone without a word: the group killed. */
  private playSpotReclaim(
    launcherId: string,
    child: ChildProcess,
    noticeFile: string,
    reclaim: LocalSpotReclaim,
  ): void {
    setTimeout(() => {
      if (!this.workers.has(launcherId)) return;
      const at = this.now();
      const noticeMs = reclaim.noticeMs ?? 3000;
      const action = { action: 'terminate', time: new Date(at.getTime() + noticeMs).toISOString() };
      fs.writeFileSync(noticeFile, JSON.stringify(action));
      this.emit('spot-warning', launcherId, 'terminate', at.toISOString());
      setTimeout(() => this.killGroup(child, 'SIGKILL'), noticeMs).unref();
    }, reclaim.afterMs).unref();
  }

  async terminate(launcherId: string): Promise<void> {
    const worker = this.workers.get(launcherId);
    if (!worker) return;
    // The worker traps SIGTERM: it stops the analysis (in its own group, under `timeout`) and reports.
    this.signal(worker.child, 'SIGTERM');
    // Time for its last uploads (results, logs, the status read back and written, the final report):
    // killed mid-upload on a loaded machine, a write could land after the runtime's own.
    const forced = setTimeout(() => this.killGroup(worker.child, 'SIGKILL'), 20_000);
    await worker.exited;
    clearTimeout(forced);
  }

  identify(launcherId: string): WorkerIdentity | undefined {
    return this.workers.get(launcherId)?.identity;
  }

  running(): RunningWorker[] {
    return [...this.workers].map(([launcherId, w]) => ({
      launcherId,
      launchedAt: w.launchedAt,
      state: 'running',
    }));
  }

  /** Stops every worker and waits for them to exit (the runtime is shutting down). */
  async terminateAll(): Promise<void> {
    await Promise.all([...this.workers.keys()].map((id) => this.terminate(id)));
  }

  private signal(child: ChildProcess, signal: NodeJS.Signals): void {
    if (child.exitCode === null) child.kill(signal);
  }

  private killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
    if (child.pid === undefined || child.exitCode !== null) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  }
}
