/**
 * Batch job folders on EFS (lib/control/efs-folders.ts): recorded before a stage-in may create them,
 * swept by the watchdog, cleaned up by claimed clean-up jobs. A folder's sweep entry is written first
 * and may be stale, never missing; the dataset's `efsFolders` is the truth.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  datasetItemKey,
  efsFolderItemKey,
  efsFolderPartitionKey,
  type ItemKey,
  type JobKey,
} from './job-keys';
import { type DatasetRecord, type EfsFolderRecord, parseEfsFolder } from './job-items';
import { keyString, type JobTable } from './job-table';

export class EfsFolderStore {
  constructor(private readonly table: JobTable) {}

  /**
   * Records a job folder a stage-in may create, before it can: its sweep entry first (an entry may
   * be stale, never missing), then the dataset's `efsFolders`. Idempotent.
   */
  async recordJobFolder(job: JobKey, datasetIndex: number, jobDir: string): Promise<void> {
    const now = this.table.nowIso();
    await this.table.client.send(
      new UpdateCommand({
        TableName: this.table.tableName,
        Key: efsFolderItemKey(this.table.analysis, job, datasetIndex, jobDir),
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
    const outcome = await this.table.tryUpdate({
      Key: datasetItemKey(this.table.analysis, job, datasetIndex),
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
    await this.table.tryUpdate({
      Key: efsFolderItemKey(this.table.analysis, job, datasetIndex, jobDir),
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
    const dataset = await this.table.getDataset(job, datasetIndex);
    if (!dataset?.efsFolders.includes(jobDir)) return undefined;
    const item = await this.table.get(efsFolderItemKey(this.table.analysis, job, datasetIndex, jobDir));
    return item ? parseEfsFolder(item) : undefined;
  }

  /**
   * Every job folder still recorded on EFS, with its dataset (consistent reads). Entries whose dataset
   * no longer lists the folder are deleted on the way; an entry whose dataset item is missing is
   * skipped. Its cost follows the folders outstanding, not the table's history.
   */
  async listJobFolders(): Promise<{ folder: EfsFolderRecord; dataset: DatasetRecord }[]> {
    const entries = await this.table.queryAll({
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': 'pk' },
      ExpressionAttributeValues: { ':pk': efsFolderPartitionKey(this.table.analysis) },
      ConsistentRead: true,
    });
    const folders = entries.map(parseEfsFolder);
    const datasets = await this.table.batchGetDatasets(folders);
    const found: { folder: EfsFolderRecord; dataset: DatasetRecord }[] = [];
    const stale: ItemKey[] = [];
    folders.forEach((folder, i) => {
      const dataset = datasets.get(
        keyString(datasetItemKey(this.table.analysis, folder, folder.datasetIndex)),
      );
      if (!dataset) return;
      if (dataset.efsFolders.includes(folder.jobDir)) found.push({ folder, dataset });
      else stale.push({ pk: String(entries[i].pk), sk: String(entries[i].sk) });
    });
    await this.table.settleFollowUps(
      'delete stale job folder entries',
      stale.map((key) => this.table.delete(key)),
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
    const outcome = await this.table.tryUpdate({
      Key: efsFolderItemKey(this.table.analysis, job, datasetIndex, jobDir),
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
      ExpressionAttributeValues: {
        ':next': seen + 1,
        ':seen': seen,
        ':zero': 0,
        ':now': this.table.nowIso(),
      },
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
    await this.table.tryUpdate({
      Key: efsFolderItemKey(this.table.analysis, job, datasetIndex, jobDir),
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
    const outcome = await this.table.tryUpdate({
      Key: efsFolderItemKey(this.table.analysis, job, datasetIndex, jobDir),
      UpdateExpression: 'SET #abandoned = :now',
      ConditionExpression: 'attribute_exists(#pk) AND attribute_not_exists(#abandoned)',
      ExpressionAttributeNames: { '#pk': 'pk', '#abandoned': 'abandonedAt' },
      ExpressionAttributeValues: { ':now': this.table.nowIso() },
    });
    return outcome.applied;
  }

  /**
   * The folder is known removed (a stage-out or clean-up succeeded) or was never created (its
   * stage-in never started): off the dataset, then its entry (a failed delete leaves a stale entry
   * that `listJobFolders` removes).
   */
  async clearJobFolder(job: JobKey, datasetIndex: number, jobDir: string): Promise<void> {
    await this.table.tryUpdate({
      Key: datasetItemKey(this.table.analysis, job, datasetIndex),
      UpdateExpression: 'DELETE #folders :dir',
      ConditionExpression: 'attribute_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk', '#folders': 'efsFolders' },
      ExpressionAttributeValues: { ':dir': new Set([jobDir]) },
    });
    await this.table.settleFollowUps(`delete the job folder entry ${jobDir}`, [
      this.table.delete(efsFolderItemKey(this.table.analysis, job, datasetIndex, jobDir)),
    ]);
  }
}
