import { Size, Stack } from 'aws-cdk-lib';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Duration } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { GroupShards } from './group-shards';
import type { BatchRuntimeConfig, GroupConfig, RemoteSourcesConfig } from '../blueprint/analysis-config';
import {
  BATCH_LOG_GROUP,
  batchJobDefinitionName,
  type BatchStage,
  EFS_MOUNT_PATH,
  STAGE_ENV,
  STAGE_OUT_ATTEMPTS,
  stageCommand,
  stageDefinitionEnvironment,
} from '../launch/batch-stages';
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
  /**
   * The fetch stage's image, for groups with an `rcloneConfigSecret`. @default none: no group may
   * submit rclone datasets
   */
  readonly remoteSources?: RemoteSourcesConfig;
  /** Most analysis containers at once (DEPLOY_LIMIT): bounds the fleet. */
  readonly deployLimit: number;
  /** How long a job may wait RUNNABLE on the on-demand queue before Batch cancels it. @default 2 hours */
  readonly maxRunnableWait?: Duration;
  /** Where each group's job role and job definitions go. @default this construct */
  readonly shards?: GroupShards;
}

/** A group's three job definitions (lib/launch/batch-stages.ts). */
export interface BatchJobDefinitionSet {
  readonly stageIn: batch.EcsJobDefinition;
  readonly analysis: batch.EcsJobDefinition;
  readonly stageOut: batch.EcsJobDefinition;
  /** Only for a group with an rclone configuration: fetches its `rclone:` datasets. */
  readonly fetch?: batch.EcsJobDefinition;
}

/**
 * Size of the stage-in, stage-out and fetch containers (they copy files; the analysis has its own
 * size).
 */
const STAGING_VCPUS = 1;
const STAGING_MEMORY_MIB = 2048;

/**
 * The batch runtime: a managed EC2 compute environment that scales to zero (min 0 vCPUs: no idle
 * cost), a job queue that cancels jobs stuck RUNNABLE (with Spot: a Spot environment and a Spot-first
 * queue in front of them), and per group a job role limited to its
 * prefix and three job definitions (stage-in and stage-out on the staging image, the analysis on
 * the analysis image; lib/launch/batch-stages.ts) mounting the analysis EFS through the group's
 * access point over TLS (the access point and role cannot be overridden per job, hence one set per
 * group). Batch cannot override an image's ENTRYPOINT: both images must have none, or one that
 * runs its arguments.
 */
export class BatchEnvironment extends Construct {
  /** Where stage-in and analysis jobs go: on-demand, or Spot first when the blueprint asks for Spot. */
  readonly jobQueue: batch.JobQueue;
  /** With Spot: the on-demand queue for relaunches, stage-outs and clean-ups. */
  readonly onDemandJobQueue?: batch.JobQueue;
  /** Per group: its stage-in, analysis and stage-out job definitions. */
  readonly jobDefinitions: ReadonlyMap<string, BatchJobDefinitionSet>;
  readonly jobRoles: ReadonlyMap<string, iam.Role>;
  /** Image pulls and container logs, for every container of the analysis but the fetch stage. */
  readonly executionRole: iam.Role;
  /**
   * Per group with an rclone configuration: the fetch stage's execution role, the only one that may
   * read that group's secret (ECS reads it to inject it; the containers never hold the permission).
   */
  readonly fetchExecutionRoles: ReadonlyMap<string, iam.Role>;

  /** The launch template of the container instances: IMDSv2 required, hop limit 1. */
  readonly containerInstanceTemplate: ec2.LaunchTemplate;

