/**
 * Fault injection for the AWS SDK clients the control plane uses (tests in test/faults/).
 *
 * ```ts
 * const ddb = injectDynamoDbFaults(emulators.db.newDocumentClient());
 * ddb.injector.arm({ from: 3, count: 1, fault: 'throttled' });   // the 3rd call fails, once
 * await expect(processSubmission(ctx, ref)).rejects.toThrow(FAULT_MESSAGE);
 * ddb.injector.clear();                                              // the redelivery goes through
 * ```
 *
 * A middleware at the front of the client's stack (before the SDK's own retries: what it throws is
 * what the caller sees once the SDK has given up) counts the calls that match the plan and fails the
 * planned ones with an error shaped like the real one. `when: 'before'` fails the call before the
 * request is sent (nothing is written); `when: 'after'` sends it and then loses the response (the
 * write applied, the caller cannot know): the ambiguous failure of a socket reset or a timeout.
 */
import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { type S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ControlContext } from '../../lib/control/control-context';
import { runWatchdog } from '../../lib/control/watchdog';
import { JobStore } from '../../lib/job/job-store';
import { type ControlEmulators, type ControlHarness, newControl, submitJson } from './control-harness';

/** Every injected error's message contains this. */
export const FAULT_MESSAGE = 'injected fault';

export type FaultKind =
  /** DynamoDB ProvisionedThroughputExceededException / S3 SlowDown (503). */
  | 'throttled'
  /** A 500 from the service: DynamoDB InternalServerError / S3 InternalError. */
  | 'internal'
  /** The connection reset under the request (ECONNRESET). */
  | 'reset';

export interface FaultPlan {
  /** SDK command names that count (`PutItemCommand`, `PutObjectCommand`...); every command when absent. */
  readonly commands?: readonly string[];
  /** The first matching call (1-based, counted since `arm`) that fails. @default 1 */
  readonly from?: number;
  /** How many matching calls fail from there; `Infinity`: every later one. @default 1 */
  readonly count?: number;
  /** @default 'internal' */
  readonly fault?: FaultKind;
  /** @default 'before' */
  readonly when?: 'before' | 'after';
}

export interface InjectedFault {
  readonly command: string;
  /** The matching call's number since `arm`. */
  readonly call: number;
  readonly error: Error;
}

export class FaultInjector {
  /** Matching calls since the last `arm` (or since the start), failed or not. */
  calls = 0;
  /** Every command seen since the last `arm`, in order (to calibrate a loop over call numbers). */
  readonly seen: string[] = [];
  readonly injected: InjectedFault[] = [];
  private plan: FaultPlan | undefined;

  constructor(private readonly service: 'dynamodb' | 's3') {}

  arm(plan: FaultPlan): void {
    this.plan = plan;
    this.calls = 0;
    this.seen.length = 0;
    this.injected.length = 0;
  }

  /** No more faults; counting goes on. */
  clear(): void {
    this.plan = undefined;
  }

  /** Counts without failing anything (calibration). */
  observe(commands?: readonly string[]): void {
    this.arm({ commands, from: Number.POSITIVE_INFINITY, count: 0 });
  }

  /** Whether an error is one this injector threw. */
  static isInjected(error: unknown): boolean {
    return error instanceof Error && error.message.includes(FAULT_MESSAGE);
  }

  /** @internal The decision for one call: the error to throw, and when. */
  next(command: string): { error: Error; when: 'before' | 'after' } | undefined {
    const plan = this.plan;
    if (!plan) return undefined;
    if (plan.commands && !plan.commands.includes(command)) return undefined;
    this.calls += 1;
    this.seen.push(command);
    const from = plan.from ?? 1;
    const count = plan.count ?? 1;
    if (this.calls < from || this.calls >= from + count) return undefined;
    const error = faultError(this.service, plan.fault ?? 'internal', command, this.calls);
    this.injected.push({ command, call: this.calls, error });
    return { error, when: plan.when ?? 'before' };
  }
}

const faultError = (service: 'dynamodb' | 's3', kind: FaultKind, command: string, call: number): Error => {
  const message = `${FAULT_MESSAGE}: ${kind} on ${command} (call ${call})`;
  if (kind === 'reset') {
    return Object.assign(new Error(`read ECONNRESET (${message})`), { code: 'ECONNRESET' });
  }
  if (service === 'dynamodb') {
    if (kind === 'throttled') {
      return new ProvisionedThroughputExceededException({
        message,
        $metadata: { httpStatusCode: 400, attempts: 10 },
      });
    }
    return Object.assign(new Error(message), {
      name: 'InternalServerError',
      $fault: 'server',
      $metadata: { httpStatusCode: 500, attempts: 10 },
    });
  }
  return new S3ServiceException({
    name: kind === 'throttled' ? 'SlowDown' : 'InternalError',
    $fault: 'server',
    $metadata: { httpStatusCode: kind === 'throttled' ? 503 : 500, attempts: 3 },
    message,
  });
};

const MIDDLEWARE_NAME = 'ncaasFaultInjection';

