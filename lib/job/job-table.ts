/**
 * The job table's plumbing, shared by the job store (./job-store.ts) and its parts (./job-counters.ts,
 * ./efs-folder-store.ts, ./batch-claims.ts): consistent reads, conditional writes that say whether
 * they applied, paged queries, batch reads, and follow-up writes whose failures readers repair. The
 * item layout and the rules every write keeps are in ./job-store.ts's header.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
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
import { setTimeout as delay } from 'node:timers/promises';
import { datasetItemKey, type ItemKey, type JobKey, runningCounterKey } from './job-keys';
import { type DatasetRecord, type DatasetRef, type Item, parseDataset } from './job-items';
import { isNamed } from '../aws-error-names';

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

export type UpdateOutcome =
  { readonly applied: true; readonly attributes: Item } | { readonly applied: false };

export const isConditionFailure = (error: unknown): boolean =>
  isNamed(error, 'ConditionalCheckFailedException');

/** One string per item key, for maps of items. */
export const keyString = (key: ItemKey): string => `${key.pk}\u0000${key.sk}`;

const BATCH_GET_LIMIT = 100;

export class JobTable {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /** The analysis (`PipelineName`) served: every key read or written is scoped to it. */
  readonly analysis: string;
  readonly now: () => Date;
  readonly onRepairableError: (what: string, error: unknown) => void;

  constructor(options: JobStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.analysis = options.analysis;
    this.now = options.now ?? (() => new Date());
    this.onRepairableError = options.onRepairableError ?? (() => undefined);
    runningCounterKey(this.analysis); // throws now, not on first use, if the analysis name cannot be a key
  }

  async getDataset(job: JobKey, datasetIndex: number): Promise<DatasetRecord | undefined> {
    const item = await this.get(datasetItemKey(this.analysis, job, datasetIndex));
    return item ? parseDataset(item) : undefined;
  }

  async batchGetDatasets(refs: readonly DatasetRef[]): Promise<Map<string, DatasetRecord>> {
    const items = await this.batchGet(
      refs.map((ref) => datasetItemKey(this.analysis, ref, ref.datasetIndex)),
    );
    const found = new Map<string, DatasetRecord>();
    for (const [key, item] of items) found.set(key, parseDataset(item));
    return found;
  }

  /** Items by `keyString` of their key (consistent reads; missing items are absent). */
  async batchGet(keys: readonly ItemKey[]): Promise<Map<string, Item>> {
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

  nowIso(): string {
    return this.now().toISOString();
  }

  async get(key: ItemKey): Promise<Item | undefined> {
    const result = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
    );
    return result.Item;
  }

  async mustGet(key: ItemKey): Promise<Item> {
    const item = await this.get(key);
    if (!item) throw new Error(`job table item ${key.pk} / ${key.sk} is missing`);
    return item;
  }

  async put(item: Item): Promise<void> {
    await this.client.send(new PutCommand({ TableName: this.tableName, Item: item }));
  }

  /** Puts an item that does not exist yet; false (and nothing written) when it does. */
  async putIfAbsent(item: Item): Promise<boolean> {
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

  async delete(key: ItemKey): Promise<void> {
    await this.client.send(new DeleteCommand({ TableName: this.tableName, Key: key }));
  }

  async tryUpdate(input: Omit<UpdateCommandInput, 'TableName'>): Promise<UpdateOutcome> {
    try {
      const result = await this.client.send(new UpdateCommand({ TableName: this.tableName, ...input }));
      return { applied: true, attributes: result.Attributes ?? {} };
    } catch (error) {
      if (isConditionFailure(error)) return { applied: false };
      throw error;
    }
  }

  async queryAll(input: Omit<QueryCommandInput, 'TableName'>): Promise<Item[]> {
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
  async settleFollowUps(what: string, writes: readonly Promise<unknown>[]): Promise<void> {
    const results = await Promise.allSettled(writes);
    for (const result of results) {
      if (result.status === 'rejected') this.onRepairableError(what, result.reason);
    }
  }
}
