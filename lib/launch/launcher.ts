/**
 * One interface, three implementations (docs/DESIGN.md "Launchers"): ec2 (RunInstances), batch
 * (SubmitJob) and local (a child process). The launch service decides *whether* to launch (slots,
 * state); a launcher only knows *how*.
 */
import type { WorkerJob } from '../job/worker-job';

/**
 * Deliveries of one launch message: the queue's maxReceiveCount (lib/constructs/launch-queue.ts), the
 * launch handler's (lib/control/launch-batch.ts) and the local runtime's retries
 * (local/local-runtime.ts); the last delivery fails for good.
 */
export const MAX_RECEIVES = 5;

/** What the launch queue carries: a reference, never the job itself (the table is the truth). */
export interface LaunchMessage {
  readonly analysis: string;
  readonly group: string;
  readonly jobId: string;
  readonly datasetIndex: number;
  /** 1 for the first launch of this dataset; a relaunch after a lost instance counts up. */
  readonly attempt: number;
}

export interface LaunchRequest {
  readonly job: WorkerJob;
  readonly attempt: number;
  readonly instanceType: string;
  /** GB added to the root volume for the data (the config's `__dataset_size__`). */
  readonly datasetSizeGiB?: number;
  /**
   * `on-demand`: a relaunch after Spot capacity failed this dataset or reclaimed its worker (Batch
   * with Container.Spot, EC2 with Ec2.Spot). @default the runtime's first choice
   */
  readonly capacity?: 'on-demand';
  /** Batch: where the launch records its job folder on EFS (the job table), so it is always removed. */
  readonly jobFolders?: JobFolderRecorder;
}

/**
 * What a launcher that creates job folders on EFS (batch) tells the control plane
 * (lib/control/efs-folders.ts), so no path leaves a folder behind.
 */
export interface JobFolderRecorder {
  /** Before any container may create the folder. A launch whose folder cannot be recorded is retried. */
  folder(jobDir: string): Promise<void>;
  /** The Batch jobs that use the folder (the sweep checks none of them still runs before a clean-up). */
  jobs(jobDir: string, batchJobIds: readonly string[]): Promise<void>;
}

export type LaunchOutcome =
  /** Launched: `launcherId` is the instance id, Batch job id or `local:<pid>:<start ms>`. */
  | {
      readonly kind: 'launched';
      readonly launcherId: string;
      /** EC2: the root volume it asked for (gp3 GiB), which the dataset's cost counts. */
      readonly rootVolumeGiB?: number;
      /** EC2: the worker runs on Spot capacity (Ec2.Spot), and Spot may reclaim it. */
      readonly spot?: boolean;
      /** EC2: why a Spot-first launch runs on on-demand capacity instead (for the certificate). */
      readonly note?: string;
    }
  /**
   * Worth trying again later (throttling, capacity in every subnet, a transient API error): the
   * message goes back to the queue and is retried with backoff.
   */
  | { readonly kind: 'retry'; readonly reason: string }
  /** Will not work however often it is tried: the dataset is FAILED with `reason`, in plain words. */
  | { readonly kind: 'failed'; readonly reason: string };

export interface Launcher {
  readonly kind: 'ec2' | 'batch' | 'local';
  launch(request: LaunchRequest): Promise<LaunchOutcome>;
  /** Stops a worker whatever its state (cancel, deadline, orphan). Unknown ids are not an error. */
  terminate(launcherId: string): Promise<void>;
}

/**
 * Which launcher an analysis's control plane builds, if any: Batch when the runtime is batch and its
 * job queue is set, EC2 when the runtime is ec2 and the blueprint has its EC2 settings. Read without
 * loading a launcher (lib/control/aws-context.ts), and by the one that builds it (lib/control/aws-workers.ts).
 */
export const launcherKindOf = (
  runtime: string,
  has: { readonly batchJobQueue: boolean; readonly ec2Settings: boolean },
): 'ec2' | 'batch' | undefined =>
  runtime === 'batch' && has.batchJobQueue
    ? 'batch'
    : runtime === 'ec2' && has.ec2Settings
      ? 'ec2'
      : undefined;
