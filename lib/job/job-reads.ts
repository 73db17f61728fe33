/**
 * Reading the job table: a job with its datasets, a group's jobs, the launch queue and the live
 * datasets (verified against the dataset items, stale entries deleted on the way), a dataset by its
 * launcher id, and the certificate log kept in the job's header. ./job-store.ts adds the writes.
 */
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { JobTable, keyString, type UpdateOutcome } from './job-table';
import {
  datasetItemKey,
  DATASET_SK_PREFIX,
  headerItemKey,
  HEADER_SK,
  type ItemKey,
  type JobKey,
  jobPartitionKey,
  livePartitionKey,
  queueItemKey,
  queuePartitionKey,
  submissionItemKey,
} from './job-keys';
import {
  type DatasetRecord,
  type Item,
  type Job,
  type JobHeader,
  parseDataset,
  parseDatasetRef,
  parseHeader,
} from './job-items';
import { isFinal, type JobState, UNADMITTED_STATE } from './job-state';
import { BY_GROUP_INDEX, BY_LAUNCHER_INDEX } from './job-table-schema';
import { errorMessage, isNamed } from '../aws-error-names';

export interface ListGroupJobsOptions {
  readonly limit?: number;
  /** Only jobs whose stored summary state is this (SUBMITTED for jobs not admitted yet). */
  readonly state?: JobState;
}

const PAGE_SIZE = 100;

/** DynamoDB refused a write that would make an item larger than 400 KB (any other refusal is a bug). */
const isItemTooLarge = (error: unknown): boolean =>
  isNamed(error, 'ValidationException') &&
  /item size .*exceeded the maximum allowed size/i.test(errorMessage(error));

export class JobReads extends JobTable {
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

  protected async liveEntries(): Promise<Item[]> {
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
  protected async verifyEntries(
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

  // ---- reads used by transitions -------------------------------------------------------------

  protected async mustGetJob(job: JobKey): Promise<Job> {
    const found = await this.getJob(job);
    if (!found) throw new Error(`job ${job.group}/${job.jobId} has no header`);
    return found;
  }

  protected async currentState(key: ItemKey): Promise<JobState | undefined> {
    const item = await this.get(key);
    return item ? parseDataset(item).state : undefined;
  }
}
