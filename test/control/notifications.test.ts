/**
 * Notifications through the control plane, against s3rver and dynalite: BEGIN when a job is accepted,
 * END or FAIL once when it ends, RETRY when a launch is retried; the job's own group, its id, what
 * happened, why and where the results are; only the events the blueprint chose; a notifier that
 * fails never stops a job.
 */
import { processSubmission } from '../../lib/control/submission-intake';
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
afterAll(() => emulators.stop());

/** Submits a job of `datasets` datasets in `group`, launches its workers and marks them running. */
const runJob = async (h: ControlHarness, group: string, jobId: string, datasets = 1): Promise<string[]> => {
  const keys = Array.from({ length: datasets }, (_, i) => `${group}/inputs/d${i}.bin`);
  for (const key of keys) await h.put(key);
  await h.put(`${group}/configs/config.yaml`, '__duration__: 30\n');
  expect((await h.submit(group, jobId, submitJson(group, jobId, keys))).kind).toBe('accepted');
  await h.deliverLaunches();
  for (const d of (await h.job(group, jobId))?.datasets ?? [])
    await h.workerState(d.launcherId ?? '', 'running');
  return keys.map((k) => k.split('/').at(-1) ?? k);
};

const resultsUrl = (h: ControlHarness, group: string, jobId: string): string =>
  `s3://${h.bucket}/${group}/results/job__${h.analysis}_${jobId}/`;

test('a job that succeeds: BEGIN on acceptance, END with the summary, both to its own group', async () => {
  const h = await newControl(emulators, 'notify-ok');
  const [label] = await runJob(h, 'lab2', 'ok-1');
  expect(h.notifications.sent).toEqual([
    {
      kind: 'BEGIN',
      group: 'lab2',
      jobId: 'ok-1',
      outcome: 'accepted: 1 dataset(s), instance type m5.xlarge',
      resultsUrl: resultsUrl(h, 'lab2', 'ok-1'),
    },
  ]);

  await h.finishWorker('lab2', 'ok-1', label, { status: 'SUCCESS', exit_code: 0 });
  expect(h.notifications.sent[1]).toEqual({
    kind: 'END',
    group: 'lab2',
    jobId: 'ok-1',
    outcome: '1 SUCCESS',
    resultsUrl: resultsUrl(h, 'lab2', 'ok-1'),
  });
  expect(h.notifications.sent).toHaveLength(2);
});

test('a job with a failed dataset: one FAIL after the last dataset, naming what failed and why', async () => {
  const h = await newControl(emulators, 'notify-fail', { deployLimit: 4 });
  const labels = await runJob(h, 'lab', 'mixed', 3);

  await h.finishWorker('lab', 'mixed', labels[0], { status: 'SUCCESS', exit_code: 0 });
  await h.finishWorker('lab', 'mixed', labels[1], {
    status: 'FAILED',
    exit_code: 3,
    reason: 'the analysis exited with code 3',
  });
  expect(h.notifications.kindsFor('mixed')).toEqual(['BEGIN']);

  await h.finishWorker('lab', 'mixed', labels[2], { status: 'SUCCESS', exit_code: 0 });
  expect(h.notifications.kindsFor('mixed')).toEqual(['BEGIN', 'FAIL']);
  expect(h.notifications.sent[1]).toEqual({
    kind: 'FAIL',
    group: 'lab',
    jobId: 'mixed',
    outcome: '2 SUCCESS, 1 FAILED',
    reason: 'lab/inputs/d1.bin: FAILED (the analysis exited with code 3)',
    resultsUrl: resultsUrl(h, 'lab', 'mixed'),
  });

  // A duplicate final report changes nothing and sends nothing.
  await h.finishWorker('lab', 'mixed', labels[2], { status: 'SUCCESS', exit_code: 0 });
  expect(h.notifications.kindsFor('mixed')).toEqual(['BEGIN', 'FAIL']);
});