/** Adds the injector in front of an S3 client's stack (the client is changed, and returned). */
export const injectS3Faults = (client: S3Client): { client: S3Client; injector: FaultInjector } => {
  const injector = new FaultInjector('s3');
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const decision = injector.next(context.commandName ?? 'unknown');
      if (decision?.when === 'before') throw decision.error;
      const result = await next(args);
      if (decision) throw decision.error;
      return result;
    },
    { step: 'initialize', name: MIDDLEWARE_NAME, priority: 'high' },
  );
  return { client, injector };
};

/** Adds the injector in front of a DynamoDB document client's stack (shared with its DynamoDBClient). */
export const injectDynamoDbFaults = (
  client: DynamoDBDocumentClient,
): { client: DynamoDBDocumentClient; injector: FaultInjector } => {
  const injector = new FaultInjector('dynamodb');
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const decision = injector.next(context.commandName ?? 'unknown');
      if (decision?.when === 'before') throw decision.error;
      const result = await next(args);
      if (decision) throw decision.error;
      return result;
    },
    { step: 'initialize', name: MIDDLEWARE_NAME, priority: 'high' },
  );
  return { client, injector };
};

// ---- fault tests over the control harness (test/support/control-harness.ts) -----------------------

/** Runs `check`; a failure names `at` (which fault of a loop) first. */
export const labelled = async (at: string, check: () => Promise<void>): Promise<void> => {
  try {
    await check();
  } catch (error) {
    throw new Error(`${at}: ${error instanceof Error ? error.message : String(error)}`);
  }
};

/**
 * The harness's context with a store of its own (same client, table and clock) that records the
 * injected faults it swallowed: follow-up writes (a stale queue or live entry, a lagging header
 * summary) that readers repair, which the handler rightly does not throw for.
 */
export const withRepairLog = (
  h: ControlHarness,
  client: DynamoDBDocumentClient,
  tableName: string,
): { ctx: ControlContext; repaired: string[] } => {
  const repaired: string[] = [];
  const store = new JobStore({
    client,
    tableName,
    analysis: h.analysis,
    now: h.clock.now,
    onRepairableError: (what, error) => {
      if (FaultInjector.isInjected(error)) repaired.push(what);
    },
  });
  return { ctx: { ...h.ctx, store }, repaired };
};

/** Delivers the pending launch messages; every worker launched reports running. */
export const launchAll = async (h: ControlHarness): Promise<void> => {
  for (const result of await h.deliverLaunches()) {
    if (result.kind === 'launched') {
      expect(await h.workerState(result.launcherId, 'running')).toBe('IN PROGRESS');
    }
  }
};

/** What `finishedWorkerCase` sets up: job `j` running, job `next` queued behind it (DEPLOY_LIMIT 1). */
export interface RunningJob {
  readonly h: ControlHarness;
  /** `h.ctx` with the repair log of `withRepairLog`. */
  readonly ctx: ControlContext;
  readonly repaired: string[];
  /** Job `j`'s worker. */
  readonly instance: string;
}

/** Submits single-dataset job `ts` and delivers its launch; the worker reports running. */
const startJob = async (h: ControlHarness, ts: string): Promise<string | undefined> => {
  await h.put(`lab/inputs/${ts}.bin`, 'data');
  expect((await h.submit('lab', ts, submitJson('lab', ts, `lab/inputs/${ts}.bin`))).kind).toBe('accepted');
  const [launched] = await h.deliverLaunches();
  if (!launched) return undefined;
  if (launched.kind !== 'launched') throw new Error(`${ts}: ${launched.kind}`);
  expect(await h.workerState(launched.launcherId, 'running')).toBe('IN PROGRESS');
  return launched.launcherId;
};

/**
 * A fresh analysis with DEPLOY_LIMIT 1: job `j` runs (its worker is about to end), job `next` waits
 * in the queue for the slot. A slot given back twice shows as fewer counted than held once `next`
 * has taken it.
 */
export const runningJob = async (emulators: ControlEmulators, label: string): Promise<RunningJob> => {
  const h = await newControl(emulators, label, { deployLimit: 1 });
  await h.put('lab/configs/config.yaml', '__duration__: 20\n');
  const instance = (await startJob(h, 'j')) ?? '';
  expect(await startJob(h, 'next')).toBeUndefined();
  expect(await h.states('lab', 'next')).toEqual(['QUEUED']);
  h.clock.advanceSeconds(600);
  return { h, instance, ...withRepairLog(h, emulators.db.documentClient, emulators.db.tableName) };
};

/** One way the end of job `j`'s worker reaches the reconcile handler. */
export interface WorkerEnding {
  /** Writes what the worker leaves in S3 before the event (nothing for a lost worker). */
  prepare(r: RunningJob): Promise<void>;
  /** The event, as the handler receives it. */
  deliver(r: RunningJob): Promise<string>;
  /** The dataset's final state, and the reason the table and the status file give. */
  readonly state: 'SUCCESS' | 'FAILED';
  readonly reason: RegExp;
}

