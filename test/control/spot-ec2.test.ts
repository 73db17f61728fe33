/**
 * EC2 workers on Spot (Ec2.Spot), through the control plane against s3rver and dynalite: the
 * two-minute warning, the reclaim, the one on-demand relaunch with the same deadline and secret, and
 * what both workers cost.
 */
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

/** A one-dataset job whose worker runs on Spot: returns the harness and the worker's id. */
const spotJob = async (name: string, jobId: string): Promise<{ h: ControlHarness; spotWorker: string }> => {
  const h = await newControl(emulators, name, { spot: true });
  await h.put('lab/inputs/s.zip');
  await h.put('lab/configs/config.yaml', '__duration__: 60\n');
  expect((await h.submit('lab', 'spot', submitJson('lab', jobId, 'lab/inputs/s.zip'))).kind).toBe('accepted');
  h.launcher.script({ kind: 'launched', spot: true });
  await h.deliverLaunches();
  const spotWorker = (await h.dataset('lab', jobId)).launcherId ?? '';
  expect(await h.workerState(spotWorker, 'running')).toBe('IN PROGRESS');
  return { h, spotWorker };
};

const texts = async (h: ControlHarness, jobId: string): Promise<string[]> =>
  (await h.certificateLines('lab', jobId)).map((l) => l.text);

test('a reclaimed Spot worker: warned, then relaunched once on on-demand with the same deadline and secret; both workers are counted', async () => {
  const { h, spotWorker } = await spotJob('spot-reclaim', 'r1');
  const before = await h.dataset('lab', 'r1');
  expect(before).toMatchObject({ spot: true });
  expect(await texts(h, 'r1')).toContain(
    `dataset lab/inputs/s.zip: worker ${spotWorker} launched (m5.xlarge on Spot)`,
  );

  h.clock.advanceSeconds(20 * 60);
  expect(await h.spotWarning(spotWorker)).toBe('warned');
  expect(await h.spotWarning(spotWorker)).toBe('already warned');
  h.clock.advanceSeconds(110);
  const outcome = await h.workerState(spotWorker, 'shutting-down');
  expect(outcome).toMatch(/^relaunched on on-demand as i-/);

  const after = await h.dataset('lab', 'r1');
  expect(after.state).toBe('IN PROGRESS');
  expect(after.launcherId).not.toBe(spotWorker);
  expect(after.spot).not.toBe(true);
  expect(after).toMatchObject({
    attempt: before.attempt,
    deadline: before.deadline,
    reportToken: before.reportToken,
  });
  const [first, relaunch] = h.launcher.launchesOf('r1');
  expect(relaunch).toMatchObject({ capacity: 'on-demand', attempt: first?.attempt });
  expect(relaunch?.job.deadlineEpochSeconds).toBe(first?.job.deadlineEpochSeconds);
  // The Spot worker's 21 min 50 s, priced at the on-demand rate (an upper bound).
  expect(after.priorBilledSeconds).toBe(20 * 60 + 110);
  expect(after.priorCostUsd).toBeCloseTo((0.192 * (20 * 60 + 110)) / 3600, 6);

  const lines = await texts(h, 'r1');
  expect(lines).toContain(
    `dataset lab/inputs/s.zip: Spot will reclaim worker ${spotWorker} in two minutes (terminate); the worker uploads what it has, and the dataset will be relaunched on on-demand capacity`,
  );
  expect(lines).toContain(
    `dataset lab/inputs/s.zip: INTERRUPTED: Spot reclaimed the instance (worker ${spotWorker}); relaunched on on-demand capacity: worker ${after.launcherId} launched (m5.xlarge)`,
  );
  expect(await h.status('lab', 'r1', 's.zip')).toMatchObject({
    status: 'IN PROGRESS',
    reason: [`Spot reclaimed the instance (worker ${spotWorker}): relaunched on on-demand capacity`],
  });
  // The reclaimed worker's later events end nothing, and a second relaunch never happens.
  expect(await h.workerState(spotWorker, 'terminated')).toMatch(
    /^ignored: .* is not the dataset's current worker/,
  );
  expect(h.launcher.launchesOf('r1')).toHaveLength(2);

  const onDemand = after.launcherId ?? '';
  expect(await h.workerState(onDemand, 'running')).toMatch(/IN PROGRESS/);
  h.clock.advanceSeconds(10 * 60);
  expect(await h.finishWorker('lab', 'r1', 's.zip', { status: 'SUCCESS', exit_code: 0 })).toBe('SUCCESS');
  const done = await h.dataset('lab', 'r1');
  const onDemandSeconds = 10 * 60;
  expect(done.actualCostUsd).toBeCloseTo((0.192 * (20 * 60 + 110 + onDemandSeconds)) / 3600, 5);
  expect(await h.status('lab', 'r1', 's.zip')).toMatchObject({
    status: 'SUCCESS',
    cost: { billed_seconds: 20 * 60 + 110 + onDemandSeconds, earlier_launches_usd: after.priorCostUsd },
  });
  expect((await texts(h, 'r1')).at(-1)).toMatch(/^job finished: 1 SUCCESS; cost \$0\.\d{4}$/);
});

test('the on-demand relaunch fails: the dataset ends INTERRUPTED, never FAILED', async () => {
  const { h, spotWorker } = await spotJob('spot-fail', 'f1');
  await h.spotWarning(spotWorker);
  h.launcher.script({ kind: 'failed', reason: 'the vCPU quota is reached' });
  expect(await h.workerState(spotWorker, 'terminated')).toBe('INTERRUPTED (on-demand relaunch failed)');
  expect(await h.dataset('lab', 'f1')).toMatchObject({
    state: 'INTERRUPTED',
    reason: `Spot reclaimed the instance (worker ${spotWorker}); the relaunch on on-demand capacity failed: the vCPU quota is reached`,
  });
  expect((await texts(h, 'f1')).at(-1)).toBe('job finished: 1 INTERRUPTED; cost $0.0032');
});

test('no on-demand capacity right now: the event fails, and its redelivery relaunches', async () => {
  const { h, spotWorker } = await spotJob('spot-retry', 'y1');
  await h.spotWarning(spotWorker);
  h.launcher.script({ kind: 'retry', reason: 'no capacity in any subnet' });
  await expect(h.workerState(spotWorker, 'terminated')).rejects.toThrow('no capacity in any subnet');
  expect((await h.dataset('lab', 'y1')).launcherId).toBe(spotWorker);
  expect(await h.workerState(spotWorker, 'terminated')).toMatch(/^relaunched on on-demand as i-/);
});

test('a Spot worker that ends without a warning or a report crashed: FAILED as on-demand', async () => {
  const { h, spotWorker } = await spotJob('spot-crash', 'c1');
  expect(await h.workerState(spotWorker, 'terminated')).toBe('FAILED');
  expect(h.launcher.launchesOf('c1')).toHaveLength(1);
});

test("a warning for a worker that is not the dataset's current one changes nothing", async () => {
  const { h } = await spotJob('spot-stray', 's1');
  expect(await h.spotWarning('i-0000000000000dead')).toMatch(/^no dataset of /);
});
