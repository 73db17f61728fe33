/**
 * AWS Batch on this machine, as far as the batch runtime uses it (lib/launch/batch-api.ts): a job
 * queue whose "containers" are child processes running the job definitions' own commands
 * (lib/launch/batch-stages.ts `stageCommand`), with dependencies, timeouts, TerminateJob and a
 * `Batch Job State Change`-shaped detail emitted on every state change, so the launcher and the
 * reconcile handler run unchanged. A local folder stands in for the analysis EFS: each group's
 * "access point" is `<efsDir>/<group>`.
 *
 * Job definitions are named `local:<group>:<stage>` (`localJobDefinitions`). Staging containers get
 * the runtime's worker environment (emulator endpoints and credentials); the analysis container gets
 * no AWS settings at all, as a Batch analysis image needs none (and an `aws` it runs finds no
 * credentials: empty config files, no metadata service). A fetch container (an `rclone:` dataset)
 * gets no AWS settings either, `rclone` from PATH, its own temp dir (TMPDIR, not the EFS stand-in)
 * and the group's rclone configuration in the variable Batch would fill from Secrets Manager, read
 * from a local file when the job starts (a missing file fails the job before it starts, as a secret
 * ECS cannot read does).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { GroupConfig } from '../lib/blueprint/analysis-config';
import type { BatchJobDefinitions } from '../lib/launch/batch-launcher';
import type { BatchApi, BatchJobStatus, BatchJobView, BatchSubmission } from '../lib/launch/batch-api';
import {
  BATCH_STAGES,
  type BatchStage,
  STAGE_ENV,
  stageCommand,
  stageDefinitionEnvironment,
} from '../lib/launch/batch-stages';

export const LOCAL_JOB_QUEUE = 'local:queue';
/** With a Spot blueprint: the Spot-first queue (LOCAL_JOB_QUEUE is then the on-demand one). */
export const LOCAL_SPOT_QUEUE = 'local:spot-queue';

/** What Spot does to a job of the Spot queue, locally: nothing (it runs), or one of these. */
export type SpotInterruption = 'no-capacity' | 'reclaimed';

/**
 * A local job's "CloudWatch log stream": the file its process writes stdout and stderr to, named
 * this way in its detail (./local-container-logs.ts reads it back).
 */
const LOG_STREAM_PREFIX = 'local file ';
export const localLogStreamName = (logFile: string): string => `${LOG_STREAM_PREFIX}${logFile}`;
/** The file of a stream named by `localLogStreamName`; undefined for any other name. */
export const localLogFileOf = (stream: string): string | undefined =>
  stream.startsWith(LOG_STREAM_PREFIX) ? stream.slice(LOG_STREAM_PREFIX.length) : undefined;

/** The job definitions of each group, as the local Batch names them (a fetch one with an rclone secret). */
export const localJobDefinitions = (
  groups: readonly Pick<GroupConfig, 'name' | 'rcloneConfigSecret'>[],
): Record<string, BatchJobDefinitions> =>
  Object.fromEntries(
    groups.map(({ name: group, rcloneConfigSecret }) => [
      group,
      {
        stageIn: `local:${group}:in`,
        analysis: `local:${group}:run`,
        stageOut: `local:${group}:out`,
        ...(rcloneConfigSecret !== undefined ? { fetch: `local:${group}:fetch` } : {}),
      },
    ]),
  );

/** Where the local fetch stage of a group reads the secret a deployed one gets from Secrets Manager. */
export interface LocalSecret {
  /** The secret as the blueprint names it (for messages). */
  readonly name: string;
  /** The local file holding its value; undefined: none was given. */
  readonly file?: string;
}

