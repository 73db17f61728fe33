/**
 * The job store: the control plane's only access to the job table (docs/DESIGN.md "Job table").
 *
 * Item layout (table keys `pk`/`sk`; indexes and their attributes in ./job-table-schema.ts; keys built
 * in ./job-keys.ts; attributes converted in ./job-items.ts):
 *
 *   pk                                  sk                                   what
 *   SUBMISSION#{bucket}/{key}           {versionId, else ETag}               dedupe: which job this object made
 *   JOB#{analysis}#{group}#{jobId}      JOB                                  job header (only item with
 *                                                                            `groupName` + `submittedAt`: byGroup)
 *   JOB#{analysis}#{group}#{jobId}      DATASET#{index, 5 digits}            one per dataset (`launcherId`: byLauncher)
 *   QUEUE#{analysis}                    {queuedAt}#{group}#{jobId}#{index}   launch queue, FIFO by sort key: admitted
 *                                                                            (QUEUED) datasets only
 *   LIVE#{analysis}                     {group}#{jobId}#{index}              datasets not final, SUBMITTED included
 *                                                                            (watchdog)
 *   EFS#{analysis}                      {group}#{jobId}#{index}#{jobDir}     Batch job folders still on EFS (the
 *                                                                            watchdog's sweep; the dataset's
 *                                                                            `efsFolders` is the truth)
 *   COUNTER#{analysis}                  RUNNING                              `running`: workers holding a slot
 *   BUDGET#{analysis}#{group}           {YYYY-MM}                            `committedUsd` this month
 *
 * Life of a job: recordSubmission creates it SUBMITTED (not in the launch queue: no drain can launch
 * it); the caller told `created` checks it (budget, data) and then either admits it (`admit`: every
 * SUBMITTED dataset -> QUEUED, with its queue entry) or refuses it (`transition` to FAILED from
 * SUBMITTED). A refused job never has a queue entry, so it never starts a worker. SUBMITTED is left
 * only for QUEUED or a final state (./job-rank.ts): a launch event cannot apply to a job not admitted.
 * If the caller dies between `created` and its decision, the watchdog finds the job with
 * `listUnadmitted` and decides in its place.
 *
 * Rules that make it safe without transactions (dynalite has none):
 * - Every state change is a conditional update `state IN (states it may leave)` (./job-rank.ts):
 *   duplicate and out-of-order events are no-ops, and of two final states the first one wins.
 * - recordSubmission writes in this order, each write idempotent: dedupe item (conditional put),
 *   header (conditional put; an existing header for another submission object is "timestamp
 *   taken", never overwritten), dataset items (conditional puts, SUBMITTED), live entries (plain
 *   puts of deterministic items), and last the header's `complete` flag and `createdAt` (conditional
 *   update). A crash anywhere leaves a prefix of that sequence; any later delivery of the same
 *   submission redoes the missing writes. Exactly one caller flips `complete` and is told `created`.
 * - Entering QUEUED (only from SUBMITTED: `admit`, or `transition(..., 'QUEUED')`, which is the same
 *   code) writes the queue entry, with `queuedAt` = now, BEFORE the conditional state change that
 *   sets the same `queuedAt`. A caller whose change did not apply deletes its entry unless it is the
 *   winner's (same `queuedAt`, hence the same item). Leaving QUEUED deletes the entry after the change.
 *   `queuedAt` is set once (states never move back to QUEUED), so an entry whose sort key does not
 *   match its dataset's `queuedAt` can never become valid.
 * - Queue and live entries are an index the store maintains by hand, so they can go stale (a slow
 *   duplicate delivery may re-add an entry after the dataset moved on; a caller may die before
 *   deleting a losing queue entry). Readers verify them against the dataset items (consistent batch
 *   read) and delete the ones that can never become valid; an entry whose dataset is still SUBMITTED
 *   is skipped, not deleted (its admission may be under way). An entry can be stale, never missing,
 *   so no queued or live dataset is ever lost.
 * - Counters use conditional arithmetic (`running < :limit`, `committedUsd <= :max - amount`): no
 *   check-then-act race. Releasing a slot and settling a cost are not idempotent by themselves:
 *   callers do them only on the path whose transition applied (exactly one per dataset).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { randomBytes } from 'node:crypto';
import {
  BatchGetCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { datasetLabel, groupOfKey, jobResultFolder } from '../layout';
import {
  budgetItemKey,
  datasetItemKey,
  DATASET_SK_PREFIX,
  efsFolderItemKey,
  efsFolderPartitionKey,
  headerItemKey,
  HEADER_SK,
  type ItemKey,
  type JobKey,
  jobPartitionKey,
  liveItemKey,
  livePartitionKey,
  MAX_DATASETS_PER_JOB,
  MAX_JOB_ID_BYTES,
  queueItemKey,
  queuePartitionKey,
  runningCounterKey,
  submissionIdentity,
  submissionItemKey,
} from './job-keys';
import {
  type DatasetRecord,
  type DatasetRef,
  datasetItem,
  type EfsFolderRecord,
  headerItem,
  type Item,
  type Job,
  type JobHeader,
  liveEntryItem,
  type NewJobFields,
  parseDataset,
  parseDatasetRef,
  parseEfsFolder,
  parseHeader,
  parseSubmission,
  queueEntryItem,
  roundUsd,
  submissionItem,
} from './job-items';
import { datasetTransitionCondition, forwardOnlyCondition, jobFinalState } from './job-rank';
import { isFinal, type JobState, UNADMITTED_STATE } from './job-state';
import { BY_GROUP_INDEX, BY_LAUNCHER_INDEX } from './job-table-schema';

export type { DatasetRecord, DatasetRef, EfsFolderRecord, Job, JobHeader } from './job-items';
export { budgetMonth, submissionIdentity, type JobKey } from './job-keys';

export interface JobStoreOptions {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /** The analysis (`PipelineName`) this store serves: every key it reads or writes is scoped to it. */
  readonly analysis: string;
  /** Clock (tests). */
  readonly now?: () => Date;
  /**
   * Told about a failed follow-up write that readers repair on their own (a stale queue or live
   * entry, a lagging header summary). The main write had applied, so the call does not throw.
   */
  readonly onRepairableError?: (what: string, error: unknown) => void;
}

/** A submit.json object as the S3 event (or the watchdog's sweep) names it, read and validated. */
export interface SubmissionInput {
  readonly bucket: string;
  /** `{group}/submissions/...submit.json`: its first segment is the group. */
  readonly submissionKey: string;
  readonly versionId?: string;
  readonly etag: string;
  /** The submission's `timestamp`. */
  readonly jobId: string;
  /** ISO time of the S3 event: the same on every delivery, so retries write identical items. */
  readonly submittedAt: string;
  readonly configKey: string;
  readonly instanceType: string;
  readonly datasets: readonly SubmissionDataset[];
}

export interface SubmissionDataset {
  readonly datasetKey: string;
  /** What this dataset is expected to cost (the budget reservation is the job's total). */
  readonly estimatedCostUsd: number;
}

export type RecordOutcome =
  /**
   * This call created the job (exactly one call per job is told so). Its datasets are SUBMITTED:
   * check the job (budget, data), then `admit` it or refuse it (`transition` to FAILED).
   */
  | { readonly kind: 'created'; readonly job: Job }
  /** The same submission object was recorded before: nothing to do. */
  | { readonly kind: 'duplicate-delivery'; readonly job: Job }
  /** Another submission object already holds this group + timestamp: refuse this one. */
  | {
      readonly kind: 'timestamp-taken';
      readonly existingSubmissionKey: string;
      readonly existingSubmittedAt: string;
    };

