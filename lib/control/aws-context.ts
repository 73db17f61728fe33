/**
 * The control context on AWS: real clients, built once per Lambda container from the handler
 * environment. Everything else the handlers do lives in the services.
 */
import * as path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
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
import { parseAnalysisConfig } from '../blueprint/analysis-config-schema';
import {
  ANALYSIS_CONFIG_FILE,
  readAnalysisConfigText,
  type HandlerEnvironment,
} from '../handler-environment';
import { launcherKindOf, type Launcher } from '../launch/launcher';
import { FallbackPriceBook, priceFileBook, PricingApiPriceBook, type PriceBook } from '../pricing/price-book';
import type { AwsWorkers } from './aws-workers';
import type { ControlContext, Log } from './control-context';
import { createControlContext } from './create-context';
import { topicOfNotifiedGroups, TopicNotifier, type Publish } from './notify';
import type { WatchdogSources } from './watchdog';
import { launchMessageOf } from './event-parsing';

export interface AwsControl {
  readonly ctx: ControlContext;
  readonly sqs: SQSClient;
  /** The workers' side, when the handler asked for it at start (`withWorkers`). */
  readonly workers?: AwsWorkers;
}

/** The analysis config the handler was deployed with (lib/constructs/control-plane.ts sets it). */
const analysisConfigOf = (env: HandlerEnvironment): AnalysisConfig =>
  parseAnalysisConfig(
    readAnalysisConfigText(env),
    env.NCAAS_ANALYSIS_CONFIG ? 'NCAAS_ANALYSIS_CONFIG' : ANALYSIS_CONFIG_FILE,
  );

/** A launcher whose module and clients load on its first use. */
const lazyLauncher = (kind: Launcher['kind'], load: () => Promise<Launcher | undefined>): Launcher => {
  let loaded: Promise<Launcher> | undefined;
  const real = (): Promise<Launcher> =>
    (loaded ??= load().then((launcher) => {
      if (launcher === undefined) throw new Error(`no ${kind} launcher could be built`);
      return launcher;
    }));
  return {
    kind,
    launch: async (request) => (await real()).launch(request),
    terminate: async (launcherId) => (await real()).terminate(launcherId),
  };
};

/**
 * The control context on AWS, built once per Lambda container from the handler environment. A handler
 * that starts, stops or watches workers passes `withWorkers` (lib/control/aws-workers.ts), built at
 * start; for the others (the submit handler) the launcher and EC2 load on first use, so a cold start
 * loads only the S3, DynamoDB and SQS clients.
 */
export const awsControlContext = (
  env: HandlerEnvironment,
  log: Log,
  withWorkers?: (config: AnalysisConfig) => AwsWorkers,
): AwsControl => {
  const config = analysisConfigOf(env);
  const s3 = new S3Client({});
  const sqs = new SQSClient({});
  const documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  });
  const now = () => new Date();
  const workers = withWorkers?.(config);
  const kind = launcherKindOf(config.runtime, {
    batchJobQueue: Boolean(env.NCAAS_BATCH_JOB_QUEUE),
    ec2Settings: config.ec2 !== undefined,
  });
  const launcher =
    workers !== undefined
      ? workers.launcher
      : kind !== undefined
        ? lazyLauncher(kind, async () => (await import('./aws-workers')).awsWorkers(env, config).launcher)
        : undefined;
  const ctx = createControlContext({
    config,
    bucket: env.NCAAS_BUCKET,
    s3,
    table: { client: documentClient, name: env.NCAAS_TABLE },
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
    identifyWorker: async (instanceId) => {
      const aws = await import('./aws-workers');
      return aws.identifyInstance(aws.ec2Client(), config.name, instanceId);
    },
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
  });
  return { ctx, sqs, ...(workers !== undefined ? { workers } : {}) };
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
