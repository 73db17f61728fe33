import { RemovalPolicy, Tags } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { EFS_ACCESS_POINT_TAGS } from '../launch/efs-access-point-tags';
import type { GroupShards } from './group-shards';
import type { GroupConfig } from '../blueprint/analysis-config';

export interface AnalysisFileSystemProps {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly groups: readonly GroupConfig[];
  /** The analysis: its access points are tagged with it. */
  readonly analysisName: string;
  /** Where each group's access point goes. @default this construct */
  readonly shards?: GroupShards;
  /** Adopt a file system retained by an earlier deploy. Its mount targets must admit `securityGroup`. */
  readonly adoptFileSystemId?: string;
}

/** POSIX identity every group's files are written as (workers and containers map to it). */
export const EFS_POSIX_USER = { uid: '1000', gid: '1000' } as const;

/**
 * The analysis EFS: encrypted, retained, one access point per group rooted at `/{group}`, so a
 * worker mounting through its group's access point cannot see another group's files. NFS is
 * reachable only from the security group given to workers and Batch.
 */
export class AnalysisFileSystem extends Construct {
  readonly fileSystem: efs.IFileSystem;
  /** Security group of the mount targets. */
  readonly securityGroup: ec2.SecurityGroup;
  readonly accessPoints: ReadonlyMap<string, efs.AccessPoint>;

  constructor(scope: Construct, id: string, props: AnalysisFileSystemProps) {
    super(scope, id);
    this.securityGroup = new ec2.SecurityGroup(this, 'MountTargets', {
      vpc: props.vpc,
      description: 'EFS mount targets: NFS from ncaas workers only',
      allowAllOutbound: false,
    });
    this.fileSystem = props.adoptFileSystemId
      ? efs.FileSystem.fromFileSystemAttributes(this, 'Adopted', {
          fileSystemId: props.adoptFileSystemId,
          securityGroup: this.securityGroup,
        })
      : new efs.FileSystem(this, 'FileSystem', {
          vpc: props.vpc,
          vpcSubnets: props.subnets,
          securityGroup: this.securityGroup,
          encrypted: true,
          enableAutomaticBackups: true,
          removalPolicy: RemovalPolicy.RETAIN,
          lifecyclePolicy: efs.LifecyclePolicy.AFTER_30_DAYS,
          // Bursting throughput bills only for storage: nothing while idle.
          throughputMode: efs.ThroughputMode.BURSTING,
          // CDK's "deny anonymous" adds an Allow for any principal through a mount target, which would
          // let one group's role write through another group's access point. Our own policy instead
          // allows nothing by itself: a client needs IAM auth and an identity policy scoped to its
          // group's access point, and only over TLS.
          allowAnonymousAccess: true,
          fileSystemPolicy: new iam.PolicyDocument({
            statements: [
              new iam.PolicyStatement({
                sid: 'DenyWithoutTls',
                effect: iam.Effect.DENY,
                principals: [new iam.AnyPrincipal()],
                actions: ['*'],
                conditions: { Bool: { 'aws:SecureTransport': 'false' } },
              }),
            ],
          }),
        });
    if (!props.adoptFileSystemId) {
      NagSuppressions.addResourceSuppressions(this.fileSystem, [
        {
          id: 'NIST.800.53.R5-EFSInBackupPlan',
          reason:
            'Automatic backups are on (BackupPolicy ENABLED): AWS Backup keeps the file system in its default plan aws/efs/automatic-backup-plan (daily, 35 days), which this rule does not see. A second plan in the stack would duplicate the recovery points and their storage cost.',
        },
      ]);
    }

    const accessPoints = new Map<string, efs.AccessPoint>();
    for (const group of props.groups) {
      const accessPoint = new efs.AccessPoint(
        props.shards?.scopeFor(id, group.name) ?? this,
        `Group-${group.name}`,
        {
          fileSystem: this.fileSystem,
          path: `/${group.name}`,
          posixUser: EFS_POSIX_USER,
          createAcl: { ownerUid: EFS_POSIX_USER.uid, ownerGid: EFS_POSIX_USER.gid, permissions: '750' },
        },
      );
      // How the launcher finds it (lib/launch/efs-access-points.ts): by these tags, never by its path
      // alone (an adopted file system may hold other access points at /{group}).
      Tags.of(accessPoint).add(EFS_ACCESS_POINT_TAGS.analysis, props.analysisName);
      Tags.of(accessPoint).add(EFS_ACCESS_POINT_TAGS.group, group.name);
      accessPoints.set(group.name, accessPoint);
    }
    this.accessPoints = accessPoints;
  }

  /** Lets `peer` reach the mount targets (NFS, TCP 2049). */
  allowMountFrom(peer: ec2.ISecurityGroup): void {
    this.securityGroup.addIngressRule(peer, ec2.Port.tcp(2049), 'NFS from ncaas workers');
  }

  /**
   * Mount and write through `group`'s access point only (IAM-authorized, over TLS): for the inline
   * policy of a role of that group.
   */
  groupMountStatement(group: string): iam.PolicyStatement {
    const accessPoint = this.accessPoints.get(group);
    if (!accessPoint) throw new Error(`no access point for group ${group}`);
    return new iam.PolicyStatement({
      actions: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
      resources: [this.fileSystem.fileSystemArn],
      conditions: { StringEquals: { 'elasticfilesystem:AccessPointArn': accessPoint.accessPointArn } },
    });
  }
}
