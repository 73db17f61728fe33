/**
 * The control context on AWS: real clients, built once per Lambda container from the handler
 * environment. Everything else the handlers do lives in the services.
 */
import { BatchClient } from '@aws-sdk/client-batch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import * as path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EFSClient } from '@aws-sdk/client-efs';
import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  EC2Client,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createRequire } from 'node:module';
import type { AnalysisConfig } from '../blueprint/analysis-config';
import { readAnalysisConfigText, type HandlerEnvironment } from '../handler-environment';
import { JobStore } from '../job/job-store';
import { AwsBatchApi } from '../launch/batch-api';
import { BatchLauncher, namedJobDefinitions } from '../launch/batch-launcher';
import { BATCH_LOG_GROUP } from '../launch/batch-stages';
import { Ec2Launcher } from '../launch/ec2-launcher';
import { efsAccessPointLookup } from '../launch/efs-access-points';
import { workerInstanceProfileName } from '../launch/worker-identity';
import { DEV_TAGS } from '../launch/dev-instance-tags';
import { WORKER_TAGS } from '../launch/worker-tags';
import { FallbackPriceBook, priceFileBook, PricingApiPriceBook, type PriceBook } from '../pricing/price-book';
import { CloudWatchLogSource } from './cloudwatch-log-source';
import type { ContainerLogSource } from './container-log';
import type { ControlContext, Log, WorkerIdentity } from './control-context';
import type { DevInstanceSource, DevInstanceState } from './dev-expiry';
import { JobReport, jobRecordSource } from './job-report';
import { topicOfNotifiedGroups, TopicNotifier, type Publish } from './notify';
import { S3Objects } from './s3-objects';
import type { RunningWorker, WatchdogSources } from './watchdog';
import { launchMessageOf } from './event-parsing';

export interface AwsControl {
  readonly ctx: ControlContext;
  readonly ec2: EC2Client;
  readonly sqs: SQSClient;
  /** The batch runtime's launcher (stage-outs, job details), when the blueprint's runtime is batch. */
  readonly batch?: BatchLauncher;
  /** The analysis containers' CloudWatch log streams, when the blueprint's runtime is batch. */
  readonly containerLogs?: ContainerLogSource;
}

export const awsControlContext = (env: HandlerEnvironment, log: Log): AwsControl => {
  const config = JSON.parse(readAnalysisConfigText(env)) as AnalysisConfig;
  const s3 = new S3Client({});
  const ec2 = new EC2Client({});
  const sqs = new SQSClient({});
  const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  });
  const objects = new S3Objects(s3, env.NCAAS_BUCKET);
  const now = () => new Date();
  const batch =
    config.runtime === 'batch' && env.NCAAS_BATCH_JOB_QUEUE
      ? new BatchLauncher({
          api: new AwsBatchApi(new BatchClient({})),
          analysis: config.name,
          jobQueue: env.NCAAS_BATCH_JOB_QUEUE,
          ...(env.NCAAS_BATCH_ON_DEMAND_JOB_QUEUE
            ? { onDemandJobQueue: env.NCAAS_BATCH_ON_DEMAND_JOB_QUEUE }
            : {}),
          jobDefinitions: namedJobDefinitions(config.name, config.groups),
        })
      : undefined;
  const launcher =
    batch ??
    (config.runtime === 'ec2' && config.ec2
      ? new Ec2Launcher({
          ec2,
          analysis: config.name,
          launchTemplateId: env.NCAAS_LAUNCH_TEMPLATE_ID ?? '',
          subnetIds: JSON.parse(env.NCAAS_SUBNET_IDS ?? '[]') as string[],
          instanceProfiles: Object.fromEntries(
            config.groups.map((g) => [g.name, workerInstanceProfileName(config.name, config.region, g.name)]),
          ),
          ami: config.ec2.ami,
          ...(env.NCAAS_EFS_FILE_SYSTEM_ID
            ? {
                efs: {
                  fileSystemId: env.NCAAS_EFS_FILE_SYSTEM_ID,
                  accessPointOf: efsAccessPointLookup(
                    new EFSClient({}),
                    env.NCAAS_EFS_FILE_SYSTEM_ID,
                    config.name,
                  ),
                },
              }
            : {}),
        })
      : undefined);
  const store = new JobStore({
    client: documentClient,
    tableName: env.NCAAS_TABLE,
    analysis: config.name,
    onRepairableError: (what, error) => log.warn(what, { error: String(error) }),
  });
  const ctx: ControlContext = {
    config,
    bucket: env.NCAAS_BUCKET,
    objects,
    report: new JobReport(objects, now, jobRecordSource(config.name, store)),
    store,
    launchQueue: {
      send: async (message) => {
        await sqs.send(
          new SendMessageCommand({
            QueueUrl: env.NCAAS_LAUNCH_QUEUE_URL,
            MessageBody: JSON.stringify(message),
          }),
        );
      },
    },
    prices: new FallbackPriceBook(pricesFor(config.region), (error) =>
      log.warn('price lookup failed', { error: String(error) }),
    ),
    launcher,
    identifyWorker: (instanceId) => identifyInstance(ec2, config.name, instanceId),
    ...(env.NCAAS_NOTIFICATION_TOPIC_ARN
      ? {
          notifier: new TopicNotifier({
            analysis: config.name,
            topicOf: topicOfNotifiedGroups(config, env.NCAAS_NOTIFICATION_TOPIC_ARN),
            publish: snsPublish(),
          }),
        }
      : {}),
    now,
    log,
  };
  const containerLogs = batch
    ? new CloudWatchLogSource({
        // One attempt per request: CloudWatchLogSource retries, within the copy's time limit.
        client: new CloudWatchLogsClient({ maxAttempts: 1 }),
        logGroup: BATCH_LOG_GROUP,
        region: config.region,
      })
    : undefined;
  return { ctx, ec2, sqs, ...(batch && containerLogs ? { batch, containerLogs } : {}) };
};