/** The calls of `injector` the ending makes when nothing fails (`commands` only, when given). */
export const calibrateEnding = async (
  emulators: ControlEmulators,
  ending: WorkerEnding,
  injector: FaultInjector,
  commands?: readonly string[],
): Promise<string[]> => {
  const r = await runningJob(emulators, 'calibrate');
  await ending.prepare(r);
  injector.observe(commands);
  expect(await ending.deliver(r)).toBe(ending.state);
  const seen = [...injector.seen];
  injector.clear();
  return seen;
};

/** S3's and EventBridge's retries of a failed invocation wait a minute or more. */
export const EVENT_RETRY_DELAY_MS = 70_000;

/**
 * The event with `plan` armed, then, `EVENT_RETRY_DELAY_MS` later, again without it (the retry of a
 * failed invocation). The first delivery must throw unless the fault was one the store repairs.
 */
export const deliverWithRetry = async (
  r: RunningJob,
  ending: WorkerEnding,
  injector: FaultInjector,
  plan: FaultPlan,
): Promise<void> => {
  await ending.prepare(r);
  injector.arm(plan);
  let first: string;
  try {
    first = await ending.deliver(r).catch((error: unknown) => {
      expect(String(error)).toContain(FAULT_MESSAGE);
      return 'threw';
    });
  } finally {
    injector.clear();
  }
  expect(injector.injected).toHaveLength(1);
  if (first !== 'threw') expect(r.repaired.length).toBeGreaterThan(0);
  r.h.clock.advance(EVENT_RETRY_DELAY_MS);
  expect([ending.state, `unchanged (${ending.state})`]).toContain(await ending.deliver(r));
};

/**
 * Job `j` ended once (state, status file, certificate lines, end.txt, notification), its slot was
 * given back once and `next` got it. The watchdog runs past EXECUTION_TIMEOUT first, as it would:
 * it resends a launch message lost with the failure and gives back a slot whose release was lost.
 */
export const expectEndedOnce = async (
  r: RunningJob,
  ending: WorkerEnding,
  /** The END/FAIL notification may be missing (the fault lost the answer of the write before it). */
  notificationMayBeLost = false,
): Promise<void> => {
  const { h } = r;
  const held = async (): Promise<number> =>
    (await h.store.listLive()).filter((d) => d.state === 'INITIALIZING' || d.state === 'IN PROGRESS').length;
  // Never fewer slots counted than held: that would let a drain exceed DEPLOY_LIMIT.
  expect(await h.store.counters.runningCount()).toBeGreaterThanOrEqual(await held());
  await launchAll(h);
  h.clock.advanceSeconds(h.config.launchTimeoutSeconds + 1);
  await runWatchdog(h.ctx, { listWorkers: h.launcher.listWorkers });
  await launchAll(h);
  // A second look, when the first saw the running count off (it acts on drift seen twice).
  if ((await h.store.counters.runningCount()) !== (await held())) {
    await runWatchdog(h.ctx, { listWorkers: h.launcher.listWorkers });
    await launchAll(h);
  }

  const lines = (await h.certificateLines('lab', 'j')).map((l) => l.text);
  const dataset = await h.dataset('lab', 'j');
  const status = await h.status('lab', 'j', 'j.bin');
  const header = (await h.job('lab', 'j'))?.header;
  const notified = h.notifications.kindsFor('j');
  const endKind = ending.state === 'SUCCESS' ? 'END' : 'FAIL';
  expect({
    state: dataset.state,
    reason: ending.reason.test(dataset.reason ?? ''),
    status: status?.status,
    statusReason: ending.reason.test(String(status?.reason)),
    datasetLines: lines.filter((t) => t.startsWith(`dataset lab/inputs/j.bin: ${ending.state} (`)).length,
    jobFinishedLines: lines.filter((t) => t.startsWith(`job finished: 1 ${ending.state}; cost `)).length,
    end: await h.end('lab', 'j'),
    endWrites: h.endWrites('lab', 'j'),
    header: [header?.state, header?.endWritten],
    notifications: notified,
    next: await h.states('lab', 'next'),
    nextLaunches: [h.queue.sentFor('next').length, h.launcher.launchesOf('next').length],
    running: [await h.store.counters.runningCount(), await held()],
  }).toEqual({
    state: ending.state,
    reason: true,
    status: ending.state,
    statusReason: true,
    datasetLines: 1,
    jobFinishedLines: 1,
    end: expect.stringMatching(new RegExp(`^job j finished at .*: 1 ${ending.state}\\n$`)) as string,
    endWrites: 1,
    header: [ending.state, true],
    notifications: notificationMayBeLost && notified.length === 1 ? ['BEGIN'] : ['BEGIN', endKind],
    next: ['IN PROGRESS'],
    nextLaunches: [1, 1],
    running: [1, 1],
  });
};

/** DynamoDB writes that may apply with their answer lost (for a read, the same as a plain failure). */
export const DYNAMODB_WRITES: readonly string[] = [
  'PutItemCommand',
  'UpdateItemCommand',
  'DeleteItemCommand',
];
