/**
 * The control plane over real emulators (s3rver + dynalite), for tests of the job lifecycle.
 *
 * ```ts
 * let emulators: ControlEmulators;
 * beforeAll(async () => { emulators = await startControlEmulators(); });
 * afterAll(() => emulators.stop());
 * test('...', async () => {
 *   const h = await newControl(emulators);            // its own analysis name and bucket
 *   await h.putData('lab', 'inputs/a.bin');
 *   await h.putConfig('lab', 'configs/c.yaml', '__duration__: 30\n');
 *   const outcome = await h.submit('lab', 'job1', { dataname: ..., configname: ..., timestamp: 'job1' });
 *   await h.deliverLaunches();                          // launch messages -> launchDataset
 * });
 * ```
 *
 * Everything is real except what lies outside the control plane: the launcher (records launch and
 * terminate calls, returns scripted outcomes, remembers each worker's "tags" for `identifyWorker`),
 * the launch queue (in memory, with SQS-like redelivery of `retry` results), the price book (fixed
 * prices), the clock (moves only when told), the log (silent, recorded) and the notifier (recorded).
 *
 * One pair of emulators per test file; each `newControl` gets a fresh analysis name (so its running
 * counter, launch queue and budgets are its own) and a fresh bucket, so tests do not interfere.
 */
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { AnalysisConfig } from '../../lib/blueprint/analysis-config';
import { parseBlueprint } from '../../lib/blueprint/load-blueprint';
import type { ControlContext, Log, WorkerIdentity } from '../../lib/control/control-context';
import { CERTIFICATE_DIVIDER, parseCertificate } from '../../lib/control/certificate-text';
import { createControlContext } from '../../lib/control/create-context';
import { type LaunchResult, launchDataset } from '../../lib/control/launch-service';
import type { JobNotification, Notifier } from '../../lib/control/notify';
import { onFinalReport, onWorkerState } from '../../lib/control/reconcile';
import { onSpotWarning } from '../../lib/control/spot-interruption';
import { S3Objects } from '../../lib/control/s3-objects';
import {
  type IntakeOutcome,
  processSubmission,
  type SubmissionRef,
} from '../../lib/control/submission-intake';
import type { RunningWorker } from '../../lib/control/watchdog';
import { type DatasetRecord, type Job, JobStore } from '../../lib/job/job-store';
import type { LaunchMessage, LaunchOutcome, LaunchRequest, Launcher } from '../../lib/launch/launcher';
import {
  certificateKey,
  endMarkerKey,
  finalReportKey,
  jobResultFolder,
  statusKey,
  submissionMessageKey,
} from '../../lib/layout';
import type { HourlyPrice, PriceBook } from '../../lib/pricing/price-book';
import { type DynamoDbEmulator, startDynamoDbEmulator } from './dynamodb-emulator';
import { type S3Emulator, startS3Emulator } from './s3-emulator';

// ---- emulators ----------------------------------------------------------------------------------

export interface ObjectWrite {
  readonly bucket: string;
  readonly key: string;
}

export interface ControlEmulators {
  readonly s3: S3Emulator;
  readonly db: DynamoDbEmulator;
  /** Every PutObject sent through the S3 client, in order (to prove a file was written once). */
  readonly writes: ObjectWrite[];
  stop(): Promise<void>;
}

export const startControlEmulators = async (): Promise<ControlEmulators> => {
  const [s3, db] = await Promise.all([startS3Emulator(), startDynamoDbEmulator()]);
  const writes: ObjectWrite[] = [];
  s3.client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'PutObjectCommand') {
        const input = args.input as { Bucket?: string; Key?: string };
        writes.push({ bucket: input.Bucket ?? '', key: input.Key ?? '' });
      }
      return next(args);
    },
    { step: 'initialize', name: 'recordWrites' },
  );
  return {
    s3,
    db,
    writes,
    stop: async () => {
      await Promise.all([s3.stop(), db.stop()]);
    },
  };
};

// ---- fakes at the edges ---------------------------------------------------------------------------

export class FakeClock {
  private current: number;

  constructor(start: Date) {
    this.current = start.getTime();
  }

  readonly now = (): Date => new Date(this.current);

  advance(ms: number): Date {
    this.current += ms;
    return this.now();
  }

  advanceSeconds(seconds: number): Date {
    return this.advance(seconds * 1000);
  }
}

