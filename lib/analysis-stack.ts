import { Annotations, CfnOutput, Duration, Stack, StackProps, Tags } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { AnalysisConfig } from './blueprint/analysis-config';
import { BatchEnvironment } from './constructs/batch-environment';
import { ControlPlane } from './constructs/control-plane';
import { DataBucket } from './constructs/data-bucket';
import { DevInstanceAccess } from './constructs/dev-instance-access';
import { AnalysisFileSystem } from './constructs/file-system';
import { GroupAccess } from './constructs/group-access';
import { GroupShards } from './constructs/group-shards';
import { ConsoleSite } from './constructs/console-site';
import { SignIn } from './constructs/sign-in';
import { JobTable } from './constructs/job-table';
import { Network } from './constructs/network';
import { JobNotifications } from './constructs/notifications';
import { WorkerFleet } from './constructs/worker-fleet';
import { submissionsPrefix } from './layout';

export interface AnalysisStackProps extends StackProps {
  readonly config: AnalysisConfig;
  /**
   * The built web console (web/build.ts; bin/app.ts builds it before synth). With sign-in on, the
   * stack serves it behind CloudFront; absent, no console (unit tests that do not look at it).
   */
  readonly consoleSiteDir?: string;
}

/**
 * One analysis as a service: composes one construct per concern from the parsed blueprint and
 * holds nothing else. The CloudFormation stack name is the analysis name, so many analyses live in
 * one account; the construct id stays `AnalysisStack` (`npx cdk deploy AnalysisStack`).
 */
