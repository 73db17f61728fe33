/**
 * DynamoDB and S3 errors in the reconcile handler while it applies a worker's final report, against
 * s3rver and dynalite: the k-th SDK call fails, k = 1..N (every call the handler makes), once the
 * SDK's own retries have given up. The handler throws, so the S3 event is delivered again; the retry
 * completes the transition exactly once: status, certificate lines and end.txt once, the worker slot
 * given back once and the queued job started, whichever call failed and whether the write applied.
 */
import { onFinalReport } from '../../lib/control/reconcile';
import { finalReportKey } from '../../lib/layout';
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

const finalReport: WorkerEnding = {
  prepare: async (r) => {
    await r.h.writeFinalReport('lab', 'j', 'j.bin', {
      status: 'SUCCESS',
      exit_code: 0,
      reason: 'the analysis finished',
    });
  },
  deliver: (r) => onFinalReport(r.ctx, finalReportKey(r.h.resultFolder('lab', 'j'), 'j.bin')),
  state: 'SUCCESS',
  reason: /^the analysis finished$/,
};

describe("a worker's final report", () => {
  test.each([
    ['DynamoDB', () => dynamo, 'throttled', 'before', undefined],
    ['S3', () => s3, 'internal', 'before', undefined],
    ['DynamoDB (the write applied, its answer lost)', () => dynamo, 'reset', 'after', DYNAMODB_WRITES],
  ] as const)(
    '%s error on call k of the handler, k = 1..N: the retried event ends the dataset once',
    async (service, injector, fault, when, commands) => {
      const calls = await calibrateEnding(emulators, finalReport, injector(), commands);
      expect(calls.length).toBeGreaterThan(3);
      for (let k = 1; k <= calls.length; k++) {
        await labelled(`${service}: call ${k} of ${calls.length} (${calls[k - 1]}) failed`, async () => {
          const r = await runningJob(emulators, `report-${k}`);
          await deliverWithRetry(r, finalReport, injector(), { commands, from: k, count: 1, fault, when });
          await expectEndedOnce(r, finalReport, when === 'after');
        });
      }
    },
  );
});
