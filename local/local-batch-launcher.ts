/**
 * The local runtime's launcher for a `batch` blueprint: the real BatchLauncher (its stages,
 * dependencies, job names, parameters) over the local Batch (./local-batch.ts), so a batch analysis
 * is tried end to end without AWS: stage-in, analysis and stage-out run as processes around a local
 * folder standing in for the analysis EFS, and their state changes go to the same reconcile code as
 * on AWS (lib/control/batch-reconcile.ts), which the runtime wires to the `batch-state` event.
 */
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import type { GroupConfig } from '../lib/blueprint/analysis-config';
import type { WorkerIdentity } from '../lib/control/control-context';
import type { RunningWorker } from '../lib/control/watchdog';
import type { ContainerLogSource } from '../lib/control/container-log';
import type { BatchJobView, BatchSubmission } from '../lib/launch/batch-api';
import { BatchLauncher } from '../lib/launch/batch-launcher';
import { identityOf } from '../lib/launch/batch-stages';
import type { LaunchOutcome, LaunchRequest, Launcher } from '../lib/launch/launcher';
import {
  LocalBatch,
  LOCAL_JOB_QUEUE,
  LOCAL_SPOT_QUEUE,
  type LocalBatchProps,
  localJobDefinitions,
  type SpotInterruption,
} from './local-batch';
import { LocalContainerLogs } from './local-container-logs';
import { AWS_WRAPPER_DIR } from './local-launcher';

export interface LocalBatchLauncherProps {
  readonly analysis: string;
  readonly groups: readonly GroupConfig[];
  /**
   * Secret (as the blueprint names it: RcloneConfigSecret) -> local file holding its value, for the
   * fetch stage of `rclone:` datasets. @default none: such datasets fail at their fetch, saying so
   */
  readonly secretFiles?: Readonly<Record<string, string>>;
  /** The runtime's folder: the EFS stand-in is `<dir>/efs`, the jobs' output `<dir>/batch-jobs`. */
  readonly dir: string;
  /** The staging containers' environment: emulator endpoints and credentials, and nothing real. */
  readonly workerEnv: Readonly<Record<string, string>>;
  /** Between SIGTERM and SIGKILL when a job is stopped. @default 10 s */
  readonly stopGraceMs?: number;
  /** The blueprint's `Container.Spot`: a Spot-first queue with the on-demand queue behind it. */
  readonly spot?: boolean;
  /** Spot failures to play (./local-batch.ts). @default none */
  readonly spotInterruption?: (submission: BatchSubmission) => SpotInterruption | undefined;
  /** Fault injection (tests): jobs that cannot start, and why (./local-batch.ts). */
  readonly startFailure?: LocalBatchProps['startFailure'];
}

/** Emits `batch-state` (detail, isoTime) as EventBridge delivers `Batch Job State Change`. */
export class LocalBatchLauncher extends EventEmitter implements Launcher {
  readonly kind = 'batch' as const;
  private readonly service: LocalBatch;
  /** What the reconcile code and the watchdog drive (stage-outs, clean-ups): the real launcher. */
  readonly stages: BatchLauncher;
  /** The containers' logs, as the reconcile code copies them into logs/ (CloudWatch Logs on AWS). */
  readonly containerLogs: ContainerLogSource;

  constructor(props: LocalBatchLauncherProps) {
    super();
    // Where each group's EFS stand-in is: `<efsDir>/<group>/jobs/<jobDir>` while a job runs.
    const efsDir = path.join(props.dir, 'efs');
    const jobsDir = path.join(props.dir, 'batch-jobs');
    this.containerLogs = new LocalContainerLogs(jobsDir);
    this.service = new LocalBatch({
      efsDir,
      jobsDir,
      stagingEnv: props.workerEnv,
      stagingPathPrefix: AWS_WRAPPER_DIR,
      rcloneSecrets: Object.fromEntries(
        props.groups.flatMap(({ name, rcloneConfigSecret: secret }) =>
          secret === undefined
            ? []
            : [
                [
                  name,
                  {
                    name: secret,
                    ...(props.secretFiles?.[secret] ? { file: props.secretFiles[secret] } : {}),
                  },
                ],
              ],
        ),
      ),
      ...(props.stopGraceMs !== undefined ? { stopGraceMs: props.stopGraceMs } : {}),
      ...(props.spotInterruption ? { spotInterruption: props.spotInterruption } : {}),
      ...(props.startFailure ? { startFailure: props.startFailure } : {}),
    });
    this.stages = new BatchLauncher({
      api: this.service,
      analysis: props.analysis,
      ...(props.spot
        ? { jobQueue: LOCAL_SPOT_QUEUE, onDemandJobQueue: LOCAL_JOB_QUEUE }
        : { jobQueue: LOCAL_JOB_QUEUE }),
      jobDefinitions: localJobDefinitions(props.groups),
    });
    this.service.on('job', (detail: unknown, time: string) => this.emit('batch-state', detail, time));
  }

  launch(request: LaunchRequest): Promise<LaunchOutcome> {
    return this.stages.launch(request);
  }

  terminate(launcherId: string): Promise<void> {
    return this.stages.terminate(launcherId);
  }

  /** The dataset of a live analysis job (the launcher id), from its parameters. */
  identify(launcherId: string): WorkerIdentity | undefined {
    const live = this.service.live().find((j) => j.id === launcherId);
    const identity = identityOf(live?.view.parameters);
    return identity
      ? { group: identity.group, jobId: identity.jobId, datasetIndex: identity.datasetIndex }
      : undefined;
  }

  /**
   * Live analysis jobs, as the watchdog lists workers. Stage-in and stage-out jobs are no dataset's
   * launcher id, and a long stage-out must never look like an orphan.
   */
  running(): RunningWorker[] {
    return this.service
      .live()
      .filter((j) => j.stage === 'run')
      .map((j) => ({ launcherId: j.id, launchedAt: j.createdAt, state: stateOf(j.view) }));
  }

  /** Any job not ended, stage-in and stage-out included (the runtime's `idle` waits for them). */
  busy(): boolean {
    return this.service.live().length > 0;
  }

  /** Stops every job and waits for them (the runtime is shutting down); no new job starts. */
  async terminateAll(): Promise<void> {
    await this.service.close('the local runtime was stopped');
  }
}

const stateOf = (view: BatchJobView): string => (view.status === 'RUNNING' ? 'running' : 'pending');
