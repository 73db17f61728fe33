/**
 * Batch job state changes through the control plane (lib/control/batch-reconcile.ts), against
 * s3rver and dynalite, with Batch itself replaced by a recording fake: which events move the
 * dataset, when the stage-out is submitted (once, whatever the outcome), what it is told, and what
 * the user reads when a stage fails or the queue cancels a job for lack of capacity.
 */
import { isBatchJobStateEvent, onBatchJobState } from '../../lib/control/batch-reconcile';
import { processCancel } from '../../lib/control/cancel-request';
import { S3Objects } from '../../lib/control/s3-objects';
import type { BatchJobStatus, BatchJobView } from '../../lib/launch/batch-api';
import { type BatchJobIdentity, CLEANUP_TRIES } from '../../lib/launch/batch-stages';
import { analysisLogKey } from '../../lib/layout';
import fixture from '../fixtures/batch-job-state-change.json';
import {
  type ControlEmulators,
  type ControlHarness,
  newControl,
  startControlEmulators,
  submitJson,
} from '../support/control-harness';
import { detailOf, FakeBatch, FakeLogs } from '../support/fake-batch';

let emulators: ControlEmulators;

beforeAll(async () => {
  emulators = await startControlEmulators();
});

afterAll(async () => {
  await emulators.stop();
});

const STREAM = 'ncaas-x_lab-run/default/0a1b2c3d';

const JOB_DIR = 'tx-lab-ts-0-a1-c0ffee01';

/** A job of one launch, as Batch reports it; `set` also makes DescribeJobs return it. */
const jobOf = (
  batch: FakeBatch,
  h: ControlHarness,
  ts: string,
  stage: BatchJobIdentity['stage'],
  id: string,
  status: BatchJobStatus,
  extra: Partial<BatchJobView> & { jobDir?: string; stageInJobId?: string; spot?: boolean } = {},
): BatchJobView => {
  const { jobDir = JOB_DIR, stageInJobId, spot, ...rest } = extra;
  return batch.set(
    {
      analysis: h.analysis,
      group: 'lab',
      jobId: ts,
      stage,
      jobDir,
      ...(stageInJobId ? { stageInJobId } : {}),
      ...(spot ? { spot } : {}),
    },
    id,
    status,
    rest,
  );
};

/** A clean-up job of a folder (a stage-out job with `ncaasCleanupOnly`). */
const cleanupOf = (
  batch: FakeBatch,
  h: ControlHarness,
  ts: string,
  id: string,
  status: BatchJobStatus,
  extra: Partial<BatchJobView> & { jobDir?: string } = {},
): BatchJobView => {
  const { jobDir = JOB_DIR, ...rest } = extra;
  return batch.set(
    { analysis: h.analysis, group: 'lab', jobId: ts, stage: 'out', jobDir, cleanupOnly: true },
    id,
    status,
    rest,
  );
};

/** A submitted, launched job whose analysis job id is `run-1` (stage-in `in-1`). */
const launched = async (label: string, ts = 'ts:1.5', config = 'threshold: 3\n') => {
  const h = await newControl(emulators, label);
  const batch = new FakeBatch();
  const logs = new FakeLogs();
  await h.put('lab/inputs/session1.zip', 'data');
  await h.put('lab/configs/config.yaml', config);
  await h.submit('lab', ts, submitJson('lab', ts, 'lab/inputs/session1.zip'));
  h.launcher.script({ kind: 'launched', launcherId: 'run-1' });
  await h.deliverLaunches();
  // What the batch launcher records before its stage-in can create the folder (its own test:
  // test/launch/batch-launcher.test.ts).
  await h.store.efsFolders.recordJobFolder({ group: 'lab', jobId: ts }, 0, JOB_DIR);
  const event = async (view: BatchJobView) =>
    onBatchJobState(h.ctx, batch, logs, detailOf(view), h.clock.now().toISOString());
  const logFile = () => h.read(analysisLogKey(h.resultFolder('lab', ts), 'session1.zip'));
  return { h, batch, logs, ts, event, logFile };
};

const STARTED = 1_763_726_400_000;

test('certificate lines keep the order things happened in, whatever order their events arrive in', async () => {
  const { h, batch, ts, event } = await launched('order');
  const t0 = h.clock.now().getTime();
  jobOf(batch, h, ts, 'in', 'in-1', 'SUCCEEDED', {
    startedAt: t0 + 1_000,
    stoppedAt: t0 + 2_000,
    exitCode: 0,
  });
  // The analysis ran at +3.2 s and failed at +3.7 s (the same second); its events arrive in reverse.
  const failed = jobOf(batch, h, ts, 'run', 'run-1', 'FAILED', {
    startedAt: t0 + 3_200,
    stoppedAt: t0 + 3_700,
    exitCode: 3,
  });
  h.clock.advanceSeconds(30);
  await event(failed);
  await event({ ...failed, status: 'RUNNING', exitCode: undefined, stoppedAt: undefined } as BatchJobView);
  const lines = (await h.certificateLines('lab', ts)).map((l) => l.text);
  const running = lines.findIndex((l) => l.includes('Batch analysis job run-1 is running'));
  const ended = lines.findIndex((l) => /Batch analysis job run-1 (FAILED|failed|exited)/.test(l));
  expect(running).toBeGreaterThanOrEqual(0);
  expect(ended).toBeGreaterThan(running);
});