export interface LogEntry {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

/** Silent; keeps what was logged for a test that wants to look. */
export class RecordingLog implements Log {
  readonly entries: LogEntry[] = [];
  info(message: string, details?: Record<string, unknown>): void {
    this.entries.push({ level: 'info', message, details });
  }
  warn(message: string, details?: Record<string, unknown>): void {
    this.entries.push({ level: 'warn', message, details });
  }
  error(message: string, details?: Record<string, unknown>): void {
    this.entries.push({ level: 'error', message, details });
  }
}

/** What the fake launcher does for one launch call. */
export type ScriptedLaunch =
  | { readonly kind: 'launched'; readonly launcherId?: string; readonly spot?: boolean }
  | { readonly kind: 'retry'; readonly reason: string }
  | { readonly kind: 'failed'; readonly reason: string }
  /** RunInstances succeeded (the worker exists, tagged), then the launcher died before recording it. */
  | { readonly kind: 'crash-after-launch'; readonly launcherId?: string };

export interface FakeWorker {
  readonly launcherId: string;
  readonly identity: WorkerIdentity;
  readonly launchedAt: Date;
  alive: boolean;
}

let instanceCounter = 0;
/** An EC2-looking instance id, unique across every test of the process. */
export const newInstanceId = (): string => {
  instanceCounter += 1;
  return `i-${instanceCounter.toString(16).padStart(17, '0')}`;
};

export class FakeLauncher implements Launcher {
  readonly kind = 'ec2' as const;
  readonly launches: LaunchRequest[] = [];
  readonly terminations: string[] = [];
  readonly workers = new Map<string, FakeWorker>();
  private readonly scripted: ScriptedLaunch[] = [];
  /** Runs inside the next launch call, while "RunInstances" is in flight (then cleared). */
  duringNextLaunch?: () => Promise<void>;

  constructor(private readonly clock: FakeClock) {}

  /** Outcomes for the next launch calls, in order; once used up, every launch succeeds. */
  script(...outcomes: ScriptedLaunch[]): void {
    this.scripted.push(...outcomes);
  }

  async launch(request: LaunchRequest): Promise<LaunchOutcome> {
    this.launches.push(request);
    const during = this.duringNextLaunch;
    this.duringNextLaunch = undefined;
    await during?.();
    const next = this.scripted.shift() ?? { kind: 'launched' };
    if (next.kind === 'retry' || next.kind === 'failed') return next;
    const launcherId = next.launcherId ?? newInstanceId();
    this.workers.set(launcherId, {
      launcherId,
      identity: {
        group: request.job.group,
        jobId: request.job.jobId,
        datasetIndex: request.job.datasetIndex,
      },
      launchedAt: this.clock.now(),
      alive: true,
    });
    if (next.kind === 'crash-after-launch') throw new Error(`launcher died after starting ${launcherId}`);
    return { kind: 'launched', launcherId, ...(next.spot ? { spot: true } : {}) };
  }

  async terminate(launcherId: string): Promise<void> {
    this.terminations.push(launcherId);
    const worker = this.workers.get(launcherId);
    if (worker) worker.alive = false;
  }

  /** What EC2 would say from the instance's tags. */
  readonly identify = async (launcherId: string): Promise<WorkerIdentity | undefined> =>
    this.workers.get(launcherId)?.identity;

  /** The watchdog's `listWorkers`: workers not terminated. */
  readonly listWorkers = async (): Promise<RunningWorker[]> =>
    [...this.workers.values()]
      .filter((w) => w.alive)
      .map((w) => ({ launcherId: w.launcherId, launchedAt: w.launchedAt }));

  /** A worker someone started outside the control plane's knowledge (e.g. left from a crashed launch). */
  addStrayWorker(launcherId: string, identity: WorkerIdentity, launchedAt: Date): void {
    this.workers.set(launcherId, { launcherId, identity, launchedAt, alive: true });
  }

  /** The launch requests of one dataset. */
  launchesOf(jobId: string, datasetIndex = 0): LaunchRequest[] {
    return this.launches.filter((l) => l.job.jobId === jobId && l.job.datasetIndex === datasetIndex);
  }
}

/** Keeps every notification sent (after the blueprint's event filter), in order. */
export class RecordingNotifier implements Notifier {
  readonly sent: JobNotification[] = [];
  /** Makes every send fail (a notification must never stop a job). */
  failing = false;

  async notify(event: JobNotification): Promise<void> {
    if (this.failing) throw new Error('SNS is unavailable');
    this.sent.push(event);
  }

