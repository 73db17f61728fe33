/**
 * Only a dataset's own worker may end it (issue: any worker of a group can write a final report into
 * any job folder of that group). A final report counts only when it carries the secret of the launch
 * of that dataset and attempt (lib/job/job-store.ts reportTokenFor, lib/control/reconcile.ts
 * isOwnReport); a forged or stray one is ignored, logged and noted in the certificate.
 */
import { launchDataset } from '../../lib/control/launch-service';
import { onFinalReport } from '../../lib/control/reconcile';
import {
  type ControlEmulators,
  type ControlHarness,
  newControl,
  startControlEmulators,
  submitJson,
} from '../support/control-harness';

let emulators: ControlEmulators;
beforeAll(async () => {
  emulators = await startControlEmulators();
});
afterAll(async () => {
  await emulators.stop();
});

const submitJob = async (h: ControlHarness, ts: string): Promise<void> => {
  await h.put(`lab/inputs/${ts}.bin`);
  await h.put('lab/configs/config.yaml', '__duration__: 20\n');
  expect((await h.submit('lab', ts, submitJson('lab', ts, `lab/inputs/${ts}.bin`))).kind).toBe('accepted');
};

/** A running single-dataset job; returns its worker's id. */
const running = async (h: ControlHarness, ts: string): Promise<string> => {
  await submitJob(h, ts);
  const [launched] = await h.deliverLaunches();
  if (launched.kind !== 'launched') throw new Error(`launch ${launched.kind}`);
  expect(await h.workerState(launched.launcherId, 'running')).toBe('IN PROGRESS');
  return launched.launcherId;
};

const FORGED = 'report of another worker';

test('a report without the secret (any worker of the group could write it) is ignored; the real one ends the dataset', async () => {
  const h = await newControl(emulators, 'forged');
  await running(h, 'victim');
  const slotsBefore = await h.store.counters.runningCount();

  const forged = await h.writeFinalReport('lab', 'victim', 'victim.bin', {
    status: 'SUCCESS',
    exit_code: 0,
    reason: FORGED,
    report_token: undefined,
  });
  expect(await onFinalReport(h.ctx, forged)).toBe('ignored: not from its worker');
  expect((await h.dataset('lab', 'victim')).state).toBe('IN PROGRESS');
  expect(await h.store.counters.runningCount()).toBe(slotsBefore); // no slot freed for another worker
  expect(await h.end('lab', 'victim')).toBeUndefined();
  expect((await h.certificateLines('lab', 'victim')).map((l) => l.text)).toContain(
    "dataset lab/inputs/victim.bin: a final report was ignored: it does not carry the secret of this dataset's current launch (a report of an earlier launch, or a stray or forged one)",
  );
  expect(
    h.log.entries.some((r) => r.message === 'final report ignored: not from the worker launched for it'),
  ).toBe(true);

  // The worker's own report, with its secret, still decides.
  const own = await h.writeFinalReport('lab', 'victim', 'victim.bin', {
    status: 'FAILED',
    exit_code: 3,
    reason: 'real',
  });
  expect(await onFinalReport(h.ctx, own)).toBe('FAILED');
  expect(await h.dataset('lab', 'victim')).toMatchObject({ state: 'FAILED', reason: 'real' });
});

test("another dataset's secret does not end this one", async () => {
  const h = await newControl(emulators, 'crossed');
  await running(h, 'one');
  await running(h, 'two');
  const other = (await h.dataset('lab', 'one')).reportToken;
  expect(other).toMatch(/^[0-9a-f]{32}$/);
  expect((await h.dataset('lab', 'two')).reportToken).not.toBe(other);
  const key = await h.writeFinalReport('lab', 'two', 'two.bin', {
    status: 'SUCCESS',
    exit_code: 0,
    report_token: other,
  });
  expect(await onFinalReport(h.ctx, key)).toBe('ignored: not from its worker');
  expect((await h.dataset('lab', 'two')).state).toBe('IN PROGRESS');
});

test('a dataset never launched (QUEUED) cannot be ended by a report', async () => {
  const h = await newControl(emulators, 'queued', { deployLimit: 1 });
  await running(h, 'first');
  await submitJob(h, 'waiting');
  expect((await h.dataset('lab', 'waiting')).state).toBe('QUEUED');
  const key = await h.writeFinalReport('lab', 'waiting', 'waiting.bin', { status: 'SUCCESS', exit_code: 0 });
  expect(await onFinalReport(h.ctx, key)).toBe('ignored: not from its worker');
  expect((await h.dataset('lab', 'waiting')).state).toBe('QUEUED');
});

test('a worker that ends beside a forged report is a worker that stopped without reporting', async () => {
  const h = await newControl(emulators, 'ended');
  const instance = await running(h, 'lost');
  await h.writeFinalReport('lab', 'lost', 'lost.bin', {
    status: 'SUCCESS',
    exit_code: 0,
    report_token: '0'.repeat(32),
  });
  h.clock.advanceSeconds(60);
  expect(await h.workerState(instance, 'terminated')).toBe('FAILED');
  expect((await h.dataset('lab', 'lost')).reason).toMatch(/stopped unexpectedly/);
});

test('a redelivered launch message gets the same secret (EC2 ClientToken sees the same user data)', async () => {
  const h = await newControl(emulators, 'redelivered');
  await submitJob(h, 'again');
  const [message] = h.queue.pending.map((entry) => entry.message);
  if (!message) throw new Error('no launch message');
  await launchDataset(h.ctx, message, { lastAttempt: false });
  const first = h.launcher.launches[0]?.job.reportToken;
  // What a second delivery of the same message (the launcher died before recording) would be given.
  const token = await h.store.reportTokenFor(message, message.datasetIndex, message.attempt);
  expect(first).toMatch(/^[0-9a-f]{32}$/);
  expect(token).toBe(first);
  // A new attempt gets a new secret.
  expect(await h.store.reportTokenFor(message, message.datasetIndex, message.attempt + 1)).not.toBe(first);
});