export interface LocalBatchProps {
  /** The EFS stand-in: `<efsDir>/<group>` is the group's access point root. */
  readonly efsDir: string;
  /** Each job's output and home folder. */
  readonly jobsDir: string;
  /** Environment of the staging containers (stage-in, stage-out): the emulators, nothing real. */
  readonly stagingEnv: Readonly<Record<string, string>>;
  /** Put first on the staging containers' PATH (the `aws` wrapper). */
  readonly stagingPathPrefix?: string;
  /** Between SIGTERM and SIGKILL when a job is stopped. @default 10 s */
  readonly stopGraceMs?: number;
  /**
   * Fault injection (tests): a reason when a job cannot start (an image that cannot be pulled, an
   * instance lost before the container ran). It ends FAILED without running, as Batch reports it.
   */
  readonly startFailure?: (submission: BatchSubmission) => string | undefined;
  /** Per group with an rclone configuration: the secret its fetch containers get. @default none */
  readonly rcloneSecrets?: Readonly<Record<string, LocalSecret>>;
  readonly now?: () => Date;
  /**
   * Spot as it can go wrong (there is always capacity locally). Asked for every job as it becomes
   * RUNNABLE; for a job of LOCAL_SPOT_QUEUE, `no-capacity` cancels it as its queue's time limit would
   * and `reclaimed` kills it once it runs, as a Spot reclaim does. @default Spot never fails
   */
  readonly spotInterruption?: (submission: BatchSubmission) => SpotInterruption | undefined;
}

interface LocalJob {
  readonly id: string;
  readonly submission: BatchSubmission;
  readonly group: string;
  readonly stage: BatchStage;
  readonly createdAt: number;
  status: BatchJobStatus;
  statusReason?: string;
  startedAt?: number;
  stoppedAt?: number;
  exitCode?: number;
  child?: ChildProcess;
  /** Why it is being stopped (TerminateJob, timeout): its statusReason once it exits. */
  stopping?: string;
  readonly logFile: string;
  ended?: Promise<void>;
}

/** Emits `job` (detail: a Batch JobDetail, the `detail` of a state-change event) on every change. */
export class LocalBatch extends EventEmitter implements BatchApi {
  private readonly jobs = new Map<string, LocalJob>();
  private counter = 0;
  private closed = false;
  private readonly now: () => Date;

  constructor(private readonly props: LocalBatchProps) {
    super();
    this.now = props.now ?? (() => new Date());
  }

