/**
 * DynamoDB and S3 errors in the submit handler, against s3rver and dynalite: the k-th SDK call of a
 * submission fails (k = 1..N, every call the handler makes), as it would once the SDK's own retries
 * have given up. The handler must throw (S3's asynchronous invocation then retries the event) unless
 * the failed write is a follow-up the store repairs by itself, and whatever the fault left behind,
 * the redelivery and the watchdog finish it: one job, one launch message, one worker.
 */
import type { ControlContext } from '../../lib/control/control-context';
import { processSubmission, type SubmissionRef } from '../../lib/control/submission-intake';
import { runWatchdog, WATCHDOG_TIMING } from '../../lib/control/watchdog';
import {
  type ControlEmulators,
  type ControlHarness,
  newControl,
  startControlEmulators,
  submitJson,
} from '../support/control-harness';
import {
  FAULT_MESSAGE,
  FaultInjector,
  type FaultPlan,
  injectDynamoDbFaults,
  injectS3Faults,
  labelled,
  launchAll,
  withRepairLog,
  DYNAMODB_WRITES,
} from '../support/fault-injection';

let emulators: ControlEmulators;
let dynamo: FaultInjector;
let s3: FaultInjector;

beforeAll(async () => {
  emulators = await startControlEmulators();
  // The harness's own clients: every store and S3 call of the control plane under test goes through them.
  dynamo = injectDynamoDbFaults(emulators.db.documentClient).injector;
  s3 = injectS3Faults(emulators.s3.client).injector;
});

afterAll(async () => {
  await emulators.stop();
});

/** EXECUTION_TIMEOUT of these tests: the watchdog resends a lost launch after it, fails it after 3x. */
const LAUNCH_TIMEOUT_S = 200;
/** Past the watchdog's admission grace and EXECUTION_TIMEOUT, short of 3x EXECUTION_TIMEOUT. */
const RECOVERY_WAIT_MS = Math.max(WATCHDOG_TIMING.admissionGraceMs, LAUNCH_TIMEOUT_S * 1000) + 61_000;

interface Submitted {
  readonly h: ControlHarness;
  readonly ref: SubmissionRef;
  /** The harness's context with a store that records the follow-up failures it repairs itself. */
  readonly ctx: ControlContext;
  readonly repaired: string[];
}

/** A fresh analysis with job `j` uploaded (one dataset), its event not delivered yet. */
const uploaded = async (label: string): Promise<Submitted> => {
  const h = await newControl(emulators, label, { launchTimeout: LAUNCH_TIMEOUT_S });
  await h.put('lab/inputs/a.bin', 'data');
  await h.put('lab/configs/config.yaml', '__duration__: 5\n');
  const key = await h.upload('lab', 'j', submitJson('lab', 'j', 'lab/inputs/a.bin'));
  return {
    h,
    ref: await h.refOf(key),
    ...withRepairLog(h, emulators.db.documentClient, emulators.db.tableName),
  };
};

/** How many calls of `injector` a clean submission makes, and which. */
const calibrate = async (injector: FaultInjector, label: string): Promise<string[]> => {
  const { ref, ctx } = await uploaded(label);
  injector.observe();
  expect((await processSubmission(ctx, ref)).kind).toBe('accepted');
  const seen = [...injector.seen];
  injector.clear();
  return seen;
};

/**
 * Delivers the event with `plan` armed. Returns how it ended: 'threw' (the infrastructure error
 * reached the handler, so the event is retried) or the outcome when the only fault was a follow-up
 * the store reported as repairable.
 */
const deliverWithFault = async (
  s: Submitted,
  injector: FaultInjector,
  plan: FaultPlan,
  deliveries = 1,
): Promise<string> => {
  injector.arm(plan);
  let ended = '';
  try {
    for (let i = 0; i < deliveries; i++) {
      ended = '';
      await processSubmission(s.ctx, s.ref).then(
        (outcome) => (ended = outcome.kind),
        (error: unknown) => {
          expect(String(error)).toContain(FAULT_MESSAGE);
          ended = 'threw';
        },
      );
    }
  } finally {
    injector.clear();
  }
  expect(injector.injected.length).toBeGreaterThan(0);
  // Swallowed only where the store says so (a stale queue/live entry or header summary readers repair).
  if (ended !== 'threw') expect(s.repaired.length).toBeGreaterThan(0);
  return ended;
};

/** The watchdog past its graces (lost events, unadmitted jobs, lost launch messages), then the launches. */
const watchdogRecovers = async (h: ControlHarness): Promise<void> => {
  h.clock.advance(RECOVERY_WAIT_MS);
  await runWatchdog(h.ctx, { listWorkers: h.launcher.listWorkers });
  await launchAll(h);
};

