/**
 * The `batch` launcher (docs/DESIGN.md "Launchers": batch): one dataset is a stage-in job and an analysis
 * job that depends on it (through a fetch job for an `rclone:` dataset), all in the stack's job queue, with the group's own job definitions (a
 * job's access point and job role cannot be overridden per submission). The stage-out job is not
 * chained: Batch would fail it with a failed analysis, so the reconcile handler submits it once both
 * have ended (lib/control/batch-reconcile.ts), through `submitStageOut` here.
 *
 * The launcher id recorded for the dataset is the analysis job's id; `terminate` reads the stage-in
 * and fetch jobs' ids from its parameters and stops them all (TerminateJob: CancelJob does not stop
 * a running job).
 *
 * Every job is tagged with the analysis. The launcher and the reconcile handler need batch:SubmitJob
 * (the queue, the analysis's job definitions, `job/*`) and batch:TagResource with that tag; whoever
 * stops workers needs batch:TerminateJob on jobs tagged with the analysis, and batch:DescribeJobs
 * (ControlPlane grants them).
 */
import { errorMessage, errorName, isNamed, isRetryable as isAwsRetryable } from '../aws-errors';
import type { GroupConfig } from '../blueprint/analysis-config';
import type { WorkerJob } from '../job/worker-job';
import { parseRcloneDataset, rcloneTargetName } from '../submission/remote-source';
import { type BatchApi, type BatchJobView, type BatchSubmission, submitJobPayloadBytes } from './batch-api';
import {
  BATCH_ANALYSIS_TAG,
  batchJobDefinitionName,
  CLEANUP_BOOTSTRAP,
  CLEANUP_RESOURCES,
  CLEANUP_TIMEOUT_SECONDS,
  type CleanupImage,
  type BatchJobIdentity,
  batchJobFolder,
  batchJobName,
  identityParameters,
  JOB_PARAMETERS,
  packWorkerJob,
  packWorkerScript,
  randomNonce,
  STAGE_ENV,
  SUBMIT_JOB_PAYLOAD_LIMIT,
} from './batch-stages';
import type { LaunchOutcome, LaunchRequest, Launcher } from './launcher';
import { readShippedWorkerScript } from './user-data';

/** A group's job definitions (ARNs, or names locally). */
export interface BatchJobDefinitions {
  readonly stageIn: string;
  readonly analysis: string;
  readonly stageOut: string;
  /** Only for a group with an rclone configuration (RemoteSources): fetches `rclone:` datasets. */
  readonly fetch?: string;
}

export interface BatchLauncherProps {
  readonly api: BatchApi;
  /** The analysis this stack runs; every job launched must belong to it. */
  readonly analysis: string;
  /** Where stage-in and analysis jobs go: on-demand, or Spot first when `onDemandJobQueue` is set. */
  readonly jobQueue: string;
  /**
   * The on-demand queue behind a Spot-first `jobQueue`: relaunches after Spot capacity failed a
   * dataset, stage-outs and clean-ups (they must run, not wait for Spot). @default none: no Spot
   */
  readonly onDemandJobQueue?: string;
  /** Group name -> its job definitions. */
  readonly jobDefinitions: Readonly<Record<string, BatchJobDefinitions>>;
  /** The worker script as shipped. @default worker/run-job.sh compacted (readShippedWorkerScript) */
  readonly workerScript?: () => string;
  readonly now?: () => Date;
  /** The job folder's unique suffix. @default 8 random hex digits */
  readonly nonce?: () => string;
  /**
   * The analysis job is stopped this long before the deadline (at most half the time left), so
   * stage-out can still upload and report TIMED_OUT, as the EC2 worker does. @default 300
   */
  readonly uploadGraceSeconds?: number;
}

/** The job definitions of each group, by their fixed names (lib/constructs/batch-environment.ts). */
export const namedJobDefinitions = (
  analysis: string,
  groups: readonly Pick<GroupConfig, 'name' | 'rcloneConfigSecret'>[],
): Record<string, BatchJobDefinitions> =>
  Object.fromEntries(
    groups.map(({ name: group, rcloneConfigSecret }) => [
      group,
      {
        stageIn: batchJobDefinitionName(analysis, group, 'in'),
        analysis: batchJobDefinitionName(analysis, group, 'run'),
        stageOut: batchJobDefinitionName(analysis, group, 'out'),
        ...(rcloneConfigSecret !== undefined
          ? { fetch: batchJobDefinitionName(analysis, group, 'fetch') }
          : {}),
      },
    ]),
  );

