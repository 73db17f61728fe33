/**
 * The watchdog's sweep, against s3rver and dynalite with a fake clock: deadlines, launches that never
 * started, workers with no live job, submissions whose event was lost, jobs never admitted, and the
 * running count.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { processCancel } from '../../lib/control/cancel-request';
import { EFS_FOLDER_TIMING, SWEEP_STOP_REASON } from '../../lib/control/efs-folders';
import { runWatchdog, WATCHDOG_TIMING, type WatchdogSources } from '../../lib/control/watchdog';
import { CLEANUP_TRIES } from '../../lib/launch/batch-stages';
import type { LaunchMessage } from '../../lib/launch/launcher';
import { submissionMessageKey } from '../../lib/layout';
import {
  type ControlEmulators,
  type ControlHarness,
  newControl,
  newInstanceId,
  startControlEmulators,
  submitJson,
} from '../support/control-harness';
import { FakeBatch } from '../support/fake-batch';

let emulators: ControlEmulators;

beforeAll(async () => {
  emulators = await startControlEmulators();
});

afterAll(async () => {
  await emulators.stop();
});

const MINUTE = 60 * 1000;

const sources = (h: ControlHarness, extra: Partial<WatchdogSources> = {}): WatchdogSources => ({
  listWorkers: h.launcher.listWorkers,
  ...extra,
});

/** Submits single-dataset job `ts`; launches it unless `launch` is false; marks it running if asked. */
const submitJob = async (
  h: ControlHarness,
  ts: string,
  { launch = true, running = true }: { launch?: boolean; running?: boolean } = {},
): Promise<string | undefined> => {
  await h.put(`lab/inputs/${ts}.bin`);
  await h.put('lab/configs/config.yaml', '__duration__: 20\n');
  expect((await h.submit('lab', ts, submitJson('lab', ts, `lab/inputs/${ts}.bin`))).kind).toBe('accepted');
  if (!launch) return undefined;
  const [launched] = await h.deliverLaunches();
  if (launched.kind !== 'launched') return undefined;
  if (running) await h.workerState(launched.launcherId, 'running');
  return launched.launcherId;
};

describe('deadlines', () => {
  test('a job IN PROGRESS past its deadline is TIMED_OUT and its worker terminated', async () => {
    const h = await newControl(emulators, 'deadline', { workerTimeout: 3600 });
    const instance = await submitJob(h, 'slow');
    const deadline = Date.parse((await h.dataset('lab', 'slow')).deadline ?? '');
    expect(deadline).toBe(h.clock.now().getTime() + 3600 * 1000);

    // At the deadline the worker's own timer acts; the watchdog waits out the grace for its report.
    h.clock.advance(3600 * 1000 + WATCHDOG_TIMING.deadlineGraceMs);
    expect((await runWatchdog(h.ctx, sources(h))).timedOut).toBe(0);
    expect(h.launcher.terminations).toEqual([]);

    h.clock.advance(1000);
    const found = await runWatchdog(h.ctx, sources(h));
    expect(found.timedOut).toBe(1);
    expect(h.launcher.terminations).toEqual([instance]);
    const reason = 'the job ran past its deadline (SSM_TIMEOUT, 1.0 h) and its worker was stopped';
    expect(await h.dataset('lab', 'slow')).toMatchObject({ state: 'TIMED_OUT', reason });
    expect(await h.status('lab', 'slow', 'slow.bin')).toMatchObject({
      status: 'TIMED_OUT',
      reason: [reason],
    });
    expect(await h.store.counters.runningCount()).toBe(0);
    expect(await h.end('lab', 'slow')).toMatch(/1 TIMED_OUT/);

    // The worker's late final report does not overturn it.
    expect(await h.finishWorker('lab', 'slow', 'slow.bin', { status: 'SUCCESS', exit_code: 0 })).toBe(
      'unchanged (TIMED_OUT)',
    );
    expect((await runWatchdog(h.ctx, sources(h))).timedOut).toBe(0);
    expect(h.endWrites('lab', 'slow')).toBe(1);
  });
});

