/**
 * AWS Batch as the reconcile handler and the watchdog see it (lib/control/batch-reconcile.ts,
 * lib/control/efs-folders.ts): jobs it can describe, and the stage-outs, clean-ups and stops it was
 * asked for, recorded as the real launcher receives them (its SubmitJob shapes are tested in
 * test/launch/batch-launcher.test.ts).
 */
import type { BatchStageControl } from '../../lib/control/batch-reconcile';
import {
  type ContainerLogLine,
  type ContainerLogSource,
  LogStreamNotFound,
} from '../../lib/control/container-log';
import type { BatchJobStatus, BatchJobView } from '../../lib/launch/batch-api';
import type { CleanupRequest, StageOutRequest } from '../../lib/launch/batch-launcher';
import { type BatchJobIdentity, identityParameters } from '../../lib/launch/batch-stages';
import fixture from '../fixtures/batch-job-state-change.json';
import type { LaunchOutcome, LaunchRequest } from '../../lib/launch/launcher';

export class FakeBatch implements BatchStageControl {
  readonly jobs = new Map<string, BatchJobView>();
  readonly stageOuts: StageOutRequest[] = [];
  readonly cleanups: CleanupRequest[] = [];
  readonly stopped: string[] = [];
  /** The reason each stop gave Batch (its statusReason), by job id. */
  readonly stopReasons = new Map<string, string>();
  failNextSubmit = false;
  /** Runs as each stage-out is submitted (what the user could read by then). */
  onSubmit: () => Promise<void> = async () => undefined;
  failNextCleanup = false;

  async describe(jobIds: readonly string[]): Promise<BatchJobView[]> {
    return jobIds.flatMap((id) => (this.jobs.has(id) ? [this.jobs.get(id) as BatchJobView] : []));
  }

  /** Relaunches on on-demand capacity (a Spot-first queue): set `onDemand` to offer them. */
  onDemand: LaunchOutcome[] | undefined;
  readonly relaunches: LaunchRequest[] = [];

  get launchOnDemand(): ((request: LaunchRequest) => Promise<LaunchOutcome>) | undefined {
    const outcomes = this.onDemand;
    if (!outcomes) return undefined;
    return async (request) => {
      this.relaunches.push(request);
      return outcomes.shift() ?? { kind: 'launched', launcherId: `od-run-${this.relaunches.length}` };
    };
  }

  async submitStageOut(request: StageOutRequest): Promise<string> {
    if (this.failNextSubmit) {
      this.failNextSubmit = false;
      throw new Error('TooManyRequestsException');
    }
    await this.onSubmit();
    this.stageOuts.push(request);
    return `out-${this.stageOuts.length}`;
  }

  async submitCleanup(request: CleanupRequest): Promise<string> {
    if (this.failNextCleanup) {
      this.failNextCleanup = false;
      throw new Error('TooManyRequestsException');
    }
    this.cleanups.push(request);
    return `clean-${this.cleanups.length}`;
  }

  async stopJob(jobId: string, reason: string): Promise<void> {
    this.stopped.push(jobId);
    this.stopReasons.set(jobId, reason);
  }

  /** A job of one launch as Batch reports it; DescribeJobs returns it from now on. */
  set(
    identity: Omit<BatchJobIdentity, 'attempt' | 'datasetIndex'> & { datasetIndex?: number },
    id: string,
    status: BatchJobStatus,
    extra: Partial<BatchJobView> = {},
  ): BatchJobView {
    const view: BatchJobView = {
      jobId: id,
      jobName: `${identity.jobDir}-${identity.stage}`,
      status,
      parameters: identityParameters({ datasetIndex: 0, attempt: 1, ...identity }),
      dependsOn: identity.stageInJobId ? [identity.stageInJobId] : [],
      ...extra,
    };
    this.jobs.set(id, view);
    return view;
  }
}

/** The containers' log streams (CloudWatch Logs on AWS): lines by stream, every read recorded. */
export class FakeLogs implements ContainerLogSource {
  readonly streams = new Map<string, ContainerLogLine[]>();
  readonly reads: string[] = [];
  failWith: Error | undefined;

  where(stream: string): string {
    return `the fake log store, stream ${stream}`;
  }

  async *read(stream: string): AsyncIterable<readonly ContainerLogLine[]> {
    this.reads.push(stream);
    if (this.failWith) throw this.failWith;
    const lines = this.streams.get(stream);
    if (!lines) throw new LogStreamNotFound(`no stream ${stream}`);
    yield lines;
  }
}

/** The event detail Batch sends for a view (the fixture's shape). */
export const detailOf = (view: BatchJobView): Record<string, unknown> => ({
  ...fixture.detail,
  jobId: view.jobId,
  jobName: view.jobName,
  status: view.status,
  statusReason: view.statusReason,
  parameters: view.parameters,
  dependsOn: view.dependsOn.map((jobId) => ({ jobId })),
  startedAt: view.startedAt,
  stoppedAt: view.stoppedAt,
  attempts: [],
  container: {
    ...(view.exitCode !== undefined ? { exitCode: view.exitCode } : {}),
    ...(view.logStreamName ? { logStreamName: view.logStreamName } : {}),
  },
});
