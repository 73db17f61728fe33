import { Aws, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { GroupShards } from './group-shards';
import type { SignIn } from './sign-in';
import type { GroupConfig } from '../blueprint/analysis-config';
import { configsPrefix, groupPrefix, inputsPrefix, submissionsPrefix } from '../layout';
import { memberRoleName, memberRolePath } from '../member-identity';

export interface GroupAccessProps {
  readonly bucket: s3.IBucket;
  readonly groups: readonly GroupConfig[];
  readonly analysisName: string;
  /** The blueprint's REGION: part of the member roles' names (lib/member-identity.ts). */
  readonly region: string;
  /** Where each group's resources go. @default this construct */
  readonly shards?: GroupShards;
  /** The analysis's sign-in: its members take their group's member role too. @default none */
  readonly signIn?: SignIn;
}

/** Longest session of a member role: a big upload with the CLI may take hours. */
const MEMBER_SESSION = Duration.hours(12);

/**
 * What a lab member may do, and nothing more: put into their own inputs/, configs/, submissions/;
 * read and list their own prefix; never write results/; nothing of another group.
 *
 * The rules of each group are one customer-managed policy (the same statements whatever the number of
 * groups, each policy its own size). People get them two ways, and the bucket policy holds neither:
 * it has a 20 KB limit, which per-user statements crossed at about ten groups.
 * - IAM users named in the blueprint assume the group's **member role** (named from the analysis and
 *   group, lib/member-identity.ts), which trusts exactly those users and holds the group's policy.
 * - People who sign in (lib/constructs/sign-in.ts) get the same role through the identity pool, as
 *   members of the group's Cognito group.
 *   A role's trust policy is a resource policy: nothing is attached to the users, so no IAM per-user
 *   limit (10 groups, 10-20 managed policies: NeuroCAAS issue #4) is ever reached, whatever the
 *   number of analyses a person uses.
 * - People managed through IAM groups, roles or SSO permission sets get the policy attached where
 *   they are (its name says the analysis and group).
 */
export class GroupAccess extends Construct {
  /** The member policy of each group, by group name. */
  readonly memberPolicies: ReadonlyMap<string, iam.ManagedPolicy>;
  /** The member role of each group that names IAM users, by group name. */
  readonly memberRoles: ReadonlyMap<string, iam.Role>;

  constructor(scope: Construct, id: string, props: GroupAccessProps) {
    super(scope, id);
    const policies = new Map<string, iam.ManagedPolicy>();
    const roles = new Map<string, iam.Role>();
    const account = Stack.of(this).account;
    for (const group of props.groups) {
      const scope = props.shards?.scopeFor(id, group.name) ?? this;
      const policy = new iam.ManagedPolicy(scope, `Members-${group.name}`, {
        description: `ncaas ${props.analysisName}: members of group ${group.name}`,
        statements: memberStatements(props.bucket, group.name),
      });
      NagSuppressions.addResourceSuppressions(policy, [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Object wildcards are confined to this group\'s own folders ("{group}/inputs/*", ...), which is the unit of access; listing is limited by an s3:prefix condition.',
        },
      ]);
      policies.set(group.name, policy);

      const principals: iam.IPrincipal[] = group.userNames.map(
        (user) => new iam.ArnPrincipal(`arn:${Aws.PARTITION}:iam::${account}:user/${user}`),
      );
      if (props.signIn) principals.push(props.signIn.memberPrincipal);
      if (principals.length === 0) continue;
      const role = new iam.Role(scope, `MemberRole-${group.name}`, {
        roleName: memberRoleName(props.analysisName, props.region, group.name),
        path: memberRolePath(props.analysisName, props.region),
        description: `ncaas ${props.analysisName}: a member of group ${group.name} (its IAM users, its signed-in members)`,
        assumedBy: new iam.CompositePrincipal(...principals),
        managedPolicies: [policy],
        maxSessionDuration: MEMBER_SESSION,
      });
      roles.set(group.name, role);
      const cognitoGroup = props.signIn?.addGroup(scope, group.name, role);
      if (cognitoGroup && group.userEmails.length > 0) {
        props.signIn?.invite(scope, group.name, group.userEmails, cognitoGroup);
      }
    }
    this.memberPolicies = policies;
    this.memberRoles = roles;
  }
}

/**
 * The member rules of one group. Every prefix ends with a slash, so `lab/` never matches `lab2/`.
 * Deletes are allowed where users stage data (the bucket is versioned: nothing is lost).
 */
export const memberStatements = (bucket: s3.IBucket, group: string): iam.PolicyStatement[] => {
  const objects = (prefix: string) => bucket.arnForObjects(`${prefix}*`);
  return [
    new iam.PolicyStatement({
      sid: 'ListOwnGroupPrefix',
      actions: ['s3:ListBucket'],
      resources: [bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${groupPrefix(group)}*`] } },
    }),
    new iam.PolicyStatement({
      sid: 'ReadOwnGroup',
      actions: ['s3:GetObject'],
      resources: [objects(groupPrefix(group))],
    }),
    new iam.PolicyStatement({
      sid: 'UploadDataConfigsSubmissions',
      actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      resources: [
        objects(inputsPrefix(group)),
        objects(configsPrefix(group)),
        objects(submissionsPrefix(group)),
      ],
    }),
    new iam.PolicyStatement({
      sid: 'DeleteOwnDataAndConfigs',
      actions: ['s3:DeleteObject'],
      resources: [objects(inputsPrefix(group)), objects(configsPrefix(group))],
    }),
  ];
};