describe('launches that never started', () => {
  test('a lost launch message is resent, and the dataset FAILED if it still never launches', async () => {
    const h = await newControl(emulators, 'lost-launch', { launchTimeout: 300 });
    await submitJob(h, 'stuck', { launch: false });
    const [original] = h.queue.lose();
    expect(original).toMatchObject({ jobId: 'stuck', attempt: 1 });

    h.clock.advance(300 * 1000);
    expect((await runWatchdog(h.ctx, sources(h))).launchesResent).toBe(0);

    h.clock.advance(1000);
    expect((await runWatchdog(h.ctx, sources(h))).launchesResent).toBe(1);
    expect(h.queue.sent).toEqual([original, original]);

    // The resent message is lost too; the watchdog gives up after three times EXECUTION_TIMEOUT.
    h.queue.lose();
    h.clock.advance(2 * 300 * 1000);
    const found = await runWatchdog(h.ctx, sources(h));
    expect(found.launchesFailed).toBe(1);
    const reason = 'the worker could not be launched: no launch was recorded';
    expect(await h.dataset('lab', 'stuck')).toMatchObject({ state: 'FAILED', reason });
    expect(await h.status('lab', 'stuck', 'stuck.bin')).toMatchObject({ status: 'FAILED', reason: [reason] });
    expect(await h.store.counters.runningCount()).toBe(0);
    expect(h.endWrites('lab', 'stuck')).toBe(1);
  });

  // The resend is claimed in the job store (claimLaunchResend), so later runs do not repeat it.
  test('a lost launch message is resent only once', async () => {
    const h = await newControl(emulators, 'resend-once', { launchTimeout: 300 });
    await submitJob(h, 'once', { launch: false });
    h.queue.lose();
    h.clock.advance(301 * 1000);
    expect((await runWatchdog(h.ctx, sources(h))).launchesResent).toBe(1);
    h.clock.advance(MINUTE);
    expect((await runWatchdog(h.ctx, sources(h))).launchesResent).toBe(0);
  });

  test('a resent message launches the worker once', async () => {
    const h = await newControl(emulators, 'resend-ok', { launchTimeout: 300 });
    await submitJob(h, 'again', { launch: false });
    h.queue.lose();
    h.clock.advance(301 * 1000);
    await runWatchdog(h.ctx, sources(h));
    const [launched] = await h.deliverLaunches();
    expect(launched.kind).toBe('launched');
    expect(h.launcher.launches.map((l) => l.attempt)).toEqual([1]);
    expect((await runWatchdog(h.ctx, sources(h))).launchesResent).toBe(0);
  });

  test('a worker launched but never running within EXECUTION_TIMEOUT is stopped and FAILED', async () => {
    const h = await newControl(emulators, 'never-runs', { launchTimeout: 300 });
    const instance = await submitJob(h, 'pending', { running: false });
    h.clock.advance(301 * 1000);
    expect((await runWatchdog(h.ctx, sources(h))).launchesFailed).toBe(1);
    expect(h.launcher.terminations).toEqual([instance]);
    expect((await h.dataset('lab', 'pending')).reason).toBe(
      `the worker ${instance} did not start within 300 s (EXECUTION_TIMEOUT) and was stopped`,
    );
    expect(await h.store.counters.runningCount()).toBe(0);
  });

  test('a launch message in the dead-letter queue fails its dataset', async () => {
    const h = await newControl(emulators, 'dead-letter');
    await submitJob(h, 'dlq', { launch: false });
    const [message] = h.queue.lose();
    const acknowledged: LaunchMessage[] = [];
    const deadLetters = async () => [{ message, acknowledge: async () => void acknowledged.push(message) }];
    expect((await runWatchdog(h.ctx, sources(h, { deadLetters }))).launchesFailed).toBe(1);
    expect(acknowledged).toEqual([message]);
    expect(await h.states('lab', 'dlq')).toEqual(['FAILED']);
    expect(await h.store.counters.runningCount()).toBe(0);
  });
});