describe('Batch job state changes drive the same job rows and status files as EC2', () => {
  test('the fixture is a Batch Job State Change event', () => {
    expect(isBatchJobStateEvent(fixture)).toBe(true);
    expect(isBatchJobStateEvent({ source: 'aws.ec2', detail: { jobId: 'x' } })).toBe(false);
  });

  test('stage-in running: IN PROGRESS; analysis running: the status names its live log stream', async () => {
    const { h, batch, ts, event } = await launched('running');
    expect(await event(jobOf(batch, h, ts, 'in', 'in-1', 'RUNNABLE'))).toBe('ignored in RUNNABLE');
    expect(await event(jobOf(batch, h, ts, 'in', 'in-1', 'RUNNING', { startedAt: STARTED }))).toBe(
      'IN PROGRESS',
    );
    expect(await h.states('lab', ts)).toEqual(['IN PROGRESS']);
    const run = jobOf(batch, h, ts, 'run', 'run-1', 'RUNNING', {
      stageInJobId: 'in-1',
      startedAt: STARTED,
      logStreamName: 'mock-analysis/default/0a1b2c3d',
    });
    expect(await event(run)).toBe('IN PROGRESS (analysis running)');
    expect(await h.status('lab', ts, 'session1.zip')).toMatchObject({
      status: 'IN PROGRESS',
      reason: [expect.stringContaining('stream mock-analysis/default/0a1b2c3d')],
      instance: 'run-1',
    });
    expect(await h.certificate('lab', ts)).toMatch(/Batch stage-in job in-1 is running/);
  });

  test('both stages ended: one stage-out, whichever event comes second, duplicates included', async () => {
    const { h, batch, ts, event } = await launched('succeeded');
    const stageIn = jobOf(batch, h, ts, 'in', 'in-1', 'SUCCEEDED', { startedAt: STARTED, exitCode: 0 });
    jobOf(batch, h, ts, 'run', 'run-1', 'RUNNING', { stageInJobId: 'in-1', startedAt: STARTED });
    expect(await event(stageIn)).toBe('waiting for the analysis job to end');
    const ended = jobOf(batch, h, ts, 'run', 'run-1', 'SUCCEEDED', {
      stageInJobId: 'in-1',
      startedAt: STARTED,
      exitCode: 0,
      logStreamName: 'mock-analysis/default/0a1b2c3d',
    });
    expect(await event(ended)).toBe('stage-out out-1 submitted');
    expect(await event(ended)).toBe('the stage-out of this launch is already under way');
    expect(await event(stageIn)).toBe('the stage-out of this launch is already under way');
    expect(batch.stageOuts).toHaveLength(1);
    const [out] = batch.stageOuts;
    expect(out).toMatchObject({
      jobDir: JOB_DIR,
      attempt: 1,
      analysisJobId: 'run-1',
      logStreamName: 'mock-analysis/default/0a1b2c3d',
      job: {
        analysis: h.analysis,
        group: 'lab',
        jobId: ts,
        datasetKey: 'lab/inputs/session1.zip',
        configKey: 'lab/configs/config.yaml',
        resultFolder: h.resultFolder('lab', ts),
        launcher: 'batch',
      },
    });
    // The exit code in the job folder decides: nothing is forced.
    expect(out.status).toBeUndefined();
    expect(out.reason).toBeUndefined();
    // The dataset waits for the stage-out's final report.
    expect(await h.states('lab', ts)).toEqual(['INITIALIZING']);
  });

  test('the stage-out final report decides, as an EC2 worker report does', async () => {
    const { h, batch, ts, event } = await launched('report');
    await h.writeFinalReport('lab', ts, 'session1.zip', {
      status: 'SUCCESS',
      exit_code: 0,
      reason: 'the analysis finished',
    });
    expect(await event(jobOf(batch, h, ts, 'out', 'out-1', 'SUCCEEDED', { startedAt: STARTED }))).toBe(
      'SUCCESS',
    );
    expect(await h.states('lab', ts)).toEqual(['SUCCESS']);
    expect(await h.end('lab', ts)).toContain('1 SUCCESS');
  });

  test('a stage-out that failed without a report fails the dataset, naming the stage and why', async () => {
    const { h, batch, ts, event } = await launched('outfail');
    const out = jobOf(batch, h, ts, 'out', 'out-1', 'FAILED', {
      statusReason: 'CannotPullContainerError: pull access denied',
    });
    expect(await event(out)).toBe('FAILED');
    expect((await h.dataset('lab', ts)).reason).toMatch(
      /^stage-out failed: FAILED \(CannotPullContainerError/,
    );
    expect(await h.status('lab', ts, 'session1.zip')).toMatchObject({ status: 'FAILED' });
  });

  test('a failed stage-in: the stage-out still runs (logs, clean-up) and is told which stage failed', async () => {
    const { h, batch, ts, event } = await launched('infail');
    jobOf(batch, h, ts, 'run', 'run-1', 'FAILED', {
      stageInJobId: 'in-1',
      statusReason: 'Dependent Job failed',
    });
    const stageIn = jobOf(batch, h, ts, 'in', 'in-1', 'FAILED', {
      startedAt: STARTED,
      exitCode: 1,
      statusReason: 'Essential container in task exited',
    });
    expect(await event(stageIn)).toBe('stage-out out-1 submitted');
    expect(batch.stageOuts[0]).toMatchObject({
      reason: 'stage-in failed: FAILED (Essential container in task exited) exit code 1',
    });
    expect(batch.stageOuts[0].status).toBeUndefined();
  });

  test('the queue cancels a stage-in stuck RUNNABLE: FAILED with a capacity message, no container needed', async () => {
    const { h, batch, ts, event } = await launched('capacity');
    const reason =
      'Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY';
    jobOf(batch, h, ts, 'in', 'in-1', 'FAILED', { statusReason: reason });
    const run = jobOf(batch, h, ts, 'run', 'run-1', 'FAILED', {
      stageInJobId: 'in-1',
      statusReason: 'Dependent Job failed',
    });
    expect(await event(run)).toBe('FAILED');
    expect(batch.stageOuts).toEqual([]);
    const dataset = await h.dataset('lab', ts);
    expect(dataset.reason).toMatch(/^no compute capacity: the stage-in job waited in the Batch queue/);
    expect(dataset.reason).toContain('CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY');
    expect(await h.status('lab', ts, 'session1.zip')).toMatchObject({ status: 'FAILED' });
    // The user is told.
    expect(h.notifications.kindsFor(ts)).toContain('FAIL');
  });

  test('cancelled while the analysis ran: the stage-out is told CANCELLED and still cleans up', async () => {
    const { h, batch, ts, event } = await launched('cancel');
    jobOf(batch, h, ts, 'in', 'in-1', 'SUCCEEDED', { startedAt: STARTED, exitCode: 0 });
    await h.put(`lab/submissions/${ts}.cancel.json`, '{}');
    await processCancel(h.ctx, `lab/submissions/${ts}.cancel.json`);
    // The launcher was asked to stop the analysis job (TerminateJob, via BatchLauncher.terminate).
    expect(h.launcher.terminations).toEqual(['run-1']);
    const run = jobOf(batch, h, ts, 'run', 'run-1', 'FAILED', {
      stageInJobId: 'in-1',
      startedAt: STARTED,
      statusReason: 'ncaas: stopped by the control plane (cancel, deadline or orphan)',
    });
    expect(await event(run)).toBe('stage-out out-1 submitted');
    expect(batch.stageOuts[0]).toMatchObject({
      status: 'CANCELLED',
      reason: expect.stringContaining('cancelled'),
    });
    expect(await h.states('lab', ts)).toEqual(['CANCELLED']);
  });

  test('the analysis stopped at its timeout: the stage-out reports TIMED_OUT', async () => {
    const { h, batch, ts, event } = await launched('timeout');
    jobOf(batch, h, ts, 'in', 'in-1', 'SUCCEEDED', { startedAt: STARTED, exitCode: 0 });
    const run = jobOf(batch, h, ts, 'run', 'run-1', 'FAILED', {
      stageInJobId: 'in-1',
      startedAt: STARTED,
      statusReason: 'Job attempt duration exceeded timeout',
    });
    await event(run);
    expect(batch.stageOuts[0]).toMatchObject({ status: 'TIMED_OUT' });
  });

  test('a Spot reclaim under the analysis: the stage-out reports INTERRUPTED, and that report applies', async () => {
    const { h, batch, ts, event } = await launched('spot');
    jobOf(batch, h, ts, 'in', 'in-1', 'SUCCEEDED', { startedAt: STARTED, exitCode: 0 });
    const run = jobOf(batch, h, ts, 'run', 'run-1', 'FAILED', {
      stageInJobId: 'in-1',
      startedAt: STARTED,
      statusReason: 'Host EC2 (instance i-0123456789abcdef0) terminated.',
    });
    await event(run);
    expect(batch.stageOuts[0]).toMatchObject({ status: 'INTERRUPTED' });
    await h.writeFinalReport('lab', ts, 'session1.zip', {
      status: 'INTERRUPTED',
      reason: batch.stageOuts[0].reason ?? '',
    });
    expect(await event(jobOf(batch, h, ts, 'out', 'out-1', 'SUCCEEDED', { startedAt: STARTED }))).toBe(
      'INTERRUPTED',
    );
    expect((await h.dataset('lab', ts)).reason).toContain('taken back');
  });

  test('a stage-in whose launch was replaced (another job folder) is cleaned up, not reported', async () => {
    const { h, batch, ts, event } = await launched('orphan');
    jobOf(batch, h, ts, 'run', 'run-1', 'RUNNING', { stageInJobId: 'in-1', startedAt: STARTED });
    await h.store.efsFolders.recordJobFolder({ group: 'lab', jobId: ts }, 0, 'tx-lab-ts-0-a1-deadbeef');
    const orphan = jobOf(batch, h, ts, 'in', 'in-0', 'SUCCEEDED', {
      jobDir: 'tx-lab-ts-0-a1-deadbeef',
      startedAt: STARTED,
      exitCode: 0,
    });
    expect(await event(orphan)).toMatch(/^clean-up job clean-1 submitted/);
    expect(await event(orphan)).toBe('its clean-up is already under way');
    expect(batch.stageOuts).toEqual([]);
    // Its image just ran: the staging image first.
    expect(batch.cleanups).toEqual([
      expect.objectContaining({ jobDir: 'tx-lab-ts-0-a1-deadbeef', image: 'staging' }),
    ]);
    // Its clean-up job's own events change nothing of the dataset; the folder is known removed.
    const cleanup = cleanupOf(batch, h, ts, 'clean-1', 'SUCCEEDED', { jobDir: 'tx-lab-ts-0-a1-deadbeef' });
    expect(await event(cleanup)).toBe('job folder tx-lab-ts-0-a1-deadbeef removed');
    expect(await h.states('lab', ts)).toEqual(['INITIALIZING']);
    expect((await h.dataset('lab', ts)).efsFolders).toEqual([JOB_DIR]);
  });

  test('a failed stage-out submission gives the claim back, so the next delivery submits it', async () => {
    const { h, batch, ts, event } = await launched('retry');
    jobOf(batch, h, ts, 'in', 'in-1', 'SUCCEEDED', { startedAt: STARTED, exitCode: 0 });
    const run = jobOf(batch, h, ts, 'run', 'run-1', 'SUCCEEDED', {
      stageInJobId: 'in-1',
      startedAt: STARTED,
      exitCode: 0,
    });
    batch.failNextSubmit = true;
    await expect(event(run)).rejects.toThrow('TooManyRequestsException');
    expect(await event(run)).toBe('stage-out out-1 submitted');
  });

  test('jobs of another analysis, or not submitted by ncaas, are ignored', async () => {
    const { h, batch, logs, ts, event } = await launched('others');
    const foreign = jobOf(batch, h, ts, 'run', 'run-9', 'SUCCEEDED', { stageInJobId: 'in-9' });
    expect(
      await event({ ...foreign, parameters: { ...foreign.parameters, ncaasAnalysis: 'someone-else' } }),
    ).toBe('Batch job of analysis someone-else');
    expect(await onBatchJobState(h.ctx, batch, logs, fixture.detail, fixture.time)).toMatch(
      /was not submitted by ncaas/,
    );
    expect(batch.stageOuts).toEqual([]);
  });
});

describe('the job folder on EFS is removed whatever the outcome, by the system', () => {
  const folderEntries = async (h: ControlHarness) =>
    (await h.store.efsFolders.listJobFolders()).map(({ folder }) => folder.jobDir);

  test('a stage-out that SUCCEEDED removed the folder: its record is cleared', async () => {
    const { h, batch, ts, event } = await launched('out-ok');
    expect((await h.dataset('lab', ts)).efsFolders).toEqual([JOB_DIR]);
    jobOf(batch, h, ts, 'in', 'in-1', 'SUCCEEDED', { startedAt: STARTED, exitCode: 0 });
    await event(
      jobOf(batch, h, ts, 'run', 'run-1', 'SUCCEEDED', { stageInJobId: 'in-1', startedAt: STARTED }),
    );
    // The stage-out is recorded as a job of the folder: the sweep leaves the folder to it while it runs.
    expect(
      (await h.store.efsFolders.getJobFolder({ group: 'lab', jobId: ts }, 0, JOB_DIR))?.batchJobs,
    ).toContain('out-1');
    await h.writeFinalReport('lab', ts, 'session1.zip', { status: 'SUCCESS', exit_code: 0 });
    expect(await event(jobOf(batch, h, ts, 'out', 'out-1', 'SUCCEEDED', { startedAt: STARTED }))).toBe(
      'SUCCESS',
    );
    expect((await h.dataset('lab', ts)).efsFolders).toEqual([]);
    expect(await folderEntries(h)).toEqual([]);
    expect(batch.cleanups).toEqual([]);
  });

  test('a stage-out whose image could not be pulled: FAILED, and a clean-up on the analysis image removes the folder', async () => {
    const { h, batch, ts, event } = await launched('out-pull');
    const out = jobOf(batch, h, ts, 'out', 'out-1', 'FAILED', {
      statusReason: 'CannotPullContainerError: pull access denied for staging',
    });
    expect(await event(out)).toBe('FAILED');
    const dataset = await h.dataset('lab', ts);
    expect(dataset.reason).toBe(
      'stage-out failed: FAILED (CannotPullContainerError: pull access denied for staging); the results and logs could not be uploaded',
    );
    expect(batch.cleanups).toEqual([
      {
        job: { analysis: h.analysis, group: 'lab', jobId: ts, datasetIndex: 0 },
        jobDir: JOB_DIR,
        attempt: 1,
        image: 'analysis',
      },
    ]);
    expect(await h.certificate('lab', ts)).toContain(
      `stage-out job out-1 FAILED (CannotPullContainerError: pull access denied for staging): clean-up job clean-1 submitted to remove the job folder ${JOB_DIR} from the analysis EFS (try 1 of ${CLEANUP_TRIES}, on the analysis image)`,
    );
    // The same event again (EventBridge delivers at least once): no second clean-up.
    expect(await event(out)).toBe('unchanged (FAILED)');
    expect(batch.cleanups).toHaveLength(1);
    // Still recorded until the clean-up is known to have succeeded.
    expect(await folderEntries(h)).toEqual([JOB_DIR]);
    expect(await event(cleanupOf(batch, h, ts, 'clean-1', 'RUNNING', { startedAt: STARTED }))).toBe(
      'clean-up job clean-1 RUNNING',
    );
    expect(await event(cleanupOf(batch, h, ts, 'clean-1', 'SUCCEEDED', { startedAt: STARTED }))).toBe(
      `job folder ${JOB_DIR} removed`,
    );
    expect((await h.dataset('lab', ts)).efsFolders).toEqual([]);
    expect(await folderEntries(h)).toEqual([]);
    expect(await h.certificate('lab', ts)).toContain(
      `the job folder ${JOB_DIR} was removed from the analysis EFS (clean-up job clean-1)`,
    );
    expect(await h.states('lab', ts)).toEqual(['FAILED']);
  });

  test('a failed clean-up is tried again on the other image, at most CLEANUP_TRIES times, then the operator is told', async () => {
    const { h, batch, ts, event } = await launched('cleanup-fails');
    await event(
      jobOf(batch, h, ts, 'out', 'out-1', 'FAILED', { statusReason: 'Host EC2 (instance i-0) terminated.' }),
    );
    expect(batch.cleanups.map((c) => c.image)).toEqual(['analysis']);

    const first = cleanupOf(batch, h, ts, 'clean-1', 'FAILED', {
      statusReason: 'CannotPullContainerError: x',
    });
    expect(await event(first)).toBe('clean-up job clean-2 submitted');
    // A duplicate of an earlier clean-up's failure does not start another one.
    expect(await event(first)).toBe('a later clean-up is under way');
    const second = cleanupOf(batch, h, ts, 'clean-2', 'FAILED', {
      statusReason: 'Essential container in task exited',
    });
    expect(await event(second)).toBe('clean-up job clean-3 submitted');
    expect(batch.cleanups.map((c) => c.image)).toEqual(['analysis', 'staging', 'analysis']);

    const third = cleanupOf(batch, h, ts, 'clean-3', 'FAILED', {
      statusReason: 'Essential container in task exited',
    });
    expect(await event(third)).toBe(`given up: /lab/jobs/${JOB_DIR}`);
    expect(await event(third)).toBe('already given up');
    expect(batch.cleanups).toHaveLength(CLEANUP_TRIES);
    const certificate = (await h.certificate('lab', ts)) ?? '';
    const giveUp = certificate.split('\n').filter((line) => line.includes('is still on the analysis EFS'));
    expect(giveUp).toHaveLength(1);
    expect(giveUp[0]).toContain(
      `the job folder ${JOB_DIR} is still on the analysis EFS: ${CLEANUP_TRIES} clean-up jobs did not remove it (last: clean-up job clean-3 FAILED (Essential container in task exited)). An operator should remove /lab/jobs/${JOB_DIR} from the analysis file system`,
    );
    expect(h.log.entries).toContainEqual(
      expect.objectContaining({
        level: 'error',
        message: 'a job folder could not be removed from the analysis EFS',
      }),
    );
    // It is still recorded as on EFS (it is), and the sweep leaves it alone from now on.
    expect((await h.dataset('lab', ts)).efsFolders).toEqual([JOB_DIR]);
    expect(
      (await h.store.efsFolders.getJobFolder({ group: 'lab', jobId: ts }, 0, JOB_DIR))?.abandonedAt,
    ).toBeDefined();
  });

  test('a clean-up that cannot be submitted does not fail the event: the claim stays for the sweep', async () => {
    const { h, batch, ts, event } = await launched('cleanup-submit');
    batch.failNextCleanup = true;
    const out = jobOf(batch, h, ts, 'out', 'out-1', 'FAILED', { statusReason: 'Task failed to start' });
    expect(await event(out)).toBe('FAILED');
    expect(batch.cleanups).toEqual([]);
    const folder = await h.store.efsFolders.getJobFolder({ group: 'lab', jobId: ts }, 0, JOB_DIR);
    expect(folder).toMatchObject({ cleanups: 1, jobDir: JOB_DIR });
    expect(folder?.lastCleanup).toBeUndefined();
    expect(h.log.entries).toContainEqual(
      expect.objectContaining({ level: 'warn', message: 'a clean-up job could not be submitted' }),
    );
  });

  test('a stage-in that never started created no folder: the record is cleared, no clean-up', async () => {
    const { h, batch, ts, event } = await launched('never-started');
    jobOf(batch, h, ts, 'in', 'in-1', 'FAILED', { statusReason: 'CannotPullContainerError: staging' });
    await event(
      jobOf(batch, h, ts, 'run', 'run-1', 'FAILED', {
        stageInJobId: 'in-1',
        statusReason: 'Dependent Job failed',
      }),
    );
    expect(await h.states('lab', ts)).toEqual(['FAILED']);
    expect((await h.dataset('lab', ts)).efsFolders).toEqual([]);
    expect(await folderEntries(h)).toEqual([]);
    expect(batch.cleanups).toEqual([]);
  });
});

describe('Spot with an on-demand fallback: a launch Spot capacity failed is launched again on on-demand, once', () => {
  const RECLAIMED = 'Host EC2 (instance i-0123456789abcdef0) terminated.';
  const NO_CAPACITY =
    'Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY';

  /** A Spot launch whose stage-in ran and whose analysis Spot took back. */
  const reclaimed = async (label: string, config?: string) => {
    const launch = await launched(label, undefined, config);
    const { h, batch, ts } = launch;
    batch.onDemand = [];
    jobOf(batch, h, ts, 'in', 'in-1', 'SUCCEEDED', { startedAt: STARTED, exitCode: 0, spot: true });
    const run = jobOf(batch, h, ts, 'run', 'run-1', 'FAILED', {
      stageInJobId: 'in-1',
      startedAt: STARTED,
      statusReason: RECLAIMED,
      spot: true,
    });
    return { ...launch, run };
  };

  test('the instance taken back: the old folder cleaned up, the dataset relaunched, the user told', async () => {
    const { h, batch, ts, event, run } = await reclaimed('spot-reclaim');
    expect(await event(run)).toBe('relaunched on on-demand capacity as od-run-1');
    expect(batch.cleanups).toEqual([expect.objectContaining({ jobDir: JOB_DIR })]);
    expect(batch.stageOuts).toEqual([]);
    expect(batch.relaunches).toEqual([
      expect.objectContaining({
        attempt: 1,
        instanceType: 'm5.xlarge',
        job: expect.objectContaining({ jobId: ts, datasetKey: 'lab/inputs/session1.zip', launcher: 'batch' }),
      }),
    ]);
    const dataset = await h.dataset('lab', ts);
    expect(dataset).toMatchObject({ launcherId: 'od-run-1', attempt: 1 });
    expect(dataset.state).not.toBe('INTERRUPTED');
    expect(await h.status('lab', ts, 'session1.zip')).toMatchObject({
      reason: ['Spot took the instance back: relaunched on on-demand capacity'],
      instance: 'od-run-1',
    });
    expect(await h.certificate('lab', ts)).toContain(
      'relaunched on on-demand capacity: Batch analysis job od-run-1',
    );
    // The same event again, and the replaced launch's stage-in: nothing more is submitted.
    expect(await event(run)).toMatch(/replaced launch|already under way/);
    expect(await event(batch.jobs.get('in-1') as BatchJobView)).toMatch(/already under way/);
    expect(batch.relaunches).toHaveLength(1);
    expect(batch.cleanups).toHaveLength(1);
    expect(batch.stageOuts).toEqual([]);
  });

  test("the relaunched worker gets the config's estimates, as the first launch did", async () => {
    const { h, batch, event, run } = await reclaimed('spot-estimates', '__duration__: 30\nthreshold: 3\n');
    expect(await event(run)).toBe('relaunched on on-demand capacity as od-run-1');
    expect(h.launcher.launches[0].job.durationEstimateMinutes).toBe(30);
    expect(batch.relaunches[0].job).toEqual({ ...h.launcher.launches[0].job, launcher: 'batch' });
  });

  test('a relaunch Batch did not take (throttled) is given back, so the retried event relaunches', async () => {
    const { h, batch, ts, event, run } = await reclaimed('spot-retry');
    batch.onDemand = [{ kind: 'retry', reason: 'AWS Batch did not take the stage-in job (Throttling)' }];
    await expect(event(run)).rejects.toThrow('Throttling');
    expect(await event(run)).toBe('relaunched on on-demand capacity as od-run-2');
    expect((await h.dataset('lab', ts)).launcherId).toBe('od-run-2');
    expect(batch.cleanups).toHaveLength(1);
  });

  test('a relaunch that cannot work fails the dataset with both reasons', async () => {
    const { h, batch, ts, event, run } = await reclaimed('spot-refused');
    batch.onDemand = [{ kind: 'failed', reason: 'AWS Batch refused the stage-in job (ClientException)' }];
    expect(await event(run)).toBe('FAILED (on-demand relaunch failed)');
    const dataset = await h.dataset('lab', ts);
    expect(dataset.state).toBe('FAILED');
    expect(dataset.reason).toContain('the instance running the analysis was taken back');
    expect(dataset.reason).toContain('the relaunch on on-demand capacity failed: AWS Batch refused');
  });

  test('no Spot capacity for the stage-in: relaunched, nothing to clean up (no container ran)', async () => {
    const { h, batch, ts, event } = await launched('spot-none');
    batch.onDemand = [];
    jobOf(batch, h, ts, 'in', 'in-1', 'FAILED', { statusReason: NO_CAPACITY, spot: true });
    const run = jobOf(batch, h, ts, 'run', 'run-1', 'FAILED', {
      stageInJobId: 'in-1',
      statusReason: 'Dependent Job failed',
      spot: true,
    });
    expect(await event(run)).toBe('relaunched on on-demand capacity as od-run-1');
    expect(batch.stageOuts).toEqual([]);
    expect(batch.cleanups).toEqual([]);
    expect(await h.certificate('lab', ts)).toContain('no Spot capacity');
  });

  test.each([
    ['a job of the on-demand queue', RECLAIMED, false, true],
    ['a stack without Spot', RECLAIMED, true, false],
    [
      'a job no environment can fit (not a capacity matter)',
      'Canceled by JobStateTimeLimit action due to reason: MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT',
      true,
      true,
    ],
  ])('no fallback for %s: the launch ends as before', async (_, reason, spot, fallback) => {
    const { h, batch, ts, event } = await launched(
      `spot-no-${String(spot)}-${String(fallback)}-${reason.length}`,
    );
    if (fallback) batch.onDemand = [];
    jobOf(batch, h, ts, 'in', 'in-1', 'SUCCEEDED', { startedAt: STARTED, exitCode: 0, spot });
    const run = jobOf(batch, h, ts, 'run', 'run-1', 'FAILED', {
      stageInJobId: 'in-1',
      startedAt: STARTED,
      statusReason: reason,
      spot,
    });
    expect(await event(run)).toMatch(/^stage-out \S+ submitted$/);
    expect(batch.relaunches).toEqual([]);
    expect(batch.stageOuts).toEqual([
      expect.objectContaining({ status: expect.stringMatching(/INTERRUPTED|FAILED/) }),
    ]);
    expect((await h.dataset('lab', ts)).launcherId).toBe('run-1');
  });
});

describe("the analysis container's log stream is copied into logs/ when the analysis has ended", () => {
  /** Stage-in succeeded, analysis ended with `status`; its container wrote to STREAM. */
  const analysisEnded = async (label: string, status: BatchJobStatus, extra: Partial<BatchJobView> = {}) => {
    const launch = await launched(label);
    const { h, batch, ts } = launch;
    jobOf(batch, h, ts, 'in', 'in-1', 'SUCCEEDED', { startedAt: STARTED, exitCode: 0 });
    const run = jobOf(batch, h, ts, 'run', 'run-1', status, {
      stageInJobId: 'in-1',
      startedAt: STARTED,
      logStreamName: STREAM,
      ...extra,
    });
    return { ...launch, run };
  };

  test('the whole stream, each line with its time, is in logs/ before the stage-out is submitted', async () => {
    const { h, batch, logs, ts, event, run, logFile } = await analysisEnded('logcopy', 'SUCCEEDED', {
      exitCode: 0,
    });
    logs.streams.set(STREAM, [
      { timestamp: Date.UTC(2026, 10, 21, 12, 0, 0), message: 'mock analysis of lab/inputs/session1.zip' },
      { timestamp: Date.UTC(2026, 10, 21, 12, 0, 1), message: 'an error line, interleaved\n' },
      { message: 'a line without a time' },
    ]);
    const seenAtSubmit: (string | undefined)[] = [];
    batch.onSubmit = async () => {
      seenAtSubmit.push(await logFile());
    };
    expect(await event(run)).toBe('stage-out out-1 submitted');
    const expected = [
      '2026-11-21T12:00:00.000Z  mock analysis of lab/inputs/session1.zip',
      '2026-11-21T12:00:01.000Z  an error line, interleaved',
      'a line without a time',
      '',
    ].join('\n');
    expect(seenAtSubmit).toEqual([expected]);
    expect(await logFile()).toBe(expected);
    expect(logs.reads).toEqual([STREAM]);
    expect(await h.certificate('lab', ts)).toContain(
      "dataset lab/inputs/session1.zip: the analysis container's log (3 lines) was copied to logs/DATASET_NAME:session1.zip_analysis-log.txt",
    );
  });

  test('copied once per launch: duplicate events and the stage-in end do not read the stream again', async () => {
    const { h, batch, logs, ts, event, run } = await analysisEnded('logonce', 'SUCCEEDED', { exitCode: 0 });
    logs.streams.set(STREAM, [{ message: 'one line' }]);
    await event(run);
    await event(run);
    await event(jobOf(batch, h, ts, 'in', 'in-1', 'SUCCEEDED', { startedAt: STARTED, exitCode: 0 }));
    expect(logs.reads).toEqual([STREAM]);
    const copies = (await h.certificateLines('lab', ts)).filter((l) => l.text.includes('analysis-log.txt'));
    expect(copies).toHaveLength(1);
  });

  test('a failed analysis: its log is copied all the same (that is when it matters most)', async () => {
    const { logs, event, run, logFile } = await analysisEnded('logfail', 'FAILED', {
      exitCode: 3,
      statusReason: 'Essential container in task exited',
    });
    logs.streams.set(STREAM, [{ message: 'Traceback (most recent call last):' }, { message: 'ValueError' }]);
    await event(run);
    expect(await logFile()).toBe('Traceback (most recent call last):\nValueError\n');
  });

  test('an analysis whose stream does not exist: the file says so, and the stage-out still runs', async () => {
    const { h, batch, ts, event, run, logFile } = await analysisEnded('lognostream', 'SUCCEEDED', {
      exitCode: 0,
    });
    expect(await event(run)).toBe('stage-out out-1 submitted');
    expect(batch.stageOuts).toHaveLength(1);
    expect(await logFile()).toBe(
      `[ncaas] There is no log: the fake log store, stream ${STREAM} does not exist (the analysis container never started, or its log has been deleted since).\n`,
    );
    expect(await h.certificate('lab', ts)).toContain(
      `the analysis container left no log: the fake log store, stream ${STREAM} does not exist`,
    );
  });

  test('an analysis that never started (its stage-in failed): no stream is read, the file says why', async () => {
    const { h, batch, logs, ts, event, logFile } = await launched('lognever');
    jobOf(batch, h, ts, 'run', 'run-1', 'FAILED', {
      stageInJobId: 'in-1',
      statusReason: 'Dependent Job failed',
    });
    const stageIn = jobOf(batch, h, ts, 'in', 'in-1', 'FAILED', {
      startedAt: STARTED,
      exitCode: 1,
      statusReason: 'Essential container in task exited',
    });
    expect(await event(stageIn)).toBe('stage-out out-1 submitted');
    expect(logs.reads).toEqual([]);
    expect(await logFile()).toBe(
      '[ncaas] There is no log: the analysis container never started (Batch: Dependent Job failed).\n',
    );
    expect(await h.certificate('lab', ts)).toContain(
      'no analysis log to copy: the analysis container never started',
    );
  });

  test('no container ran at all (capacity cancel): the file is written before the final state', async () => {
    const { h, batch, ts, event, logFile } = await launched('lognone');
    const reason =
      'Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY';
    jobOf(batch, h, ts, 'in', 'in-1', 'FAILED', { statusReason: reason });
    const run = jobOf(batch, h, ts, 'run', 'run-1', 'FAILED', {
      stageInJobId: 'in-1',
      statusReason: 'Dependent Job failed',
    });
    expect(await event(run)).toBe('FAILED');
    expect(await logFile()).toMatch(/^\[ncaas\] There is no log: the analysis container never started/);
    const lines = (await h.certificateLines('lab', ts)).map((l) => l.text);
    const copied = lines.findIndex((l) => l.includes('analysis-log.txt'));
    const failed = lines.findIndex((l) => /: FAILED/.test(l));
    expect(copied).toBeGreaterThanOrEqual(0);
    expect(failed).toBeGreaterThan(copied);
  });

  test('a stream that cannot be read: logged and certified, and the stage-out and final state go on', async () => {
    const { h, batch, logs, ts, event, run, logFile } = await analysisEnded('logdenied', 'SUCCEEDED', {
      exitCode: 0,
    });
    logs.failWith = Object.assign(new Error('User is not authorized to perform: logs:GetLogEvents'), {
      name: 'AccessDeniedException',
    });
    expect(await event(run)).toBe('stage-out out-1 submitted');
    expect(await logFile()).toBe(
      `[ncaas] The copy stopped after 0 lines: AccessDeniedException: User is not authorized to perform: logs:GetLogEvents. The whole log is in the fake log store, stream ${STREAM}.\n`,
    );
    expect(await h.certificate('lab', ts)).toContain(
      "the analysis container's log could not be copied completely (AccessDeniedException",
    );
    expect(h.log.entries).toContainEqual(
      expect.objectContaining({ level: 'warn', message: 'analysis log copied in part' }),
    );
    await h.writeFinalReport('lab', ts, 'session1.zip', { status: 'SUCCESS', exit_code: 0, reason: 'done' });
    expect(await event(jobOf(batch, h, ts, 'out', 'out-1', 'SUCCEEDED', { startedAt: STARTED }))).toBe(
      'SUCCESS',
    );
  });

  test('the log file cannot be written (S3 refuses): logged and certified, the stage-out is submitted', async () => {
    const { h, batch, logs, ts, run } = await analysisEnded('logwrite', 'SUCCEEDED', { exitCode: 0 });
    logs.streams.set(STREAM, [{ message: 'a line' }]);
    const objects = new S3Objects(h.objects.client, h.objects.bucket);
    objects.write = async (key: string) => {
      throw Object.assign(new Error(`Access Denied writing ${key}`), { name: 'AccessDenied' });
    };
    const outcome = await onBatchJobState(
      { ...h.ctx, objects },
      batch,
      logs,
      detailOf(run),
      h.clock.now().toISOString(),
    );
    expect(outcome).toBe('stage-out out-1 submitted');
    expect(batch.stageOuts).toHaveLength(1);
    expect(h.log.entries).toContainEqual(
      expect.objectContaining({ level: 'error', message: 'analysis log not copied' }),
    );
    expect(await h.certificate('lab', ts)).toMatch(
      /the analysis container's log could not be copied to logs\/DATASET_NAME:session1\.zip_analysis-log\.txt \(AccessDenied: Access Denied/,
    );
  });
});