/** Exactly one job, one launch message, one worker, one slot; what the user reads agrees. */
const expectLaunchedOnce = async (s: Submitted): Promise<void> => {
  const { h } = s;
  // A slot taken by a call that then failed is given back by the watchdog, from the live datasets,
  // when two runs in a row see the same drift.
  for (let run = 0; run < 2 && (await h.store.counters.runningCount()) !== 1; run++) {
    await runWatchdog(h.ctx, { listWorkers: h.launcher.listWorkers });
  }
  const lines = (await h.certificateLines('lab', 'j')).map((l) => l.text);
  const count = (pattern: RegExp): number => lines.filter((t) => pattern.test(t)).length;
  const [launch] = h.launcher.launchesOf('j');
  const status = await h.status('lab', 'j', 'a.bin');
  expect({
    jobs: (await h.store.listGroupJobs('lab')).map((j) => j.jobId),
    states: await h.states('lab', 'j'),
    launchMessages: h.queue.sentFor('j').length,
    launches: h.launcher.launchesOf('j').length,
    attempt: launch?.attempt,
    recordedWorker: (await h.dataset('lab', 'j')).launcherId,
    running: await h.store.counters.runningCount(),
    // The status the control plane wrote last (the worker writes IN PROGRESS itself when it starts).
    statusBeforeWorker: ['QUEUED', 'INITIALIZING'].includes(String(status?.status)),
    acceptedLines: count(/ accepted: /) <= 1,
    launchRequestedLines: count(/: launch requested$/) <= 1,
    launchedLines: count(/: worker i-\w+ launched \(m5\.xlarge\)$/),
    runningLines: count(/ is running$/),
    failures: count(/FAILED|refused|does not exist/),
    refusal: await h.besideMessage(s.ref.key),
    end: await h.end('lab', 'j'),
  }).toEqual({
    jobs: ['j'],
    states: ['IN PROGRESS'],
    launchMessages: 1,
    launches: 1,
    attempt: 1,
    recordedWorker: [...h.launcher.workers.keys()][0],
    running: 1,
    statusBeforeWorker: true,
    acceptedLines: true,
    launchRequestedLines: true,
    launchedLines: 1,
    runningLines: 1,
    failures: 0,
    refusal: undefined,
    end: undefined,
  });
};

describe('an error on any call of the submit handler, once', () => {
  test.each([
    ['DynamoDB', () => dynamo, 'throttled'],
    ['S3', () => s3, 'internal'],
  ] as const)(
    '%s: the handler throws, and the redelivery plus the watchdog make one job and one launch',
    async (service, injector, fault) => {
      const calls = await calibrate(injector(), `cal-${service}`);
      expect(calls.length).toBeGreaterThan(5);
      for (let k = 1; k <= calls.length; k++) {
        await labelled(`${service} call ${k} of ${calls.length} (${calls[k - 1]}) failed`, async () => {
          const s = await uploaded(`once-${service}-${k}`);
          const ended = await deliverWithFault(s, injector(), { from: k, count: 1, fault });
          // The redelivery of the same event, the fault gone.
          const again = (await processSubmission(s.ctx, s.ref)).kind;
          // 'accepted' when the fault came before the job was recorded, else the job is found again.
          expect(ended === 'threw' ? ['accepted', 'duplicate'] : ['duplicate']).toContain(again);
          await launchAll(s.h);
          await watchdogRecovers(s.h);
          await expectLaunchedOnce(s);
        });
      }
    },
  );

  test('DynamoDB writes that applied but whose response was lost (a reset after the write)', async () => {
    const writes = DYNAMODB_WRITES;
    const calls = (await calibrate(dynamo, 'cal-ambiguous')).filter((c) => writes.includes(c));
    expect(calls.length).toBeGreaterThan(5);
    for (let k = 1; k <= calls.length; k++) {
      await labelled(
        `write ${k} of ${calls.length} (${calls[k - 1]}) applied, its response lost`,
        async () => {
          const s = await uploaded(`ambiguous-${k}`);
          await deliverWithFault(s, dynamo, {
            commands: writes,
            from: k,
            count: 1,
            fault: 'reset',
            when: 'after',
          });
          await processSubmission(s.ctx, s.ref);
          await launchAll(s.h);
          await watchdogRecovers(s.h);
          await expectLaunchedOnce(s);
        },
      );
    }
  });
});

describe('a fault that persists through every delivery of the event', () => {
  test.each([
    ['DynamoDB', () => dynamo, 'internal'],
    ['S3', () => s3, 'throttled'],
  ] as const)(
    '%s fails every call from the k-th on: the event is given up, the watchdog finishes the job once',
    async (service, injector, fault) => {
      const calls = await calibrate(injector(), `cal-persist-${service}`);
      for (let k = 1; k <= calls.length; k++) {
        await labelled(`${service} failing from call ${k} of ${calls.length} (${calls[k - 1]})`, async () => {
          const s = await uploaded(`persist-${service}-${k}`);
          // The first delivery and S3's two retries all meet the fault.
          const ended = await deliverWithFault(
            s,
            injector(),
            { from: k, count: Number.POSITIVE_INFINITY, fault },
            3,
          );
          expect(ended).toBe('threw');
          // Nothing redelivers it: the watchdog's sweeps are all that is left.
          await launchAll(s.h);
          await watchdogRecovers(s.h);
          await expectLaunchedOnce(s);
        });
      }
    },
  );
});