/** What the reconcile handler asks of a stage-out. */
export interface StageOutRequest {
  readonly job: WorkerJob;
  readonly jobDir: string;
  readonly attempt: number;
  /** The analysis job of the launch: the status file's `instance`. */
  readonly analysisJobId?: string;
  /** A final state already decided (a cancel, the deadline, no capacity); else the exit code decides. */
  readonly status?: string;
  /** Why, when the job folder cannot tell. */
  readonly reason?: string;
  readonly logStreamName?: string;
}

/** What the control plane asks of a clean-up: remove one job folder, nothing else. */
export interface CleanupRequest {
  readonly job: Pick<WorkerJob, 'analysis' | 'group' | 'jobId' | 'datasetIndex'>;
  readonly jobDir: string;
  readonly attempt: number;
  /** Which job definition (image) runs it (lib/launch/batch-stages.ts CleanupImage). */
  readonly image: CleanupImage;
}

/** Why TerminateJob was called, as Batch records it in the job's statusReason. */
export const TERMINATE_REASON = 'ncaas: stopped by the control plane (cancel, deadline or orphan)';

export class BatchLauncher implements Launcher {
  readonly kind = 'batch' as const;
  private script: string | undefined;

  constructor(private readonly props: BatchLauncherProps) {}

  async launch(request: LaunchRequest): Promise<LaunchOutcome> {
    const { job, attempt } = request;
    const { analysis, jobDefinitions, api } = this.props;
    // Spot first unless this is the on-demand relaunch of a dataset Spot capacity failed.
    const spot = this.props.onDemandJobQueue !== undefined && request.capacity !== 'on-demand';
    const jobQueue = spot ? this.props.jobQueue : this.finishingQueue();
    if (job.analysis !== analysis) {
      return failed(`this launcher starts jobs of analysis "${analysis}", not "${job.analysis}"`);
    }
    if (!Object.hasOwn(jobDefinitions, job.group)) {
      const known = Object.keys(jobDefinitions).join(', ') || 'none';
      return failed(
        `group "${job.group}" has no Batch job definitions in this stack (groups with them: ${known}): add the group to the blueprint and redeploy`,
      );
    }
    const definitions = jobDefinitions[job.group];
    const remote = parseRcloneDataset(job.datasetKey);
    if (remote && definitions.fetch === undefined) {
      return failed(
        `dataset ${JSON.stringify(job.datasetKey)} is on an rclone remote, but group "${job.group}" has no fetch job definition in this stack: add the group to RemoteSources.Groups in the blueprint (with its RcloneConfigSecret) and redeploy`,
      );
    }
    const now = (this.props.now ?? (() => new Date()))().getTime();
    const remaining = Math.floor(job.deadlineEpochSeconds - now / 1000);
    if (remaining <= 0)
      return failed('the job reached its deadline before its Batch jobs could be submitted');
    const grace = Math.min(this.props.uploadGraceSeconds ?? 300, Math.floor(remaining / 2));

    const jobDir = batchJobFolder(job, attempt, (this.props.nonce ?? randomNonce)());
    const identity = (stage: BatchJobIdentity['stage'], extra: Partial<BatchJobIdentity> = {}) =>
      identityParameters({
        analysis,
        group: job.group,
        jobId: job.jobId,
        datasetIndex: job.datasetIndex,
        attempt,
        stage,
        jobDir,
        ...(spot ? { spot: true } : {}),
        ...extra,
      });

    let staging: Record<string, string>;
    try {
      staging = this.stagingEnvironment(job, jobDir);
    } catch (error) {
      return failed(`could not prepare the stage-in job: ${errorMessage(error)}`);
    }
    const stageIn: BatchSubmission = {
      jobName: batchJobName(jobDir, 'in'),
      jobQueue,
      jobDefinition: definitions.stageIn,
      parameters: identity('in'),
      environment: staging,
      timeoutSeconds: remaining,
      tags: this.tags(),
    };
    const tooLarge = payloadProblem(stageIn);
    if (tooLarge) return failed(tooLarge);

    // Recorded before the stage-in can create it: whatever happens next, the folder is known.
    try {
      await request.jobFolders?.folder(jobDir);
    } catch (error) {
      return { kind: 'retry', reason: `could not record the job folder ${jobDir}: ${errorMessage(error)}` };
    }
    // Which jobs use the folder only spares the sweep a wait (it also reads the dataset's launcher
    // id): a failure to record them must not fail a launch that happened.
    const recordJobs = (ids: string[]) =>
      request.jobFolders?.jobs(jobDir, ids).catch(() => undefined) ?? Promise.resolve();

    let stageInId: string;
    try {
      stageInId = await api.submit(stageIn);
    } catch (error) {
      return submitError('stage-in', error);
    }
    await recordJobs([stageInId]);
    // An rclone dataset: the fetch job copies it into the job folder between stage-in and the analysis.
    let fetchId: string | undefined;
    if (remote && definitions.fetch !== undefined) {
      try {
        fetchId = await api.submit({
          jobName: batchJobName(jobDir, 'fetch'),
          jobQueue,
          jobDefinition: definitions.fetch,
          dependsOn: [stageInId],
          parameters: identity('fetch', { stageInJobId: stageInId }),
          environment: {
            [STAGE_ENV.jobDir]: jobDir,
            [STAGE_ENV.rcloneSource]: remote.source,
            [STAGE_ENV.rcloneTarget]: rcloneTargetName(remote),
          },
          timeoutSeconds: remaining - grace,
          tags: this.tags(),
        });
      } catch (error) {
        await this.stopUnlaunched([stageInId], 'fetch');
        return submitError('fetch', error);
      }
      await recordJobs([fetchId]);
    }
    try {
      const analysisJobId = await api.submit({
        jobName: batchJobName(jobDir, 'run'),
        jobQueue,
        jobDefinition: definitions.analysis,
        dependsOn: [fetchId ?? stageInId],
        parameters: identity('run', {
          stageInJobId: stageInId,
          ...(fetchId !== undefined ? { fetchJobId: fetchId } : {}),
        }),
        environment: { [STAGE_ENV.jobDir]: jobDir },
        timeoutSeconds: remaining - grace,
        tags: this.tags(),
      });
      await recordJobs([analysisJobId]);
      return { kind: 'launched', launcherId: analysisJobId };
    } catch (error) {
      await this.stopUnlaunched(fetchId !== undefined ? [stageInId, fetchId] : [stageInId], 'analysis');
      return submitError('analysis', error);
    }
  }

