/**
 * The whole service on one machine (`ncaas local`, `npm run demo`): the emulators stand in for S3
 * and DynamoDB, s3rver's events become the S3 notifications the stack would deliver (same filters,
 * keys encoded as S3 encodes them), and the SAME services the Lambdas run handle them. Workers are
 * child processes running the same worker script; their AWS calls land on the emulators.
 */
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { S3Event } from 'aws-lambda';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadBlueprintFile, resolveBlueprintPath } from '../lib/blueprint/load-blueprint';
import { blueprintProvenance } from '../lib/blueprint/provenance';
import { handleObject } from '../lib/control/bucket-events';
import { processCancel } from '../lib/control/cancel-request';
import type { Log } from '../lib/control/control-context';
import { createControlContext } from '../lib/control/create-context';
import { endDataset, finishDataset } from '../lib/control/dataset-finish';
import { encodeS3Key, s3ObjectEvents } from '../lib/control/event-parsing';
import { launchDataset } from '../lib/control/launch-service';
import { MAX_RECEIVES } from '../lib/launch/launcher';
import { routeObject } from '../lib/control/object-routing';
import { onSpotWarning } from '../lib/control/spot-interruption';
import { onFinalReport, onWorkerState } from '../lib/control/reconcile';
import { onBatchJobState } from '../lib/control/batch-reconcile';
import { processSubmission } from '../lib/control/submission-intake';
import { runWatchdog } from '../lib/control/watchdog';
import type { DatasetRecord } from '../lib/job/job-store';
import { isFinal, type JobState } from '../lib/job/job-state';
import type { LaunchMessage } from '../lib/launch/launcher';
import { finalReportKey, jobResultFolder } from '../lib/layout';
import { NO_PRICES, priceFileBook, type PriceBook } from '../lib/pricing/price-book';
import { EMULATOR_CREDENTIALS, EMULATOR_REGION, startEmulators } from './emulators';
import { LocalLauncher, REPOSITORY_ROOT } from './local-launcher';
import { LocalBatchLauncher } from './local-batch-launcher';
import { claimLocalDir, DEFAULT_LOCAL_DIR } from './local-dir';
import { LocalNotifier } from './local-notifier';
import { localConsoleConfig, startLocalConsole } from './local-console';
import { startLocalSignIn } from './local-sign-in';
import type { LocalRuntime, LocalRuntimeOptions } from './local-runtime-api';

export type { LocalRuntime, LocalRuntimeOptions } from './local-runtime-api';

