/**
 * Worker events as they really arrive, against s3rver and dynalite: lost workers, duplicate and
 * out-of-order events, events the table cannot place yet, and cancel requests.
 */
import { processCancel } from '../../lib/control/cancel-request';
import { onFinalReport, onWorkerState } from '../../lib/control/reconcile';
import { JobStore, type TransitionResult } from '../../lib/job/job-store';
import { finalReportKey, submissionMessageKey } from '../../lib/layout';
import {
  type ControlEmulators,
  type ControlHarness,
  newControl,
  newInstanceId,
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

/** A single-dataset job `ts` launched (and running unless `running` is false); returns its instance id. */
const startJob = async (h: ControlHarness, ts: string, running = true): Promise<string> => {
  await h.put(`lab/inputs/${ts}.bin`);
  await h.put('lab/configs/config.yaml', '__duration__: 20\n');
  expect((await h.submit('lab', ts, submitJson('lab', ts, `lab/inputs/${ts}.bin`))).kind).toBe('accepted');
  const [launched] = await h.deliverLaunches();
  if (launched.kind !== 'launched') throw new Error(`launch ${launched.kind}`);
  if (running) expect(await h.workerState(launched.launcherId, 'running')).toBe('IN PROGRESS');
  return launched.launcherId;
};

const certificateTexts = async (h: ControlHarness, ts: string): Promise<string[]> =>
  (await h.certificateLines('lab', ts)).map((l) => l.text);

describe('a worker that is lost', () => {
  test('terminated without a final report: FAILED "stopped unexpectedly", slot released, end.txt', async () => {
    const h = await newControl(emulators, 'lost');
    const instance = await startJob(h, 'lost');
    h.clock.advanceSeconds(300);

    expect(await h.workerState(instance, 'terminated')).toBe('FAILED');
    const dataset = await h.dataset('lab', 'lost');
    expect(dataset.state).toBe('FAILED');
    expect(dataset.reason).toContain(`the worker stopped unexpectedly (instance ${instance} terminated)`);
    expect(await h.status('lab', 'lost', 'lost.bin')).toMatchObject({
      status: 'FAILED',
      instance,
      reason: [expect.stringContaining('stopped unexpectedly')],
    });
    expect(await h.store.counters.runningCount()).toBe(0);
    expect(await h.end('lab', 'lost')).toMatch(/1 FAILED/);
    // An instance already terminated needs no terminate call.
    expect(h.launcher.terminations).toEqual([]);
  });

  test('stopped: terminated by the control plane and FAILED', async () => {
    const h = await newControl(emulators, 'stopped');
    const instance = await startJob(h, 'stopped');
    expect(await h.workerState(instance, 'stopped')).toBe('FAILED');
    expect(h.launcher.terminations).toEqual([instance]);
    expect(await h.store.counters.runningCount()).toBe(0);
  });

  test("a final report already in S3 wins over the instance's end, whichever event comes first", async () => {
    const h = await newControl(emulators, 'report-first');
    const ok = await startJob(h, 'ok');
    const bad = await startJob(h, 'bad');
    const okReport = await h.writeFinalReport('lab', 'ok', 'ok.bin', { status: 'SUCCESS', exit_code: 0 });
    await h.writeFinalReport('lab', 'bad', 'bad.bin', {
      status: 'FAILED',
      exit_code: 2,
      reason: 'the analysis exited with code 2',
    });

    expect(await h.workerState(ok, 'shutting-down')).toBe('SUCCESS');
    expect(await h.workerState(bad, 'terminated')).toBe('FAILED');
    expect(await h.dataset('lab', 'bad')).toMatchObject({
      exitCode: 2,
      reason: 'the analysis exited with code 2',
    });
    // The report's own event, late: nothing changes, end.txt stays written once.
    expect(await onFinalReport(h.ctx, okReport)).toBe('unchanged (SUCCESS)');
    expect(await h.workerState(ok, 'terminated')).toBe('unchanged (SUCCESS)');
    expect(await h.states('lab', 'ok')).toEqual(['SUCCESS']);
    expect(h.endWrites('lab', 'ok')).toBe(1);
    expect(await h.store.counters.runningCount()).toBe(0);
  });
});

describe('duplicate and out-of-order events', () => {
  test('running after SUCCESS is ignored; a final report twice writes end.txt once and frees one slot', async () => {
    const h = await newControl(emulators, 'dupes', { deployLimit: 5 });
    const done = await startJob(h, 'done');
    await startJob(h, 'other');
    expect(await h.workerState(done, 'running')).toBe('unchanged (IN PROGRESS)');
    expect(await h.store.counters.runningCount()).toBe(2);

    const key = await h.writeFinalReport('lab', 'done', 'done.bin', { status: 'SUCCESS', exit_code: 0 });
    const twice = await Promise.all([onFinalReport(h.ctx, key), onFinalReport(h.ctx, key)]);
    expect(twice.sort()).toEqual(['SUCCESS', 'unchanged (SUCCESS)']);
    expect(await onFinalReport(h.ctx, key)).toBe('unchanged (SUCCESS)');
    expect(await h.workerState(done, 'running')).toBe('unchanged (SUCCESS)');
    expect(await h.workerState(done, 'pending')).toBe('ignored state pending');

    expect(await h.states('lab', 'done')).toEqual(['SUCCESS']);
    expect(h.endWrites('lab', 'done')).toBe(1);
    // Only the other job's worker still holds a slot.
    expect(await h.store.counters.runningCount()).toBe(1);
    const texts = await certificateTexts(h, 'done');
    expect(texts.filter((t) => t.endsWith('is running'))).toHaveLength(1);
    expect(texts.filter((t) => t.startsWith('job finished'))).toEqual([
      'job finished: 1 SUCCESS; cost $0.0032',
    ]);
  });

  test('the final report and the instance end racing: one wins, one slot freed, end.txt once', async () => {
    const h = await newControl(emulators, 'race-end', { deployLimit: 5 });
    const ending = await startJob(h, 'ending');
    await startJob(h, 'bystander');
    const key = await h.writeFinalReport('lab', 'ending', 'ending.bin', { status: 'SUCCESS', exit_code: 0 });
    const outcomes = await Promise.all([
      onFinalReport(h.ctx, key),
      h.workerState(ending, 'shutting-down'),
      h.workerState(ending, 'terminated'),
      onFinalReport(h.ctx, key),
    ]);
    expect(outcomes.filter((o) => o === 'SUCCESS')).toHaveLength(1);
    expect(await h.states('lab', 'ending')).toEqual(['SUCCESS']);
    expect(await h.store.counters.runningCount()).toBe(1);
    expect(h.endWrites('lab', 'ending')).toBe(1);
  });

  test('datasets of one job finishing at once: end.txt once, after both', async () => {
    const h = await newControl(emulators, 'together', { deployLimit: 5 });
    await h.put('lab/inputs/a.bin');
    await h.put('lab/inputs/b.bin');
    await h.put('lab/inputs/c.bin');
    await h.put('lab/configs/config.yaml', '__duration__: 20\n');
    const keys = ['lab/inputs/a.bin', 'lab/inputs/b.bin', 'lab/inputs/c.bin'];
    await h.submit('lab', 'together', submitJson('lab', 'together', keys));
    for (const result of await h.deliverLaunches()) {
      if (result.kind === 'launched') await h.workerState(result.launcherId, 'running');
    }
    const reports = await Promise.all(
      ['a.bin', 'b.bin', 'c.bin'].map((label) =>
        h.writeFinalReport('lab', 'together', label, { status: 'SUCCESS', exit_code: 0 }),
      ),
    );
    expect(await Promise.all(reports.map((key) => onFinalReport(h.ctx, key)))).toEqual([
      'SUCCESS',
      'SUCCESS',
      'SUCCESS',
    ]);
    expect(h.endWrites('lab', 'together')).toBe(1);
    expect(await h.end('lab', 'together')).toMatch(/: 3 SUCCESS\n$/);
    expect(await h.store.counters.runningCount()).toBe(0);
  });

  test('terminated before running: FAILED, and the late running event changes nothing', async () => {
    const h = await newControl(emulators, 'early-end');
    const instance = await startJob(h, 'early', false);
    expect(await h.workerState(instance, 'terminated')).toBe('FAILED');
    expect(await h.workerState(instance, 'running')).toBe('unchanged (FAILED)');
    expect(await h.states('lab', 'early')).toEqual(['FAILED']);
    expect(await h.store.counters.runningCount()).toBe(0);
    expect(h.endWrites('lab', 'early')).toBe(1);
  });

  test('a final report whose running event never came finishes the dataset', async () => {
    const h = await newControl(emulators, 'no-running');
    await startJob(h, 'quick', false);
    expect(await h.finishWorker('lab', 'quick', 'quick.bin', { status: 'SUCCESS', exit_code: 0 })).toBe(
      'SUCCESS',
    );
    expect(await h.store.counters.runningCount()).toBe(0);
    expect(h.endWrites('lab', 'quick')).toBe(1);
  });

  test('a final report of its worker that names no final state fails the dataset and says so', async () => {
    const h = await newControl(emulators, 'garbled');
    await startJob(h, 'garbled');
    const key = await h.writeFinalReport('lab', 'garbled', 'garbled.bin', { status: 'SUCC' });
    expect(await onFinalReport(h.ctx, key)).toBe('FAILED');
    expect(await h.status('lab', 'garbled', 'garbled.bin')).toMatchObject({
      status: 'FAILED',
      reason: ['the worker wrote a final report that could not be read'],
    });
  });

  test('a truncated report (no readable secret) is ignored; the worker ending then fails the dataset', async () => {
    const h = await newControl(emulators, 'truncated');
    const instance = await startJob(h, 'truncated');
    const key = finalReportKey(h.resultFolder('lab', 'truncated'), 'truncated.bin');
    await h.put(key, '{"status": "SUCC');
    expect(await onFinalReport(h.ctx, key)).toBe('ignored: not from its worker');
    expect(await h.states('lab', 'truncated')).toEqual(['IN PROGRESS']);
    expect(await h.workerState(instance, 'terminated')).toBe('FAILED');
    expect((await h.dataset('lab', 'truncated')).reason).toMatch(/stopped unexpectedly/);
  });

  test('events for unknown workers and foreign files are ignored', async () => {
    const h = await newControl(emulators, 'unknown');
    const stranger = newInstanceId();
    expect(await h.workerState(stranger, 'terminated')).toBe(
      `no dataset of ${h.analysis} runs on ${stranger}`,
    );
    expect(
      await onFinalReport(h.ctx, 'lab/results/job__other_x/logs/DATASET_NAME:a_STATUS.final.json'),
    ).toMatch(/^not a final report of /);
    expect(
      await onFinalReport(
        h.ctx,
        `${h.resultFolder('lab', 'nosuch')}/logs/DATASET_NAME:a.bin_STATUS.final.json`,
      ),
    ).toBe('no dataset a.bin in job nosuch');
  });
});

/** EventBridge's `time`: ISO 8601 in whole seconds (`2026-12-07T12:00:05Z`). */
const eventBridgeTime = (at: Date): string => at.toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('certificate lines of EC2 state events, in event order', () => {
  test("a running event handled after another dataset's later end is still placed before it", async () => {
    const h = await newControl(emulators, 'late-running', { deployLimit: 5 });
    await h.put('lab/inputs/a.bin');
    await h.put('lab/inputs/b.bin');
    await h.put('lab/configs/config.yaml', '__duration__: 20\n');
    const keys = ['lab/inputs/a.bin', 'lab/inputs/b.bin'];
    expect((await h.submit('lab', 'late', submitJson('lab', 'late', keys))).kind).toBe('accepted');
    const [a, b] = (await h.deliverLaunches()).map((r) => (r.kind === 'launched' ? r.launcherId : ''));

    h.clock.advanceSeconds(5);
    expect(await h.workerState(a, 'running')).toBe('IN PROGRESS');
    const bRunning = eventBridgeTime(h.clock.advanceSeconds(5));
    const aEnded = eventBridgeTime(h.clock.advanceSeconds(10));
    h.clock.advanceSeconds(1);
    expect(await onWorkerState(h.ctx, a, 'terminated', aEnded)).toBe('FAILED');
    // b's "running" (EventBridge keeps no order) is handled only now, after a's end that came later.
    h.clock.advanceSeconds(2);
    expect(await onWorkerState(h.ctx, b, 'running', bRunning)).toBe('IN PROGRESS');

    const lines = await h.certificateLines('lab', 'late');
    const running = lines.findIndex((l) => l.text === `dataset lab/inputs/b.bin: worker ${b} is running`);
    const failed = lines.findIndex((l) => l.text.startsWith('dataset lab/inputs/a.bin: FAILED'));
    expect(running).toBeGreaterThan(-1);
    expect(failed).toBeGreaterThan(running);
    expect(lines[running].time).toBe(bRunning);
    expect(lines[failed].time).toBe(aEnded);
  });

  test('events stamped in the second of the launch never read before the launch that caused them', async () => {
    const h = await newControl(emulators, 'same-second');
    await h.put('lab/inputs/quick.bin');
    await h.put('lab/configs/config.yaml', '__duration__: 20\n');
    expect((await h.submit('lab', 'quick', submitJson('lab', 'quick', 'lab/inputs/quick.bin'))).kind).toBe(
      'accepted',
    );
    // The launch is logged at 12:00:05.300; its worker runs and dies within that second, and
    // EventBridge stamps both of its events 12:00:05.
    h.clock.advance(5300);
    const [launched] = await h.deliverLaunches();
    const instance = launched.kind === 'launched' ? launched.launcherId : '';
    const second = eventBridgeTime(h.clock.now());
    h.clock.advance(400);
    expect(await onWorkerState(h.ctx, instance, 'running', second)).toBe('IN PROGRESS');
    h.clock.advance(200);
    expect(await onWorkerState(h.ctx, instance, 'terminated', second)).toBe('FAILED');

    const texts = await certificateTexts(h, 'quick');
    const at = (text: string): number => texts.findIndex((t) => t.startsWith(text));
    expect(at(`dataset lab/inputs/quick.bin: worker ${instance} launched`)).toBeGreaterThan(-1);
    expect(at(`dataset lab/inputs/quick.bin: worker ${instance} is running`)).toBeGreaterThan(
      at(`dataset lab/inputs/quick.bin: worker ${instance} launched`),
    );
    expect(at('dataset lab/inputs/quick.bin: FAILED')).toBeGreaterThan(
      at(`dataset lab/inputs/quick.bin: worker ${instance} is running`),
    );
    expect(texts.at(-1)).toBe('job finished: 1 FAILED; cost $0.0032');
  });
});

describe('an event for an instance the table does not know yet', () => {
  test("the worker's tags place it, and the table learns its id", async () => {
    const h = await newControl(emulators, 'tags');
    await h.put('lab/inputs/t.bin');
    await h.put('lab/configs/config.yaml', '__duration__: 20\n');
    await h.submit('lab', 'tagged', submitJson('lab', 'tagged', 'lab/inputs/t.bin'));
    const instance = newInstanceId();
    // RunInstances succeeded, then the launcher died before recording the instance.
    h.launcher.script({ kind: 'crash-after-launch', launcherId: instance });
    await expect(h.deliverLaunches()).rejects.toThrow(`launcher died after starting ${instance}`);
    expect((await h.dataset('lab', 'tagged')).launcherId).toBeUndefined();
    expect(await h.store.findByLauncher(instance)).toBeUndefined();

    expect(await h.workerState(instance, 'running')).toBe('IN PROGRESS');
    expect(await h.dataset('lab', 'tagged')).toMatchObject({
      state: 'IN PROGRESS',
      launcherId: instance,
      attempt: 1,
    });
    expect((await h.store.findByLauncher(instance))?.jobId).toBe('tagged');
    expect(await h.workerState(instance, 'terminated')).toBe('FAILED');
    expect(await h.store.counters.runningCount()).toBe(0);
  });
});

describe('cancel requests', () => {
  test('a cancel stops the worker, cancels every unfinished dataset, frees the slot and writes end.txt', async () => {
    const h = await newControl(emulators, 'cancel', { deployLimit: 1 });
    const ts = '04_29_20';
    await h.put('lab/inputs/a.bin');
    await h.put('lab/inputs/b.bin');
    await h.put('lab/configs/config.yaml', '__duration__: 20\n');
    await h.submit('lab', ts, submitJson('lab', ts, ['lab/inputs/a.bin', 'lab/inputs/b.bin']));
    const [launched] = await h.deliverLaunches();
    if (launched.kind !== 'launched') throw new Error('not launched');
    await h.workerState(launched.launcherId, 'running');
    expect(await h.states('lab', ts)).toEqual(['IN PROGRESS', 'QUEUED']);

    const cancelKey = `lab/submissions/${ts}.cancel.json`;
    await h.put(cancelKey, '');
    expect(await processCancel(h.ctx, cancelKey)).toEqual({ kind: 'cancelled', datasets: 2 });
    expect(h.launcher.terminations).toEqual([launched.launcherId]);
    expect(await h.states('lab', ts)).toEqual(['CANCELLED', 'CANCELLED']);
    const reason = `cancelled at the group's request (${cancelKey})`;
    expect(await h.status('lab', ts, 'a.bin')).toMatchObject({ status: 'CANCELLED', reason: [reason] });
    expect(await h.status('lab', ts, 'b.bin')).toMatchObject({ status: 'CANCELLED', reason: [reason] });
    expect(await h.store.counters.runningCount()).toBe(0);
    expect(await h.end('lab', ts)).toMatch(/2 CANCELLED/);
    expect(h.queue.sent).toHaveLength(1);

    // The worker's end and a second cancel change nothing.
    expect(await h.workerState(launched.launcherId, 'terminated')).toBe('unchanged (CANCELLED)');
    expect(await processCancel(h.ctx, cancelKey)).toEqual({ kind: 'nothing-to-cancel' });
    expect((await certificateTexts(h, ts)).at(-1)).toBe(
      `cancel request ${cancelKey}: the job had already finished`,
    );
    expect(h.endWrites('lab', ts)).toBe(1);
  });

  test('a cancel may name the job inside the file', async () => {
    const h = await newControl(emulators, 'cancel-body');
    await startJob(h, '16:52:06.836494condition_2_3', false);
    const key = 'lab/submissions/stop-it.cancel.json';
    await h.put(key, JSON.stringify({ timestamp: '16:52:06.836494condition_2_3' }));
    expect(await processCancel(h.ctx, key)).toEqual({ kind: 'cancelled', datasets: 1 });
    expect(await h.states('lab', '16:52:06.836494condition_2_3')).toEqual(['CANCELLED']);
  });

  test('a launch message that arrives after the cancel launches nothing', async () => {
    const h = await newControl(emulators, 'cancel-early');
    await h.put('lab/inputs/c.bin');
    await h.put('lab/configs/config.yaml', '__duration__: 20\n');
    await h.submit('lab', 'early', submitJson('lab', 'early', 'lab/inputs/c.bin'));
    await h.put('lab/submissions/early.cancel.json', '');
    expect(await processCancel(h.ctx, 'lab/submissions/early.cancel.json')).toEqual({
      kind: 'cancelled',
      datasets: 1,
    });
    expect(await h.store.counters.runningCount()).toBe(0);
    expect(await h.deliverLaunches()).toEqual([{ kind: 'skipped', why: 'dataset is CANCELLED' }]);
    expect(h.launcher.launches).toEqual([]);
  });

  test('a cancel that lands while the worker is being launched still stops that worker', async () => {
    const h = await newControl(emulators, 'cancel-race');
    await h.put('lab/inputs/r.bin');
    await h.put('lab/configs/config.yaml', '__duration__: 20\n');
    await h.submit('lab', 'race', submitJson('lab', 'race', 'lab/inputs/r.bin'));
    await h.put('lab/submissions/race.cancel.json', '');
    h.launcher.duringNextLaunch = async () => {
      expect(await processCancel(h.ctx, 'lab/submissions/race.cancel.json')).toEqual({
        kind: 'cancelled',
        datasets: 1,
      });
    };
    const [result] = await h.deliverLaunches();
    const instance = result.kind === 'launched' ? result.launcherId : '';
    expect(instance).not.toBe('');
    // The instance started after the cancel: it must not run on until the watchdog's orphan sweep.
    expect(h.launcher.terminations).toEqual([instance]);
    expect(await h.states('lab', 'race')).toEqual(['CANCELLED']);
    expect(await h.store.counters.runningCount()).toBe(0);
  });

  test('a cancel that read the job before the worker was recorded still stops that worker', async () => {
    const h = await newControl(emulators, 'cancel-race-late');
    await h.put('lab/inputs/r.bin');
    await h.put('lab/configs/config.yaml', '__duration__: 20\n');
    await h.submit('lab', 'race', submitJson('lab', 'race', 'lab/inputs/r.bin'));
    await h.put('lab/submissions/race.cancel.json', '');

    // The cancel reads the job (no worker yet), then stalls before its state change.
    let reached!: () => void;
    let release!: () => void;
    const stalled = new Promise<void>((resolve) => (reached = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    class StallingStore extends JobStore {
      override async transition(...args: Parameters<JobStore['transition']>): Promise<TransitionResult> {
        if (args[2] === 'CANCELLED') {
          reached();
          await gate;
        }
        return super.transition(...args);
      }
    }
    const store = new StallingStore({
      client: emulators.db.documentClient,
      tableName: emulators.db.tableName,
      analysis: h.analysis,
      now: h.clock.now,
    });
    const cancelling = processCancel({ ...h.ctx, store }, 'lab/submissions/race.cancel.json');
    await stalled;

    // Meanwhile the launcher starts the worker, records it and finds the dataset still INITIALIZING.
    const [result] = await h.deliverLaunches();
    const instance = result.kind === 'launched' ? result.launcherId : '';
    expect(h.launcher.terminations).toEqual([]);

    release();
    expect(await cancelling).toEqual({ kind: 'cancelled', datasets: 1 });
    expect(h.launcher.terminations).toEqual([instance]);
    expect(await h.states('lab', 'race')).toEqual(['CANCELLED']);
    expect(await h.store.counters.runningCount()).toBe(0);
  });

  test('a cancel naming no job of the group is answered beside it', async () => {
    const h = await newControl(emulators, 'cancel-unknown');
    const key = 'lab/submissions/nosuch.cancel.json';
    await h.put(key, '');
    const outcome = await processCancel(h.ctx, key);
    expect(outcome).toEqual({ kind: 'refused', messageKey: submissionMessageKey(key) });
    const message = await h.read(submissionMessageKey(key));
    expect(message).toContain('no job "nosuch" of group lab was found');
    expect(message).toContain('<timestamp>.cancel.json');
    expect(h.launcher.terminations).toEqual([]);

    // Another group's job cannot be cancelled from lab's folder.
    const theirs = await newControl(emulators, 'cancel-theirs');
    await theirs.put('lab2/inputs/x.bin');
    await theirs.put('lab2/configs/config.yaml', '__duration__: 20\n');
    await theirs.submit('lab2', 'theirs', submitJson('lab2', 'theirs', 'lab2/inputs/x.bin'));
    await theirs.put('lab/submissions/theirs.cancel.json', '');
    expect((await processCancel(theirs.ctx, 'lab/submissions/theirs.cancel.json')).kind).toBe('refused');
    expect(await theirs.states('lab2', 'theirs')).toEqual(['INITIALIZING']);
  });
});
