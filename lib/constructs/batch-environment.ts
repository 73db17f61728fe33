import { Size, Stack } from 'aws-cdk-lib';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Duration } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { BatchRuntimeConfig, GroupConfig } from '../blueprint/analysis-config';
import { AnalysisFileSystem } from './file-system';
import { workerStatements } from './worker-fleet';

export interface BatchEnvironmentProps {
  readonly analysisName: string;
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly securityGroup: ec2.ISecurityGroup;
  readonly bucket: s3.IBucket;
  readonly fileSystem: AnalysisFileSystem;
  readonly groups: readonly GroupConfig[];
  readonly container: BatchRuntimeConfig;
  /** Most analysis containers at once (DEPLOY_LIMIT): bounds the fleet. */
  readonly deployLimit: number;
  /** How long a job may wait RUNNABLE for capacity before Batch cancels it. @default 2 hours */
  readonly maxRunnableWait?: Duration;
}

/** Where the analysis EFS appears inside every container. */
export const EFS_MOUNT_PATH = '/mnt/efs';

/**
 * The batch runtime: a managed EC2 compute environment that scales to zero (min 0 vCPUs: no idle
 * cost), a job queue that cancels jobs stuck RUNNABLE, and per group a job role limited to its
 * prefix and a job definition mounting the analysis EFS through the group's access point (the
 * access point and role cannot be overridden per job, hence one definition per group).
 */
export class BatchEnvironment extends Construct {
  readonly jobQueue: batch.JobQueue;
  readonly jobDefinitions: ReadonlyMap<string, batch.EcsJobDefinition>;
  readonly jobRoles: ReadonlyMap<string, iam.Role>;

  constructor(scope: Construct, id: string, props: BatchEnvironmentProps) {
    super(scope, id);
    const { container } = props;
    const computeEnvironment = new batch.ManagedEc2EcsComputeEnvironment(this, 'Compute', {
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      securityGroups: [props.securityGroup],
      minvCpus: 0,
      maxvCpus: Math.max(1, Math.ceil(props.deployLimit * container.vcpus)),
      spot: container.spot,
      useOptimalInstanceClasses: true,
    });
    NagSuppressions.addResourceSuppressions(
      computeEnvironment,
      [
        {
          id: 'AwsSolutions-IAM4',
          reason:
            'AmazonEC2ContainerServiceforEC2Role is the role Batch requires on its container instances (ECS agent registration, image pulls); AWS maintains it.',
        },
      ],
      true,
    );

    const maxWait = props.maxRunnableWait ?? Duration.hours(2);
    this.jobQueue = new batch.JobQueue(this, 'Queue', {
      computeEnvironments: [{ computeEnvironment, order: 1 }],
      jobStateTimeLimitActions: [
        batch.JobStateTimeLimitActionsReason.INSUFFICIENT_INSTANCE_CAPACITY,
        batch.JobStateTimeLimitActionsReason.COMPUTE_ENVIRONMENT_MAX_RESOURCE,
        batch.JobStateTimeLimitActionsReason.JOB_RESOURCE_REQUIREMENT,
      ].map((reason) => ({ reason, maxTime: maxWait, action: batch.JobStateTimeLimitActionsAction.CANCEL })),
    });

    const jobDefinitions = new Map<string, batch.EcsJobDefinition>();
    const jobRoles = new Map<string, iam.Role>();
    for (const group of props.groups) {
      const jobRole = new iam.Role(this, `JobRole-${group.name}`, {
        assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
        description: `ncaas ${props.analysisName} Batch jobs of group ${group.name}: its prefix and access point only`,
      });
      for (const statement of workerStatements(props.bucket, group.name)) jobRole.addToPolicy(statement);
      props.fileSystem.grantGroupMount(jobRole, group.name);
      NagSuppressions.addResourceSuppressions(
        jobRole,
        [
          {
            id: 'AwsSolutions-IAM5',
            reason: "Object wildcards are confined to this group's prefix, as for the EC2 worker role.",
          },
        ],
        true,
      );
      jobRoles.set(group.name, jobRole);

      const accessPoint = props.fileSystem.accessPoints.get(group.name);
      const analysisContainer = new batch.EcsEc2ContainerDefinition(this, `AnalysisContainer-${group.name}`, {
        image: ecs.ContainerImage.fromRegistry(container.image),
        cpu: container.vcpus,
        memory: Size.mebibytes(container.memoryMiB),
        ...(container.gpus > 0 ? { gpu: container.gpus } : {}),
        jobRole,
        volumes: [
          batch.EcsVolume.efs({
            name: 'analysis-efs',
            fileSystem: props.fileSystem.fileSystem,
            accessPointId: accessPoint?.accessPointId,
            containerPath: EFS_MOUNT_PATH,
            enableTransitEncryption: true,
            useJobRole: true,
          }),
        ],
      });
      NagSuppressions.addResourceSuppressions(
        analysisContainer,
        [
          {
            id: 'AwsSolutions-IAM5',
            reason:
              'The execution role writes container logs to the /aws/batch/job log group; its streams are named per job at run time, hence the stream wildcard.',
            appliesTo: [
              `Resource::arn:<AWS::Partition>:logs:${Stack.of(this).region}:<AWS::AccountId>:log-group:/aws/batch/job:*`,
            ],
          },
        ],
        true,
      );
      jobDefinitions.set(
        group.name,
        new batch.EcsJobDefinition(this, `Analysis-${group.name}`, { container: analysisContainer }),
      );
    }
    this.jobDefinitions = jobDefinitions;
    this.jobRoles = jobRoles;
  }
}
