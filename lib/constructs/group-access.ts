import { Aws, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { DataBucket } from './data-bucket';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { GroupConfig } from '../blueprint/analysis-config';
import { configsPrefix, groupPrefix, inputsPrefix, submissionsPrefix } from '../layout';

export interface GroupAccessProps {
  readonly dataBucket: DataBucket;
  readonly groups: readonly GroupConfig[];
  readonly analysisName: string;
}

/**
 * What a lab member may do, and nothing more: put into their own inputs/, configs/, submissions/;
 * read and list their own prefix; never write results/; nothing of another group.
 *
 * Access is granted in the bucket policy to the named IAM users, so an analysis consumes none of a
 * user's IAM quotas (10 groups, 10-20 attached managed policies: NeuroCAAS issue #4): one person can
 * use any number of analyses. The same rules also exist as one customer-managed policy per group,
 * attached to nothing, for operators who manage people through IAM groups, roles or SSO permission
 * sets: attach it where those people are (its ARN is a stack output).
 */
export class GroupAccess extends Construct {
  /** The member policy of each group, by group name. */
  readonly memberPolicies: ReadonlyMap<string, iam.ManagedPolicy>;

  constructor(scope: Construct, id: string, props: GroupAccessProps) {
    super(scope, id);
    const policies = new Map<string, iam.ManagedPolicy>();
    const bucket = props.dataBucket.bucket;
    props.groups.forEach((group, index) => {
      // Statement ids must be unique within the bucket policy and alphanumeric.
      const sidSuffix = `Group${index}`;
      const statements = memberStatements(bucket, group.name, sidSuffix);
      const policy = new iam.ManagedPolicy(this, `Members-${group.name}`, {
        description: `ncaas ${props.analysisName}: members of group ${group.name}`,
        statements,
      });
      NagSuppressions.addResourceSuppressions(policy, [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Object wildcards are confined to this group\'s own folders ("{group}/inputs/*", ...), which is the unit of access; listing is limited by an s3:prefix condition.',
        },
      ]);
      policies.set(group.name, policy);

      const principals = group.userNames.map(
        (user) => new iam.ArnPrincipal(`arn:${Aws.PARTITION}:iam::${Stack.of(this).account}:user/${user}`),
      );
      if (principals.length > 0) {
        for (const statement of memberStatements(bucket, group.name, sidSuffix)) {
          statement.addPrincipals(...principals);
          props.dataBucket.addToResourcePolicy(statement);
        }
      }
    });
    this.memberPolicies = policies;
  }
}

/**
 * The member rules of one group. Every prefix ends with a slash, so `lab/` never matches `lab2/`.
 * Deletes are allowed where users stage data (the bucket is versioned: nothing is lost).
 */
export const memberStatements = (
  bucket: s3.IBucket,
  group: string,
  sidSuffix: string,
): iam.PolicyStatement[] => {
  const objects = (prefix: string) => bucket.arnForObjects(`${prefix}*`);
  return [
    new iam.PolicyStatement({
      sid: `ListOwnGroupPrefix${sidSuffix}`,
      actions: ['s3:ListBucket'],
      resources: [bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${groupPrefix(group)}*`] } },
    }),
    new iam.PolicyStatement({
      sid: `ReadOwnGroup${sidSuffix}`,
      actions: ['s3:GetObject'],
      resources: [objects(groupPrefix(group))],
    }),
    new iam.PolicyStatement({
      sid: `UploadDataConfigsSubmissions${sidSuffix}`,
      actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      resources: [
        objects(inputsPrefix(group)),
        objects(configsPrefix(group)),
        objects(submissionsPrefix(group)),
      ],
    }),
    new iam.PolicyStatement({
      sid: `DeleteOwnDataAndConfigs${sidSuffix}`,
      actions: ['s3:DeleteObject'],
      resources: [objects(inputsPrefix(group)), objects(configsPrefix(group))],
    }),
  ];
};