  /** The kinds sent for one job, in order. */
  kindsFor(jobId: string): string[] {
    return this.sent.filter((n) => n.jobId === jobId).map((n) => n.kind);
  }
}

interface PendingMessage {
  readonly message: LaunchMessage;
  receives: number;
}

/** The launch queue: records every message sent; `deliver` hands them to `launchDataset` like SQS. */
export class RecordingLaunchQueue {
  readonly sent: LaunchMessage[] = [];
  readonly pending: PendingMessage[] = [];

  readonly send = async (message: LaunchMessage): Promise<void> => {
    this.sent.push(message);
    this.pending.push({ message, receives: 0 });
  };

  sentFor(jobId: string): LaunchMessage[] {
    return this.sent.filter((m) => m.jobId === jobId);
  }

  /** Drops messages not delivered yet (a message lost between the drain and SQS). */
  lose(): LaunchMessage[] {
    return this.pending.splice(0).map((p) => p.message);
  }
}

/** The SQS queue's maxReceiveCount (lib/constructs/launch-queue.ts, lambda/launch.ts). */
import { MAX_RECEIVES } from '../../lib/control/launch-batch';
export { MAX_RECEIVES };

export const PRICES: Readonly<Record<string, number>> = { 'm5.xlarge': 0.192, 'm5.2xlarge': 0.384 };

export const fixedPrices: PriceBook = {
  hourly: async (instanceType: string): Promise<HourlyPrice | undefined> =>
    PRICES[instanceType] === undefined ? undefined : { usd: PRICES[instanceType], source: 'test price book' },
};

// ---- the analysis -------------------------------------------------------------------------------

export interface AnalysisOptions {
  readonly deployLimit?: number;
  readonly maxCost?: number;
  readonly monitor?: boolean;
  /** EXECUTION_TIMEOUT, seconds. */
  readonly launchTimeout?: number;
  /** SSM_TIMEOUT, seconds. */
  readonly workerTimeout?: number;
  /** `Notifications.Events`. @default the blueprint's default (BEGIN, END, FAIL) */
  readonly notificationEvents?: readonly string[];
  /** `Ec2.Spot`: workers ask for Spot capacity first. @default false */
  readonly spot?: boolean;
  /** `Notifications.Groups`: groups with a choice of their own. @default none */
  readonly notificationGroups?: Readonly<Record<string, { Events?: string[]; Emails?: string[] }>>;
}

export const COMMAND =
  'cd /home/ubuntu && bash run.sh "{}" "{}" "{}" "{}"; . ncap_utils/workflow.sh; cleanup';

export const blueprintJson = (name: string, options: AnalysisOptions = {}): Record<string, unknown> => ({
  PipelineName: name,
  REGION: 'us-east-1',
  STAGE: 'test',
  Lambda: {
    LambdaConfig: {
      AMI: 'ami-0123456789abcdef0',
      INSTANCE_TYPE: 'm5.xlarge',
      COMMAND,
      EXECUTION_TIMEOUT: options.launchTimeout ?? 300,
      SSM_TIMEOUT: options.workerTimeout ?? 36_000,
      DEPLOY_LIMIT: options.deployLimit ?? 2,
      MAXCOST: options.maxCost ?? 10,
      MONITOR: options.monitor ?? true,
    },
  },
  UXData: {
    Affiliates: [
      { AffiliateName: 'lab', UserNames: [], UserInput: true, ContactEmail: 'NOTE: placeholder' },
      { AffiliateName: 'lab2', UserNames: [], UserInput: true },
      { AffiliateName: 'viewers', UserNames: [], UserInput: false },
    ],
  },
  Submissions: {
    AllowedInstanceTypes: ['m5.2xlarge'],
    MaxDurationMinutes: 600,
    MaxDatasetSizeGiB: 50,
    MaxDatasets: 4,
  },
  ...(options.spot ? { Ec2: { Spot: true } } : {}),
  ...(options.notificationEvents !== undefined || options.notificationGroups !== undefined
    ? {
        Notifications: {
          ...(options.notificationEvents !== undefined ? { Events: [...options.notificationEvents] } : {}),
          ...(options.notificationGroups !== undefined ? { Groups: options.notificationGroups } : {}),
        },
      }
    : {}),
});

export const analysisConfig = (name: string, options: AnalysisOptions = {}): AnalysisConfig => {
  const parsed = parseBlueprint(blueprintJson(name, options), `blueprints/${name}.json`);
  if (!parsed.ok) throw new Error(`test blueprint is invalid: ${JSON.stringify(parsed.problems)}`);
  return parsed.config;
};

// ---- the harness --------------------------------------------------------------------------------

/** A job's user-visible files. */
export interface CertificateLine {
  readonly time: string;
  /** Seconds since submission, from the `+h:mm:ss` stamp. */
  readonly elapsedSeconds: number;
  readonly text: string;
}

export interface WorkerReport {
  readonly status: string;
  readonly exit_code?: number | null;
  readonly reason?: string;
  readonly [field: string]: unknown;
}

let analysisCounter = 0;

export class ControlHarness {
  readonly ctx: ControlContext;
  readonly config: AnalysisConfig;
  readonly store: JobStore;
  readonly objects: S3Objects;
  readonly queue = new RecordingLaunchQueue();
  readonly launcher: FakeLauncher;
  readonly clock: FakeClock;
  readonly log = new RecordingLog();
  readonly notifications = new RecordingNotifier();

