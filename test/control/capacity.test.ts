/**
 * What limits a job, against s3rver and dynalite: DEPLOY_LIMIT (a FIFO queue of datasets), MAXCOST
 * (a monthly budget per group), and launches that fail or must be retried.
 */
import { drainQueue } from '../../lib/control/queue-drain';
import { budgetMonth } from '../../lib/job/job-store';
import {
  type ControlEmulators,
  type ControlHarness,
  MAX_RECEIVES,
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

/** Data and a config under `group`, then one single-dataset submission per timestamp. */
const submitEach = async (h: ControlHarness, group: string, timestamps: readonly string[]): Promise<void> => {
  await h.put(`${group}/configs/config.yaml`, '__duration__: 20\n');
  for (const ts of timestamps) {
    await h.put(`${group}/inputs/${ts}.bin`);
    const outcome = await h.submit(group, ts, submitJson(group, ts, `${group}/inputs/${ts}.bin`));
    expect(outcome.kind).toBe('accepted');
    h.clock.advanceSeconds(1);
  }
};

/** Launches what was requested, marks the workers running, returns the job ids now running. */
const launchAndRun = async (h: ControlHarness): Promise<string[]> => {
  const results = await h.deliverLaunches();
  const started: string[] = [];
  for (const result of results) {
    if (result.kind !== 'launched') throw new Error(`launch ${result.kind}`);
    expect(await h.workerState(result.launcherId, 'running')).toBe('IN PROGRESS');
    const dataset = await h.store.findByLauncher(result.launcherId);
    started.push(dataset?.jobId ?? '?');
  }
  return started;
};

describe('DEPLOY_LIMIT', () => {
  test('beyond the limit datasets wait as QUEUED and start oldest first as workers finish', async () => {
    const h = await newControl(emulators, 'limit', { deployLimit: 2 });
    // Submitted in this order; names sort the other way, so only submission time can give FIFO.
    const order = ['e-first', 'd-second', 'c-third', 'b-fourth', 'a-fifth'];
    await submitEach(h, 'lab', order);

    expect(await Promise.all(order.map(async (ts) => (await h.states('lab', ts))[0]))).toEqual([
      'INITIALIZING',
      'INITIALIZING',
      'QUEUED',
      'QUEUED',
      'QUEUED',
    ]);
    expect(h.queue.sent.map((m) => m.jobId)).toEqual(['e-first', 'd-second']);
    expect(await h.store.counters.runningCount()).toBe(2);
    for (const ts of order.slice(2)) {
      const status = await h.status('lab', ts, `${ts}.bin`);
      expect(status).toMatchObject({
        status: 'QUEUED',
        reason: ['waiting for a worker (at most 2 of this analysis run at once)'],
        input: `lab/inputs/${ts}.bin`,
      });
      expect((await h.certificateLines('lab', ts)).map((l) => l.text)).toEqual([
        `submission lab/submissions/${ts}_submit.json accepted: 1 dataset(s), instance type m5.xlarge, estimated cost $0.06`,
        `reproducibility: blueprint provenance unknown; worker AMI ami-0123456789abcdef0, instance type m5.xlarge; dataset lab/inputs/${ts}.bin (no S3 version: the bucket keeps none), config lab/configs/config.yaml (no S3 version: the bucket keeps none)`,
      ]);
    }

    const started = await launchAndRun(h);
    expect(started).toEqual(['e-first', 'd-second']);
    const finishedOrder: string[] = [];
    const startOrder = [...started];
    // Finish the oldest running job each round; the next queued one must start, never more than 2 at once.
    while (finishedOrder.length < order.length) {
      const next = startOrder[finishedOrder.length];
      h.clock.advanceSeconds(60);
      expect(await h.finishWorker('lab', next, `${next}.bin`, { status: 'SUCCESS', exit_code: 0 })).toBe(
        'SUCCESS',
      );
      finishedOrder.push(next);
      expect(await h.store.counters.runningCount()).toBeLessThanOrEqual(2);
      startOrder.push(...(await launchAndRun(h)));
      expect(await h.store.counters.runningCount()).toBe(Math.min(2, order.length - finishedOrder.length));
    }
    expect(startOrder).toEqual(order);
    for (const ts of order) {
      expect(await h.states('lab', ts)).toEqual(['SUCCESS']);
      expect(h.endWrites('lab', ts)).toBe(1);
    }
    // The third job's certificate tells the wait: submitted at +2 s, launched when the first finished (+65 s).
    const third = await h.certificateLines('lab', 'c-third');
    expect(third.map((l) => l.text)[2]).toBe('dataset lab/inputs/c-third.bin: launch requested');
    expect(third[2].elapsedSeconds).toBe(5 + 60 - 2);
    expect(await h.store.counters.runningCount()).toBe(0);
    expect(await h.store.listQueued(10)).toEqual([]);
  });
});

describe('DEPLOY_LIMIT under concurrency', () => {
  test('workers finishing at once never start more than the limit', async () => {
    const h = await newControl(emulators, 'limit-race', { deployLimit: 2 });
    const order = ['j1', 'j2', 'j3', 'j4', 'j5', 'j6'];
    await submitEach(h, 'lab', order);
    let running = await launchAndRun(h);
    const done: string[] = [];
    while (running.length > 0) {
      await Promise.all(
        running.map((ts) => h.finishWorker('lab', ts, `${ts}.bin`, { status: 'SUCCESS', exit_code: 0 })),
      );
      done.push(...running);
      const live = (await h.store.listLive()).filter(
        (d) => d.state === 'INITIALIZING' || d.state === 'IN PROGRESS',
      );
      expect(live.length).toBeLessThanOrEqual(2);
      expect(await h.store.counters.runningCount()).toBe(live.length);
      running = await launchAndRun(h);
    }
    expect(done.sort()).toEqual(order);
    expect(await h.store.counters.runningCount()).toBe(0);
  });

  test('a drain that gives a slot back lists again: a job refused that slot meanwhile is not left waiting', async () => {
    const h = await newControl(emulators, 'drain-release', { deployLimit: 1 });
    // `a` waits behind `busy`; then busy's slot frees (its end, as far as the counter knows).
    await submitEach(h, 'lab', ['busy', 'a']);
    expect((await h.states('lab', 'a'))[0]).toBe('QUEUED');
    await h.store.counters.releaseSlot();
    await h.put('lab/inputs/b.bin');

    // While this drain holds the only slot for `a`, another drain starts `a` first and `b` arrives:
    // b's own drain finds no free slot and returns. This drain's transition then fails, and it
    // gives the slot back.
    const transition = h.store.transition.bind(h.store);
    let raced = false;
    const spy = jest.spyOn(h.store, 'transition').mockImplementation(async (job, index, to, fields) => {
      if (!raced && job.jobId === 'a' && to === 'INITIALIZING') {
        raced = true;
        await transition(job, index, 'INITIALIZING', fields);
        expect((await h.submit('lab', 'b', submitJson('lab', 'b', 'lab/inputs/b.bin'))).kind).toBe(
          'accepted',
        );
        expect((await h.states('lab', 'b'))[0]).toBe('QUEUED');
      }
      return transition(job, index, to, fields);
    });
    try {
      expect(await drainQueue(h.ctx)).toBe(1);
    } finally {
      spy.mockRestore();
    }
    expect(raced).toBe(true);
    expect((await h.states('lab', 'b'))[0]).toBe('INITIALIZING');
    expect(h.queue.sent.map((m) => m.jobId)).toEqual(['busy', 'b']);
    expect(await h.store.counters.runningCount()).toBe(1);
  });
});

describe('MAXCOST', () => {
  test("a job that does not fit the group's month fails with the figures; other groups are unaffected", async () => {
    const h = await newControl(emulators, 'budget', { maxCost: 10, deployLimit: 10 });
    const month = budgetMonth(h.clock.now());
    for (const group of ['lab', 'lab2']) {
      await h.put(`${group}/configs/long.yaml`, '__duration__: 600\n'); // 10 h of m5.xlarge: $1.92 a dataset
      for (const i of [1, 2, 3, 4]) await h.put(`${group}/inputs/d${i}.bin`);
    }
    const four = (group: string): string[] => [1, 2, 3, 4].map((i) => `${group}/inputs/d${i}.bin`);

    // $7.68 of $10.00: fits.
    const first = await h.submit(
      'lab',
      'big',
      submitJson('lab', 'big', four('lab'), 'lab/configs/long.yaml'),
    );
    expect(first.kind).toBe('accepted');
    expect(await h.store.counters.getBudget('lab', month)).toBeCloseTo(7.68, 2);
    const launchesBefore = h.queue.sent.length;
    expect(launchesBefore).toBe(4);

    // Another $3.84 would make $11.52: refused before anything launches.
    const second = await h.submit(
      'lab',
      'more',
      submitJson('lab', 'more', four('lab').slice(0, 2), 'lab/configs/long.yaml'),
    );
    expect(second.kind).toBe('accepted'); // recorded, then refused by the budget
    expect(await h.states('lab', 'more')).toEqual(['FAILED', 'FAILED']);
    expect(h.queue.sent).toHaveLength(launchesBefore);
    const expected =
      "this job's estimated cost $3.84 does not fit the group's monthly budget for " +
      `${h.analysis}: $7.68 of $10.00 is already used or committed in ${month}`;
    expect((await h.dataset('lab', 'more')).reason).toContain(expected);
    expect(await h.status('lab', 'more', 'd1.bin')).toMatchObject({ status: 'FAILED' });
    expect(String((await h.status('lab', 'more', 'd1.bin'))?.reason)).toContain(expected);
    expect(String((await h.status('lab', 'more', 'd1.bin'))?.reason)).toContain('Lower __duration__');
    expect(await h.certificate('lab', 'more')).toContain(expected);
    expect(await h.end('lab', 'more')).toMatch(/: 2 FAILED\n$/);
    expect(await h.store.counters.runningCount()).toBe(4);
    // The refusal reserved nothing, so it gives nothing back: the group still has $7.68 committed.
    expect(await h.store.counters.getBudget('lab', month)).toBeCloseTo(7.68, 2);

    // What is left ($2.32) still takes a one-dataset job ($1.92), and then nothing more.
    const fits = await h.submit(
      'lab',
      'fits',
      submitJson('lab', 'fits', 'lab/inputs/d1.bin', 'lab/configs/long.yaml'),
    );
    expect(fits.kind).toBe('accepted');
    expect(await h.states('lab', 'fits')).toEqual(['INITIALIZING']);
    expect(await h.store.counters.getBudget('lab', month)).toBeCloseTo(9.6, 2);
    await h.submit('lab', 'over', submitJson('lab', 'over', 'lab/inputs/d2.bin', 'lab/configs/long.yaml'));
    expect(await h.states('lab', 'over')).toEqual(['FAILED']);

    // lab2 has its own budget.
    const other = await h.submit(
      'lab2',
      'big',
      submitJson('lab2', 'big', four('lab2'), 'lab2/configs/long.yaml'),
    );
    expect(other.kind).toBe('accepted');
    expect(await h.states('lab2', 'big')).toEqual([
      'INITIALIZING',
      'INITIALIZING',
      'INITIALIZING',
      'INITIALIZING',
    ]);
    expect(await h.store.counters.getBudget('lab2', month)).toBeCloseTo(7.68, 2);
    expect(await h.store.counters.getBudget('lab', month)).toBeCloseTo(9.6, 2);
  });

  test('an instance type the submission chose is launched and priced as such', async () => {
    const h = await newControl(emulators, 'instance-type');
    await h.put('lab/configs/config.yaml', '__duration__: 60\n');
    await h.put('lab/inputs/a.bin');
    const body = submitJson('lab', 'bigger', 'lab/inputs/a.bin', 'lab/configs/config.yaml', {
      instance_type: 'm5.2xlarge',
    });
    expect((await h.submit('lab', 'bigger', body)).kind).toBe('accepted');
    expect(await h.store.counters.getBudget('lab', budgetMonth(h.clock.now()))).toBeCloseTo(0.384, 3);
    expect((await h.certificateLines('lab', 'bigger'))[0].text).toContain(
      'instance type m5.2xlarge, estimated cost $0.38',
    );
    await h.deliverLaunches();
    expect(h.launcher.launches.map((l) => l.instanceType)).toEqual(['m5.2xlarge']);
  });

  test('a dataset that ends early gives its unused estimate back to the group', async () => {
    const h = await newControl(emulators, 'settle', { maxCost: 10 });
    const month = budgetMonth(h.clock.now());
    await h.put('lab/configs/long.yaml', '__duration__: 600\n');
    await h.put('lab/inputs/a.bin');
    await h.submit('lab', 'a', submitJson('lab', 'a', 'lab/inputs/a.bin', 'lab/configs/long.yaml'));
    const [launched] = await h.deliverLaunches();
    if (launched.kind !== 'launched') throw new Error('not launched');
    await h.workerState(launched.launcherId, 'running');
    h.clock.advanceSeconds(30 * 60);
    await h.finishWorker('lab', 'a', 'a.bin', { status: 'SUCCESS', exit_code: 0 });
    expect(await h.store.counters.getBudget('lab', month)).toBeCloseTo(0.096, 3);
  });
});

describe('launch failures', () => {
  test('a launcher failure fails the dataset with its reason, frees the slot and starts the next job', async () => {
    const h = await newControl(emulators, 'launch-failed', { deployLimit: 1 });
    await submitEach(h, 'lab', ['one', 'two']);
    expect(await h.states('lab', 'two')).toEqual(['QUEUED']);
    const reason =
      'the AMI ami-0123456789abcdef0 cannot be used in this account: the blueprint author must share it or replace it';
    h.launcher.script({ kind: 'failed', reason });

    expect(await h.deliverLaunches()).toEqual([{ kind: 'failed', reason }]);
    expect(await h.dataset('lab', 'one')).toMatchObject({ state: 'FAILED', reason });
    expect(await h.status('lab', 'one', 'one.bin')).toMatchObject({ status: 'FAILED', reason: [reason] });
    expect((await h.certificateLines('lab', 'one')).map((l) => l.text)).toContain(
      `dataset lab/inputs/one.bin: FAILED (${reason})`,
    );
    expect(await h.end('lab', 'one')).toMatch(/1 FAILED/);
    // The slot went to the queued job.
    expect(await h.states('lab', 'two')).toEqual(['INITIALIZING']);
    expect(h.queue.sent.map((m) => m.jobId)).toEqual(['one', 'two']);
    expect(await h.store.counters.runningCount()).toBe(1);
    expect((await h.deliverLaunches())[0].kind).toBe('launched');
  });

  test('a retryable failure is retried with the same attempt, then launches', async () => {
    const h = await newControl(emulators, 'launch-retry');
    await submitEach(h, 'lab', ['flaky']);
    h.launcher.script({ kind: 'retry', reason: 'InsufficientInstanceCapacity in every subnet' });

    expect((await h.deliverLaunches())[0]).toEqual({
      kind: 'retry',
      reason: 'InsufficientInstanceCapacity in every subnet',
    });
    expect(await h.states('lab', 'flaky')).toEqual(['INITIALIZING']);
    expect(h.queue.pending).toHaveLength(1);

    const [second] = await h.deliverLaunches();
    expect(second.kind).toBe('launched');
    expect(h.launcher.launches.map((l) => l.attempt)).toEqual([1, 1]);
    expect(await h.dataset('lab', 'flaky')).toMatchObject({
      state: 'INITIALIZING',
      launcherId: second.kind === 'launched' ? second.launcherId : 'none',
      attempt: 1,
    });
    // A late duplicate of the message does not launch a second worker.
    await h.queue.send(h.queue.sent[0]);
    expect(await h.deliverLaunches()).toEqual([{ kind: 'skipped', why: 'already launched' }]);
    expect(h.launcher.launches).toHaveLength(2);
  });

  test('a retryable failure on the last delivery is final', async () => {
    const h = await newControl(emulators, 'launch-exhausted');
    await submitEach(h, 'lab', ['never']);
    for (let i = 0; i < MAX_RECEIVES; i++)
      h.launcher.script({ kind: 'retry', reason: 'RequestLimitExceeded' });

    const kinds: string[] = [];
    for (let i = 0; i < MAX_RECEIVES; i++) kinds.push(...(await h.deliverLaunches()).map((r) => r.kind));
    expect(kinds).toEqual(['retry', 'retry', 'retry', 'retry', 'failed']);
    const reason = 'the worker could not be launched after several attempts: RequestLimitExceeded';
    expect(await h.dataset('lab', 'never')).toMatchObject({ state: 'FAILED', reason });
    expect(await h.status('lab', 'never', 'never.bin')).toMatchObject({ status: 'FAILED', reason: [reason] });
    expect(h.queue.pending).toEqual([]);
    expect(await h.store.counters.runningCount()).toBe(0);
    expect(h.endWrites('lab', 'never')).toBe(1);
  });
});