/** Fields a state change may set (only when it applies). */
export interface TransitionFields {
  readonly reason?: string;
  readonly exitCode?: number;
  /** Defaults to now for IN PROGRESS. */
  readonly startedAt?: string;
  /** Defaults to now for a final state. */
  readonly finishedAt?: string;
  readonly deadline?: string;
  readonly instanceType?: string;
  readonly actualCostUsd?: number;
}

export interface TransitionResult {
  /** The state moved to `to`. False for duplicates, out-of-order events and unknown datasets. */
  readonly applied: boolean;
  /** The state before this call (undefined: no such dataset). When not applied, still the state. */
  readonly previous: JobState | undefined;
}

export type BudgetReservation =
  | { readonly ok: true; readonly committedUsd: number; readonly maxUsd: number }
  | {
      readonly ok: false;
      /** Already committed this month (estimates of running jobs, actual cost of finished ones). */
      readonly committedUsd: number;
      readonly maxUsd: number;
      readonly requestedUsd: number;
    };

export interface ListGroupJobsOptions {
  readonly limit?: number;
  /** Only jobs whose stored summary state is this (SUBMITTED for jobs not admitted yet). */
  readonly state?: JobState;
}

type UpdateOutcome = { readonly applied: true; readonly attributes: Item } | { readonly applied: false };

interface Expression {
  readonly clause: string;
  readonly names: Record<string, string>;
  readonly values: Record<string, unknown>;
}

/** `#p0 = :p0, #p1 = :p1` for the defined fields. */
const assignments = (fields: Item, prefix: string): Expression => {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const parts: string[] = [];
  Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .forEach(([name, value], i) => {
      names[`#${prefix}${i}`] = name;
      values[`:${prefix}${i}`] = value;
      parts.push(`#${prefix}${i} = :${prefix}${i}`);
    });
  return { clause: parts.join(', '), names, values };
};

const isConditionFailure = (error: unknown): boolean =>
  error instanceof Error && error.name === 'ConditionalCheckFailedException';

/** DynamoDB refused a write that would make an item larger than 400 KB (any other refusal is a bug). */
const isItemTooLarge = (error: unknown): boolean =>
  error instanceof Error &&
  error.name === 'ValidationException' &&
  /item size .*exceeded the maximum allowed size/i.test(error.message);

const keyString = (key: ItemKey): string => `${key.pk}\u0000${key.sk}`;

const BATCH_GET_LIMIT = 100;
const PAGE_SIZE = 100;