  constructor(
    readonly emulators: ControlEmulators,
    readonly bucket: string,
    config: AnalysisConfig,
    start: Date,
  ) {
    this.config = config;
    this.clock = new FakeClock(start);
    this.launcher = new FakeLauncher(this.clock);
    this.ctx = createControlContext({
      config,
      bucket,
      s3: emulators.s3.client,
      table: { client: emulators.db.documentClient, name: emulators.db.tableName },
      launchQueue: this.queue,
      prices: fixedPrices,
      launcher: this.launcher,
      identifyWorker: this.launcher.identify,
      notifier: this.notifications,
      now: this.clock.now,
      log: this.log,
    });
    this.objects = this.ctx.objects;
    this.store = this.ctx.store;
  }

  get analysis(): string {
    return this.config.name;
  }

  // -- what a lab member uploads --

  async put(key: string, body: string | Uint8Array = 'x'): Promise<void> {
    await this.emulators.s3.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: Buffer.from(body) }),
    );
  }

  /** Uploads a submit.json (an object is JSON-encoded) and returns its key. */
  async upload(group: string, name: string, body: object | string | Uint8Array): Promise<string> {
    const key = `${group}/submissions/${name}_submit.json`;
    const bytes = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
    await this.put(key, bytes);
    return key;
  }

  /** The S3 event of an uploaded object, at the fake clock's time. */
  async refOf(key: string): Promise<SubmissionRef> {
    const head = await this.objects.head(key);
    if (!head) throw new Error(`${key} was not uploaded`);
    return { key, etag: head.etag, eventTime: this.clock.now().toISOString() };
  }

  /** Uploads a submit.json and delivers its event to the submit handler. */
  async submit(group: string, name: string, body: object | string | Uint8Array): Promise<IntakeOutcome> {
    const key = await this.upload(group, name, body);
    return processSubmission(this.ctx, await this.refOf(key));
  }

  // -- the launch queue consumer --

  /**
   * Delivers every pending launch message to `launchDataset`, as SQS would: a `retry` result stays
   * on the queue for the next delivery; the delivery reaching MAX_RECEIVES is the last attempt.
   */
  async deliverLaunches(): Promise<LaunchResult[]> {
    const batch = this.queue.pending.splice(0);
    const results: LaunchResult[] = [];
    for (const entry of batch) {
      entry.receives += 1;
      const result = await launchDataset(this.ctx, entry.message, {
        lastAttempt: entry.receives >= MAX_RECEIVES,
      });
      results.push(result);
      if (result.kind === 'retry') this.queue.pending.push(entry);
    }
    return results;
  }

  // -- the worker and EC2 --

  async workerState(launcherId: string, state: string): Promise<string> {
    return onWorkerState(this.ctx, launcherId, state, this.clock.now().toISOString());
  }

  /** EC2's two-minute warning before Spot reclaims the instance. */
  async spotWarning(launcherId: string, action = 'terminate'): Promise<string> {
    return onSpotWarning(this.ctx, launcherId, action, this.clock.now().toISOString());
  }

  /**
   * Writes what the worker writes at its end (status file, then the final report); returns the report
   * key. The report carries the secret of the dataset's launch, as its worker's does, unless
   * `report_token` is given (a forged or stray report).
   */
  async writeFinalReport(group: string, jobId: string, label: string, report: WorkerReport): Promise<string> {
    const folder = this.resultFolder(group, jobId);
    const dataset = (await this.store.getJob({ group, jobId }))?.datasets.find(
      (d) => d.datasetLabel === label,
    );
    const token = dataset?.reportToken !== undefined ? { report_token: dataset.reportToken } : {};
    const text = `${JSON.stringify({ input: label, job_finish: this.clock.now().toISOString(), ...token, ...report }, null, 2)}\n`;
    await this.put(statusKey(folder, label), text);
    const key = finalReportKey(folder, label);
    await this.put(key, text);
    return key;
  }

  /** The worker's final report and its S3 event. */
  async finishWorker(group: string, jobId: string, label: string, report: WorkerReport): Promise<string> {
    return onFinalReport(this.ctx, await this.writeFinalReport(group, jobId, label, report));
  }

  // -- what the user reads --

  resultFolder(group: string, jobId: string): string {
    return jobResultFolder(group, this.analysis, jobId);
  }

  async read(key: string): Promise<string | undefined> {
    return this.objects.readText(key);
  }

  async certificate(group: string, jobId: string): Promise<string | undefined> {
    return this.read(certificateKey(this.resultFolder(group, jobId)));
  }

  async certificateLines(group: string, jobId: string): Promise<CertificateLine[]> {
    const text = (await this.certificate(group, jobId)) ?? '';
    // NeuroCAAS's layout, always: exactly two dividers around the dataset lines, then the log.
    if (text !== '') {
      const dividers = text.split('\n').filter((line) => line === CERTIFICATE_DIVIDER).length;
      if (dividers !== 2) throw new Error(`certificate with ${dividers} dividers:\n${text}`);
    }
    return parseCertificate(text)
      .log.filter((line) => line.length > 0)
      .map((line) => {
        const match = /^(\S+Z) \+(\d+):(\d\d):(\d\d) {2}(.*)$/.exec(line);
        if (!match) throw new Error(`certificate line without a stamp: ${JSON.stringify(line)}`);
        const [, time, h, m, s, rest] = match;
        return { time, elapsedSeconds: Number(h) * 3600 + Number(m) * 60 + Number(s), text: rest };
      });
  }

  async status(group: string, jobId: string, label: string): Promise<Record<string, unknown> | undefined> {
    const text = await this.read(statusKey(this.resultFolder(group, jobId), label));
    return text === undefined ? undefined : (JSON.parse(text) as Record<string, unknown>);
  }

  async end(group: string, jobId: string): Promise<string | undefined> {
    return this.read(endMarkerKey(this.resultFolder(group, jobId)));
  }

  /** How many times end.txt of this job was written. */
  endWrites(group: string, jobId: string): number {
    return this.writesTo(endMarkerKey(this.resultFolder(group, jobId)));
  }

  writesTo(key: string): number {
    return this.emulators.writes.filter((w) => w.bucket === this.bucket && w.key === key).length;
  }

  /** The refusal written beside a submission (or a cancel request). */
  async besideMessage(submissionKey: string): Promise<string | undefined> {
    return this.read(submissionMessageKey(submissionKey));
  }

  // -- the job table --

  async job(group: string, jobId: string): Promise<Job | undefined> {
    return this.store.getJob({ group, jobId });
  }

  async dataset(group: string, jobId: string, index = 0): Promise<DatasetRecord> {
    const dataset = await this.store.getDataset({ group, jobId }, index);
    if (!dataset) throw new Error(`no dataset ${index} of ${group}/${jobId}`);
    return dataset;
  }

  async states(group: string, jobId: string): Promise<string[]> {
    return ((await this.job(group, jobId))?.datasets ?? []).map((d) => d.state);
  }
}

/**
 * A control plane of its own (analysis `t<n>-<label>`, bucket `ncaas-t<n>-<label>`) over the shared
 * emulators. The clock starts at the real time (S3's LastModified is real time), whole seconds.
 */
export const newControl = async (
  emulators: ControlEmulators,
  label = 'job',
  options: AnalysisOptions = {},
): Promise<ControlHarness> => {
  analysisCounter += 1;
  const name = `t${analysisCounter}-${label}`.toLowerCase().slice(0, 40);
  const bucket = `ncaas-${name}`;
  await emulators.s3.client.send(new CreateBucketCommand({ Bucket: bucket }));
  const start = new Date(Math.floor(Date.now() / 1000) * 1000);
  return new ControlHarness(emulators, bucket, analysisConfig(name, options), start);
};

/** A plain submit.json for one group. */
export const submitJson = (
  group: string,
  timestamp: string,
  dataname: string | string[],
  configname = `${group}/configs/config.yaml`,
  extra: Record<string, unknown> = {},
): Record<string, unknown> => ({ dataname, configname, timestamp, ...extra });