  /**
   * The jobs of a launch whose next job could not be submitted must not run alone: stop them. The
   * stage-in's end event finds no analysis job of its launch and the reconcile handler removes
   * whatever it staged (a clean-up stage-out).
   */
  private async stopUnlaunched(jobIds: readonly string[], missing: string): Promise<void> {
    for (const id of jobIds) {
      await this.props.api
        .terminate(id, `ncaas: the ${missing} job of this launch could not be submitted`)
        .catch(() => undefined);
    }
  }

  /** Stops the analysis job, its stage-in and its fetch, whatever their state. Unknown ids are not an error. */
  async terminate(launcherId: string): Promise<void> {
    const ids = [launcherId];
    try {
      const [analysisJob] = await this.props.api.describe([launcherId]);
      const fetch = analysisJob?.parameters[JOB_PARAMETERS.fetch];
      const stageIn = analysisJob?.parameters[JOB_PARAMETERS.stageIn] ?? analysisJob?.dependsOn[0];
      if (fetch) ids.unshift(fetch);
      if (stageIn && stageIn !== fetch) ids.unshift(stageIn);
    } catch {
      // The analysis job is stopped below all the same.
    }
    for (const id of ids) {
      try {
        await this.props.api.terminate(id, TERMINATE_REASON);
      } catch (error) {
        if (!isUnknownJob(error)) throw new Error(`could not stop Batch job ${id}: ${errorMessage(error)}`);
      }
    }
  }

  /** The jobs Batch knows of these ids. */
  async describe(jobIds: readonly string[]): Promise<BatchJobView[]> {
    return this.props.api.describe(jobIds.filter((id) => id.length > 0));
  }

  /** Submits the stage-out job of a launch (not chained: the reconcile handler calls this). */
  async submitStageOut(request: StageOutRequest): Promise<string> {
    const { job, jobDir } = request;
    const definitions = this.props.jobDefinitions[job.group];
    if (!definitions) throw new Error(`group "${job.group}" has no Batch job definitions in this stack`);
    const environment: Record<string, string> = {
      ...this.stagingEnvironment(job, jobDir),
      ...(request.status ? { [STAGE_ENV.outStatus]: request.status } : {}),
      ...(request.reason ? { [STAGE_ENV.outReason]: request.reason } : {}),
      ...(request.logStreamName ? { [STAGE_ENV.logStream]: request.logStreamName } : {}),
      ...(request.analysisJobId ? { [STAGE_ENV.instance]: request.analysisJobId } : {}),
    };
    const submission: BatchSubmission = {
      jobName: batchJobName(jobDir, 'out'),
      jobQueue: this.finishingQueue(),
      jobDefinition: definitions.stageOut,
      parameters: stageOutParameters(job, request.attempt, jobDir),
      environment,
      tags: this.tags(),
    };
    const tooLarge = payloadProblem(submission);
    if (tooLarge) throw new Error(tooLarge);
    return this.props.api.submit(submission);
  }