describe('workers with no live job', () => {
  test('are terminated once older than the grace; workers of live jobs are left alone', async () => {
    const h = await newControl(emulators, 'orphans', { deployLimit: 5 });
    const live = await submitJob(h, 'live');
    const done = await submitJob(h, 'done');
    await h.finishWorker('lab', 'done', 'done.bin', { status: 'SUCCESS', exit_code: 0 });
    // `done`'s instance is still listed (its power-off failed); a stray never recorded anywhere too.
    const stray = newInstanceId();
    h.launcher.addStrayWorker(stray, { group: 'lab', jobId: 'ghost', datasetIndex: 0 }, h.clock.now());

    h.clock.advance(WATCHDOG_TIMING.orphanGraceMs - 1000);
    expect((await runWatchdog(h.ctx, sources(h))).orphansTerminated).toBe(0);

    h.clock.advance(2000);
    const found = await runWatchdog(h.ctx, sources(h));
    expect(found.orphansTerminated).toBe(2);
    expect([...h.launcher.terminations].sort()).toEqual([done, stray].sort());
    expect(h.launcher.terminations).not.toContain(live);
    expect((await h.certificateLines('lab', 'done')).at(-1)?.text).toBe(
      `worker ${done} was still running after the dataset ended (SUCCESS): terminated by the watchdog`,
    );
    expect((await runWatchdog(h.ctx, sources(h))).orphansTerminated).toBe(0);
  });
});

describe('submissions whose event was lost', () => {
  test('are processed by the sweep, once; a refused one is not processed again', async () => {
    const h = await newControl(emulators, 'sweep');
    await h.put('lab/inputs/lost.bin');
    await h.put('lab/configs/config.yaml', '__duration__: 20\n');
    const lostKey = await h.upload('lab', 'lost', submitJson('lab', 'lost', 'lab/inputs/lost.bin'));
    const badKey = await h.upload('lab', 'bad', submitJson('lab', 'bad', 'lab/inputs/missing.bin'));
    const handledKey = await h.upload('lab', 'handled', { dataname: 'lab/inputs/lost.bin' });
    await h.submit('lab', 'handled', { dataname: 'lab/inputs/lost.bin' }); // its event did arrive: refused
    await h.put('lab/submissions/notes.txt', 'not a submission');

    // Events may still be in flight for two minutes.
    expect((await runWatchdog(h.ctx, sources(h))).lostSubmissions).toBe(0);

    h.clock.advance(WATCHDOG_TIMING.eventGraceMs + MINUTE);
    const found = await runWatchdog(h.ctx, sources(h));
    expect(found.lostSubmissions).toBe(2);
    expect(await h.states('lab', 'lost')).toEqual(['INITIALIZING']);
    expect(h.queue.sentFor('lost')).toHaveLength(1);
    expect(await h.besideMessage(badKey)).toContain('dataname "lab/inputs/missing.bin" does not exist');
    expect(await h.certificate('lab', 'bad')).toContain('dataname "lab/inputs/missing.bin" does not exist');
    expect(await h.besideMessage(handledKey)).toContain('no "timestamp"');
    const badCertificate = await h.certificate('lab', 'bad');

    h.clock.advance(MINUTE);
    expect((await runWatchdog(h.ctx, sources(h))).lostSubmissions).toBe(0);
    expect(h.queue.sentFor('lost')).toHaveLength(1);
    expect(await h.certificate('lab', 'bad')).toBe(badCertificate);
    expect(await h.job('lab', 'bad')).toBeUndefined();
    expect(lostKey).toBe('lab/submissions/lost_submit.json');
    expect(submissionMessageKey(lostKey)).toBe('lab/submissions/lost_submit.error.txt');
    expect(await h.besideMessage(lostKey)).toBeUndefined();
  });

  test('the sweep sees every submission, beyond the first page of a listing', async () => {
    const h = await newControl(emulators, 'many');
    await h.put('lab/inputs/x.bin');
    await h.put('lab/configs/config.yaml', '__duration__: 20\n');
    // 1,000 older files sort before the submission (one listing page holds 1,000 keys).
    const client = emulators.s3.client;
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          client.send(
            new PutObjectCommand({
              Bucket: h.bucket,
              Key: `lab/submissions/a-${String(batch * 100 + i).padStart(4, '0')}.notes.txt`,
              Body: Buffer.from('n'),
            }),
          ),
        ),
      );
    }
    await h.upload('lab', 'z-late', submitJson('lab', 'z-late', 'lab/inputs/x.bin'));
    h.clock.advance(WATCHDOG_TIMING.eventGraceMs + MINUTE);
    expect((await runWatchdog(h.ctx, sources(h))).lostSubmissions).toBe(1);
    expect(await h.states('lab', 'z-late')).toEqual(['INITIALIZING']);
  });
});

