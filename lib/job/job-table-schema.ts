/**
 * The job table's definition, as data. The CDK construct, the local runtime and the tests all build
 * the table from this one description, so the key names and indexes the job store relies on cannot
 * drift between a deployed stack and an emulator.
 *
 * Item layout: see the comment at the top of ./job-store.ts.
 */
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

/** DynamoDB scalar attribute type of a key attribute (only strings are used). */
export type KeyAttributeType = 'S';

export interface KeyAttribute {
  readonly name: string;
  readonly type: KeyAttributeType;
}

export interface GlobalIndexDefinition {
  readonly indexName: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  /** Every index projects whole items: the store reads them without a second fetch. */
  readonly projection: 'ALL';
}

export interface JobTableDefinition {
  readonly partitionKey: KeyAttribute;
  readonly sortKey: KeyAttribute;
  /** On-demand: no idle cost. */
  readonly billingMode: 'PAY_PER_REQUEST';
  readonly globalIndexes: readonly GlobalIndexDefinition[];
}

/** `byGroup`: a group's jobs, newest first. Sparse: only job header items carry `groupName`. */
export const BY_GROUP_INDEX: GlobalIndexDefinition = {
  indexName: 'byGroup',
  partitionKey: { name: 'groupName', type: 'S' },
  sortKey: { name: 'submittedAt', type: 'S' },
  projection: 'ALL',
};

/**
 * `byLauncher`: the dataset an EC2 instance id, Batch job id or `local:<pid>` belongs to (state events
 * carry only that id). Sparse: only launched dataset items carry `launcherId`.
 */
export const BY_LAUNCHER_INDEX: GlobalIndexDefinition = {
  indexName: 'byLauncher',
  partitionKey: { name: 'launcherId', type: 'S' },
  projection: 'ALL',
};

export const JOB_TABLE: JobTableDefinition = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  billingMode: 'PAY_PER_REQUEST',
  globalIndexes: [BY_GROUP_INDEX, BY_LAUNCHER_INDEX],
};

/** Every attribute that is a key of the table or of an index, once each (CreateTable's AttributeDefinitions). */
export const keyAttributes = (table: JobTableDefinition = JOB_TABLE): readonly KeyAttribute[] => {
  const all = [
    table.partitionKey,
    table.sortKey,
    ...table.globalIndexes.flatMap((index) =>
      index.sortKey ? [index.partitionKey, index.sortKey] : [index.partitionKey],
    ),
  ];
  return all.filter((attribute, i) => all.findIndex((other) => other.name === attribute.name) === i);
};

/** The definition as a CreateTable request, for emulators (dynalite) and tests. */
export const createJobTableInput = (
  tableName: string,
  table: JobTableDefinition = JOB_TABLE,
): CreateTableCommandInput => ({
  TableName: tableName,
  BillingMode: table.billingMode,
  AttributeDefinitions: keyAttributes(table).map((a) => ({ AttributeName: a.name, AttributeType: a.type })),
  KeySchema: [
    { AttributeName: table.partitionKey.name, KeyType: 'HASH' },
    { AttributeName: table.sortKey.name, KeyType: 'RANGE' },
  ],
  GlobalSecondaryIndexes: table.globalIndexes.map((index) => ({
    IndexName: index.indexName,
    KeySchema: [
      { AttributeName: index.partitionKey.name, KeyType: 'HASH' },
      ...(index.sortKey ? [{ AttributeName: index.sortKey.name, KeyType: 'RANGE' as const }] : []),
    ],
    Projection: { ProjectionType: index.projection },
  })),
});