  /**
   * With a Spot-first queue: launches a dataset again on the on-demand queue (after Spot capacity
   * failed it). Undefined without Spot.
   */
  get launchOnDemand(): ((request: LaunchRequest) => Promise<LaunchOutcome>) | undefined {
    if (this.props.onDemandJobQueue === undefined) return undefined;
    return (request) => this.launch({ ...request, capacity: 'on-demand' });
  }

  /** The queue of work that must run soon (stage-outs, clean-ups, on-demand relaunches). */
  private finishingQueue(): string {
    return this.props.onDemandJobQueue ?? this.props.jobQueue;
  }

  /**
   * Submits a clean-up of one job folder: on the staging definition in clean-up-only mode (Batch's
   * retries included), or on the analysis definition with its command replaced by `rm -rf` of the
   * folder and a small size, so a staging image that cannot run does not keep the folder on EFS.
   */
  async submitCleanup(request: CleanupRequest): Promise<string> {
    const { job, jobDir } = request;
    const definitions = this.props.jobDefinitions[job.group];
    if (!definitions) throw new Error(`group "${job.group}" has no Batch job definitions in this stack`);
    const onAnalysis = request.image === 'analysis';
    return this.props.api.submit({
      jobName: batchJobName(jobDir, 'out'),
      jobQueue: this.finishingQueue(),
      jobDefinition: onAnalysis ? definitions.analysis : definitions.stageOut,
      parameters: stageOutParameters(job, request.attempt, jobDir, { cleanupOnly: true }),
      environment: { [STAGE_ENV.jobDir]: jobDir, ...(onAnalysis ? {} : { [STAGE_ENV.cleanupOnly]: '1' }) },
      ...(onAnalysis ? { command: ['sh', '-c', CLEANUP_BOOTSTRAP], resources: CLEANUP_RESOURCES } : {}),
      timeoutSeconds: CLEANUP_TIMEOUT_SECONDS,
      tags: this.tags(),
    });
  }

  /** Stops one Batch job (a stage left running after its dataset ended). Unknown ids are not an error. */
  async stopJob(jobId: string, reason: string): Promise<void> {
    try {
      await this.props.api.terminate(jobId, reason);
    } catch (error) {
      if (!isUnknownJob(error)) throw new Error(`could not stop Batch job ${jobId}: ${errorMessage(error)}`);
    }
  }

  private tags(): Record<string, string> {
    return { [BATCH_ANALYSIS_TAG]: this.props.analysis };
  }

  private stagingEnvironment(job: WorkerJob, jobDir: string): Record<string, string> {
    this.script ??= packWorkerScript((this.props.workerScript ?? readShippedWorkerScript)());
    return {
      [STAGE_ENV.jobDir]: jobDir,
      [STAGE_ENV.script]: this.script,
      [STAGE_ENV.job]: packWorkerJob(job),
    };
  }
}

const failed = (reason: string): LaunchOutcome => ({ kind: 'failed', reason });

/** The identity of a stage-out (or clean-up) job of one launch of a dataset. */
const stageOutParameters = (
  job: Pick<WorkerJob, 'analysis' | 'group' | 'jobId' | 'datasetIndex'>,
  attempt: number,
  jobDir: string,
  extra: Pick<BatchJobIdentity, 'cleanupOnly'> = {},
): Record<string, string> =>
  identityParameters({
    analysis: job.analysis,
    group: job.group,
    jobId: job.jobId,
    datasetIndex: job.datasetIndex,
    attempt,
    stage: 'out',
    jobDir,
    ...extra,
  });

const payloadProblem = (submission: BatchSubmission): string | undefined => {
  const bytes = submitJobPayloadBytes(submission);
  return bytes > SUBMIT_JOB_PAYLOAD_LIMIT
    ? `the ${submission.jobName} job is ${bytes} bytes, over AWS Batch's SubmitJob limit of ${SUBMIT_JOB_PAYLOAD_LIMIT}: the worker script or the job (COMMAND, keys) is too large`
    : undefined;
};

/** A ClientException is Batch refusing the request (a bad queue, definition or request): never retried. */
const isRetryable = (error: unknown): boolean => !isNamed(error, 'ClientException') && isAwsRetryable(error);

const submitError = (stage: string, error: unknown): LaunchOutcome => {
  const detail = `${errorName(error) || 'Error'}: ${JSON.stringify(errorMessage(error).trim())}`;
  return isRetryable(error)
    ? { kind: 'retry', reason: `AWS Batch did not take the ${stage} job (${detail}); trying again later` }
    : failed(`AWS Batch refused the ${stage} job (${detail})`);
};

const isUnknownJob = (error: unknown): boolean =>
  isNamed(error, 'ClientException') && /not found|does not exist|invalid/i.test(errorMessage(error));