export class JobStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  readonly analysis: string;
  private readonly now: () => Date;
  private readonly onRepairableError: (what: string, error: unknown) => void;

  constructor(options: JobStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.analysis = options.analysis;
    this.now = options.now ?? (() => new Date());
    this.onRepairableError = options.onRepairableError ?? (() => undefined);
    runningCounterKey(this.analysis); // throws now, not on first use, if the analysis name cannot be a key
  }

  // ---- submissions ------------------------------------------------------------------------------

  /**
   * Records a submission's job exactly once: dedupe item, header, one SUBMITTED dataset item per
   * dataset with its live entry (no queue entry: nothing launches it before `admit`). Safe to call any
   * number of times, concurrently, and after a crash midway (see the file comment for the order of
   * writes).
   */
  async recordSubmission(input: SubmissionInput): Promise<RecordOutcome> {
    const fields = this.newJobFields(input);
    const now = this.nowIso();

    const submission = submissionItem(fields, now);
    if (!(await this.putIfAbsent(submission))) {
      const existing = parseSubmission(
        await this.mustGet(
          submissionItemKey(fields.submissionBucket, fields.submissionKey, fields.submissionId),
        ),
      );
      if (existing.group !== fields.group || existing.jobId !== fields.jobId) {
        throw new Error(
          `submission ${fields.submissionKey} (${fields.submissionId}) was recorded as job ${existing.group}/${existing.jobId}, ` +
            `not ${fields.group}/${fields.jobId}: one object version cannot name two jobs`,
        );
      }
    }

    const newHeader = headerItem(this.analysis, fields, now);
    let header: JobHeader;
    if (await this.putIfAbsent(newHeader)) {
      header = parseHeader(newHeader);
    } else {
      header = parseHeader(await this.mustGet(headerItemKey(this.analysis, fields)));
      const sameObject =
        header.submissionBucket === fields.submissionBucket &&
        header.submissionKey === fields.submissionKey &&
        header.submissionId === fields.submissionId;
      if (!sameObject) {
        return {
          kind: 'timestamp-taken',
          existingSubmissionKey: header.submissionKey,
          existingSubmittedAt: header.submittedAt,
        };
      }
      if (header.datasetCount !== fields.datasets.length) {
        throw new Error(
          `job ${fields.group}/${fields.jobId} has ${header.datasetCount} datasets, this delivery names ${fields.datasets.length}`,
        );
      }
    }

    if (!header.complete) {
      // Items come from the stored header (not this caller's clock), so every caller writes the same.
      await Promise.all(
        fields.datasets.map((dataset, i) => this.putIfAbsent(datasetItem(this.analysis, header, i, dataset))),
      );
      await Promise.all(fields.datasets.map((_, i) => this.put(liveEntryItem(this.analysis, header, i))));
      const claim = await this.tryUpdate({
        Key: headerItemKey(this.analysis, header),
        UpdateExpression: 'SET #complete = :true, #createdAt = :now',
        ConditionExpression: '#complete = :false',
        ExpressionAttributeNames: { '#complete': 'complete', '#createdAt': 'createdAt' },
        ExpressionAttributeValues: { ':true': true, ':false': false, ':now': this.nowIso() },
      });
      if (claim.applied) return { kind: 'created', job: await this.mustGetJob(header) };
    }
    return { kind: 'duplicate-delivery', job: await this.mustGetJob(header) };
  }

  private newJobFields(input: SubmissionInput): NewJobFields {
    const group = groupOfKey(input.submissionKey);
    if (!group) throw new Error(`submission key "${input.submissionKey}" has no group segment`);
    const jobIdBytes = Buffer.byteLength(input.jobId, 'utf8');
    if (jobIdBytes === 0 || jobIdBytes > MAX_JOB_ID_BYTES) {
      throw new Error(`the job id (timestamp) must be 1..${MAX_JOB_ID_BYTES} bytes, got ${jobIdBytes}`);
    }
    if (Number.isNaN(Date.parse(input.submittedAt)))
      throw new Error(`submittedAt "${input.submittedAt}" is not a time`);
    const count = input.datasets.length;
    if (count === 0 || count > MAX_DATASETS_PER_JOB) {
      throw new Error(`a job needs 1..${MAX_DATASETS_PER_JOB} datasets, got ${count}`);
    }
    for (const dataset of input.datasets) {
      if (!(dataset.estimatedCostUsd >= 0))
        throw new Error(`estimated cost of ${dataset.datasetKey} is not >= 0`);
    }
    const keys = input.datasets.map((d) => d.datasetKey);
    return {
      group,
      jobId: input.jobId,
      submissionBucket: input.bucket,
      submissionKey: input.submissionKey,
      submissionId: submissionIdentity(input),
      submissionEtag: input.etag,
      submissionVersionId: input.versionId,
      submittedAt: new Date(input.submittedAt).toISOString(),
      configKey: input.configKey,
      instanceType: input.instanceType,
      resultFolder: jobResultFolder(group, this.analysis, input.jobId),
      datasets: input.datasets.map((d, i) => ({
        datasetKey: d.datasetKey,
        datasetLabel: datasetLabel(d.datasetKey, i, keys),
        estimatedCostUsd: d.estimatedCostUsd,
      })),
    };
  }

  // ---- state ------------------------------------------------------------------------------------

  /**
   * Moves a dataset to `to` if, and only if, that is forward by rank and, from SUBMITTED, only to
   * QUEUED or a final state (./job-rank.ts). Entering QUEUED (from SUBMITTED: admission) sets
   * `queuedAt` to now and writes the queue entry first; leaving QUEUED removes it. A final state
   * removes the live entry; a live state advances the header's summary.
   *
   * Refusing a job not admitted (budget exceeded, data missing) is a final state from SUBMITTED, e.g.
   * `transition(job, i, 'FAILED', { reason })` for each dataset: no queue entry is ever written.
   */
  async transition(
    job: JobKey,
    datasetIndex: number,
    to: JobState,
    fields: TransitionFields = {},
  ): Promise<TransitionResult> {
    const key = datasetItemKey(this.analysis, job, datasetIndex);
    const condition = datasetTransitionCondition(to);
    if (condition.expression === undefined) {
      return { applied: false, previous: await this.currentState(key) };
    }
    const now = this.nowIso();
    const queuedAt = to === 'QUEUED' ? now : undefined;
    const queueEntry =
      queuedAt === undefined ? undefined : queueEntryItem(this.analysis, job, datasetIndex, queuedAt);
    // Before the state: an entry may be stale (the change may not apply), never missing.
    if (queueEntry) await this.put(queueEntry);
    const set = assignments(
      {
        state: to,
        updatedAt: now,
        queuedAt,
        reason: fields.reason,
        exitCode: fields.exitCode,
        startedAt: fields.startedAt ?? (to === 'IN PROGRESS' ? now : undefined),
        finishedAt: fields.finishedAt ?? (isFinal(to) ? now : undefined),
        deadline: fields.deadline,
        instanceType: fields.instanceType,
        actualCostUsd: fields.actualCostUsd === undefined ? undefined : roundUsd(fields.actualCostUsd),
      },
      'f',
    );
    const outcome = await this.tryUpdate({
      Key: key,
      UpdateExpression: `SET ${set.clause}`,
      ConditionExpression: `attribute_exists(#pk) AND ${condition.expression}`,
      ExpressionAttributeNames: { '#pk': 'pk', ...set.names, ...condition.names },
      ExpressionAttributeValues: { ...set.values, ...condition.values },
      ReturnValues: 'ALL_OLD',
    });
    if (!outcome.applied) {
      const current = await this.getDataset(job, datasetIndex);
      // Another caller's admission won, or the dataset moved on: this entry is not the queue's, unless
      // the winner queued it at the same instant (then it is the very same item).
      if (queueEntry && current?.queuedAt !== queuedAt) {
        await this.settleFollowUps(`delete unused queue entry of ${job.group}/${job.jobId}#${datasetIndex}`, [
          this.delete({ pk: String(queueEntry.pk), sk: String(queueEntry.sk) }),
        ]);
      }
      return { applied: false, previous: current?.state };
    }

    const before = parseDataset(outcome.attributes);
    const followUps: Promise<unknown>[] = [];
    if (before.state === 'QUEUED' && before.queuedAt !== undefined) {
      followUps.push(this.delete(queueItemKey(this.analysis, job, datasetIndex, before.queuedAt)));
    }
    if (isFinal(to)) {
      followUps.push(this.delete(liveItemKey(this.analysis, job, datasetIndex)));
    } else {
      followUps.push(this.advanceHeader(job, to, now));
    }
    await this.settleFollowUps(`transition ${job.group}/${job.jobId}#${datasetIndex} to ${to}`, followUps);
    return { applied: true, previous: before.state };
  }

  /**
   * Admits a created job: every SUBMITTED dataset moves to QUEUED (conditional on SUBMITTED, so
   * idempotent and safe under concurrent calls) and joins the launch queue with `queuedAt` = now.
   * Call only once the job has been checked (budget reserved, data present). Returns how many
   * datasets this call admitted (0 when all were admitted, or refused, before). Throws for a job
   * with no header or not yet complete: its datasets may not all exist, and admitting part of a job
   * before its creator's checks would let it launch unchecked (redo `recordSubmission` first).
   */
  async admit(job: JobKey): Promise<{ admitted: number }> {
    const found = await this.getJob(job);
    if (!found) throw new Error(`job ${job.group}/${job.jobId} has no header: nothing to admit`);
    if (!found.header.complete) {
      throw new Error(
        `job ${job.group}/${job.jobId} is not completely recorded: redo recordSubmission first`,
      );
    }
    const results = await Promise.all(
      found.datasets
        .filter((dataset) => dataset.state === UNADMITTED_STATE)
        .map((dataset) => this.transition(job, dataset.datasetIndex, 'QUEUED')),
    );
    return { admitted: results.filter((result) => result.applied).length };
  }

  /** The header's summary follows the furthest live state (forward only; final is set at the end). */
  private async advanceHeader(job: JobKey, to: JobState, now: string): Promise<void> {
    const condition = forwardOnlyCondition(to);
    if (condition.expression === undefined) return;
    await this.tryUpdate({
      Key: headerItemKey(this.analysis, job),
      UpdateExpression: 'SET #state = :to, #updatedAt = :now',
      ConditionExpression: `attribute_exists(#pk) AND ${condition.expression}`,
      ExpressionAttributeNames: {
        '#pk': 'pk',
        '#state': 'state',
        '#updatedAt': 'updatedAt',
        ...condition.names,
      },
      ExpressionAttributeValues: { ':to': to, ':now': now, ...condition.values },
    });
  }

  /**
   * Records who runs a dataset (instance id, Batch job id, `local:<pid>`) for `findByLauncher`. A
   * report from an older attempt never overwrites a newer one's. Recorded whatever the state, so a
   * late instance of a cancelled dataset can still be traced and terminated.
   */
  async setLauncher(
    job: JobKey,
    datasetIndex: number,
    launcherId: string,
    attempt: number,
  ): Promise<boolean> {
    if (launcherId.length === 0) throw new Error('launcherId is empty');
    const outcome = await this.tryUpdate({
      Key: datasetItemKey(this.analysis, job, datasetIndex),
      UpdateExpression: 'SET #launcherId = :launcherId, #attempt = :attempt, #updatedAt = :now',
      ConditionExpression: 'attribute_exists(#pk) AND #attempt <= :attempt',
      ExpressionAttributeNames: {
        '#pk': 'pk',
        '#launcherId': 'launcherId',
        '#attempt': 'attempt',
        '#updatedAt': 'updatedAt',
      },
      ExpressionAttributeValues: { ':launcherId': launcherId, ':attempt': attempt, ':now': this.nowIso() },
    });
    return outcome.applied;
  }

  /**
   * The secret of this launch attempt's final report: made once per attempt (a redelivered launch
   * message gets the same one, so EC2's ClientToken sees the same user data), kept in the dataset
   * item, which only the control plane reads.
   */
  async reportTokenFor(job: JobKey, datasetIndex: number, attempt: number): Promise<string> {
    const outcome = await this.tryUpdate({
      Key: datasetItemKey(this.analysis, job, datasetIndex),
      UpdateExpression: 'SET #token = :token, #tokenAttempt = :attempt',
      ConditionExpression:
        'attribute_exists(#pk) AND (attribute_not_exists(#token) OR #tokenAttempt < :attempt)',
      ExpressionAttributeNames: {
        '#pk': 'pk',
        '#token': 'reportToken',
        '#tokenAttempt': 'reportTokenAttempt',
      },
      ExpressionAttributeValues: { ':token': randomBytes(16).toString('hex'), ':attempt': attempt },
      ReturnValues: 'ALL_NEW',
    });
    const token = outcome.applied
      ? outcome.attributes.reportToken
      : (await this.get(datasetItemKey(this.analysis, job, datasetIndex)))?.reportToken;
    if (typeof token !== 'string')
      throw new Error(`no report token for ${job.group}/${job.jobId}#${datasetIndex}`);
    return token;
  }

  /**
   * Counts a final dataset towards its job. Returns true exactly once per job: to the caller that
   * counts the last dataset (or, after a crash, the next caller to see them all counted). That caller
   * writes end.txt, then calls `markEndWritten`. Idempotent per dataset; false for a dataset not final.
   */
  async markDatasetFinished(job: JobKey, datasetIndex: number): Promise<boolean> {
    const datasetItemValue = await this.get(datasetItemKey(this.analysis, job, datasetIndex));
    if (!datasetItemValue) return false;
    const dataset = parseDataset(datasetItemValue);
    if (!isFinal(dataset.state)) return false;

    const headerKey = headerItemKey(this.analysis, job);
    const counted = await this.tryUpdate({
      Key: headerKey,
      UpdateExpression: 'SET #finalStates.#index = :state, #updatedAt = :now ADD #finished :one',
      ConditionExpression: 'attribute_exists(#pk) AND attribute_not_exists(#finalStates.#index)',
      ExpressionAttributeNames: {
        '#pk': 'pk',
        '#finalStates': 'finalStates',
        '#index': String(datasetIndex),
        '#finished': 'finishedDatasets',
        '#updatedAt': 'updatedAt',
      },
      ExpressionAttributeValues: { ':state': dataset.state, ':now': this.nowIso(), ':one': 1 },
      ReturnValues: 'ALL_NEW',
    });
    const headerValue = counted.applied ? counted.attributes : await this.get(headerKey);
    if (!headerValue) return false;
    const header = parseHeader(headerValue);
    if (header.endClaimed || header.finishedDatasets < header.datasetCount) return false;

    const finalState = jobFinalState(Object.values(header.finalStates));
    const claim = await this.tryUpdate({
      Key: headerKey,
      UpdateExpression: 'SET #endClaimed = :true, #state = :state, #finishedAt = :now, #updatedAt = :now',
      ConditionExpression: '#endClaimed = :false AND #finished = #count',
      ExpressionAttributeNames: {
        '#endClaimed': 'endClaimed',
        '#state': 'state',
        '#finishedAt': 'finishedAt',
        '#updatedAt': 'updatedAt',
        '#finished': 'finishedDatasets',
        '#count': 'datasetCount',
      },
      ExpressionAttributeValues: {
        ':true': true,
        ':false': false,
        ':state': finalState,
        ':now': this.nowIso(),
      },
    });
    return claim.applied;
  }

  /** end.txt is in place (the watchdog can look for jobs claimed long ago but never marked). */
  async markEndWritten(job: JobKey): Promise<void> {
    await this.tryUpdate({
      Key: headerItemKey(this.analysis, job),
      UpdateExpression: 'SET #endWritten = :true, #updatedAt = :now',
      ConditionExpression: 'attribute_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk', '#endWritten': 'endWritten', '#updatedAt': 'updatedAt' },
      ExpressionAttributeValues: { ':true': true, ':now': this.nowIso() },
    });
  }

  // ---- reads ------------------------------------------------------------------------------------

  /** Header and datasets (by index), consistent read. Undefined when there is no header. */
  async getJob(job: JobKey): Promise<Job | undefined> {
    const items = await this.queryAll({
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': 'pk' },
      ExpressionAttributeValues: { ':pk': jobPartitionKey(this.analysis, job) },
      ConsistentRead: true,
    });
    const headerValue = items.find((item) => item.sk === HEADER_SK);
    if (!headerValue) return undefined;
    const datasets = items
      .filter((item) => typeof item.sk === 'string' && item.sk.startsWith(DATASET_SK_PREFIX))
      .map(parseDataset)
      .sort((a, b) => a.datasetIndex - b.datasetIndex);
    return { header: parseHeader(headerValue), datasets };
  }

  /**
   * Claims the one resend of a launch message the watchdog may make for this attempt (a message lost
   * between the drain and the queue). True for exactly one caller per dataset and attempt.
   */
  async claimLaunchResend(job: JobKey, datasetIndex: number, attempt: number): Promise<boolean> {
    const outcome = await this.tryUpdate({
      Key: datasetItemKey(this.analysis, job, datasetIndex),
      UpdateExpression: 'SET #resent = :attempt',
      ConditionExpression: 'attribute_exists(#pk) AND (attribute_not_exists(#resent) OR #resent < :attempt)',
      ExpressionAttributeNames: { '#pk': 'pk', '#resent': 'resentAttempt' },
      ExpressionAttributeValues: { ':attempt': attempt },
    });
    return outcome.applied;
  }

  /**
   * Batch: claims the stage-out of one launch (its job folder `jobDir`) for the caller, once. Two
   * end events (stage-in and analysis) may both find the launch over; only the claimant submits.
   * Returns the dataset as claimed (its state is what the stage-out is told), undefined when not.
   */
  async claimStageOut(job: JobKey, datasetIndex: number, jobDir: string): Promise<DatasetRecord | undefined> {
    const outcome = await this.tryUpdate({
      Key: datasetItemKey(this.analysis, job, datasetIndex),
      UpdateExpression: 'ADD #out :dir',
      ConditionExpression: 'attribute_exists(#pk) AND NOT contains(#out, :name)',
      ExpressionAttributeNames: { '#pk': 'pk', '#out': 'stageOutFor' },
      ExpressionAttributeValues: { ':dir': new Set([jobDir]), ':name': jobDir },
      ReturnValues: 'ALL_NEW',
    });
    return outcome.applied ? parseDataset(outcome.attributes) : undefined;
  }

  /**
   * Claims the one relaunch on on-demand capacity a dataset may get after Spot capacity failed it
   * (batch runtime). True for exactly one caller per dataset, ever.
   */
  async claimOnDemandFallback(job: JobKey, datasetIndex: number): Promise<boolean> {
    const outcome = await this.tryUpdate({
      Key: datasetItemKey(this.analysis, job, datasetIndex),
      UpdateExpression: 'SET #fallback = :now',
      ConditionExpression: 'attribute_exists(#pk) AND attribute_not_exists(#fallback)',
      ExpressionAttributeNames: { '#pk': 'pk', '#fallback': 'onDemandFallbackAt' },
      ExpressionAttributeValues: { ':now': this.nowIso() },
    });
    return outcome.applied;
  }

  /** Gives the fallback claim back (the relaunch could not be submitted: a retried event claims it). */
  async releaseOnDemandFallback(job: JobKey, datasetIndex: number): Promise<void> {
    await this.tryUpdate({
      Key: datasetItemKey(this.analysis, job, datasetIndex),
      UpdateExpression: 'REMOVE #fallback',
      ConditionExpression: 'attribute_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk', '#fallback': 'onDemandFallbackAt' },
    });
  }

  /** Gives a stage-out claim back (its submission failed: the event's retry must be able to claim it). */
  async releaseStageOut(job: JobKey, datasetIndex: number, jobDir: string): Promise<void> {
    await this.tryUpdate({
      Key: datasetItemKey(this.analysis, job, datasetIndex),
      UpdateExpression: 'DELETE #out :dir',
      ConditionExpression: 'attribute_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk', '#out': 'stageOutFor' },
      ExpressionAttributeValues: { ':dir': new Set([jobDir]) },
    });
  }

  // ---- Batch job folders on EFS (lib/control/efs-folders.ts) ----------------------------------

  /**
   * Records a job folder a stage-in may create, before it can: its sweep entry first (an entry may
   * be stale, never missing), then the dataset's `efsFolders`. Idempotent.
   */
  async recordJobFolder(job: JobKey, datasetIndex: number, jobDir: string): Promise<void> {
    const now = this.nowIso();
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: efsFolderItemKey(this.analysis, job, datasetIndex, jobDir),
        UpdateExpression:
          'SET #itemType = :type, #group = :group, #jobId = :jobId, #index = :index, #jobDir = :jobDir, ' +
          '#recordedAt = if_not_exists(#recordedAt, :now), #cleanups = if_not_exists(#cleanups, :zero)',
        ExpressionAttributeNames: {
          '#itemType': 'itemType',
          '#group': 'group',
          '#jobId': 'jobId',
          '#index': 'datasetIndex',
          '#jobDir': 'jobDir',
          '#recordedAt': 'recordedAt',
          '#cleanups': 'cleanups',
        },
        ExpressionAttributeValues: {
          ':type': 'EFS_FOLDER',
          ':group': job.group,
          ':jobId': job.jobId,
          ':index': datasetIndex,
          ':jobDir': jobDir,
          ':now': now,
          ':zero': 0,
        },
      }),
    );
    const outcome = await this.tryUpdate({
      Key: datasetItemKey(this.analysis, job, datasetIndex),
      UpdateExpression: 'ADD #folders :dir',
      ConditionExpression: 'attribute_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk', '#folders': 'efsFolders' },
      ExpressionAttributeValues: { ':dir': new Set([jobDir]) },
    });
    if (!outcome.applied) {
      throw new Error(
        `dataset ${job.group}/${job.jobId}#${datasetIndex} does not exist: no job folder recorded`,
      );
    }
  }

  /** Adds Batch jobs that use a recorded folder (no-op once the folder is cleared). */
  async addJobFolderJobs(
    job: JobKey,
    datasetIndex: number,
    jobDir: string,
    batchJobIds: readonly string[],
  ): Promise<void> {
    const ids = batchJobIds.filter((id) => id.length > 0);
    if (ids.length === 0) return;
    await this.tryUpdate({
      Key: efsFolderItemKey(this.analysis, job, datasetIndex, jobDir),
      UpdateExpression: 'ADD #jobs :ids',
      ConditionExpression: 'attribute_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk', '#jobs': 'batchJobs' },
      ExpressionAttributeValues: { ':ids': new Set(ids) },
    });
  }

  /** The sweep entry of a folder the dataset still lists; undefined once it is known removed. */
  async getJobFolder(
    job: JobKey,
    datasetIndex: number,
    jobDir: string,
  ): Promise<EfsFolderRecord | undefined> {
    const dataset = await this.getDataset(job, datasetIndex);
    if (!dataset?.efsFolders.includes(jobDir)) return undefined;
    const item = await this.get(efsFolderItemKey(this.analysis, job, datasetIndex, jobDir));
    return item ? parseEfsFolder(item) : undefined;
  }

  /**
   * Every job folder still recorded on EFS, with its dataset (consistent reads). Entries whose dataset
   * no longer lists the folder are deleted on the way; an entry whose dataset item is missing is
   * skipped. Its cost follows the folders outstanding, not the table's history.
   */
  async listJobFolders(): Promise<{ folder: EfsFolderRecord; dataset: DatasetRecord }[]> {
    const entries = await this.queryAll({
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': 'pk' },
      ExpressionAttributeValues: { ':pk': efsFolderPartitionKey(this.analysis) },
      ConsistentRead: true,
    });
    const folders = entries.map(parseEfsFolder);
    const datasets = await this.batchGetDatasets(folders);
    const found: { folder: EfsFolderRecord; dataset: DatasetRecord }[] = [];
    const stale: ItemKey[] = [];
    folders.forEach((folder, i) => {
      const dataset = datasets.get(keyString(datasetItemKey(this.analysis, folder, folder.datasetIndex)));
      if (!dataset) return;
      if (dataset.efsFolders.includes(folder.jobDir)) found.push({ folder, dataset });
      else stale.push({ pk: String(entries[i].pk), sk: String(entries[i].sk) });
    });
    await this.settleFollowUps(
      'delete stale job folder entries',
      stale.map((key) => this.delete(key)),
    );
    return found;
  }

  /**
   * Claims clean-up number `seen + 1` of a folder for the caller: true for exactly one caller per
   * number, and never beyond `max` or once the folder was given up. `seen` is the count the caller
   * read, so a duplicate event (or a second sweep) that read the same count loses.
   */
  async claimFolderCleanup(
    job: JobKey,
    datasetIndex: number,
    jobDir: string,
    seen: number,
    max: number,
  ): Promise<boolean> {
    if (!(seen < max)) return false;
    const outcome = await this.tryUpdate({
      Key: efsFolderItemKey(this.analysis, job, datasetIndex, jobDir),
      UpdateExpression: 'SET #cleanups = :next, #claimedAt = :now',
      ConditionExpression:
        'attribute_exists(#pk) AND attribute_not_exists(#abandoned) AND ' +
        '(#cleanups = :seen OR (attribute_not_exists(#cleanups) AND :seen = :zero))',
      ExpressionAttributeNames: {
        '#pk': 'pk',
        '#cleanups': 'cleanups',
        '#claimedAt': 'claimedAt',
        '#abandoned': 'abandonedAt',
      },
      ExpressionAttributeValues: { ':next': seen + 1, ':seen': seen, ':zero': 0, ':now': this.nowIso() },
    });
    return outcome.applied;
  }

  /** Records the clean-up job a claim submitted (its events, and the sweep, look for it). */
  async recordFolderCleanup(
    job: JobKey,
    datasetIndex: number,
    jobDir: string,
    batchJobId: string,
    image: 'analysis' | 'staging',
  ): Promise<void> {
    await this.tryUpdate({
      Key: efsFolderItemKey(this.analysis, job, datasetIndex, jobDir),
      UpdateExpression: 'SET #last = :id, #on = :on ADD #jobs :ids',
      ConditionExpression: 'attribute_exists(#pk)',
      ExpressionAttributeNames: {
        '#pk': 'pk',
        '#last': 'lastCleanup',
        '#on': 'lastCleanupOn',
        '#jobs': 'batchJobs',
      },
      ExpressionAttributeValues: { ':id': batchJobId, ':on': image, ':ids': new Set([batchJobId]) },
    });
  }

  /**
   * Marks a folder given up (every clean-up failed). True for exactly one caller, who tells the
   * operator. The dataset keeps listing it: it is still on EFS.
   */
  async abandonJobFolder(job: JobKey, datasetIndex: number, jobDir: string): Promise<boolean> {
    const outcome = await this.tryUpdate({
      Key: efsFolderItemKey(this.analysis, job, datasetIndex, jobDir),
      UpdateExpression: 'SET #abandoned = :now',
      ConditionExpression: 'attribute_exists(#pk) AND attribute_not_exists(#abandoned)',
      ExpressionAttributeNames: { '#pk': 'pk', '#abandoned': 'abandonedAt' },
      ExpressionAttributeValues: { ':now': this.nowIso() },
    });
    return outcome.applied;
  }

  /**
   * The folder is known removed (a stage-out or clean-up succeeded) or was never created (its
   * stage-in never started): off the dataset, then its entry (a failed delete leaves a stale entry
   * that `listJobFolders` removes).
   */
  async clearJobFolder(job: JobKey, datasetIndex: number, jobDir: string): Promise<void> {
    await this.tryUpdate({
      Key: datasetItemKey(this.analysis, job, datasetIndex),
      UpdateExpression: 'DELETE #folders :dir',
      ConditionExpression: 'attribute_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk', '#folders': 'efsFolders' },
      ExpressionAttributeValues: { ':dir': new Set([jobDir]) },
    });
    await this.settleFollowUps(`delete the job folder entry ${jobDir}`, [
      this.delete(efsFolderItemKey(this.analysis, job, datasetIndex, jobDir)),
    ]);
  }

  /**
   * Appends lines to the job's certificate log, kept in the header so concurrent writers (several
   * datasets finishing at once) never lose each other's lines, and returns the whole log in order.
   * Undefined when the job has no header (a refusal before recording), or when the log has outgrown
   * what the header item can hold (DynamoDB's 400 KB item limit, a large job): the certificate writer
   * (lib/control/job-report.ts) then appends to the S3 object itself, so finishing the job goes on.
   */
  async appendLog(job: JobKey, lines: readonly string[]): Promise<string[] | undefined> {
    let outcome: UpdateOutcome;
    try {
      outcome = await this.tryUpdate({
        Key: headerItemKey(this.analysis, job),
        UpdateExpression: 'SET #log = list_append(if_not_exists(#log, :empty), :lines)',
        ConditionExpression: 'attribute_exists(#pk)',
        ExpressionAttributeNames: { '#pk': 'pk', '#log': 'certificate' },
        ExpressionAttributeValues: { ':empty': [], ':lines': [...lines] },
        ReturnValues: 'UPDATED_NEW',
      });
    } catch (error) {
      if (isItemTooLarge(error)) return undefined;
      throw error;
    }
    return outcome.applied
      ? ((outcome.attributes.certificate as string[] | undefined) ?? [...lines])
      : undefined;
  }

  /** The job's certificate log as recorded (undefined without a header or a log). */
  async readLog(job: JobKey): Promise<string[] | undefined> {
    const item = await this.get(headerItemKey(this.analysis, job));
    const log = item?.certificate;
    return Array.isArray(log) ? log.filter((line): line is string => typeof line === 'string') : undefined;
  }

  /**
   * Whether this submission object (its version id, else ETag) was recorded: the watchdog's sweep
   * for submissions whose S3 event never arrived.
   */
  async hasSubmission(bucket: string, submissionKey: string, identity: string): Promise<boolean> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: submissionItemKey(bucket, submissionKey, identity),
        ConsistentRead: true,
      }),
    );
    return out.Item !== undefined;
  }

  async getDataset(job: JobKey, datasetIndex: number): Promise<DatasetRecord | undefined> {
    const item = await this.get(datasetItemKey(this.analysis, job, datasetIndex));
    return item ? parseDataset(item) : undefined;
  }

  /**
   * The dataset a launcher id belongs to (byLauncher index, then a consistent read of the item).
   * Ids can repeat (`local:<pid>` after a reboot): a live dataset wins, then the newest. Undefined
   * when the index does not have it yet: the caller falls back to the instance's tags.
   */
  async findByLauncher(launcherId: string): Promise<DatasetRecord | undefined> {
    const candidates = (
      await this.queryAll({
        IndexName: BY_LAUNCHER_INDEX.indexName,
        KeyConditionExpression: '#launcherId = :launcherId',
        FilterExpression: '#analysis = :analysis',
        ExpressionAttributeNames: {
          '#launcherId': BY_LAUNCHER_INDEX.partitionKey.name,
          '#analysis': 'analysis',
        },
        ExpressionAttributeValues: { ':launcherId': launcherId, ':analysis': this.analysis },
      })
    )
      .filter((item) => item.itemType === 'DATASET')
      .map(parseDataset);
    const best = candidates.sort(
      (a, b) =>
        Number(isFinal(a.state)) - Number(isFinal(b.state)) ||
        b.submittedAt.localeCompare(a.submittedAt) ||
        b.attempt - a.attempt,
    )[0];
    if (!best) return undefined;
    return (await this.getDataset(best, best.datasetIndex)) ?? best;
  }

  /** A group's jobs of this analysis (headers), newest first (byGroup index). */
  async listGroupJobs(group: string, options: ListGroupJobsOptions = {}): Promise<JobHeader[]> {
    const limit = options.limit ?? 50;
    const names: Record<string, string> = {
      '#groupName': BY_GROUP_INDEX.partitionKey.name,
      '#analysis': 'analysis',
    };
    const values: Record<string, unknown> = { ':group': group, ':analysis': this.analysis };
    let filter = '#analysis = :analysis';
    if (options.state !== undefined) {
      filter += ' AND #state = :state';
      names['#state'] = 'state';
      values[':state'] = options.state;
    }
    const headers: JobHeader[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: BY_GROUP_INDEX.indexName,
          KeyConditionExpression: '#groupName = :group',
          FilterExpression: filter,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ScanIndexForward: false,
          Limit: Math.max(limit, 1),
          ExclusiveStartKey: startKey,
        }),
      );
      headers.push(...(page.Items ?? []).map(parseHeader));
      startKey = page.LastEvaluatedKey;
    } while (startKey && headers.length < limit);
    return headers.slice(0, limit);
  }

  /**
   * Up to `limit` QUEUED datasets of this analysis, oldest admission first across groups (launch
   * queue partition, checked against the dataset items; stale entries are deleted on the way). Jobs
   * not admitted (SUBMITTED) are never in it.
   */
  async listQueued(limit: number): Promise<DatasetRecord[]> {
    const queued: DatasetRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': 'pk' },
          ExpressionAttributeValues: { ':pk': queuePartitionKey(this.analysis) },
          ScanIndexForward: true,
          ConsistentRead: true,
          Limit: Math.min(Math.max(limit - queued.length, 1), PAGE_SIZE),
          ExclusiveStartKey: startKey,
        }),
      );
      const entries = page.Items ?? [];
      const datasets = await this.verifyEntries(entries, (d, entry) => {
        if (d.state === UNADMITTED_STATE) return 'skip'; // an admission under way wrote it first
        const current =
          d.state === 'QUEUED' &&
          d.queuedAt !== undefined &&
          entry.sk === queueItemKey(this.analysis, d, d.datasetIndex, d.queuedAt).sk;
        return current ? 'keep' : 'stale';
      });
      queued.push(...datasets);
      startKey = page.LastEvaluatedKey;
    } while (startKey && queued.length < limit);
    return queued.slice(0, limit);
  }

  /**
   * Every dataset of this analysis that is not final: SUBMITTED (not admitted yet: no worker, not in
   * the queue), QUEUED, INITIALIZING, IN PROGRESS (the watchdog's work list). Read from the live
   * partition, so its cost follows the live datasets, not the table's history, then checked against
   * the dataset items.
   */
  async listLive(): Promise<DatasetRecord[]> {
    return this.verifyEntries(await this.liveEntries(), (d) => (isFinal(d.state) ? 'stale' : 'keep'));
  }

  /**
   * SUBMITTED datasets of complete jobs created (told `created`) before `olderThan`: jobs whose
   * creator died between creation and its decision (admit or refuse). The watchdog decides in its
   * place: check the job, then `admit` it or refuse it. Pass a time older than the submit handler's
   * timeout, so a creator still deciding is never overtaken. A job with a final dataset that has no
   * `queuedAt` was being refused: finish the refusal, do not admit the rest. Jobs not complete are
   * not listed: a redelivery of their submission (`recordSubmission`) completes them first.
   *
   * Same read as `listLive` (the live partition, then the dataset items), plus the headers of the
   * few jobs with SUBMITTED datasets: no extra index or entry to maintain, and `createdAt` (not
   * `submittedAt`, the S3 event's time, which a late delivery makes old) tells the age.
   */
  async listUnadmitted(olderThan: Date): Promise<DatasetRecord[]> {
    const cutoff = olderThan.toISOString();
    const submitted = await this.verifyEntries(await this.liveEntries(), (d) => {
      if (isFinal(d.state)) return 'stale';
      return d.state === UNADMITTED_STATE ? 'keep' : 'skip';
    });
    const jobs = new Map<string, JobKey>();
    for (const d of submitted)
      jobs.set(keyString(headerItemKey(this.analysis, d)), { group: d.group, jobId: d.jobId });
    const headers = await this.batchGet([...jobs.values()].map((job) => headerItemKey(this.analysis, job)));
    return submitted.filter((d) => {
      const item = headers.get(keyString(headerItemKey(this.analysis, d)));
      if (!item) return false;
      const header = parseHeader(item);
      return header.complete && header.createdAt !== undefined && header.createdAt < cutoff;
    });
  }

  private async liveEntries(): Promise<Item[]> {
    return this.queryAll({
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': 'pk' },
      ExpressionAttributeValues: { ':pk': livePartitionKey(this.analysis) },
      ConsistentRead: true,
    });
  }

  /**
   * The datasets that queue or live entries name, in entry order, keeping those `judge` calls `keep`,
   * deleting the entries it calls `stale` (their dataset has moved on for good: states never move
   * back, so that is safe) and leaving those it calls `skip`. An entry whose dataset item is missing
   * is skipped, not deleted.
   */
  private async verifyEntries(
    entries: readonly Item[],
    judge: (d: DatasetRecord, entry: ItemKey) => 'keep' | 'skip' | 'stale',
  ): Promise<DatasetRecord[]> {
    const refs = entries.map(parseDatasetRef);
    const datasets = await this.batchGetDatasets(refs);
    const kept: DatasetRecord[] = [];
    const stale: ItemKey[] = [];
    entries.forEach((entry, i) => {
      const dataset = datasets.get(keyString(datasetItemKey(this.analysis, refs[i], refs[i].datasetIndex)));
      if (!dataset) return;
      const entryKey = { pk: String(entry.pk), sk: String(entry.sk) };
      const verdict = judge(dataset, entryKey);
      if (verdict === 'keep') kept.push(dataset);
      else if (verdict === 'stale') stale.push(entryKey);
    });
    await this.settleFollowUps(
      'delete stale queue/live entries',
      stale.map((key) => this.delete(key)),
    );
    return kept;
  }

  private async batchGetDatasets(refs: readonly DatasetRef[]): Promise<Map<string, DatasetRecord>> {
    const items = await this.batchGet(
      refs.map((ref) => datasetItemKey(this.analysis, ref, ref.datasetIndex)),
    );
    const found = new Map<string, DatasetRecord>();
    for (const [key, item] of items) found.set(key, parseDataset(item));
    return found;
  }

  /** Items by `keyString` of their key (consistent reads; missing items are absent). */
  private async batchGet(keys: readonly ItemKey[]): Promise<Map<string, Item>> {
    const found = new Map<string, Item>();
    const unique = new Map<string, ItemKey>();
    for (const key of keys) unique.set(keyString(key), key);
    const all = [...unique.values()];
    for (let start = 0; start < all.length; start += BATCH_GET_LIMIT) {
      let pending: Record<string, unknown>[] = all
        .slice(start, start + BATCH_GET_LIMIT)
        .map((k) => ({ ...k }));
      for (let round = 0; pending.length > 0; round++) {
        if (round > 0) await delay(Math.min(1000, 25 * 2 ** round));
        const result = await this.client.send(
          new BatchGetCommand({
            RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } },
          }),
        );
        for (const item of result.Responses?.[this.tableName] ?? []) {
          found.set(keyString({ pk: String(item.pk), sk: String(item.sk) }), item);
        }
        pending = result.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      }
    }
    return found;
  }

  // ---- running-worker slots ---------------------------------------------------------------------

  /** Takes a slot if fewer than `limit` are held (atomic: no check-then-launch race). */
  async acquireSlot(limit: number): Promise<boolean> {
    if (!(limit >= 1)) return false;
    const outcome = await this.tryUpdate({
      Key: runningCounterKey(this.analysis),
      UpdateExpression: 'SET #itemType = :itemType ADD #running :one, #version :one',
      ConditionExpression: 'attribute_not_exists(#running) OR #running < :limit',
      ExpressionAttributeNames: { '#running': 'running', '#itemType': 'itemType', '#version': 'version' },
      ExpressionAttributeValues: { ':one': 1, ':limit': limit, ':itemType': 'COUNTER' },
    });
    return outcome.applied;
  }

  /** Gives a slot back; never goes below zero (false when none was held). */
  async releaseSlot(): Promise<boolean> {
    const outcome = await this.tryUpdate({
      Key: runningCounterKey(this.analysis),
      UpdateExpression: 'ADD #running :minusOne, #version :one',
      ConditionExpression: '#running > :zero',
      ExpressionAttributeNames: { '#running': 'running', '#version': 'version' },
      ExpressionAttributeValues: { ':minusOne': -1, ':zero': 0, ':one': 1 },
    });
    return outcome.applied;
  }

  async runningCount(): Promise<number> {
    const item = await this.get(runningCounterKey(this.analysis));
    return typeof item?.running === 'number' ? item.running : 0;
  }

  /**
   * The watchdog's repair of the running counter to the `actual` number of slot-holding datasets it
   * counted. A count taken while a slot is being acquired (the dataset not yet INITIALIZING) looks
   * like drift, so a difference is acted on only when the previous run saw the same difference at
   * the same counter version: no slot was taken or given back in between. Returns the old value
   * when it repaired, else undefined.
   */
  async repairRunningCount(actual: number): Promise<number | undefined> {
    if (!Number.isInteger(actual) || actual < 0) throw new Error(`running count ${actual} is not a count`);
    const key = runningCounterKey(this.analysis);
    const item = (
      await this.client.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }))
    ).Item;
    const running = typeof item?.running === 'number' ? item.running : 0;
    const version = typeof item?.version === 'number' ? item.version : 0;
    const suspect = item?.suspect as { version?: number; actual?: number } | undefined;
    const sameVersion = '(attribute_not_exists(#version) AND :version = :zero) OR #version = :version';
    const names = {
      '#running': 'running',
      '#version': 'version',
      '#suspect': 'suspect',
      '#itemType': 'itemType',
    };
    if (running === actual) {
      if (suspect)
        await this.tryUpdate({
          Key: key,
          UpdateExpression: 'REMOVE #suspect',
          ExpressionAttributeNames: { '#suspect': 'suspect' },
        });
      return undefined;
    }
    if (suspect?.version === version && suspect.actual === actual) {
      const outcome = await this.tryUpdate({
        Key: key,
        UpdateExpression: 'SET #running = :actual, #itemType = :itemType REMOVE #suspect ADD #version :one',
        ConditionExpression: sameVersion,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: {
          ':actual': actual,
          ':itemType': 'COUNTER',
          ':version': version,
          ':zero': 0,
          ':one': 1,
        },
      });
      return outcome.applied ? running : undefined;
    }
    await this.tryUpdate({
      Key: key,
      UpdateExpression: 'SET #suspect = :suspect, #itemType = :itemType',
      ConditionExpression: sameVersion,
      ExpressionAttributeNames: { '#version': 'version', '#suspect': 'suspect', '#itemType': 'itemType' },
      ExpressionAttributeValues: {
        ':suspect': { version, actual },
        ':itemType': 'COUNTER',
        ':version': version,
        ':zero': 0,
      },
    });
    return undefined;
  }

  // ---- budget -----------------------------------------------------------------------------------

  /**
   * Commits `amountUsd` of a group's monthly budget for this analysis if the total stays within
   * `maxUsd` (atomic). A refusal carries the figures for the message to the user.
   */
  async reserveBudget(
    group: string,
    month: string,
    amountUsd: number,
    maxUsd: number,
  ): Promise<BudgetReservation> {
    if (!(amountUsd >= 0) || !Number.isFinite(amountUsd))
      throw new Error(`budget amount ${amountUsd} is not >= 0`);
    if (!Number.isFinite(maxUsd)) throw new Error(`budget max ${maxUsd} is not a number`);
    const key = budgetItemKey(this.analysis, group, month);
    const amount = roundUsd(amountUsd);
    const max = roundUsd(maxUsd);
    const refusal = async (): Promise<BudgetReservation> => ({
      ok: false,
      committedUsd: await this.committed(key),
      maxUsd: max,
      requestedUsd: amount,
    });
    if (amount > max) return refusal();
    // Conditions cannot add: `committedUsd + amount <= max` is written `committedUsd <= max - amount`.
    const outcome = await this.tryUpdate({
      Key: key,
      UpdateExpression: 'SET #itemType = :itemType ADD #committed :amount',
      ConditionExpression: 'attribute_not_exists(#committed) OR #committed <= :headroom',
      ExpressionAttributeNames: { '#committed': 'committedUsd', '#itemType': 'itemType' },
      ExpressionAttributeValues: {
        ':amount': amount,
        ':headroom': roundUsd(max - amount),
        ':itemType': 'BUDGET',
      },
      ReturnValues: 'ALL_NEW',
    });
    if (!outcome.applied) return refusal();
    const committed = outcome.attributes.committedUsd;
    return { ok: true, committedUsd: typeof committed === 'number' ? committed : amount, maxUsd: max };
  }

  /**
   * Replaces an estimate with the actual cost (actual may exceed the max: it was spent). Returns the
   * new committed total. Call once per dataset, on the path whose final transition applied.
   */
  async settleBudget(group: string, month: string, estimatedUsd: number, actualUsd: number): Promise<number> {
    const result = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: budgetItemKey(this.analysis, group, month),
        UpdateExpression: 'SET #itemType = :itemType ADD #committed :delta',
        ExpressionAttributeNames: { '#committed': 'committedUsd', '#itemType': 'itemType' },
        ExpressionAttributeValues: { ':delta': roundUsd(actualUsd - estimatedUsd), ':itemType': 'BUDGET' },
        ReturnValues: 'ALL_NEW',
      }),
    );
    const committed = result.Attributes?.committedUsd;
    return typeof committed === 'number' ? committed : 0;
  }

  /** What a group has committed this month (0 when nothing yet). */
  async getBudget(group: string, month: string): Promise<number> {
    return this.committed(budgetItemKey(this.analysis, group, month));
  }

  private async committed(key: ItemKey): Promise<number> {
    const item = await this.get(key);
    return typeof item?.committedUsd === 'number' ? item.committedUsd : 0;
  }

  // ---- plumbing ---------------------------------------------------------------------------------

  private nowIso(): string {
    return this.now().toISOString();
  }

  private async mustGetJob(job: JobKey): Promise<Job> {
    const found = await this.getJob(job);
    if (!found) throw new Error(`job ${job.group}/${job.jobId} has no header`);
    return found;
  }

  private async currentState(key: ItemKey): Promise<JobState | undefined> {
    const item = await this.get(key);
    return item ? parseDataset(item).state : undefined;
  }

  private async get(key: ItemKey): Promise<Item | undefined> {
    const result = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
    );
    return result.Item;
  }

  private async mustGet(key: ItemKey): Promise<Item> {
    const item = await this.get(key);
    if (!item) throw new Error(`job table item ${key.pk} / ${key.sk} is missing`);
    return item;
  }

  private async put(item: Item): Promise<void> {
    await this.client.send(new PutCommand({ TableName: this.tableName, Item: item }));
  }

  /** Puts an item that does not exist yet; false (and nothing written) when it does. */
  private async putIfAbsent(item: Item): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': 'pk' },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  private async delete(key: ItemKey): Promise<void> {
    await this.client.send(new DeleteCommand({ TableName: this.tableName, Key: key }));
  }

  private async tryUpdate(input: Omit<UpdateCommandInput, 'TableName'>): Promise<UpdateOutcome> {
    try {
      const result = await this.client.send(new UpdateCommand({ TableName: this.tableName, ...input }));
      return { applied: true, attributes: result.Attributes ?? {} };
    } catch (error) {
      if (isConditionFailure(error)) return { applied: false };
      throw error;
    }
  }

  private async queryAll(input: Omit<QueryCommandInput, 'TableName'>): Promise<Item[]> {
    const items: Item[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({ TableName: this.tableName, ...input, ExclusiveStartKey: startKey }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return items;
  }

  /** Waits for follow-up writes; their failures are reported, not thrown (readers repair them). */
  private async settleFollowUps(what: string, writes: readonly Promise<unknown>[]): Promise<void> {
    const results = await Promise.allSettled(writes);
    for (const result of results) {
      if (result.status === 'rejected') this.onRepairableError(what, result.reason);
    }
  }
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