test('a worker lost past its deadline is a FAIL with the timeout as the reason', async () => {
  const h = await newControl(emulators, 'notify-timeout', { workerTimeout: 600 });
  await runJob(h, 'lab', 'slow');
  const instance = (await h.dataset('lab', 'slow')).launcherId ?? '';
  h.clock.advanceSeconds(601);
  expect(await h.workerState(instance, 'terminated')).toBe('TIMED_OUT');
  const fail = h.notifications.sent.find((n) => n.kind === 'FAIL');
  expect(fail).toMatchObject({ group: 'lab', jobId: 'slow', outcome: '1 TIMED_OUT' });
  expect(fail?.reason).toMatch(/^lab\/inputs\/d0\.bin: TIMED_OUT \(the job reached its deadline/);
});

test("a job refused by the group's budget: FAIL with the budget's reason, and no BEGIN", async () => {
  const h = await newControl(emulators, 'notify-budget', { maxCost: 1 });
  await h.put('lab/inputs/d.bin');
  await h.put('lab/configs/long.yaml', '__duration__: 600\n'); // $1.92 of a $1.00 budget
  await h.submit('lab', 'costly', submitJson('lab', 'costly', 'lab/inputs/d.bin', 'lab/configs/long.yaml'));
  expect(await h.states('lab', 'costly')).toEqual(['FAILED']);
  expect(h.notifications.kindsFor('costly')).toEqual(['FAIL']);
  expect(h.notifications.sent[0].reason).toContain("does not fit the group's monthly budget");
});

test('only the events the blueprint chose are sent', async () => {
  const h = await newControl(emulators, 'notify-fail-only', { notificationEvents: ['FAIL'] });
  const [ok] = await runJob(h, 'lab', 'fine');
  await h.finishWorker('lab', 'fine', ok, { status: 'SUCCESS', exit_code: 0 });
  expect(h.notifications.sent).toEqual([]);

  const [bad] = await runJob(h, 'lab', 'broken');
  await h.finishWorker('lab', 'broken', bad, { status: 'FAILED', exit_code: 1, reason: 'exit 1' });
  expect(h.notifications.sent.map((n) => [n.kind, n.jobId])).toEqual([['FAIL', 'broken']]);
});

test('RETRY is sent only when chosen (ALL), with the launch error as the reason', async () => {
  const defaults = await newControl(emulators, 'notify-no-retry');
  defaults.launcher.script({ kind: 'retry', reason: 'InsufficientInstanceCapacity in every subnet' });
  await runJob(defaults, 'lab', 'r0');
  expect(defaults.notifications.kindsFor('r0')).toEqual(['BEGIN']);

  const h = await newControl(emulators, 'notify-retry', { notificationEvents: ['ALL'] });
  h.launcher.script({ kind: 'retry', reason: 'InsufficientInstanceCapacity in every subnet' });
  await runJob(h, 'lab', 'r1');
  expect(h.notifications.kindsFor('r1')).toEqual(['BEGIN', 'RETRY']);
  expect(h.notifications.sent[1]).toMatchObject({
    kind: 'RETRY',
    group: 'lab',
    reason: 'InsufficientInstanceCapacity in every subnet',
    outcome: expect.stringContaining('lab/inputs/d0.bin'),
  });
  await h.deliverLaunches();
  expect((await h.dataset('lab', 'r1')).launcherId).toBeDefined();
  expect(h.notifications.kindsFor('r1')).toEqual(['BEGIN', 'RETRY']);
});

test('concurrent and late deliveries of one submission send one BEGIN', async () => {
  const h = await newControl(emulators, 'notify-dup');
  await h.put('lab/inputs/d.bin');
  await h.put('lab/configs/config.yaml', '__duration__: 30\n');
  const key = await h.upload('lab', 'dup', submitJson('lab', 'dup', 'lab/inputs/d.bin'));
  const ref = await h.refOf(key);
  await Promise.all(Array.from({ length: 10 }, () => processSubmission(h.ctx, ref)));
  h.clock.advanceSeconds(600);
  await processSubmission(h.ctx, ref);
  expect(h.notifications.kindsFor('dup')).toEqual(['BEGIN']);
});

test('a notifier that fails never stops the job; the failure is logged', async () => {
  const h = await newControl(emulators, 'notify-down');
  h.notifications.failing = true;
  const [label] = await runJob(h, 'lab', 'still-runs');
  await h.finishWorker('lab', 'still-runs', label, { status: 'SUCCESS', exit_code: 0 });
  expect(await h.states('lab', 'still-runs')).toEqual(['SUCCESS']);
  expect(await h.end('lab', 'still-runs')).toMatch(/1 SUCCESS/);
  const warnings = h.log.entries.filter((e) => e.level === 'warn' && e.message === 'notification not sent');
  expect(warnings.map((w) => w.details?.kind)).toEqual(['BEGIN', 'END']);
  expect(warnings[0].details).toMatchObject({
    group: 'lab',
    jobId: 'still-runs',
    error: 'SNS is unavailable',
  });
});

describe("each group's own choice (Notifications.Groups)", () => {
  const sentAs = (h: ControlHarness) => h.notifications.sent.map((n) => [n.group, n.kind, n.jobId]);

  test("a group's Events replace the analysis's for that group only", async () => {
    const h = await newControl(emulators, 'notify-per-group', {
      notificationGroups: { lab: { Events: ['FAIL'] } },
    });
    const [aOk] = await runJob(h, 'lab', 'a-ok');
    await h.finishWorker('lab', 'a-ok', aOk, { status: 'SUCCESS', exit_code: 0 });
    const [bOk] = await runJob(h, 'lab2', 'b-ok');
    await h.finishWorker('lab2', 'b-ok', bOk, { status: 'SUCCESS', exit_code: 0 });
    const [aBad] = await runJob(h, 'lab', 'a-bad');
    await h.finishWorker('lab', 'a-bad', aBad, { status: 'FAILED', exit_code: 2, reason: 'exit 2' });

    // lab chose FAIL only: no BEGIN, no END; lab2 keeps the analysis's default (BEGIN, END, FAIL).
    expect(sentAs(h)).toEqual([
      ['lab2', 'BEGIN', 'b-ok'],
      ['lab2', 'END', 'b-ok'],
      ['lab', 'FAIL', 'a-bad'],
    ]);
    expect(h.notifications.sent[2]).toMatchObject({
      reason: 'lab/inputs/d0.bin: FAILED (exit 2)',
      resultsUrl: resultsUrl(h, 'lab', 'a-bad'),
    });
  });

  test('an empty Events list silences a group: no BEGIN, RETRY, FAIL, nor a budget refusal', async () => {
    const h = await newControl(emulators, 'notify-silenced', {
      maxCost: 1,
      notificationEvents: ['ALL'],
      notificationGroups: { lab: { Events: [] } },
    });
    await h.put('lab/inputs/d.bin');
    await h.put('lab/configs/long.yaml', '__duration__: 600\n'); // $1.92 of a $1.00 budget
    await h.submit('lab', 'costly', submitJson('lab', 'costly', 'lab/inputs/d.bin', 'lab/configs/long.yaml'));
    expect(await h.states('lab', 'costly')).toEqual(['FAILED']);

    h.launcher.script({ kind: 'retry', reason: 'InsufficientInstanceCapacity in every subnet' });
    await runJob(h, 'lab', 'quiet');
    await h.deliverLaunches();
    const quiet = await h.dataset('lab', 'quiet');
    await h.workerState(quiet.launcherId ?? '', 'running');
    await h.finishWorker('lab', 'quiet', 'd0.bin', { status: 'FAILED', exit_code: 1, reason: 'exit 1' });
    expect(await h.states('lab', 'quiet')).toEqual(['FAILED']);
    expect(h.notifications.sent).toEqual([]);

    // lab2 has no choice of its own: the analysis's ALL, RETRY included.
    h.launcher.script({ kind: 'retry', reason: 'InsufficientInstanceCapacity in every subnet' });
    await runJob(h, 'lab2', 'loud');
    expect(sentAs(h)).toEqual([
      ['lab2', 'BEGIN', 'loud'],
      ['lab2', 'RETRY', 'loud'],
    ]);
  });

  test('with no analysis event, only a group that opts in is told, and only what it chose', async () => {
    const h = await newControl(emulators, 'notify-opt-in', {
      notificationEvents: [],
      notificationGroups: { lab2: { Events: ['END'] } },
    });
    const [a] = await runJob(h, 'lab', 'a');
    await h.finishWorker('lab', 'a', a, { status: 'SUCCESS', exit_code: 0 });
    const [b] = await runJob(h, 'lab2', 'b');
    await h.finishWorker('lab2', 'b', b, { status: 'SUCCESS', exit_code: 0 });
    expect(sentAs(h)).toEqual([['lab2', 'END', 'b']]);
  });
});