  constructor(scope: Construct, id: string, props: BatchEnvironmentProps) {
    super(scope, id);
    const { container: containerConfig } = props;
    // A dataset runs one container at a time (stage-in, analysis, stage-out), at most DEPLOY_LIMIT at once.
    const maxvCpus = Math.max(
      1,
      Math.ceil(props.deployLimit * Math.max(containerConfig.vcpus, STAGING_VCPUS)),
    );
    // IMDSv2 only, one hop: the ECS agent (host network) still reaches the instance metadata, no
    // container does (its requests take a second hop), so a group's container cannot take the
    // instance role's credentials. Task roles come from the ECS agent's endpoint, not from IMDS.
    const containerInstances = new ec2.LaunchTemplate(this, 'ContainerInstances', {
      requireImdsv2: true,
      httpPutResponseHopLimit: 1,
    });
    this.containerInstanceTemplate = containerInstances;
    const computeEnvironment = (id: string, spot: boolean) => {
      const environment = new batch.ManagedEc2EcsComputeEnvironment(this, id, {
        launchTemplate: containerInstances,
        vpc: props.vpc,
        vpcSubnets: props.subnets,
        securityGroups: [props.securityGroup],
        minvCpus: 0,
        maxvCpus,
        spot,
        ...(spot ? { allocationStrategy: batch.AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED } : {}),
        useOptimalInstanceClasses: true,
      });
      NagSuppressions.addResourceSuppressions(
        environment,
        [
          {
            id: 'AwsSolutions-IAM4',
            reason:
              'AmazonEC2ContainerServiceforEC2Role is the role Batch requires on its container instances (ECS agent registration, image pulls); AWS maintains it.',
          },
        ],
        true,
      );
      return environment;
    };
    const onDemand = computeEnvironment('Compute', false);
    const maxWait = props.maxRunnableWait ?? Duration.hours(2);
    // Half as long for Spot (at least Batch's 10 min), so the on-demand relaunch still has its time.
    const spotWait = Duration.seconds(Math.max(600, Math.floor(maxWait.toSeconds() / 2)));
    const timeLimits = (capacityWait: Duration) => [
      ...[
        batch.JobStateTimeLimitActionsReason.INSUFFICIENT_INSTANCE_CAPACITY,
        batch.JobStateTimeLimitActionsReason.COMPUTE_ENVIRONMENT_MAX_RESOURCE,
      ].map((reason) => ({
        reason,
        maxTime: capacityWait,
        action: batch.JobStateTimeLimitActionsAction.CANCEL,
      })),
      {
        reason: batch.JobStateTimeLimitActionsReason.JOB_RESOURCE_REQUIREMENT,
        maxTime: maxWait,
        action: batch.JobStateTimeLimitActionsAction.CANCEL,
      },
    ];
    const onDemandQueue = new batch.JobQueue(this, 'Queue', {
      computeEnvironments: [{ computeEnvironment: onDemand, order: 1 }],
      jobStateTimeLimitActions: timeLimits(maxWait),
    });
    if (containerConfig.spot) {
      // Spot first; its queue gives up on Spot sooner, and the control plane relaunches what Spot
      // could not run (no capacity, instance taken back) on the on-demand queue, once
      // (lib/control/batch-reconcile.ts). The on-demand environment also takes the overflow.
      const spot = computeEnvironment('SpotCompute', true);
      this.jobQueue = new batch.JobQueue(this, 'SpotQueue', {
        computeEnvironments: [
          { computeEnvironment: spot, order: 1 },
          { computeEnvironment: onDemand, order: 2 },
        ],
        jobStateTimeLimitActions: timeLimits(spotWait),
      });
      this.onDemandJobQueue = onDemandQueue;
    } else {
      this.jobQueue = onDemandQueue;
    }

    // One execution role for every container of the analysis: it pulls images and writes the
    // containers' logs, nothing of any group's data.
    this.executionRole = new iam.Role(this, 'ExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: `ncaas ${props.analysisName} Batch containers: image pulls and their own log streams`,
    });
    const jobLogs = logs.LogGroup.fromLogGroupName(this, 'JobLogs', BATCH_LOG_GROUP);
    jobLogs.grantWrite(this.executionRole);
    const executionRoleFindings = (role: iam.Role) =>
      NagSuppressions.addResourceSuppressions(
        role,
        [
          {
            id: 'AwsSolutions-IAM5',
            reason:
              'The execution role writes container logs to the /aws/batch/job log group; its streams are named per job at run time, hence the stream wildcard.',
            appliesTo: [
              `Resource::arn:<AWS::Partition>:logs:${Stack.of(this).region}:<AWS::AccountId>:log-group:${BATCH_LOG_GROUP}:*`,
            ],
          },
          {
            id: 'NIST.800.53.R5-IAMNoInlinePolicy',
            reason:
              "The execution role's inline policy (write its jobs' log streams only, and for a fetch role read one group's rclone secret) belongs to this one role and is created and deleted with it.",
          },
        ],
        true,
      );
    executionRoleFindings(this.executionRole);
    const fetchExecutionRoles = new Map<string, iam.Role>();

