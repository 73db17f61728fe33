import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambdaDestinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as lambdaEvents from 'aws-cdk-lib/aws-lambda-event-sources';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AnalysisConfig } from '../blueprint/analysis-config';
import { ANALYSIS_CONFIG_FILE, type HandlerEnvironment } from '../handler-environment';
import {
  analysisLogStreamPrefix,
  BATCH_ANALYSIS_TAG,
  BATCH_LOG_GROUP,
  batchJobDefinitionPrefix,
} from '../launch/batch-stages';
import { DEV_TAGS } from '../launch/dev-instance-tags';
import { REFUSAL_LABEL, resultsPrefix, statusKey, SUBMISSION_MESSAGE_SUFFIX } from '../layout';
import { NOTIFIED_SUFFIXES, type ObjectRoute } from '../control/object-routing';
import { LaunchQueue } from './launch-queue';
import { NodeLambda } from './node-lambda';
import type { JobNotifications } from './notifications';
import { WorkerFleet } from './worker-fleet';

export interface ControlPlaneProps {
  readonly config: AnalysisConfig;
  readonly bucket: s3.IBucket;
  readonly table: dynamodb.ITableV2;
  readonly workers: WorkerFleet;
  /** Subnets a launch tries, in order. */
  readonly subnetIds: readonly string[];
  /** Batch job queue ARN, when the analysis uses the batch runtime. */
  readonly batchJobQueueArn?: string;
  /** Batch runtime with Spot: the on-demand queue behind the Spot-first `batchJobQueueArn`. */
  readonly batchOnDemandJobQueueArn?: string;
  /**
   * The analysis EFS, when EC2 workers mount it (Efs.MountOnEc2Workers): the launcher finds each
   * group's access point by its root directory (lib/launch/efs-access-points.ts).
   */
  readonly efsForEc2Workers?: { readonly fileSystemId: string; readonly fileSystemArn: string };
  /** How often the watchdog runs. @default 5 minutes */
  readonly watchdogInterval?: Duration;
  /** The analysis's notification topic: every handler may publish to it. @default no notifications */
  readonly notifications?: JobNotifications;
}

/** The generated price file (`npm run prices`), copied next to each handler when it exists. */
const PRICE_FILE_IN_REPOSITORY = 'lib/pricing/ec2-prices.json';
const priceFile = fs.existsSync(path.join(__dirname, '..', '..', PRICE_FILE_IN_REPOSITORY))
  ? [PRICE_FILE_IN_REPOSITORY]
  : [];

/**
 * The reconcile handler's time. Its Batch work (copy the analysis log, at most
 * CONTAINER_LOG_LIMITS.maxMilliseconds, then submit the stage-out) must end well inside it, or a
 * claimed stage-out would never be submitted (test/stack/batch.test.ts keeps the two in step).
 */
const RECONCILE_TIMEOUT = Duration.seconds(60);

/**
 * The Lambdas and their triggers. Handlers validate and enqueue; nothing waits for an instance to boot:
 * - submit handler: S3 `*submit.json` and `*.cancel.json` (the handler keeps those of submitting groups);
 * - launcher: consumes the launch queue (retries and subnet fallback happen here);
 * - reconcile handler: EC2 and Batch state changes, and each worker's final report in results/;
 * - watchdog: on a schedule (deadlines, stuck launches, orphans, lost submission events).
 * Failed asynchronous invocations go to a failed-events queue instead of being dropped.
 */
export class ControlPlane extends Construct {
  readonly submitHandler: NodeLambda;
  readonly launcher: NodeLambda;
  readonly reconcileHandler: NodeLambda;
  readonly watchdog: NodeLambda;
  readonly launchQueue: LaunchQueue;
  readonly failedEvents: sqs.Queue;

