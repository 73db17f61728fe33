/**
 * A dev run (`ncaas dev run`) writes a job folder like any job, and its final report's S3 event
 * reaches the reconcile handler like any worker's. The control plane must neither break on it nor
 * count it: no job row, no running slot, no budget, no notification, no end.txt; a real job running
 * beside it is not touched, and the watchdog finds nothing to do about it.
 */
import { onFinalReport } from '../../lib/control/reconcile';
import { runWatchdog } from '../../lib/control/watchdog';
import { DEV_RUN_PREFIX, endMarkerKey, finalReportKey } from '../../lib/layout';
import {
  type ControlEmulators,
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

test("a dev run's final report is ignored by reconcile and the watchdog, and a real job beside it goes on", async () => {
  const h = await newControl(emulators, 'devrun');
  await h.put('lab/inputs/real.bin');
  await h.put('lab/configs/config.yaml', '__duration__: 20\n');
  expect((await h.submit('lab', 'real', submitJson('lab', 'real', 'lab/inputs/real.bin'))).kind).toBe(
    'accepted',
  );
  const [launched] = await h.deliverLaunches();
  if (launched.kind !== 'launched') throw new Error(`launch ${launched.kind}`);
  await h.workerState(launched.launcherId, 'running');
  const runningBefore = await h.store.counters.runningCount();
  const notificationsBefore = h.notifications.sent.length;

  // What the dev run's worker uploads at its end, for a success and for a failure.
  const devJob = `${DEV_RUN_PREFIX}2026-11-21T12-00-00Z-k3f9`;
  for (const [label, status] of [
    ['a.csv', 'SUCCESS'],
    ['b.csv', 'FAILED'],
  ] as const) {
    const key = await h.writeFinalReport('lab', devJob, label, {
      status,
      reason: status === 'SUCCESS' ? 'the analysis finished' : 'the analysis exited with code 1',
      exit_code: status === 'SUCCESS' ? 0 : 1,
      instance: 'i-0dev0000000000000',
    });
    expect(key).toBe(finalReportKey(h.resultFolder('lab', devJob), label));
    expect(await onFinalReport(h.ctx, key)).toBe(`no dataset ${label} in job ${devJob}`);
  }

  expect(await h.job('lab', devJob)).toBeUndefined();
  expect(await h.store.counters.runningCount()).toBe(runningBefore);
  expect(h.notifications.sent.length).toBe(notificationsBefore);
  expect(h.notifications.kindsFor(devJob)).toEqual([]);
  expect(h.writesTo(endMarkerKey(h.resultFolder('lab', devJob)))).toBe(0);
  // The dev run's own status files are as the worker left them.
  expect(await h.status('lab', devJob, 'a.csv')).toMatchObject({ status: 'SUCCESS' });

  // The watchdog has nothing to say about it (no row, no submission), nor about the real job yet.
  const found = await runWatchdog(h.ctx);
  expect(found).toEqual({
    timedOut: 0,
    launchesFailed: 0,
    launchesResent: 0,
    orphansTerminated: 0,
    lostSubmissions: 0,
    admitted: 0,
    drained: 0,
  });
  expect(await h.job('lab', devJob)).toBeUndefined();

  // The real job is untouched and still finishes normally.
  expect(await h.states('lab', 'real')).toEqual(['IN PROGRESS']);
  expect(await h.finishWorker('lab', 'real', 'real.bin', { status: 'SUCCESS', exit_code: 0 })).toBe(
    'SUCCESS',
  );
  expect(await h.end('lab', 'real')).toBeDefined();
});