describe('jobs recorded but never admitted', () => {
  test('the watchdog admits a job left SUBMITTED once its submit handler must have died', async () => {
    const h = await newControl(emulators, 'unadmitted');
    await h.put('lab/configs/config.yaml', '__duration__: 20\n');
    // The handler recorded the job, then died before admitting it.
    const created = await h.store.recordSubmission({
      bucket: h.bucket,
      submissionKey: 'lab/submissions/crashed_submit.json',
      etag: '0123456789abcdef',
      jobId: 'crashed',
      submittedAt: h.clock.now().toISOString(),
      configKey: 'lab/configs/config.yaml',
      instanceType: 'm5.xlarge',
      datasets: [
        { datasetKey: 'lab/inputs/a.bin', estimatedCostUsd: 0.064 },
        { datasetKey: 'lab/inputs/b.bin', estimatedCostUsd: 0.064 },
      ],
    });
    expect(created.kind).toBe('created');
    expect(await h.states('lab', 'crashed')).toEqual(['SUBMITTED', 'SUBMITTED']);

    expect((await runWatchdog(h.ctx, sources(h))).admitted).toBe(0);
    expect(h.queue.sent).toEqual([]);

    h.clock.advance(WATCHDOG_TIMING.admissionGraceMs + 1000);
    const found = await runWatchdog(h.ctx, sources(h));
    expect(found.admitted).toBe(1);
    expect(await h.states('lab', 'crashed')).toEqual(['INITIALIZING', 'INITIALIZING']);
    expect(h.queue.sentFor('crashed').map((m) => m.datasetIndex)).toEqual([0, 1]);
    expect(await h.certificate('lab', 'crashed')).toContain(
      'admitted by the watchdog after an interrupted submission',
    );
    expect((await runWatchdog(h.ctx, sources(h))).admitted).toBe(0);
    expect(h.queue.sentFor('crashed')).toHaveLength(2);
  });
});

/** Drift, as a lost release or a crash between acquire and launch would leave it. */
const forceRunningCount = async (h: Awaited<ReturnType<typeof newControl>>, value: number): Promise<void> => {
  while ((await h.store.counters.runningCount()) !== value) await h.store.counters.repairRunningCount(value);
};

describe('the running count', () => {
  test('drift either way is repaired from the live datasets, and stranded queued work starts', async () => {
    const h = await newControl(emulators, 'drift', { deployLimit: 2 });
    await submitJob(h, 'one');
    await submitJob(h, 'two');
    await submitJob(h, 'three', { launch: false });
    expect(await h.states('lab', 'three')).toEqual(['QUEUED']);

    // Too low: a third worker would start beyond DEPLOY_LIMIT. The watchdog repairs it before draining,
    // on its second look: the first may have counted while a slot was being taken.
    await forceRunningCount(h, 0);
    const first = await runWatchdog(h.ctx, sources(h));
    expect(first.runningRepairedFrom).toBeUndefined();
    expect(first.drained).toBe(0);
    const low = await runWatchdog(h.ctx, sources(h));
    expect(low.runningRepairedFrom).toBe(0);
    expect(low.drained).toBe(0);
    expect(await h.store.counters.runningCount()).toBe(2);
    expect(await h.states('lab', 'three')).toEqual(['QUEUED']);

    // Too high (a release was lost): queued work would wait forever. Repaired, then drained.
    await h.finishWorker('lab', 'one', 'one.bin', { status: 'SUCCESS', exit_code: 0 });
    expect(await h.states('lab', 'three')).toEqual(['INITIALIZING']);
    await h.deliverLaunches(); // launched, so its worker's report counts (only a launched dataset's does)
    await h.finishWorker('lab', 'two', 'two.bin', { status: 'SUCCESS', exit_code: 0 });
    expect(await h.store.counters.runningCount()).toBe(1);
    await forceRunningCount(h, 7);
    await submitJob(h, 'four', { launch: false });
    expect(await h.states('lab', 'four')).toEqual(['QUEUED']);
    await h.finishWorker('lab', 'three', 'three.bin', { status: 'SUCCESS', exit_code: 0 });
    expect(await h.states('lab', 'four')).toEqual(['QUEUED']);

    expect((await runWatchdog(h.ctx, sources(h))).runningRepairedFrom).toBeUndefined();
    const high = await runWatchdog(h.ctx, sources(h));
    expect(high.runningRepairedFrom).toBe(6);
    expect(high.drained).toBe(1);
    expect(await h.states('lab', 'four')).toEqual(['INITIALIZING']);
    expect(await h.store.counters.runningCount()).toBe(1);
    expect((await runWatchdog(h.ctx, sources(h))).runningRepairedFrom).toBeUndefined();
  });
});