/**
 * The part of `@aws-sdk/client-sns` used here. The package is not a dependency of this repository:
 * the Lambda Node.js runtime ships the whole AWS SDK v3 and our bundles leave `@aws-sdk/*` out
 * (lib/constructs/node-lambda.ts), so it is loaded at run time, by name, only when a message is sent.
 */
interface SnsClientLike {
  send(command: unknown): Promise<unknown>;
}
export interface SnsModule {
  readonly SNSClient: new (config: Record<string, unknown>) => SnsClientLike;
  readonly PublishCommand: new (input: {
    readonly TopicArn: string;
    readonly Subject: string;
    readonly Message: string;
    readonly MessageAttributes: Record<string, { readonly DataType: 'String'; readonly StringValue: string }>;
  }) => unknown;
}

const SNS_PACKAGE = '@aws-sdk/client-sns';

/** SNS Publish through the runtime's SDK; throws (and the notification is logged as not sent) without it. */
export const snsPublish = (load: (name: string) => unknown = createRequire(__filename)): Publish => {
  let sns: SnsModule | undefined;
  let client: SnsClientLike | undefined;
  return async (topicArn, subject, message, attributes) => {
    if (sns === undefined) {
      try {
        sns = load(SNS_PACKAGE) as SnsModule;
      } catch {
        throw new Error(`${SNS_PACKAGE} is not available in this runtime: the notification was not sent`);
      }
    }
    client ??= new sns.SNSClient({});
    await client.send(
      new sns.PublishCommand({
        TopicArn: topicArn,
        Subject: subject,
        Message: message,
        MessageAttributes: Object.fromEntries(
          Object.entries(attributes).map(([name, value]) => [
            name,
            { DataType: 'String', StringValue: value },
          ]),
        ),
      }),
    );
  };
};

const tagsOf = (tags: { Key?: string; Value?: string }[] | undefined): Record<string, string> =>
  Object.fromEntries((tags ?? []).filter((t) => t.Key && t.Value !== undefined).map((t) => [t.Key, t.Value]));

