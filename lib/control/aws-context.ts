/**
 * The control context on AWS: real clients, built once per Lambda container from the handler
 * environment. Everything else the handlers do lives in the services.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AnalysisConfig } from '../blueprint/analysis-config';
import type { HandlerEnvironment } from '../handler-environment';
import { JobStore } from '../job/job-store';
import { Ec2Launcher } from '../launch/ec2-launcher';
import { WORKER_TAGS } from '../launch/worker-tags';
import { FallbackPriceBook, PricingApiPriceBook } from '../pricing/price-book';
import type { ControlContext, Log, WorkerIdentity } from './control-context';
import { JobReport } from './job-report';
import { S3Objects } from './s3-objects';
import type { RunningWorker, WatchdogSources } from './watchdog';
import { launchMessageOf } from './event-parsing';

export interface AwsControl {
  readonly ctx: ControlContext;
  readonly ec2: EC2Client;
  readonly sqs: SQSClient;
}

export const awsControlContext = (env: HandlerEnvironment, log: Log): AwsControl => {
  const config = JSON.parse(env.NCAAS_ANALYSIS_CONFIG) as AnalysisConfig;
  const s3 = new S3Client({});
  const ec2 = new EC2Client({});
  const sqs = new SQSClient({});
  const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  });
  const objects = new S3Objects(s3, env.NCAAS_BUCKET);
  const now = () => new Date();
  const launcher =
    config.runtime === 'ec2' && config.ec2
      ? new Ec2Launcher({
          ec2,
          analysis: config.name,
          launchTemplateId: env.NCAAS_LAUNCH_TEMPLATE_ID ?? '',
          subnetIds: JSON.parse(env.NCAAS_SUBNET_IDS ?? '[]') as string[],
          instanceProfiles: JSON.parse(env.NCAAS_INSTANCE_PROFILES ?? '{}') as Record<string, string>,
          ami: config.ec2.ami,
        })
      : undefined;
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
    report: new JobReport(objects, now, {
      analysis: config.name,
      append: (job, lines) => store.appendLog(job, lines),
    }),
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
    prices: new FallbackPriceBook([new PricingApiPriceBook(config.region)], (error) =>
      log.warn('price lookup failed', { error: String(error) }),
    ),
    launcher,
    identifyWorker: (instanceId) => identifyInstance(ec2, config.name, instanceId),
    now,
    log,
  };
  return { ctx, ec2, sqs };
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
export const listWorkerInstances = async (ec2: EC2Client, analysis: string): Promise<RunningWorker[]> => {
  const workers: RunningWorker[] = [];
  let token: string | undefined;
  do {
    const out = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: `tag:${WORKER_TAGS.analysis}`, Values: [analysis] },
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