describe('Batch job folders left on the analysis EFS', () => {
  const DIR = 'tx-lab-gone-0-a1-c0ffee01';

  /**
   * A batch dataset cancelled while its stages ran, whose later events were all lost: its folder is
   * recorded (as the batch launcher records it), the stage-in and analysis jobs known.
   */
  const cancelledWithFolder = async (label: string) => {
    const h = await newControl(emulators, label);
    const batch = new FakeBatch();
    h.launcher.script({ kind: 'launched', launcherId: 'run-1' });
    await submitJob(h, 'gone', { running: false });
    const ref = { group: 'lab', jobId: 'gone' };
    await h.store.efsFolders.recordJobFolder(ref, 0, DIR);
    await h.store.efsFolders.addJobFolderJobs(ref, 0, DIR, ['in-1', 'run-1']);
    const identity = { analysis: h.analysis, group: 'lab', jobId: 'gone', jobDir: DIR };
    batch.set({ ...identity, stage: 'in' }, 'in-1', 'SUCCEEDED', { startedAt: 1 });
    batch.set({ ...identity, stage: 'run', stageInJobId: 'in-1' }, 'run-1', 'RUNNING', { startedAt: 1 });
    await h.put('lab/submissions/gone.cancel.json', '{}');
    await processCancel(h.ctx, 'lab/submissions/gone.cancel.json');
    const sweep = () => runWatchdog(h.ctx, sources(h, { batch }));
    return { h, batch, identity, sweep };
  };

  test('a stage left running after its dataset ended is stopped; then the folder gets a clean-up', async () => {
    const { h, batch, identity, sweep } = await cancelledWithFolder('efs-running');
    // Its TerminateJob was lost too: the analysis job still runs.
    expect((await sweep()).efsCleanups).toBe(0);
    h.clock.advance(EFS_FOLDER_TIMING.sweepAfterMs - 1000);
    expect(await sweep()).toMatchObject({ efsCleanups: 0, batchJobsStopped: 0 });
    expect(batch.stopped).toEqual([]);

    h.clock.advance(2000);
    expect(await sweep()).toMatchObject({ efsCleanups: 0, batchJobsStopped: 1 });
    expect(batch.stopped).toEqual(['run-1']);
    expect(await h.certificate('lab', 'gone')).toContain(
      'Batch job run-1 (analysis) was still RUNNING after the dataset ended (CANCELLED): stopped by the watchdog',
    );
    // What Batch shows as the job's statusReason says who stopped it.
    expect(batch.stopReasons.get('run-1')).toBe(SWEEP_STOP_REASON);
    expect(SWEEP_STOP_REASON).toMatch(/watchdog/);

    // Stopped, and its end event lost as well: the next sweep removes the folder.
    batch.set({ ...identity, stage: 'run', stageInJobId: 'in-1' }, 'run-1', 'FAILED', { startedAt: 1 });
    expect((await sweep()).efsCleanups).toBe(1);
    expect(batch.cleanups).toEqual([
      {
        job: { analysis: h.analysis, group: 'lab', jobId: 'gone', datasetIndex: 0 },
        jobDir: DIR,
        attempt: 1,
        image: 'analysis',
      },
    ]);
    expect(await h.certificate('lab', 'gone')).toContain(
      `the dataset ended (CANCELLED) and nothing removed it: clean-up job clean-1 submitted to remove the job folder ${DIR}`,
    );
  });

  test('the sweep submits each clean-up once, even when two runs overlap', async () => {
    const { h, batch, identity, sweep } = await cancelledWithFolder('efs-once');
    batch.set({ ...identity, stage: 'run', stageInJobId: 'in-1' }, 'run-1', 'FAILED', { startedAt: 1 });
    h.clock.advance(EFS_FOLDER_TIMING.sweepAfterMs + 1000);
    const [a, b] = await Promise.all([sweep(), sweep()]);
    expect((a.efsCleanups ?? 0) + (b.efsCleanups ?? 0)).toBe(1);
    expect(batch.cleanups).toHaveLength(1);
    // Right after its claim the clean-up is left to its own events.
    h.clock.advance(60 * 1000);
    expect((await sweep()).efsCleanups).toBe(0);
    // Running after the wait: a clean-up (or stage-out) is never stopped, nor doubled.
    batch.set({ ...identity, stage: 'out', cleanupOnly: true }, 'clean-1', 'RUNNING', { startedAt: 2 });
    h.clock.advance(EFS_FOLDER_TIMING.sweepAfterMs);
    expect(await sweep()).toMatchObject({ efsCleanups: 0, batchJobsStopped: 0 });
    expect(batch.stopped).toEqual([]);
  });

  test('clean-ups whose events were lost are retried on alternating images, then given up with one line', async () => {
    const { h, batch, identity, sweep } = await cancelledWithFolder('efs-giveup');
    batch.set({ ...identity, stage: 'run', stageInJobId: 'in-1' }, 'run-1', 'FAILED', { startedAt: 1 });
    for (let i = 1; i <= CLEANUP_TRIES; i++) {
      h.clock.advance(EFS_FOLDER_TIMING.sweepAfterMs + 1000);
      expect((await sweep()).efsCleanups).toBe(1);
      batch.set({ ...identity, stage: 'out', cleanupOnly: true }, `clean-${i}`, 'FAILED', {
        statusReason: 'CannotPullContainerError',
      });
    }
    expect(batch.cleanups.map((c) => c.image)).toEqual(['analysis', 'staging', 'analysis']);
    h.clock.advance(EFS_FOLDER_TIMING.sweepAfterMs + 1000);
    expect(await sweep()).toMatchObject({ efsCleanups: 0, efsFoldersAbandoned: 1 });
    h.clock.advance(EFS_FOLDER_TIMING.sweepAfterMs + 1000);
    expect(await sweep()).toMatchObject({ efsCleanups: 0, efsFoldersAbandoned: 0 });
    expect(batch.cleanups).toHaveLength(CLEANUP_TRIES);
    const lines = ((await h.certificate('lab', 'gone')) ?? '')
      .split('\n')
      .filter((line) => line.includes('is still on the analysis EFS'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`An operator should remove /lab/jobs/${DIR} from the analysis file system`);
  });

  test('a clean-up that could not be submitted is tried again by a later sweep', async () => {
    const { h, batch, identity, sweep } = await cancelledWithFolder('efs-submit');
    batch.set({ ...identity, stage: 'run', stageInJobId: 'in-1' }, 'run-1', 'FAILED', { startedAt: 1 });
    h.clock.advance(EFS_FOLDER_TIMING.sweepAfterMs + 1000);
    batch.failNextCleanup = true;
    expect((await sweep()).efsCleanups).toBe(0);
    h.clock.advance(EFS_FOLDER_TIMING.sweepAfterMs + 1000);
    expect((await sweep()).efsCleanups).toBe(1);
    expect(batch.cleanups).toHaveLength(1);
  });

  test('folders of a dataset still running, or known removed, are left alone', async () => {
    const h = await newControl(emulators, 'efs-live');
    const batch = new FakeBatch();
    await submitJob(h, 'live');
    const ref = { group: 'lab', jobId: 'live' };
    await h.store.efsFolders.recordJobFolder(ref, 0, 'live-folder');
    await h.store.efsFolders.recordJobFolder(ref, 0, 'removed-folder');
    await h.store.efsFolders.clearJobFolder(ref, 0, 'removed-folder');
    expect((await h.dataset('lab', 'live')).efsFolders).toEqual(['live-folder']);
    h.clock.advance(2 * EFS_FOLDER_TIMING.sweepAfterMs);
    await runWatchdog(h.ctx, sources(h, { batch }));
    expect(batch.cleanups).toEqual([]);
    expect(batch.stopped).toEqual([]);
  });
});
