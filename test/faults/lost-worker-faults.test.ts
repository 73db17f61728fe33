/**
 * DynamoDB and S3 errors in the reconcile handler while it ends a dataset whose instance terminated
 * without a final report (a lost worker), against s3rver and dynalite: the k-th SDK call fails,
 * k = 1..N. The handler throws, so EventBridge delivers the state change again; the retry completes
 * the transition exactly once: FAILED in the status file (written by the control plane here), one
 * certificate line, end.txt once, the slot given back once and the queued job started.
 */
import { onWorkerState } from '../../lib/control/reconcile';
import { type ControlEmulators, startControlEmulators } from '../support/control-harness';
import {
  calibrateEnding,
  deliverWithRetry,
  DYNAMODB_WRITES,
  expectEndedOnce,
  FaultInjector,
  injectDynamoDbFaults,
  injectS3Faults,
  labelled,
  runningJob,
  type WorkerEnding,
} from '../support/fault-injection';

let emulators: ControlEmulators;
let dynamo: FaultInjector;
let s3: FaultInjector;

beforeAll(async () => {
  emulators = await startControlEmulators();
  dynamo = injectDynamoDbFaults(emulators.db.documentClient).injector;
  s3 = injectS3Faults(emulators.s3.client).injector;
});

afterAll(async () => {
  await emulators.stop();
});

const instanceLost: WorkerEnding = {
  prepare: async () => undefined,
  deliver: (r) => onWorkerState(r.ctx, r.instance, 'terminated', r.h.clock.now().toISOString()),
  state: 'FAILED',
  reason: /^the worker stopped unexpectedly \(instance i-\w+ terminated\) before reporting a result/,
};

describe('an instance that ended without a final report', () => {
  test.each([
    ['DynamoDB', () => dynamo, 'internal', 'before', undefined],
    ['S3', () => s3, 'throttled', 'before', undefined],
    ['DynamoDB (the write applied, its answer lost)', () => dynamo, 'reset', 'after', DYNAMODB_WRITES],
  ] as const)(
    '%s error on call k of the handler, k = 1..N: the retried event ends the dataset once',
    async (service, injector, fault, when, commands) => {
      const calls = await calibrateEnding(emulators, instanceLost, injector(), commands);
      expect(calls.length).toBeGreaterThan(3);
      for (let k = 1; k <= calls.length; k++) {
        await labelled(`${service}: call ${k} of ${calls.length} (${calls[k - 1]}) failed`, async () => {
          const r = await runningJob(emulators, `lost-${k}`);
          await deliverWithRetry(r, instanceLost, injector(), { commands, from: k, count: 1, fault, when });
          await expectEndedOnce(r, instanceLost, when === 'after');
        });
      }
    },
  );
});