export class AnalysisStack extends Stack {
  constructor(scope: Construct, id: string, props: AnalysisStackProps) {
    super(scope, id, { stackName: props.config.name, ...props });
    const { config } = props;
    Tags.of(this).add('ncaas:analysis', config.name);
    Tags.of(this).add('ncaas:stage', config.stage);
    reportBlueprintWarnings(this, config);

    // What is made per group lives in nested stacks, so this template's size and resource count do
    // not grow with the groups (lib/constructs/group-shards.ts).
    const shards = new GroupShards(this, config.name);
    const data = new DataBucket(this, 'DataBucket', { adoptBucketName: config.adopt.bucketName });
    const signIn = config.signIn.enabled
      ? new SignIn(this, 'SignIn', { analysisName: config.name, signIn: config.signIn })
      : undefined;
    new GroupAccess(this, 'GroupAccess', {
      bucket: data.bucket,
      groups: config.groups,
      analysisName: config.name,
      region: config.region,
      shards,
      ...(signIn ? { signIn } : {}),
    });
    if (signIn && props.consoleSiteDir !== undefined) {
      new ConsoleSite(this, 'Console', {
        config,
        siteDir: props.consoleSiteDir,
        dataBucket: data.bucket,
        logBucket: data.logBucket,
        signIn,
      });
    }
    const jobs = new JobTable(this, 'JobTable', { adoptTableName: config.adopt.tableName });
    const network = new Network(this, 'Network', {
      existingVpc: config.existingVpc,
      flowLogBucket: data.logBucket,
    });
    const files = new AnalysisFileSystem(this, 'FileSystem', {
      analysisName: config.name,
      vpc: network.vpc,
      subnets: network.workerSubnets,
      groups: config.groups,
      adoptFileSystemId: config.adopt.fileSystemId,
      shards,
    });
    const workers = new WorkerFleet(this, 'Workers', {
      analysisName: config.name,
      region: config.region,
      vpc: network.vpc,
      bucket: data.bucket,
      groups: config.groups,
      shards,
      // Efs.MountOnEc2Workers: each group's role may mount through its own access point.
      ...(config.efsOnEc2Workers
        ? { groupStatements: (group: string) => [files.groupMountStatement(group)] }
        : {}),
    });
    files.allowMountFrom(workers.securityGroup);

    const batchEnvironment =
      config.runtime === 'batch' && config.batch
        ? new BatchEnvironment(this, 'Batch', {
            analysisName: config.name,
            vpc: network.vpc,
            subnets: network.workerSubnets,
            securityGroup: workers.securityGroup,
            bucket: data.bucket,
            fileSystem: files,
            groups: config.groups,
            container: config.batch,
            ...(config.remoteSources ? { remoteSources: config.remoteSources } : {}),
            deployLimit: config.deployLimit,
            // A job waiting RUNNABLE that long is cancelled with a reason users can act on (no
            // capacity), about when the watchdog would call its launch stuck (EXECUTION_TIMEOUT).
            maxRunnableWait: Duration.seconds(Math.min(86_400, Math.max(600, config.launchTimeoutSeconds))),
            shards,
          })
        : undefined;

    // The developer's dev instance builds the EC2 workers' image.
    if (config.ec2) {
      new DevInstanceAccess(this, 'DevInstanceAccess', {
        analysisName: config.name,
        vpc: network.vpc,
        subnets: network.workerSubnets,
        bucket: data.bucket,
        groups: config.groups.filter((g) => g.userInput).map((g) => g.name),
      });
    }
    const notifications = new JobNotifications(this, 'Notifications', { config, shards });
    const controlPlane = new ControlPlane(this, 'ControlPlane', {
      config,
      bucket: data.bucket,
      table: jobs.table,
      workers,
      subnetIds: network.vpc.selectSubnets(network.workerSubnets).subnetIds,
      batchJobQueueArn: batchEnvironment?.jobQueue.jobQueueArn,
      batchOnDemandJobQueueArn: batchEnvironment?.onDemandJobQueue?.jobQueueArn,
      ...(config.efsOnEc2Workers
        ? {
            efsForEc2Workers: {
              fileSystemId: files.fileSystem.fileSystemId,
              fileSystemArn: files.fileSystem.fileSystemArn,
            },
          }
        : {}),
      notifications,
    });

    new CfnOutput(this, 'BucketName', { value: data.bucket.bucketName, description: 'The analysis bucket' });
    new CfnOutput(this, 'JobTableName', { value: jobs.table.tableName, description: 'The job table' });
    new CfnOutput(this, 'LaunchQueueUrl', { value: controlPlane.launchQueue.queue.queueUrl });
    if (signIn) {
      new CfnOutput(this, 'LabMemberLogin', {
        description:
          "What a lab member runs to sign in with the CLI (their own address for YOU@LAB; README 'Signing in')",
        value: [
          'ncaas login --email YOU@LAB',
          `--analysis ${config.name}`,
          `--bucket ${data.bucket.bucketName}`,
          `--user-pool ${signIn.userPool.userPoolId}`,
          `--client-id ${signIn.client.userPoolClientId}`,
          `--identity-pool ${signIn.identityPool.ref}`,
        ].join(' '),
      });
    }
    // Outputs say where things are, never one entry per group: an output value holds at most 4 KB
    // (and a template 200 outputs), and an analysis may have hundreds of groups.
    new CfnOutput(this, 'SubmissionsUrl', {
      description: 'Where a group uploads submit.json (replace GROUP by the group name, AffiliateName)',
      value: `s3://${data.bucket.bucketName}/${submissionsPrefix('GROUP')}`,
    });
    if (notifications.topic) {
      new CfnOutput(this, 'NotificationTopic', {
        description:
          "The analysis's notification topic (subscribe more addresses with `aws sns subscribe`, with a filter policy on the `group` attribute for one group's messages)",
        value: notifications.topic.topicArn,
      });
    }
  }
}

const reportBlueprintWarnings = (scope: Construct, config: AnalysisConfig): void => {
  const file = config.sourceFile;
  if (config.ignoredKeys.length > 0) {
    Annotations.of(scope).addWarningV2(
      'ncaas:legacy-keys',
      `${file}: NeuroCAAS deployment keys accepted and ignored (this platform provisions those itself): ${config.ignoredKeys.join(', ')}`,
    );
  }
  config.warnings.forEach((warning, i) =>
    Annotations.of(scope).addWarningV2(`ncaas:blueprint-warning-${i}`, `${file}: ${warning}`),
  );
  if (!config.groups.some((g) => g.userInput)) {
    Annotations.of(scope).addWarningV2(
      'ncaas:no-submitting-group',
      `${file}: no group has UserInput true, so no one can submit jobs (results chaining between analyses is not supported yet)`,
    );
  }
};
