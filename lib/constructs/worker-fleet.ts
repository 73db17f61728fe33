import { Aws, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { GroupShards } from './group-shards';
import type { GroupConfig } from '../blueprint/analysis-config';
import { groupPrefix, resultsPrefix } from '../layout';
import { workerInstanceProfileName, workerRolePath } from '../launch/worker-identity';

export interface WorkerFleetProps {
  readonly analysisName: string;
  /** The blueprint's REGION: part of the fixed IAM names (lib/launch/worker-identity.ts). */
  readonly region: string;
  readonly vpc: ec2.IVpc;
  readonly bucket: s3.IBucket;
  readonly groups: readonly GroupConfig[];
  /** Where each group's role and instance profile go. @default this construct */
  readonly shards?: GroupShards;
  /** More statements for a group's role (e.g. mounting its EFS access point). @default none */
  readonly groupStatements?: (group: string) => iam.PolicyStatement[];
  /** Root volume of the template; the launcher replaces the device name and size from the AMI. @default 30 */
  readonly rootVolumeGiB?: number;
}

export { WORKER_TAGS } from '../launch/worker-tags';
import { WORKER_TAGS } from '../launch/worker-tags';

/**
 * What a dedicated EC2 worker is allowed to be: a security group with no ingress, one role and
 * instance profile per group limited to that group's prefix (read it all, write only results/; no
 * DynamoDB, no other group or bucket), and a launch template holding the security-relevant settings
 * (IMDSv2 only, encrypted gp3 root, terminate on shutdown, no key pair). The launcher repeats these
 * settings in its RunInstances call, so a changed template cannot weaken them.
 */
export class WorkerFleet extends Construct {
  readonly securityGroup: ec2.SecurityGroup;
  readonly launchTemplate: ec2.LaunchTemplate;
  readonly roles: ReadonlyMap<string, iam.Role>;
  readonly instanceProfiles: ReadonlyMap<string, iam.InstanceProfile>;

  private readonly analysisName: string;
  private readonly region: string;

  constructor(scope: Construct, id: string, props: WorkerFleetProps) {
    super(scope, id);
    this.analysisName = props.analysisName;
    this.region = props.region;
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: `ncaas ${props.analysisName} workers: no inbound traffic`,
      allowAllOutbound: true,
    });

    const roles = new Map<string, iam.Role>();
    const profiles = new Map<string, iam.InstanceProfile>();
    for (const group of props.groups) {
      const scope = props.shards?.scopeFor(id, group.name) ?? this;
      const role = new iam.Role(scope, `Role-${group.name}`, {
        assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
        description: `ncaas ${props.analysisName} worker of group ${group.name}: its prefix only`,
        // Under the analysis's worker path: the launcher may pass these roles, by one ARN pattern.
        path: workerRolePath(props.analysisName, props.region),
        // Inline in the role: no separate policy resource per group.
        inlinePolicies: {
          GroupPrefixOnly: new iam.PolicyDocument({
            statements: [
              ...workerStatements(props.bucket, group.name),
              ...(props.groupStatements?.(group.name) ?? []),
            ],
          }),
        },
      });
      NagSuppressions.addResourceSuppressions(
        role,
        [
          {
            id: 'AwsSolutions-IAM5',
            reason:
              'Object wildcards are confined to this group\'s prefix ("{group}/*" to read, "{group}/results/*" to write): the worker stages any dataset of its group and writes its job folder.',
          },
          {
            id: 'NIST.800.53.R5-IAMNoInlinePolicy',
            reason:
              "The worker role's policy is inline in this one role and is created, changed and deleted with it; nothing shares it. A customer managed policy per group would add a resource and use the account's managed-policy quota without narrowing any permission. What each worker role may reach is checked with a policy simulator in test/security.",
          },
        ],
        true,
      );
      roles.set(group.name, role);
      // Named from the analysis and group, so the launcher needs no list of them (lib/launch/worker-identity.ts).
      profiles.set(
        group.name,
        new iam.InstanceProfile(scope, `Profile-${group.name}`, {
          role,
          instanceProfileName: workerInstanceProfileName(props.analysisName, props.region, group.name),
        }),
      );
    }
    this.roles = roles;
    this.instanceProfiles = profiles;

    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      requireImdsv2: true,
      httpPutResponseHopLimit: 2,
      instanceInitiatedShutdownBehavior: ec2.InstanceInitiatedShutdownBehavior.TERMINATE,
      securityGroup: this.securityGroup,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(props.rootVolumeGiB ?? 30, {
            encrypted: true,
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            deleteOnTermination: true,
          }),
        },
      ],
    });
  }

  /**
   * Lets `grantee` launch workers: RunInstances from this template, tags only at launch, and PassRole
   * of this analysis's worker roles only (their IAM path), only to EC2. With `spot` (Ec2.Spot), also
   * the Spot request RunInstances makes, and EC2 Spot's service-linked role, which AWS creates on an
   * account's first Spot request.
   */
  grantLaunch(grantee: iam.IGrantable, options: { readonly spot?: boolean } = {}): void {
    const stack = Stack.of(this);
    const arn = (resource: string) => `arn:${Aws.PARTITION}:ec2:${stack.region}:${stack.account}:${resource}`;
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ec2:RunInstances'],
        resources: [
          arn('instance/*'),
          arn('volume/*'),
          arn('network-interface/*'),
          arn('subnet/*'),
          arn(`security-group/${this.securityGroup.securityGroupId}`),
          arn(`launch-template/${this.launchTemplate.launchTemplateId}`),
          `arn:${Aws.PARTITION}:ec2:${stack.region}::image/*`,
          ...(options.spot ? [arn('spot-instances-request/*')] : []),
        ],
      }),
    );
    if (options.spot) {
      grantee.grantPrincipal.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['iam:CreateServiceLinkedRole'],
          resources: [
            `arn:${Aws.PARTITION}:iam::${stack.account}:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot`,
          ],
          conditions: { StringEquals: { 'iam:AWSServiceName': 'spot.amazonaws.com' } },
        }),
      );
    }
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ec2:CreateTags'],
        resources: [arn('instance/*'), arn('volume/*')],
        conditions: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [
          `arn:${Aws.PARTITION}:iam::${stack.account}:role${workerRolePath(this.analysisName, this.region)}*`,
        ],
        conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
      }),
    );
  }

  /** Lets `grantee` terminate this analysis's workers (and only those: by tag). */
  grantTerminate(grantee: iam.IGrantable, analysisName: string): void {
    const stack = Stack.of(this);
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ec2:TerminateInstances'],
        resources: [`arn:${Aws.PARTITION}:ec2:${stack.region}:${stack.account}:instance/*`],
        conditions: { StringEquals: { [`aws:ResourceTag/${WORKER_TAGS.analysis}`]: analysisName } },
      }),
    );
  }
}

/** A worker reads its group's prefix and writes its results; every prefix ends with `/`. */
export const workerStatements = (bucket: s3.IBucket, group: string): iam.PolicyStatement[] => [
  new iam.PolicyStatement({
    actions: ['s3:ListBucket'],
    resources: [bucket.bucketArn],
    conditions: { StringLike: { 's3:prefix': [`${groupPrefix(group)}*`] } },
  }),
  new iam.PolicyStatement({
    actions: ['s3:GetObject'],
    resources: [bucket.arnForObjects(`${groupPrefix(group)}*`)],
  }),
  new iam.PolicyStatement({
    actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
    resources: [bucket.arnForObjects(`${resultsPrefix(group)}*`)],
  }),
  // end.txt says a whole job is done: only the control plane writes it, never a worker (of this job
  // or another of the group). The worker leaves an end.txt an analysis wrote out of its upload.
  new iam.PolicyStatement({
    effect: iam.Effect.DENY,
    actions: ['s3:PutObject'],
    resources: [bucket.arnForObjects(`${resultsPrefix(group)}*/process_results/end.txt`)],
  }),
];