/** The dataset an instance runs, from the tags the launcher put on it. */
export const identifyInstance = async (
  ec2: EC2Client,
  analysis: string,
  instanceId: string,
): Promise<WorkerIdentity | undefined> => {
  try {
    const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const tags = tagsOf(out.Reservations?.[0]?.Instances?.[0]?.Tags);
    const datasetIndex = Number(tags[WORKER_TAGS.dataset]);
    if (tags[WORKER_TAGS.analysis] !== analysis || !tags[WORKER_TAGS.group] || !tags[WORKER_TAGS.job])
      return undefined;
    if (!Number.isInteger(datasetIndex)) return undefined;
    return { group: tags[WORKER_TAGS.group], jobId: tags[WORKER_TAGS.job], datasetIndex };
  } catch (error) {
    if ((error as { name?: string }).name === 'InvalidInstanceID.NotFound') return undefined;
    throw error;
  }
};

/** Instances tagged with this analysis that still exist (for the watchdog's orphan sweep). */
/**
 * This analysis's workers, as EC2 knows them: launched from its launch template (the
 * `aws:ec2launchtemplate:id` tag, which EC2 sets and nobody can edit or add) and tagged with its name.
 * An instance that only carries our tag (anyone who may tag could add it) is never listed, so the
 * watchdog never terminates it as an orphan.
 */
export const listWorkerInstances = async (
  ec2: EC2Client,
  analysis: string,
  launchTemplateId: string,
): Promise<RunningWorker[]> => {
  const workers: RunningWorker[] = [];
  let token: string | undefined;
  do {
    const out = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: `tag:${WORKER_TAGS.analysis}`, Values: [analysis] },
          { Name: 'tag:aws:ec2launchtemplate:id', Values: [launchTemplateId] },
          { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
        ],
        NextToken: token,
      }),
    );
    for (const reservation of out.Reservations ?? []) {
      for (const instance of reservation.Instances ?? []) {
        if (instance.InstanceId) {
          workers.push({
            launcherId: instance.InstanceId,
            launchedAt: instance.LaunchTime ?? new Date(0),
            state: instance.State?.Name,
          });
        }
      }
    }
    token = out.NextToken;
  } while (token);
  return workers;
};

/** This analysis's running dev instances by tag; stopping one also tags it with why. */
export const devInstanceSource = (ec2: EC2Client, analysis: string): DevInstanceSource => ({
  list: async () => {
    const found: DevInstanceState[] = [];
    let token: string | undefined;
    do {
      const out = await ec2.send(
        new DescribeInstancesCommand({
          Filters: [
            { Name: `tag:${DEV_TAGS.analysis}`, Values: [analysis] },
            { Name: 'instance-state-name', Values: ['pending', 'running'] },
          ],
          NextToken: token,
        }),
      );
      for (const reservation of out.Reservations ?? []) {
        for (const instance of reservation.Instances ?? []) {
          if (!instance.InstanceId) continue;
          const tags = tagsOf(instance.Tags);
          found.push({
            instanceId: instance.InstanceId,
            ...(tags[DEV_TAGS.owner] !== undefined ? { owner: tags[DEV_TAGS.owner] } : {}),
            ...(tags[DEV_TAGS.expires] !== undefined ? { expires: tags[DEV_TAGS.expires] } : {}),
          });
        }
      }
      token = out.NextToken;
    } while (token);
    return found;
  },
  stop: async (instanceId, note) => {
    await ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
    await ec2.send(
      new CreateTagsCommand({
        Resources: [instanceId],
        Tags: [{ Key: DEV_TAGS.stoppedByWatchdog, Value: note }],
      }),
    );
  },
});

/** Launch messages in the dead-letter queue, each deleted once the watchdog has handled it. */
export const deadLetterSource =
  (sqs: SQSClient, queueUrl: string | undefined, log: Log): WatchdogSources['deadLetters'] =>
  async () => {
    if (!queueUrl) return [];
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    return (out.Messages ?? []).flatMap((m) => {
      const acknowledge = async () => {
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
      };
      const message = launchMessageOf({ body: m.Body ?? '' });
      if (!message) {
        log.error('dead-letter message is not a launch message', { body: (m.Body ?? '').slice(0, 500) });
        return [];
      }
      return [{ message, acknowledge }];
    });
  };

/** The Pricing API first; the generated price file (copied next to the bundle) when it cannot answer. */
const pricesFor = (region: string): PriceBook[] => {
  const book = priceFileBook(region, path.join(__dirname, 'ec2-prices.json'));
  return [new PricingApiPriceBook(region), ...(book ? [book] : [])];
};