    const jobDefinitions = new Map<string, BatchJobDefinitionSet>();
    const jobRoles = new Map<string, iam.Role>();
    for (const group of props.groups) {
      const scope = props.shards?.scopeFor(id, group.name) ?? this;
      const jobRole = new iam.Role(scope, `JobRole-${group.name}`, {
        assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
        description: `ncaas ${props.analysisName} Batch jobs of group ${group.name}: its prefix and access point only`,
        // Inline in the role: no separate policy resource per group.
        inlinePolicies: {
          GroupPrefixOnly: new iam.PolicyDocument({
            statements: [
              ...workerStatements(props.bucket, group.name),
              props.fileSystem.groupMountStatement(group.name),
            ],
          }),
        },
      });
      NagSuppressions.addResourceSuppressions(
        jobRole,
        [
          {
            id: 'AwsSolutions-IAM5',
            reason: "Object wildcards are confined to this group's prefix, as for the EC2 worker role.",
          },
          {
            id: 'NIST.800.53.R5-IAMNoInlinePolicy',
            reason:
              "The job role's policy is inline in this one role and is created, changed and deleted with it, as for the EC2 worker roles; what it may reach is checked with a policy simulator in test/security.",
          },
        ],
        true,
      );
      jobRoles.set(group.name, jobRole);

      const accessPoint = props.fileSystem.accessPoints.get(group.name);
      if (!accessPoint) throw new Error(`no EFS access point for group ${group.name}`);
      // Every stage mounts the analysis EFS at /mnt/efs through the group's access point, over TLS,
      // with the group's job role: the access point and role are fixed here, not per submission.
      const efsVolume = () =>
        batch.EcsVolume.efs({
          name: 'analysis-efs',
          fileSystem: props.fileSystem.fileSystem,
          accessPointId: accessPoint.accessPointId,
          containerPath: EFS_MOUNT_PATH,
          enableTransitEncryption: true,
          useJobRole: true,
        });
      const container = (stage: BatchStage, containerId: string) =>
        new batch.EcsEc2ContainerDefinition(scope, `${containerId}-${group.name}`, {
          image: ecs.ContainerImage.fromRegistry(
            stage === 'run' ? containerConfig.image : containerConfig.stagingImage,
          ),
          cpu: stage === 'run' ? containerConfig.vcpus : STAGING_VCPUS,
          memory: Size.mebibytes(stage === 'run' ? containerConfig.memoryMiB : STAGING_MEMORY_MIB),
          ...(stage === 'run' && containerConfig.gpus > 0 ? { gpu: containerConfig.gpus } : {}),
          command: stageCommand(stage),
          environment: stageDefinitionEnvironment(stage),
          jobRole,
          executionRole: this.executionRole,
          volumes: [efsVolume()],
        });
      const fetch = this.fetchDefinition(scope, props, group, {
        jobRole,
        volume: efsVolume(),
        executionRole: () => {
          const role = new iam.Role(scope, `FetchExecutionRole-${group.name}`, {
            assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
            description: `ncaas ${props.analysisName} Batch fetch containers of group ${group.name}: image pulls, log streams, and the group's rclone secret (injected by ECS)`,
          });
          jobLogs.grantWrite(role);
          executionRoleFindings(role);
          fetchExecutionRoles.set(group.name, role);
          return role;
        },
      });
      jobDefinitions.set(group.name, {
        ...(fetch ? { fetch } : {}),
        stageIn: new batch.EcsJobDefinition(scope, `StageIn-${group.name}`, {
          jobDefinitionName: batchJobDefinitionName(props.analysisName, group.name, 'in'),
          container: container('in', 'StageInContainer'),
          // The submission sets the job's deadline; this bounds a stage-in submitted without one.
          timeout: Duration.hours(24),
        }),
        analysis: new batch.EcsJobDefinition(scope, `Analysis-${group.name}`, {
          jobDefinitionName: batchJobDefinitionName(props.analysisName, group.name, 'run'),
          container: container('run', 'AnalysisContainer'),
        }),
        stageOut: new batch.EcsJobDefinition(scope, `StageOut-${group.name}`, {
          jobDefinitionName: batchJobDefinitionName(props.analysisName, group.name, 'out'),
          container: container('out', 'StageOutContainer'),
          // A failed upload is tried again; the last attempt removes the job folder regardless.
          retryAttempts: STAGE_OUT_ATTEMPTS,
          timeout: Duration.hours(2),
        }),
      });
    }
    this.jobDefinitions = jobDefinitions;
    this.jobRoles = jobRoles;
    this.fetchExecutionRoles = fetchExecutionRoles;
  }

  /**
   * A group's fetch job definition (lib/launch/batch-stages.ts FETCH_BOOTSTRAP), only when it has an
   * rclone configuration: RemoteSources.Image, the group's job role and access point as the other
   * stages, and the group's secret injected by Batch as an environment variable. The secret's value
   * never appears in the template or in a SubmitJob: only its ARN, and only here.
   */
  private fetchDefinition(
    scope: Construct,
    props: BatchEnvironmentProps,
    group: GroupConfig,
    parts: { jobRole: iam.IRole; volume: batch.EcsVolume; executionRole: () => iam.Role },
  ): batch.EcsJobDefinition | undefined {
    const secretRef = group.rcloneConfigSecret;
    if (secretRef === undefined) return undefined;
    if (!props.remoteSources) {
      throw new Error(
        `group ${group.name} has an RcloneConfigSecret but the blueprint names no RemoteSources.Image`,
      );
    }
    const secret = secretRef.startsWith('arn:')
      ? secretsmanager.Secret.fromSecretCompleteArn(scope, `RcloneConfig-${group.name}`, secretRef)
      : secretsmanager.Secret.fromSecretNameV2(scope, `RcloneConfig-${group.name}`, secretRef);
    return new batch.EcsJobDefinition(scope, `Fetch-${group.name}`, {
      jobDefinitionName: batchJobDefinitionName(props.analysisName, group.name, 'fetch'),
      container: new batch.EcsEc2ContainerDefinition(scope, `FetchContainer-${group.name}`, {
        image: ecs.ContainerImage.fromRegistry(props.remoteSources.image),
        cpu: STAGING_VCPUS,
        memory: Size.mebibytes(STAGING_MEMORY_MIB),
        command: stageCommand('fetch'),
        environment: stageDefinitionEnvironment('fetch'),
        // ECS reads the secret with the execution role at container start (the grant below) and
        // sets the variable; the job role and the container's code never hold the permission.
        secrets: { [STAGE_ENV.rcloneConfig]: batch.Secret.fromSecretsManager(secret) },
        jobRole: parts.jobRole,
        executionRole: parts.executionRole(),
        volumes: [parts.volume],
      }),
      // The submission sets the job's deadline; this bounds a fetch submitted without one.
      timeout: Duration.hours(24),
    });
  }
}
