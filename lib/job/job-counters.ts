/**
 * The job table's counters: running-worker slots (DEPLOY_LIMIT) and each group's monthly budget
 * (MAXCOST), which also counts what the month's ended jobs spent (`ncaas costs`). Conditional arithmetic only (`running < :limit`, `committedUsd <= :max - amount`): no
 * check-then-act race. Releasing a slot and settling a cost are not idempotent by themselves: callers
 * do them only on the path whose transition applied (exactly one per dataset).
 */
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { budgetItemKey, type ItemKey, runningCounterKey } from './job-keys';
import { roundUsd, type Item } from './job-items';
import type { JobTable } from './job-table';

export type BudgetReservation =
  | { readonly ok: true; readonly committedUsd: number; readonly maxUsd: number }
  | {
      readonly ok: false;
      /** Already committed this month (estimates of running jobs, actual cost of finished ones). */
      readonly committedUsd: number;
      readonly maxUsd: number;
      readonly requestedUsd: number;
    };

/** A group's month on this analysis (the BUDGET item): what ended, what it cost, what is committed. */
export interface MonthSpend {
  /** Jobs ended this month (of jobs submitted this month). */
  readonly jobs: number;
  readonly datasets: number;
  readonly billedSeconds: number;
  /** The known costs of the ended datasets. */
  readonly spentUsd: number;
  /** Ended datasets whose cost is unknown (not in spentUsd). */
  readonly unknownCostDatasets: number;
  /** What the MAXCOST check counts: spent, plus what running and queued datasets have reserved. */
  readonly committedUsd: number;
}

export class JobCounters {
  constructor(private readonly table: JobTable) {}

  // ---- running-worker slots

  /** Takes a slot if fewer than `limit` are held (atomic: no check-then-launch race). */
  async acquireSlot(limit: number): Promise<boolean> {
    if (!(limit >= 1)) return false;
    const outcome = await this.table.tryUpdate({
      Key: runningCounterKey(this.table.analysis),
      UpdateExpression: 'SET #itemType = :itemType ADD #running :one, #version :one',
      ConditionExpression: 'attribute_not_exists(#running) OR #running < :limit',
      ExpressionAttributeNames: { '#running': 'running', '#itemType': 'itemType', '#version': 'version' },
      ExpressionAttributeValues: { ':one': 1, ':limit': limit, ':itemType': 'COUNTER' },
    });
    return outcome.applied;
  }

  /** Gives a slot back; never goes below zero (false when none was held). */
  async releaseSlot(): Promise<boolean> {
    const outcome = await this.table.tryUpdate({
      Key: runningCounterKey(this.table.analysis),
      UpdateExpression: 'ADD #running :minusOne, #version :one',
      ConditionExpression: '#running > :zero',
      ExpressionAttributeNames: { '#running': 'running', '#version': 'version' },
      ExpressionAttributeValues: { ':minusOne': -1, ':zero': 0, ':one': 1 },
    });
    return outcome.applied;
  }

  async runningCount(): Promise<number> {
    const item = await this.table.get(runningCounterKey(this.table.analysis));
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
    const key = runningCounterKey(this.table.analysis);
    const item = (
      await this.table.client.send(
        new GetCommand({ TableName: this.table.tableName, Key: key, ConsistentRead: true }),
      )
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
        await this.table.tryUpdate({
          Key: key,
          UpdateExpression: 'REMOVE #suspect',
          ExpressionAttributeNames: { '#suspect': 'suspect' },
        });
      return undefined;
    }
    if (suspect?.version === version && suspect.actual === actual) {
      const outcome = await this.table.tryUpdate({
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
    await this.table.tryUpdate({
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

  // ---- budget

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
    const key = budgetItemKey(this.table.analysis, group, month);
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
    const outcome = await this.table.tryUpdate({
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
    const result = await this.table.client.send(
      new UpdateCommand({
        TableName: this.table.tableName,
        Key: budgetItemKey(this.table.analysis, group, month),
        UpdateExpression: 'SET #itemType = :itemType ADD #committed :delta',
        ExpressionAttributeNames: { '#committed': 'committedUsd', '#itemType': 'itemType' },
        ExpressionAttributeValues: { ':delta': roundUsd(actualUsd - estimatedUsd), ':itemType': 'BUDGET' },
        ReturnValues: 'ALL_NEW',
      }),
    );
    const committed = result.Attributes?.committedUsd;
    return typeof committed === 'number' ? committed : 0;
  }

  /**
   * Counts an ended dataset in its group's month (the month's BUDGET item, beside what is committed):
   * its known cost and billed seconds, or one more dataset of unknown cost. Once per dataset, on the
   * path whose final transition applied.
   */
  async recordSpend(
    group: string,
    month: string,
    cost: { readonly usd: number; readonly billedSeconds: number } | undefined,
  ): Promise<void> {
    await this.table.client.send(
      new UpdateCommand({
        TableName: this.table.tableName,
        Key: budgetItemKey(this.table.analysis, group, month),
        UpdateExpression:
          'SET #itemType = :itemType ADD #datasets :one, #spent :usd, #seconds :seconds, #unknown :unknown',
        ExpressionAttributeNames: {
          '#itemType': 'itemType',
          '#datasets': 'endedDatasets',
          '#spent': 'spentUsd',
          '#seconds': 'billedSeconds',
          '#unknown': 'unknownCostDatasets',
        },
        ExpressionAttributeValues: {
          ':itemType': 'BUDGET',
          ':one': 1,
          ':usd': roundUsd(cost?.usd ?? 0),
          ':seconds': cost?.billedSeconds ?? 0,
          ':unknown': cost === undefined ? 1 : 0,
        },
      }),
    );
  }

  /** Counts an ended job in its group's month; returns the month's figures after it. */
  async recordJobEnded(group: string, month: string): Promise<MonthSpend> {
    const result = await this.table.client.send(
      new UpdateCommand({
        TableName: this.table.tableName,
        Key: budgetItemKey(this.table.analysis, group, month),
        UpdateExpression: 'SET #itemType = :itemType ADD #jobs :one',
        ExpressionAttributeNames: { '#itemType': 'itemType', '#jobs': 'endedJobs' },
        ExpressionAttributeValues: { ':itemType': 'BUDGET', ':one': 1 },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return monthSpendOf(result.Attributes ?? {});
  }

  /** What a group has committed this month (0 when nothing yet). */
  async getBudget(group: string, month: string): Promise<number> {
    return this.committed(budgetItemKey(this.table.analysis, group, month));
  }

  private async committed(key: ItemKey): Promise<number> {
    const item = await this.table.get(key);
    return typeof item?.committedUsd === 'number' ? item.committedUsd : 0;
  }
}

const numberOf = (item: Item, name: string): number => (typeof item[name] === 'number' ? item[name] : 0);

const monthSpendOf = (item: Item): MonthSpend => ({
  jobs: numberOf(item, 'endedJobs'),
  datasets: numberOf(item, 'endedDatasets'),
  billedSeconds: numberOf(item, 'billedSeconds'),
  spentUsd: numberOf(item, 'spentUsd'),
  unknownCostDatasets: numberOf(item, 'unknownCostDatasets'),
  committedUsd: numberOf(item, 'committedUsd'),
});
