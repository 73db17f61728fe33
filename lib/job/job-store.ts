/**
 * The job store: the control plane's only access to the job table (docs/DESIGN.md "Job table").
 * This file records submissions and moves states (record, admit, transition); the rest is in parts
 * along its callers' seams, each reached from the store. Inherited: ./job-marks.ts (who runs a
 * dataset, costs, report secrets, the count that decides end.txt) over ./job-reads.ts (jobs, the
 * queue, live datasets, the certificate log). Members: `counters` (./job-counters.ts: slots and
 * budgets), `claims` (./batch-claims.ts), `efsFolders` (./efs-folder-store.ts). All on
 * ./job-table.ts's plumbing. The layout and rules below hold for every part.
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
import { BatchClaims } from './batch-claims';
import { EfsFolderStore } from './efs-folder-store';
import { JobCounters } from './job-counters';
import { assignments, JobMarks } from './job-marks';
import { datasetLabel, groupOfKey, jobResultFolder } from '../layout';
import {
  datasetItemKey,
  headerItemKey,
  type JobKey,
  liveItemKey,
  MAX_DATASETS_PER_JOB,
  MAX_JOB_ID_BYTES,
  queueItemKey,
  submissionIdentity,
  submissionItemKey,
} from './job-keys';
import {
  datasetItem,
  headerItem,
  type Job,
  type JobEstimates,
  type JobHeader,
  liveEntryItem,
  type NewJobFields,
  parseDataset,
  parseHeader,
  parseSubmission,
  queueEntryItem,
  roundUsd,
  submissionItem,
} from './job-items';
import { datasetTransitionCondition, forwardOnlyCondition } from './job-rank';
import { isFinal, type JobState, UNADMITTED_STATE } from './job-state';

export type { DatasetRecord, DatasetRef, EfsFolderRecord, Job, JobEstimates, JobHeader } from './job-items';
export { budgetMonth, submissionIdentity, type JobKey } from './job-keys';
export type { JobStoreOptions } from './job-table';
export type { BudgetReservation } from './job-counters';
export type { ListGroupJobsOptions } from './job-reads';

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
  /** The config's estimates as checked at submission. @default none: the config set neither */
  readonly estimates?: JobEstimates;
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

export class JobStore extends JobMarks {
  /** Running-worker slots and monthly budgets. */
  readonly counters = new JobCounters(this);
  /** Batch job folders on EFS. */
  readonly efsFolders = new EfsFolderStore(this);
  /** Once-only claims for launch and Batch follow-ups. */
  readonly claims = new BatchClaims(this);

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
      estimates: input.estimates ?? {},
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
   * `read`: the job as the caller read it, saving a read: any earlier read will do, since a dataset
   * never returns to SUBMITTED and a complete header stays complete.
   */
  async admit(job: JobKey, read?: Job): Promise<{ admitted: number }> {
    const found = read ?? (await this.getJob(job));
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
}
