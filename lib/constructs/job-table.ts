import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { JOB_TABLE, KeyAttribute } from '../job/job-table-schema';

export interface JobTableProps {
  /** Adopt a table retained by an earlier deploy instead of creating one. */
  readonly adoptTableName?: string;
}

const attribute = (a: KeyAttribute): dynamodb.Attribute => ({
  name: a.name,
  type: dynamodb.AttributeType.STRING,
});

/**
 * The source of truth for job state, written only by the control plane. Built from the same
 * definition (lib/job/job-table-schema.ts) as the emulators' tables. On-demand (no idle cost),
 * point-in-time recovery, retained when the stack is destroyed.
 */
export class JobTable extends Construct {
  readonly table: dynamodb.ITableV2;

  constructor(scope: Construct, id: string, props: JobTableProps = {}) {
    super(scope, id);
    if (props.adoptTableName) {
      this.table = dynamodb.TableV2.fromTableName(this, 'Adopted', props.adoptTableName);
      return;
    }
    this.table = new dynamodb.TableV2(this, 'Table', {
      partitionKey: attribute(JOB_TABLE.partitionKey),
      sortKey: attribute(JOB_TABLE.sortKey),
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
      globalSecondaryIndexes: JOB_TABLE.globalIndexes.map((index) => ({
        indexName: index.indexName,
        partitionKey: attribute(index.partitionKey),
        ...(index.sortKey ? { sortKey: attribute(index.sortKey) } : {}),
        projectionType: dynamodb.ProjectionType.ALL,
      })),
    });
  }
}
