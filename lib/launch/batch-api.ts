/**
 * The part of AWS Batch the batch runtime uses: SubmitJob, TerminateJob, DescribeJobs, and the
 * job details that DescribeJobs returns and `Batch Job State Change` events carry (the same shape).
 * `AwsBatchApi` is the real service; the local runtime implements the same interface with processes
 * (local/local-batch.ts), so the launcher and the reconcile handler run the same code on both.
 */
import {
  type BatchClient,
  DescribeJobsCommand,
  SubmitJobCommand,
  type SubmitJobCommandInput,
  TerminateJobCommand,
} from '@aws-sdk/client-batch';

export const BATCH_JOB_STATUSES = [
  'SUBMITTED',
  'PENDING',
  'RUNNABLE',
  'STARTING',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
] as const;
export type BatchJobStatus = (typeof BATCH_JOB_STATUSES)[number];

export const isEndedBatchStatus = (status: BatchJobStatus): boolean =>
  status === 'SUCCEEDED' || status === 'FAILED';

/** One SubmitJob, as far as ncaas uses it. */
export interface BatchSubmission {
  readonly jobName: string;
  readonly jobQueue: string;
  readonly jobDefinition: string;
  /** Ids of jobs that must succeed first (Batch fails this job if one of them fails). */
  readonly dependsOn?: readonly string[];
  readonly parameters: Readonly<Record<string, string>>;
  /** Added to the job definition's environment (containerOverrides). */
  readonly environment: Readonly<Record<string, string>>;
  /** Replaces the job definition's command (containerOverrides; a clean-up on another image). */
  readonly command?: readonly string[];
  /** Replaces the job definition's vCPUs and memory (containerOverrides.resourceRequirements). */
  readonly resources?: { readonly vcpus: number; readonly memoryMiB: number };
  /** Batch stops the attempt after this (at least 60). @default the job definition's timeout */
  readonly timeoutSeconds?: number;
  /** Tags of the job (the control plane may stop only jobs tagged with its analysis). */
  readonly tags?: Readonly<Record<string, string>>;
}

/** What ncaas reads of a job (DescribeJobs, or the detail of a state-change event). */
export interface BatchJobView {
  readonly jobId: string;
  readonly jobName: string;
  readonly jobQueue?: string;
  readonly status: BatchJobStatus;
  readonly statusReason?: string;
  readonly parameters: Readonly<Record<string, string>>;
  /** Set once the job reached RUNNING: a job that never started never ran its container. */
  readonly startedAt?: number;
  /** When it ended (epoch ms), once it has. */
  readonly stoppedAt?: number;
  /** The container's exit code, when it ran to an exit. */
  readonly exitCode?: number;
  /** CloudWatch Logs stream of the container (log group /aws/batch/job by default). */
  readonly logStreamName?: string;
  readonly dependsOn: readonly string[];
}

export interface BatchApi {
  /** Submits a job; resolves to its id. Throws the service's error as it is. */
  submit(submission: BatchSubmission): Promise<string>;
  /** Stops a job in any state (CancelJob would only stop jobs not yet running). */
  terminate(jobId: string, reason: string): Promise<void>;
  /** The jobs Batch still knows (it forgets them some days after they end). */
  describe(jobIds: readonly string[]): Promise<BatchJobView[]>;
}

/** The SubmitJob request of a submission, exactly as sent. */
export const submitJobInput = (submission: BatchSubmission): SubmitJobCommandInput => ({
  jobName: submission.jobName,
  jobQueue: submission.jobQueue,
  jobDefinition: submission.jobDefinition,
  ...(submission.dependsOn && submission.dependsOn.length > 0
    ? { dependsOn: submission.dependsOn.map((jobId) => ({ jobId })) }
    : {}),
  parameters: { ...submission.parameters },
  containerOverrides: {
    environment: Object.entries(submission.environment).map(([name, value]) => ({ name, value })),
    ...(submission.command ? { command: [...submission.command] } : {}),
    ...(submission.resources
      ? {
          resourceRequirements: [
            { type: 'VCPU' as const, value: String(submission.resources.vcpus) },
            { type: 'MEMORY' as const, value: String(submission.resources.memoryMiB) },
          ],
        }
      : {}),
  },
  ...(submission.timeoutSeconds !== undefined
    ? { timeout: { attemptDurationSeconds: Math.max(60, Math.ceil(submission.timeoutSeconds)) } }
    : {}),
  ...(submission.tags ? { tags: { ...submission.tags } } : {}),
});