/** Shell-safe single quoting for env.sh. */
const shellQuote = (value: string): string => `'${value.replace(/'/g, `'\\''`)}'`;

/**
 * Starts the runtime on its folder, which it holds until it stops: a pid file there refuses a second
 * runtime on the same folder while this process lives, and tells `ncaas local stop` whom to stop.
 */
export const startLocalRuntime = async (options: LocalRuntimeOptions): Promise<LocalRuntime> => {
  const dir = path.resolve(options.dir ?? DEFAULT_LOCAL_DIR);
  const release = claimLocalDir(dir);
  try {
    const runtime = await startRuntimeIn(dir, options);
    const stop = async (): Promise<void> => {
      try {
        await runtime.stop();
      } finally {
        release();
      }
    };
    return { ...runtime, stop };
  } catch (error) {
    release();
    throw error;
  }
};

const startRuntimeIn = async (dir: string, options: LocalRuntimeOptions): Promise<LocalRuntime> => {
  const blueprintFile = resolveBlueprintPath(options.blueprint, path.join(REPOSITORY_ROOT, 'blueprints'));
  // As at synth (bin/app.ts): every job's certificate names the blueprint's git commit.
  const config = { ...loadBlueprintFile(blueprintFile), provenance: blueprintProvenance(blueprintFile) };
  const print = options.print ?? ((line: string) => console.log(line));
  const bucket = `${config.name}-local`;
  const table = `${config.name}-jobs`;
  fs.mkdirSync(path.join(dir, 'aws'), { recursive: true });
  // Empty AWS config files: no real profile or credential file is ever read by a worker.
  const awsConfigFile = path.join(dir, 'aws', 'config');
  const awsCredentialsFile = path.join(dir, 'aws', 'credentials');
  fs.writeFileSync(awsConfigFile, '');
  fs.writeFileSync(awsCredentialsFile, '');

  // The console's server first: its origin is the one the S3 emulator's CORS allows.
  const consoleServer =
    options.console === true ? await startLocalConsole(dir, options.consolePort) : undefined;
  // The sign-in emulator starts beside the others (it takes a second or two to load).
  const [started, signInStarted] = await Promise.allSettled([
    startEmulators({
      dir,
      bucket,
      table,
      s3Port: options.port,
      ...(consoleServer !== undefined ? { corsOrigins: [consoleServer.origin] } : {}),
    }),
    options.signIn === true && config.signIn.enabled
      ? startLocalSignIn({ dir, analysis: config.name, groups: config.groups.map((g) => g.name), print })
      : Promise.resolve(undefined),
  ]);
  if (started.status === 'rejected' || signInStarted.status === 'rejected') {
    if (started.status === 'fulfilled') await started.value.stop().catch(() => undefined);
    if (signInStarted.status === 'fulfilled') await signInStarted.value?.stop().catch(() => undefined);
    await consoleServer?.stop();
    throw started.status === 'rejected' ? started.reason : (signInStarted as PromiseRejectedResult).reason;
  }
  const emulators = started.value;
  const signIn = signInStarted.value;
  const clientEnv: Record<string, string> = {
    AWS_ENDPOINT_URL: emulators.s3Endpoint,
    AWS_ENDPOINT_URL_S3: emulators.s3Endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamoDbEndpoint,
    AWS_ACCESS_KEY_ID: EMULATOR_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey,
    AWS_REGION: EMULATOR_REGION,
    AWS_DEFAULT_REGION: EMULATOR_REGION,
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    NCAAS_BUCKET: bucket,
    NCAAS_TABLE: table,
    NCAAS_ANALYSIS: config.name,
    // So `ncaas submit --dry-run`, CSV dry runs and the group and cap checks need no --blueprint.
    NCAAS_BLUEPRINT: path.resolve(blueprintFile),
    // `ncaas users` and `ncaas login` talk to the sign-in emulator.
    ...(signIn !== undefined
      ? {
          AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER: signIn.endpoint,
          NCAAS_USER_POOL_ID: signIn.userPoolId,
          NCAAS_USER_POOL_CLIENT_ID: signIn.clientId,
        }
      : {}),
  };
  // For the processes that reach AWS (an EC2-style worker, Batch's staging stages), never for an analysis.
  const workerEnv: Record<string, string> = {
    ...clientEnv,
    AWS_CONFIG_FILE: awsConfigFile,
    AWS_SHARED_CREDENTIALS_FILE: awsCredentialsFile,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    LANG: process.env.LANG ?? 'C.UTF-8',
    // Seen under load: an AWS CLI transfer to s3rver that never returns. Fail it and retry instead.
    NCAAS_AWS_CALL_TIMEOUT: '120',
  };
  if (consoleServer !== undefined) {
    consoleServer.configure(localConsoleConfig(config, bucket, emulators.s3Endpoint, signIn), {
      connectSrc: [emulators.s3Endpoint, ...(signIn !== undefined ? [signIn.endpoint] : [])],
    });
    clientEnv.NCAAS_CONSOLE_URL = consoleServer.url;
  }
  const envFile = path.join(dir, 'env.sh');
  fs.writeFileSync(
    envFile,
    `# ncaas local runtime for ${config.name}: \`. ${envFile}\` points the AWS CLI, SDKs and ncaas at it.\n` +
      Object.entries(clientEnv)
        .map(([k, v]) => `export ${k}=${shellQuote(v)}`)
        .join('\n') +
      '\n',
  );

  const log: Log = {
    info: () => undefined,
    warn: (message, details) => print(`warning: ${message} ${details ? JSON.stringify(details) : ''}`),
    error: (message, details) => print(`error: ${message} ${details ? JSON.stringify(details) : ''}`),
  };
  // A batch blueprint runs its stages as processes around a local EFS stand-in (<dir>/efs).
  const launcher =
    config.runtime === 'batch'
      ? new LocalBatchLauncher({
          analysis: config.name,
          groups: config.groups,
          dir,
          workerEnv,
          spot: config.batch?.spot ?? false,
          ...(options.spotInterruption ? { spotInterruption: options.spotInterruption } : {}),
          ...(options.batchStartFailure ? { startFailure: options.batchStartFailure } : {}),
          ...(options.secretFiles ? { secretFiles: options.secretFiles } : {}),
        })
      : new LocalLauncher({
          workersDir: path.join(dir, 'workers'),
          workerEnv,
          spot: config.ec2?.spot === true,
          ...(options.spotReclaim ? { spotReclaim: options.spotReclaim } : {}),
          ...(options.statusIntervalSeconds !== undefined
            ? { statusIntervalSeconds: options.statusIntervalSeconds }
            : {}),
        });
  const now = () => new Date();

  // In-flight work, so idle() and stop() know when everything has settled.
  const inFlight = new Set<Promise<unknown>>();
  // Set by stop(): no new worker is launched (the next start re-sends the launch).
  let stopping = false;
  const track = (what: string, work: () => Promise<unknown>): void => {
    const p = work()
      .catch((error: unknown) =>
        print(`error: ${what}: ${error instanceof Error ? error.message : String(error)}`),
      )
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };

  const launchQueue = {
    send: async (message: LaunchMessage) => track('launch', () => deliverLaunch(message, 1)),
  };
  const ctx = createControlContext({
    config,
    bucket,
    s3: emulators.s3,
    table: {
      client: DynamoDBDocumentClient.from(emulators.dynamoDb, {
        marshallOptions: { removeUndefinedValues: true },
      }),
      name: table,
    },
    launchQueue,
    // Locally there is no AWS to ask: the generated price file (`npm run prices`) when there is one.
    prices: localPrices(config.region),
    launcher,
    identifyWorker: async (id) => launcher.identify(id),
    // What a deployed analysis would email to the group's topic: printed, and kept in notifications.log.
    notifier: new LocalNotifier(config, path.join(dir, 'notifications.log'), print),
    now,
    log,
  });
  const { objects } = ctx;

  const deliverLaunch = async (message: LaunchMessage, receive: number): Promise<void> => {
    if (stopping) return;
    const result = await launchDataset(ctx, message, { lastAttempt: receive >= MAX_RECEIVES });
    if (result.kind === 'launched')
      print(`job ${message.group}/${message.jobId}: worker ${result.launcherId} started`);
    if (result.kind === 'failed')
      print(`job ${message.group}/${message.jobId}: launch failed: ${result.reason}`);
    if (result.kind === 'retry') {
      const backoff = Math.min(30_000, 1000 * 2 ** receive);
      setTimeout(() => track('launch', () => deliverLaunch(message, receive + 1)), backoff).unref();
    }
  };

  launcher.on('state', (launcherId: string, state: string, time: string) =>
    track(`worker ${launcherId} ${state}`, async () => {
      const outcome = await onWorkerState(ctx, launcherId, state, time);
      if (state === 'terminated' && !outcome.startsWith('unchanged'))
        print(`worker ${launcherId} ended: ${outcome}`);
    }),
  );

  launcher.on('spot-warning', (launcherId: string, action: string, time: string) =>
    track(`Spot warning for ${launcherId}`, async () => {
      print(
        `worker ${launcherId}: Spot reclaims it soon: ${await onSpotWarning(ctx, launcherId, action, time)}`,
      );
    }),
  );

  if (launcher instanceof LocalBatchLauncher) {
    launcher.on('batch-state', (detail: unknown, time: string) =>
      track('Batch job state change', async () => {
        const outcome = await onBatchJobState(ctx, launcher.stages, launcher.containerLogs, detail, time);
        if (/^(SUCCESS|FAILED|TIMED_OUT|CANCELLED)$/.test(outcome)) print(`batch job ended: ${outcome}`);
      }),
    );
  }

  // s3rver reports every put with the raw key; S3 filters by the notification rules and encodes.
  emulators.events.on('event', (event: S3Event) => {
    for (const record of event.Records ?? []) {
      if (!record.eventName?.startsWith('ObjectCreated') || record.s3.bucket.name !== bucket) continue;
      const route = routeObject(config, record.s3.object.key);
      if (!route) continue;
      const shaped: S3Event = {
        Records: [
          {
            ...record,
            s3: { ...record.s3, object: { ...record.s3.object, key: encodeS3Key(record.s3.object.key) } },
          },
        ],
      };
      for (const object of s3ObjectEvents(shaped)) {
        track(`${route} ${object.key}`, async () => {
          const handled = await handleObject(ctx, object, {
            submission: processSubmission,
            cancel: processCancel,
            'final-report': onFinalReport,
          });
          if (handled.route === 'submission') {
            print(
              handled.outcome.kind === 'refused'
                ? `submission ${object.key} refused: see s3://${bucket}/${handled.outcome.messageKey}`
                : `submission ${object.key}: ${handled.outcome.kind}`,
            );
          } else if (handled.route === 'cancel') {
            print(`cancel ${object.key}: ${handled.outcome.kind}`);
          }
        });
      }
    }
  });

  // Workers of a previous run of this folder died with it: say so instead of leaving them live.
  // Launches it requested but never delivered (its queue was in memory) are delivered now.
  try {
    for (const dataset of await ctx.store.listLive()) {
      if (dataset.launcherId?.startsWith('local:') && !launcher.identify(dataset.launcherId)) {
        const reason = 'the local runtime stopped while this dataset ran';
        await endDataset(ctx, dataset, 'INTERRUPTED', { reason });
      } else if (dataset.state === 'INITIALIZING' && !dataset.launcherId) {
        await launchQueue.send({
          analysis: config.name,
          group: dataset.group,
          jobId: dataset.jobId,
          datasetIndex: dataset.datasetIndex,
          attempt: dataset.attempt + 1,
        });
      }
    }
  } catch (error) {
    // A runtime that fails to start leaves no server running (the process could not exit).
    await emulators.stop().catch(() => undefined);
    await signIn?.stop().catch(() => undefined);
    await consoleServer?.stop();
    throw error;
  }

  const watchdog = setInterval(
    () =>
      track('watchdog', () =>
        runWatchdog(ctx, {
          listWorkers: async () => launcher.running(),
          ...(launcher instanceof LocalBatchLauncher ? { batch: launcher.stages } : {}),
        }),
      ),
    options.watchdogIntervalMs ?? 30_000,
  );
  watchdog.unref();

  const idle = async (): Promise<void> => {
    const batchBusy = () => launcher instanceof LocalBatchLauncher && launcher.busy();
    while (inFlight.size > 0 || launcher.running().length > 0 || batchBusy()) {
      await Promise.race([...inFlight, new Promise((r) => setTimeout(r, 100))]);
    }
  };

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    stopping = true;
    clearInterval(watchdog);
    // Running jobs become INTERRUPTED before their workers are stopped, so the exit events and the
    // FAILED reports of the stopped workers that follow do not count. A worker that has already
    // uploaded its final report keeps its result.
    const reason = 'the local runtime was stopped';
    const interrupted: { dataset: DatasetRecord; previous: JobState | undefined }[] = [];
    for (const dataset of await ctx.store.listLive()) {
      if (isFinal(dataset.state) || !dataset.launcherId || !launcher.identify(dataset.launcherId)) continue;
      const folder = jobResultFolder(dataset.group, config.name, dataset.jobId);
      const report = finalReportKey(folder, dataset.datasetLabel);
      if (await objects.head(report)) {
        await onFinalReport(ctx, report);
        continue;
      }
      const t = await ctx.store.transition(dataset, dataset.datasetIndex, 'INTERRUPTED', { reason });
      if (t.applied) interrupted.push({ dataset, previous: t.previous });
    }
    await launcher.terminateAll();
    await Promise.allSettled([...inFlight]);
    // After the stopped workers' last writes, so their status files end INTERRUPTED.
    for (const { dataset, previous } of interrupted)
      await finishDataset(ctx, { dataset, state: 'INTERRUPTED', previous, reason });
    await Promise.allSettled([...inFlight]);
    // Both, whatever one of them does: a sign-in emulator left running would outlive the runtime.
    const settled = await Promise.allSettled([emulators.stop(), signIn?.stop(), consoleServer?.stop()]);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  };

  return {
    config,
    bucket,
    table,
    s3Endpoint: emulators.s3Endpoint,
    dynamoDbEndpoint: emulators.dynamoDbEndpoint,
    clientEnv,
    envFile,
    ...(consoleServer !== undefined ? { consoleUrl: consoleServer.url } : {}),
    ...(signIn !== undefined
      ? {
          signIn: {
            endpoint: signIn.endpoint,
            userPoolId: signIn.userPoolId,
            clientId: signIn.clientId,
            invitationsFile: signIn.invitationsFile,
          },
        }
      : {}),
    idle,
    stop,
  };
};

const localPrices = (region: string): PriceBook => {
  return priceFileBook(region) ?? NO_PRICES;
};