  async submit(submission: BatchSubmission): Promise<string> {
    if (this.closed) throw new Error('the local Batch is shutting down: no new jobs');
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(submission.jobName)) {
      throw Object.assign(new Error(`invalid job name ${JSON.stringify(submission.jobName)}`), {
        name: 'ClientException',
      });
    }
    const match = /^local:([^:]+):([a-z]+)$/.exec(submission.jobDefinition);
    const stage = BATCH_STAGES.find((s) => s === match?.[2]);
    if (!match || !stage) {
      throw Object.assign(new Error(`no job definition ${submission.jobDefinition}`), {
        name: 'ClientException',
      });
    }
    for (const dependency of submission.dependsOn ?? []) {
      if (!this.jobs.has(dependency))
        throw Object.assign(new Error(`dependency ${dependency} not found`), { name: 'ClientException' });
    }
    this.counter += 1;
    const id = `local:batch:${process.pid}-${this.counter}-${Date.now().toString(36)}`;
    fs.mkdirSync(this.props.jobsDir, { recursive: true });
    const job: LocalJob = {
      id,
      submission,
      group: match[1],
      stage,
      createdAt: this.now().getTime(),
      status: 'SUBMITTED',
      logFile: path.join(this.props.jobsDir, `${id}.log`),
    };
    this.jobs.set(id, job);
    this.emitState(job);
    setImmediate(() => this.advance(job));
    return id;
  }

  async terminate(jobId: string, reason: string): Promise<void> {
    const job = this.jobs.get(jobId);
    if (!job) throw Object.assign(new Error(`job ${jobId} not found`), { name: 'ClientException' });
    if (job.status === 'SUCCEEDED' || job.status === 'FAILED') return;
    if (!job.child) {
      this.end(job, 'FAILED', reason);
      return;
    }
    this.stop(job, reason);
  }

  async describe(jobIds: readonly string[]): Promise<BatchJobView[]> {
    return jobIds.flatMap((id) => {
      const job = this.jobs.get(id);
      return job ? [this.view(job)] : [];
    });
  }

  /** Jobs not ended yet. */
  live(): {
    readonly id: string;
    readonly stage: BatchStage;
    readonly view: BatchJobView;
    readonly createdAt: Date;
  }[] {
    return [...this.jobs.values()]
      .filter((j) => j.status !== 'SUCCEEDED' && j.status !== 'FAILED')
      .map((j) => ({ id: j.id, stage: j.stage, view: this.view(j), createdAt: new Date(j.createdAt) }));
  }

  /** Takes no more jobs, stops every live one and waits for them to exit. */
  async close(reason: string): Promise<void> {
    this.closed = true;
    const live = [...this.jobs.values()].filter((j) => j.status !== 'SUCCEEDED' && j.status !== 'FAILED');
    for (const job of live) await this.terminate(job.id, reason);
    await Promise.all(live.map((j) => j.ended));
  }

  private advance(job: LocalJob): void {
    if (job.status !== 'SUBMITTED' && job.status !== 'PENDING') return;
    const dependencies = (job.submission.dependsOn ?? []).map((id) => this.jobs.get(id));
    if (dependencies.some((d) => d?.status === 'FAILED')) {
      this.end(job, 'FAILED', 'Dependent Job failed');
      return;
    }
    if (dependencies.some((d) => d?.status !== 'SUCCEEDED')) {
      if (job.status !== 'PENDING') this.setStatus(job, 'PENDING');
      return;
    }
    this.setStatus(job, 'RUNNABLE');
    const failure = this.props.startFailure?.(job.submission);
    if (failure !== undefined) {
      this.end(job, 'FAILED', failure);
      return;
    }
    const interruption = this.props.spotInterruption?.(job.submission);
    const spot = job.submission.jobQueue === LOCAL_SPOT_QUEUE ? interruption : undefined;
    if (spot === 'no-capacity') {
      // Batch's words when jobStateTimeLimitActions cancels a job waiting for capacity.
      this.end(
        job,
        'FAILED',
        'Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY',
      );
      return;
    }
    this.setStatus(job, 'STARTING');
    this.start(job);
    // Batch's words when the instance under a running job goes away.
    if (spot === 'reclaimed') this.stop(job, 'Host EC2 (instance i-0local5pot) terminated.');
  }

  private start(job: LocalJob): void {
    const { stage, submission } = job;
    const home = path.join(this.props.jobsDir, `${job.id}-home`);
    fs.mkdirSync(home, { recursive: true });
    const efsRoot = path.join(this.props.efsDir, job.group);
    fs.mkdirSync(efsRoot, { recursive: true });
    const systemPath = process.env.PATH ?? '/usr/bin:/bin';
    let secretEnv: Record<string, string> = {};
    if (stage === 'fetch') {
      const secret = this.readSecret(job.group);
      if (!secret.ok) {
        // As ECS fails a task whose secret it cannot read: before the container starts.
        this.end(job, 'FAILED', secret.reason);
        return;
      }
      secretEnv = { [STAGE_ENV.rcloneConfig]: secret.value };
    }
    const base: Record<string, string> =
      stage === 'run' || stage === 'fetch'
        ? {
            PATH: systemPath,
            LANG: process.env.LANG ?? 'C.UTF-8',
            // Nothing that reaches AWS: an `aws` in the analysis finds no credentials anywhere.
            AWS_CONFIG_FILE: path.join(home, 'aws-config'),
            AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'aws-credentials'),
            AWS_EC2_METADATA_DISABLED: 'true',
          }
        : {
            ...this.props.stagingEnv,
            PATH: [this.props.stagingPathPrefix, systemPath].filter(Boolean).join(path.delimiter),
          };
    if (stage === 'fetch') base.TMPDIR = home; // the container's own temp dir, never the EFS stand-in
    if (stage === 'run' || stage === 'fetch') {
      fs.writeFileSync(base.AWS_CONFIG_FILE, '');
      fs.writeFileSync(base.AWS_SHARED_CREDENTIALS_FILE, '');
    }
    const log = fs.openSync(job.logFile, 'a');
    // A command override (a clean-up on the analysis definition) replaces the definition's command.
    const [command, ...args] = submission.command ?? stageCommand(stage);
    const child = spawn(command, args, {
      cwd: home,
      detached: true, // a process group, like a container: stopping it stops the analysis too
      stdio: ['ignore', log, log],
      env: {
        ...base,
        HOME: home,
        ...stageDefinitionEnvironment(stage, efsRoot),
        ...submission.environment,
        ...secretEnv,
        AWS_BATCH_JOB_ID: job.id,
        AWS_BATCH_JOB_ATTEMPT: '1',
      },
    });
    fs.closeSync(log);
    job.child = child;
    job.ended = new Promise<void>((resolve) =>
      child.once('exit', (code, signal) => {
        if (timer) clearTimeout(timer);
        job.exitCode = code ?? (signal ? 128 + (signal === 'SIGKILL' ? 9 : 15) : 1);
        if (job.stopping) this.end(job, 'FAILED', job.stopping);
        else if (code === 0) this.end(job, 'SUCCEEDED', undefined);
        else this.end(job, 'FAILED', 'Essential container in task exited');
        resolve();
      }),
    );
    job.startedAt = this.now().getTime();
    this.setStatus(job, 'RUNNING');
    const timeout = submission.timeoutSeconds;
    const timer =
      timeout !== undefined
        ? setTimeout(
            () => this.stop(job, 'Job attempt duration exceeded timeout'),
            Math.max(60, timeout) * 1000,
          )
        : undefined;
    timer?.unref();
  }

  /** A group's rclone configuration, read as ECS reads a secret when a container starts. */
  private readSecret(group: string): { ok: true; value: string } | { ok: false; reason: string } {
    const secret = this.props.rcloneSecrets?.[group];
    const unable = 'ResourceInitializationError: unable to pull secrets or registry auth';
    if (!secret) return { ok: false, reason: `${unable}: group ${group} has no rclone configuration secret` };
    if (secret.file === undefined) {
      return {
        ok: false,
        reason: `${unable}: the local runtime was given no file for secret ${secret.name} (ncaas local --secret ${secret.name}=<file with the rclone.conf>)`,
      };
    }
    try {
      return { ok: true, value: fs.readFileSync(secret.file, 'utf8') };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      return {
        ok: false,
        reason: `${unable}: cannot read ${secret.file} for secret ${secret.name} (${code})`,
      };
    }
  }

  private stop(job: LocalJob, reason: string): void {
    const { child } = job;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    job.stopping ??= reason;
    this.signalGroup(child, 'SIGTERM');
    setTimeout(() => this.signalGroup(child, 'SIGKILL'), this.props.stopGraceMs ?? 10_000).unref();
  }

  private signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  }

  private end(job: LocalJob, status: 'SUCCEEDED' | 'FAILED', reason: string | undefined): void {
    if (job.status === 'SUCCEEDED' || job.status === 'FAILED') return;
    job.stoppedAt = this.now().getTime();
    if (reason !== undefined) job.statusReason = reason;
    job.ended ??= Promise.resolve();
    this.setStatus(job, status);
    for (const other of this.jobs.values()) {
      if (other.submission.dependsOn?.includes(job.id)) this.advance(other);
    }
  }

  private setStatus(job: LocalJob, status: BatchJobStatus): void {
    job.status = status;
    this.emitState(job);
  }

  private emitState(job: LocalJob): void {
    this.emit('job', this.detail(job), this.now().toISOString());
  }

  private view(job: LocalJob): BatchJobView {
    return {
      jobId: job.id,
      jobName: job.submission.jobName,
      jobQueue: job.submission.jobQueue,
      status: job.status,
      parameters: { ...job.submission.parameters },
      dependsOn: [...(job.submission.dependsOn ?? [])],
      ...(job.statusReason !== undefined ? { statusReason: job.statusReason } : {}),
      ...(job.startedAt !== undefined ? { startedAt: job.startedAt } : {}),
      ...(job.stoppedAt !== undefined ? { stoppedAt: job.stoppedAt } : {}),
      ...(job.exitCode !== undefined ? { exitCode: job.exitCode } : {}),
      ...(job.startedAt !== undefined ? { logStreamName: localLogStreamName(job.logFile) } : {}),
    };
  }

  /** The job as a `Batch Job State Change` event's detail (Batch's JobDetail shape). */
  private detail(job: LocalJob): Record<string, unknown> {
    const view = this.view(job);
    return {
      jobArn: `arn:local:batch:local:000000000000:job/${job.id}`,
      jobName: view.jobName,
      jobId: view.jobId,
      jobQueue: view.jobQueue,
      status: view.status,
      ...(view.statusReason !== undefined ? { statusReason: view.statusReason } : {}),
      createdAt: job.createdAt,
      ...(job.startedAt !== undefined ? { startedAt: job.startedAt } : {}),
      ...(job.stoppedAt !== undefined ? { stoppedAt: job.stoppedAt } : {}),
      dependsOn: view.dependsOn.map((jobId) => ({ jobId })),
      jobDefinition: job.submission.jobDefinition,
      parameters: view.parameters,
      container: {
        ...(view.exitCode !== undefined ? { exitCode: view.exitCode } : {}),
        ...(view.logStreamName !== undefined ? { logStreamName: view.logStreamName } : {}),
      },
    };
  }
}