/** Bytes of the request Batch counts against its 30 KiB job payload limit (the JSON body). */
export const submitJobPayloadBytes = (submission: BatchSubmission): number =>
  Buffer.byteLength(JSON.stringify(submitJobInput(submission)), 'utf8');

export class AwsBatchApi implements BatchApi {
  constructor(private readonly client: BatchClient) {}

  async submit(submission: BatchSubmission): Promise<string> {
    const out = await this.client.send(new SubmitJobCommand(submitJobInput(submission)));
    if (!out.jobId) throw new Error(`SubmitJob answered without a job id for ${submission.jobName}`);
    return out.jobId;
  }

  async terminate(jobId: string, reason: string): Promise<void> {
    await this.client.send(new TerminateJobCommand({ jobId, reason }));
  }

  async describe(jobIds: readonly string[]): Promise<BatchJobView[]> {
    if (jobIds.length === 0) return [];
    const out = await this.client.send(new DescribeJobsCommand({ jobs: [...jobIds] }));
    return (out.jobs ?? []).flatMap((job) => {
      const view = jobViewOf(job);
      return view ? [view] : [];
    });
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const count = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;

/**
 * A job's view from a DescribeJobs job or an event's `detail` (both are Batch's JobDetail); undefined
 * when it is not one. The exit code and log stream come from the job's container, else its last attempt.
 */
export const jobViewOf = (detail: unknown): BatchJobView | undefined => {
  if (!isRecord(detail)) return undefined;
  const jobId = text(detail.jobId);
  const jobName = text(detail.jobName);
  const status = BATCH_JOB_STATUSES.find((s) => s === detail.status);
  if (!jobId || jobName === undefined || !status) return undefined;
  const attempts = Array.isArray(detail.attempts) ? detail.attempts.filter(isRecord) : [];
  const lastAttempt = attempts.at(-1);
  const container = isRecord(detail.container) ? detail.container : {};
  const attemptContainer = lastAttempt && isRecord(lastAttempt.container) ? lastAttempt.container : {};
  const parameters = isRecord(detail.parameters)
    ? Object.fromEntries(
        Object.entries(detail.parameters).filter(
          (entry): entry is [string, string] => typeof entry[1] === 'string',
        ),
      )
    : {};
  const exitCode = count(container.exitCode) ?? count(attemptContainer.exitCode);
  const logStreamName = text(container.logStreamName) ?? text(attemptContainer.logStreamName);
  const statusReason = text(detail.statusReason) ?? text(lastAttempt?.statusReason);
  const startedAt = count(detail.startedAt) ?? count(lastAttempt?.startedAt);
  const stoppedAt = count(detail.stoppedAt) ?? count(lastAttempt?.stoppedAt);
  const jobQueue = text(detail.jobQueue);
  return {
    jobId,
    jobName,
    status,
    parameters,
    dependsOn: (Array.isArray(detail.dependsOn) ? detail.dependsOn : []).flatMap((d) =>
      isRecord(d) && typeof d.jobId === 'string' ? [d.jobId] : [],
    ),
    ...(jobQueue !== undefined ? { jobQueue } : {}),
    ...(statusReason !== undefined ? { statusReason } : {}),
    ...(startedAt !== undefined ? { startedAt } : {}),
    ...(stoppedAt !== undefined ? { stoppedAt } : {}),
    ...(exitCode !== undefined ? { exitCode } : {}),
    ...(logStreamName !== undefined ? { logStreamName } : {}),
  };
};
