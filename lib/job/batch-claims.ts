/**
 * Claims on a dataset item that make a Batch or launch follow-up happen once: the watchdog's one
 * resend of a lost launch message, a stage-out per job folder, the one on-demand relaunch after Spot
 * capacity failed. Each is a conditional update: true (or the record) for exactly one caller.
 */
import { datasetItemKey, type JobKey } from './job-keys';
import { type DatasetRecord, parseDataset } from './job-items';
import type { JobTable } from './job-table';

export class BatchClaims {
  constructor(private readonly table: JobTable) {}

  /**
   * Claims the one resend of a launch message the watchdog may make for this attempt (a message lost
   * between the drain and the queue). True for exactly one caller per dataset and attempt.
   */
  async claimLaunchResend(job: JobKey, datasetIndex: number, attempt: number): Promise<boolean> {
    const outcome = await this.table.tryUpdate({
      Key: datasetItemKey(this.table.analysis, job, datasetIndex),
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
    const outcome = await this.table.tryUpdate({
      Key: datasetItemKey(this.table.analysis, job, datasetIndex),
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
    const outcome = await this.table.tryUpdate({
      Key: datasetItemKey(this.table.analysis, job, datasetIndex),
      UpdateExpression: 'SET #fallback = :now',
      ConditionExpression: 'attribute_exists(#pk) AND attribute_not_exists(#fallback)',
      ExpressionAttributeNames: { '#pk': 'pk', '#fallback': 'onDemandFallbackAt' },
      ExpressionAttributeValues: { ':now': this.table.nowIso() },
    });
    return outcome.applied;
  }

  /** Gives the fallback claim back (the relaunch could not be submitted: a retried event claims it). */
  async releaseOnDemandFallback(job: JobKey, datasetIndex: number): Promise<void> {
    await this.table.tryUpdate({
      Key: datasetItemKey(this.table.analysis, job, datasetIndex),
      UpdateExpression: 'REMOVE #fallback',
      ConditionExpression: 'attribute_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk', '#fallback': 'onDemandFallbackAt' },
    });
  }

  /** Gives a stage-out claim back (its submission failed: the event's retry must be able to claim it). */
  async releaseStageOut(job: JobKey, datasetIndex: number, jobDir: string): Promise<void> {
    await this.table.tryUpdate({
      Key: datasetItemKey(this.table.analysis, job, datasetIndex),
      UpdateExpression: 'DELETE #out :dir',
      ConditionExpression: 'attribute_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'pk', '#out': 'stageOutFor' },
      ExpressionAttributeValues: { ':dir': new Set([jobDir]) },
    });
  }
}