  constructor(scope: Construct, id: string, props: ControlPlaneProps) {
    super(scope, id);
    const { config, bucket, table } = props;
    const launcherTimeout = Duration.minutes(2);
    this.launchQueue = new LaunchQueue(this, 'LaunchQueue', { consumerTimeout: launcherTimeout });
    this.failedEvents = new sqs.Queue(this, 'FailedEvents', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    NagSuppressions.addResourceSuppressions(
      [this.failedEvents, this.launchQueue.deadLetterQueue],
      [{ id: 'AwsSolutions-SQS3', reason: 'This queue is itself a dead-letter queue.' }],
    );

    const environment: HandlerEnvironment = {
      NCAAS_ANALYSIS: config.name,
      NCAAS_BUCKET: bucket.bucketName,
      NCAAS_TABLE: table.tableName,
      NCAAS_LAUNCH_QUEUE_URL: this.launchQueue.queue.queueUrl,
      NCAAS_LAUNCH_DEAD_LETTER_URL: this.launchQueue.deadLetterQueue.queueUrl,
      NCAAS_RUNTIME: config.runtime,
      NCAAS_LAUNCH_TEMPLATE_ID: props.workers.launchTemplate.launchTemplateId,
      NCAAS_SUBNET_IDS: Stack.of(this).toJsonString(props.subnetIds),
      ...(props.batchJobQueueArn !== undefined ? { NCAAS_BATCH_JOB_QUEUE: props.batchJobQueueArn } : {}),
      ...(props.batchOnDemandJobQueueArn !== undefined
        ? { NCAAS_BATCH_ON_DEMAND_JOB_QUEUE: props.batchOnDemandJobQueueArn }
        : {}),
      ...(props.efsForEc2Workers !== undefined
        ? { NCAAS_EFS_FILE_SYSTEM_ID: props.efsForEc2Workers.fileSystemId }
        : {}),
      ...(props.notifications?.topic !== undefined
        ? { NCAAS_NOTIFICATION_TOPIC_ARN: props.notifications.topic.topicArn }
        : {}),
      POWERTOOLS_SERVICE_NAME: `ncaas-${config.name}`,
    };
    // The analysis config grows with the groups: it travels with each handler's code, not in its environment.
    const bundledFiles = { [ANALYSIS_CONFIG_FILE]: JSON.stringify(handlerConfig(config)) };

    const onFailure = new lambdaDestinations.SqsDestination(this.failedEvents);
    this.submitHandler = new NodeLambda(this, 'SubmitHandler', {
      entryName: 'submit',
      copyFiles: priceFile,
      description: `ncaas ${config.name}: validates submissions and enqueues launches`,
      environment,
      bundledFiles,
      timeout: Duration.seconds(60),
      onFailure,
      retryAttempts: 2,
    });
    this.launcher = new NodeLambda(this, 'Launcher', {
      entryName: 'launch',
      description: `ncaas ${config.name}: launches one worker per queued dataset`,
      environment,
      bundledFiles,
      // The worker script travels in each instance's user data.
      copyFiles: ['worker/run-job.sh', ...priceFile],
      timeout: launcherTimeout,
    });
    this.reconcileHandler = new NodeLambda(this, 'ReconcileHandler', {
      entryName: 'reconcile',
      description: `ncaas ${config.name}: turns instance, Batch and worker events into job state`,
      environment,
      bundledFiles,
      // The Batch stage-out job it submits carries the worker script, and so does the user data of an
      // on-demand relaunch after Spot reclaimed an EC2 worker (Ec2.Spot).
      copyFiles: [
        ...(props.batchJobQueueArn !== undefined || (config.runtime === 'ec2' && config.ec2?.spot === true)
          ? ['worker/run-job.sh']
          : []),
        ...priceFile,
      ],
      timeout: RECONCILE_TIMEOUT,
      onFailure,
      retryAttempts: 2,
    });
    this.watchdog = new NodeLambda(this, 'Watchdog', {
      entryName: 'watchdog',
      copyFiles: priceFile,
      description: `ncaas ${config.name}: deadlines, stuck launches, orphans, lost events`,
      environment,
      bundledFiles,
      timeout: Duration.minutes(5),
    });

    this.wireTriggers(props);
    this.grantPermissions(props);
    this.acknowledgeNotificationHandler();
    this.acknowledgeNotificationPolicy(bucket);
  }

  /** CDK's own singleton that writes the bucket's notification configuration at deploy time. */
  private acknowledgeNotificationHandler(): void {
    const stack = Stack.of(this);
    const handler = stack.node.children.find((c) => c.node.id.startsWith('BucketNotificationsHandler'));
    if (!handler) return;
    NagSuppressions.addResourceSuppressions(
      handler,
      [
        {
          id: 'AwsSolutions-IAM4',
          reason:
            "CDK's bucket-notification custom resource uses AWSLambdaBasicExecutionRole for its own logs only; it runs at deploy time and is maintained by aws-cdk-lib.",
          appliesTo: [
            'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole',
          ],
        },
      ],
      true,
    );
  }

  /** The policy CDK gives that handler to write the notification configuration of our bucket. */
  private acknowledgeNotificationPolicy(bucket: s3.IBucket): void {
    const notifications = bucket.node.tryFindChild('Notifications');
    if (!notifications) return;
    NagSuppressions.addResourceSuppressions(
      notifications,
      [
        {
          id: 'NIST.800.53.R5-IAMNoInlinePolicy',
          reason:
            "aws-cdk-lib's own inline policy for its bucket-notification handler: s3:PutBucketNotification on this bucket only, created and deleted with that handler.",
        },
      ],
      true,
    );
  }

  private wireTriggers(props: ControlPlaneProps): void {
    const { config, bucket } = props;
    const submit = new s3n.LambdaDestination(this.submitHandler);
    const reconcile = new s3n.LambdaDestination(this.reconcileHandler);
    // One configuration per kind of object, whatever the number of groups (a bucket holds a limited
    // number): the handlers check the group and folder (lib/control/object-routing.ts).
    const destinations: Record<ObjectRoute, s3.IBucketNotificationDestination> = {
      submission: submit,
      cancel: submit,
      'final-report': reconcile,
    };
    for (const [route, suffix] of Object.entries(NOTIFIED_SUFFIXES) as [ObjectRoute, string][]) {
      if (route !== 'final-report' && !config.groups.some((g) => g.userInput)) continue;
      bucket.addEventNotification(s3.EventType.OBJECT_CREATED, destinations[route], { suffix });
    }

    this.launcher.addEventSource(
      new lambdaEvents.SqsEventSource(this.launchQueue.queue, {
        batchSize: 5,
        reportBatchItemFailures: true,
      }),
    );

    const eventTarget = (fn: NodeLambda) =>
      new targets.LambdaFunction(fn, { deadLetterQueue: this.failedEvents, retryAttempts: 8 });
    new events.Rule(this, 'InstanceStateChanges', {
      description: `ncaas ${config.name}: EC2 instance state changes to the reconcile handler`,
      eventPattern: {
        source: ['aws.ec2'],
        detailType: ['EC2 Instance State-change Notification'],
        detail: { state: ['running', 'shutting-down', 'terminated', 'stopping', 'stopped'] },
      },
      targets: [eventTarget(this.reconcileHandler)],
    });
    if (config.runtime === 'ec2' && config.ec2?.spot) {
      new events.Rule(this, 'SpotInterruptionWarnings', {
        description: `ncaas ${config.name}: EC2 Spot interruption warnings to the reconcile handler`,
        eventPattern: { source: ['aws.ec2'], detailType: ['EC2 Spot Instance Interruption Warning'] },
        targets: [eventTarget(this.reconcileHandler)],
      });
    }
    if (props.batchJobQueueArn) {
      new events.Rule(this, 'BatchJobStateChanges', {
        description: `ncaas ${config.name}: Batch job state changes to the reconcile handler`,
        eventPattern: {
          source: ['aws.batch'],
          detailType: ['Batch Job State Change'],
          detail: { jobQueue: batchQueues(props) },
        },
        targets: [eventTarget(this.reconcileHandler)],
      });
    }
    new events.Rule(this, 'WatchdogSchedule', {
      description: `ncaas ${config.name}: periodic watchdog`,
      schedule: events.Schedule.rate(props.watchdogInterval ?? Duration.minutes(5)),
      targets: [eventTarget(this.watchdog)],
    });
  }

  private grantPermissions(props: ControlPlaneProps): void {
    const { bucket, table, workers, config } = props;
    const objects = (pattern: string) => bucket.arnForObjects(pattern);
    const allow = (
      fn: NodeLambda,
      actions: string[],
      resources: string[],
      conditions?: Record<string, unknown>,
    ) =>
      fn.addToRolePolicy(
        new iam.PolicyStatement({ actions, resources, ...(conditions ? { conditions } : {}) }),
      );
    const handlers = [this.submitHandler, this.launcher, this.reconcileHandler, this.watchdog];

    for (const fn of handlers) {
      table.grantReadWriteData(fn);
      this.launchQueue.queue.grantSendMessages(fn);
      // Status files, certificates and end.txt live in results/.
      allow(fn, ['s3:GetObject', 's3:PutObject'], [objects('*/results/*')]);
      allow(fn, ['s3:ListBucket'], [bucket.bucketArn]);
    }
    // The submit handler (and the watchdog, which re-processes submissions whose event was lost) reads
    // submissions, configs and checks that inputs exist; it writes refusals beside submissions that
    // have no usable timestamp, and nothing else there: never users' data, never a `submit.json`
    // (that would trigger the submit handler again).
    for (const fn of [this.submitHandler, this.watchdog]) {
      allow(
        fn,
        ['s3:GetObject'],
        [objects('*/submissions/*'), objects('*/configs/*'), objects('*/inputs/*')],
      );
      allow(fn, ['s3:PutObject'], [objects(`*/submissions/*${SUBMISSION_MESSAGE_SUFFIX}`)]);
    }
    // Accepting a job removes the FAILED status an earlier refused submission left in its folder.
    for (const fn of [this.submitHandler, this.watchdog]) {
      allow(fn, ['s3:DeleteObject'], [objects(statusKey(`${resultsPrefix('*')}*`, REFUSAL_LABEL))]);
    }
    // Any handler may begin, retry or end a job, so any may tell its group (its topic only).
    for (const fn of handlers) props.notifications?.grantPublish(fn);
    this.failedEvents.grantConsumeMessages(this.watchdog);
    this.launchQueue.deadLetterQueue.grantConsumeMessages(this.watchdog);

    // With Ec2.Spot the reconcile handler launches too: a reclaimed Spot worker's dataset again on
    // on-demand capacity (lib/control/spot-interruption.ts).
    const spot = config.runtime === 'ec2' && config.ec2?.spot === true;
    const ec2Launchers = [this.launcher, ...(spot ? [this.reconcileHandler] : [])];
    for (const fn of ec2Launchers) {
      workers.grantLaunch(fn, { spot });
      if (props.efsForEc2Workers) {
        // The launcher finds each group's access point by its root directory (lib/launch/efs-access-points.ts).
        allow(fn, ['elasticfilesystem:DescribeAccessPoints'], [props.efsForEc2Workers.fileSystemArn]);
      }
      allow(fn, ['ec2:DescribeImages', 'ec2:DescribeSubnets'], ['*']);
      allow(
        fn,
        ['ssm:GetParameter', 'ssm:GetParameters'],
        [`arn:${Stack.of(this).partition}:ssm:${Stack.of(this).region}::parameter/aws/service/*`],
      );
    }
    // MAXCOST budgets: on-demand prices (the Pricing API has no resource-level permissions). The
    // launcher settles a dataset's cost too when its launch fails for good (finishDataset).
    for (const fn of handlers) allow(fn, ['pricing:GetProducts'], ['*']);
    // The watchdog stops developers' dev instances of this analysis past their expiry, and says so on them.
    allow(
      this.watchdog,
      ['ec2:StopInstances', 'ec2:CreateTags'],
      [`arn:${Stack.of(this).partition}:ec2:${Stack.of(this).region}:${Stack.of(this).account}:instance/*`],
      { StringEquals: { [`aws:ResourceTag/${DEV_TAGS.analysis}`]: config.name } },
    );
    // Everyone who may end a job may stop its worker (cancel, reconcile, deadlines, orphans).
    for (const fn of [this.submitHandler, this.launcher, this.reconcileHandler, this.watchdog]) {
      workers.grantTerminate(fn, config.name);
      allow(fn, ['ec2:DescribeInstances'], ['*']);
    }

    if (props.batchJobQueueArn !== undefined) {
      grantBatchJobs(this, config, batchQueues(props), {
        // The watchdog submits clean-up jobs for job folders left on EFS (lib/control/efs-folders.ts).
        submitters: [this.launcher, this.reconcileHandler, this.watchdog],
        stoppers: handlers,
      });
      // The reconcile handler copies each analysis container's log into logs/ (lib/control/
      // container-log.ts): GetLogEvents on this analysis's analysis-container streams, nothing else.
      const stack = Stack.of(this);
      allow(
        this.reconcileHandler,
        ['logs:GetLogEvents'],
        [
          `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:${BATCH_LOG_GROUP}:log-stream:${analysisLogStreamPrefix(config.name, '*')}*`,
        ],
      );
    }

    // Where a failed invocation goes: each handler has one, but not as the Lambda DLQ setting.
    const failures = new Map<NodeLambda, string>([
      [
        this.submitHandler,
        'S3 invokes it asynchronously; a failed invocation goes, after 2 retries, to the on-failure destination (the FailedEvents queue), which AWS recommends over a DLQ and which keeps the error; the watchdog also sweeps submissions that have no job row.',
      ],
      [
        this.reconcileHandler,
        'S3 and EventBridge invoke it asynchronously; a failed invocation goes, after 2 retries, to the on-failure destination (the FailedEvents queue), which AWS recommends over a DLQ; EventBridge delivery failures go to the same queue.',
      ],
      [
        this.launcher,
        "It consumes the launch queue through an event source mapping, where a Lambda DLQ never applies: a message that keeps failing moves to the launch queue's own dead-letter queue (maxReceiveCount 5), which the watchdog reads and reports.",
      ],
      [
        this.watchdog,
        'A schedule invokes it every few minutes and each run is a full, idempotent sweep: a failed run is repeated by the next one, so there is no event to keep; EventBridge delivery failures go to the FailedEvents queue.',
      ],
    ]);
    for (const [fn, reason] of failures) {
      NagSuppressions.addResourceSuppressions(fn, [{ id: 'NIST.800.53.R5-LambdaDLQ', reason }]);
    }
    for (const fn of handlers) {
      NagSuppressions.addResourceSuppressions(
        fn,
        [
          {
            id: 'NIST.800.53.R5-IAMNoInlinePolicy',
            reason:
              "The function's role policy (AWS::IAM::Policy) belongs to that one role and is created, changed and deleted with it; nothing shares it. A customer managed policy would add a resource and use the account's managed-policy quota per analysis without narrowing any permission. What each handler may do is checked with a policy simulator in test/security.",
          },
          {
            id: 'AwsSolutions-IAM4',
            reason:
              'AWSLambdaBasicExecutionRole only lets the function write its own CloudWatch logs; it is the documented minimum for Lambda.',
            appliesTo: [
              'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole',
            ],
          },
          {
            id: 'AwsSolutions-IAM5',
            reason:
              "Wildcards are limited to: Batch jobs (ids are generated at submission; SubmitJob needs job/*, tagging only with this analysis's tag, TerminateJob only on jobs tagged with this analysis, DescribeJobs has no resource-level permissions) and the revisions of this analysis's job definitions, the log streams of this analysis's analysis containers in /aws/batch/job (reconcile handler, GetLogEvents only: Batch names each stream `{job definition}/default/{task id}` when the container starts, so only the job definition part is known in advance), object keys inside this bucket's group folders (the control plane handles every group's submissions and results), the job table's own indexes, EC2 Describe* and pricing:GetProducts (no resource-level permissions exist for them), instances and volumes created by RunInstances from this stack's launch template (with Ec2.Spot, its Spot requests, whose ids EC2 generates, and EC2 Spot's service-linked role, by name and service), terminations conditioned on this analysis's tag, stopping and tagging only dev instances conditioned on this analysis's dev-instance tag (watchdog), and AWS's public SSM parameters for AMI aliases.",
          },
        ],
        true,
      );
    }
  }
}

/**
 * What handlers need of the config (bundled with their code): user names stay in IAM and email
 * addresses in the topic's subscriptions. Its size grows with the groups, which is why it is no
 * environment variable; the environment's size is measured with every other limit (lib/limits/).
 */
export const handlerConfig = (config: AnalysisConfig): AnalysisConfig => ({
  ...config,
  groups: config.groups.map(({ contactEmail: _contact, ...g }) => ({ ...g, userNames: [] })),
  notifications: {
    ...config.notifications,
    emails: [],
    groups: config.notifications.groups.map((g) => ({ ...g, emails: [] })),
  },
  ignoredKeys: [],
  warnings: [],
});

/** The analysis's Batch queues: the one queue, or the Spot-first queue and the on-demand one. */
const batchQueues = (props: ControlPlaneProps): string[] =>
  [props.batchJobQueueArn, props.batchOnDemandJobQueueArn].filter((arn): arn is string => arn !== undefined);

/**
 * The batch runtime's rights: submit into this analysis's queue with its job definitions (by name,
 * any revision) and only with its analysis tag; stop only jobs with that tag; describe jobs (no
 * resource-level permissions exist for DescribeJobs).
 */
const grantBatchJobs = (
  scope: Construct,
  config: AnalysisConfig,
  jobQueueArns: readonly string[],
  who: { readonly submitters: readonly NodeLambda[]; readonly stoppers: readonly NodeLambda[] },
): void => {
  const stack = Stack.of(scope);
  const arn = (resource: string) =>
    `arn:${stack.partition}:batch:${stack.region}:${stack.account}:${resource}`;
  // Every job definition of this analysis, by name prefix (any group, stage and revision): one ARN
  // whatever the number of groups.
  const definitions = [arn(`job-definition/${batchJobDefinitionPrefix(config.name)}*`)];
  const ourTag = { [`aws:RequestTag/${BATCH_ANALYSIS_TAG}`]: config.name };
  for (const fn of who.submitters) {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['batch:SubmitJob'],
        resources: [...jobQueueArns, arn('job/*'), ...definitions],
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['batch:TagResource'],
        resources: [arn('job/*')],
        conditions: { StringEquals: ourTag },
      }),
    );
  }
  for (const fn of who.stoppers) {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['batch:TerminateJob'],
        resources: [arn('job/*')],
        conditions: { StringEquals: { [`aws:ResourceTag/${BATCH_ANALYSIS_TAG}`]: config.name } },
      }),
    );
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['batch:DescribeJobs'], resources: ['*'] }));
  }
};
