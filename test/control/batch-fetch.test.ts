/**
 * The fetch stage of an `rclone:` dataset through the control plane (lib/control/batch-reconcile.ts
 * with lib/control/batch-fetch.ts), against s3rver and dynalite, Batch replaced by a recording fake:
 * the stage-out waits for the fetch too, and a fetch that fails names itself and Batch's reason,
 * whatever the analysis job (failed as a dependent) says.
 */
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { onBatchJobState } from '../../lib/control/batch-reconcile';
import { processCancel } from '../../lib/control/cancel-request';
import type { BatchJobStatus, BatchJobView } from '../../lib/launch/batch-api';
import type { BatchJobIdentity } from '../../lib/launch/batch-stages';
import { detailOf, FakeBatch, FakeLogs } from '../support/fake-batch';
import {
  analysisConfig,
  ControlHarness,
  type ControlEmulators,
  startControlEmulators,
  submitJson,
} from '../support/control-harness';

let emulators: ControlEmulators;
let counter = 0;

beforeAll(async () => {
  emulators = await startControlEmulators();
});

afterAll(async () => {
  await emulators.stop();
});

const JOB_DIR = 'tx-lab-ts-0-a1-c0ffee01';
const SOURCE = 'rclone:labdrive:day 1/mouse 12.nwb';
const LABEL = 'mouse 12.nwb';
const STARTED = 1_763_726_400_000;
const LOG = 'rclone-sh/default/0a1b2c3d';

/** A launch with a fetch: `in-1` -> `fetch-1` -> `run-1` (the dataset's launcher id). */
const launched = async () => {
  counter += 1;
  const base = analysisConfig(`t-fetch-${counter}`);
  const config = {
    ...base,
    groups: base.groups.map((g) => (g.name === 'lab' ? { ...g, rcloneConfigSecret: 'ncaas/rclone/lab' } : g)),
    remoteSources: { image: 'registry.example.org/rclone-sh:1' },
  };
  const bucket = `ncaas-t-fetch-${counter}`;
  await emulators.s3.client.send(new CreateBucketCommand({ Bucket: bucket }));
  const h = new ControlHarness(emulators, bucket, config, new Date(Math.floor(Date.now() / 1000) * 1000));
  await h.put('lab/configs/config.yaml', 'threshold: 3\n');
  const ts = 'remote:1';
  expect((await h.submit('lab', 'remote', submitJson('lab', ts, SOURCE))).kind).toBe('accepted');
  h.launcher.script({ kind: 'launched', launcherId: 'run-1' });
  await h.deliverLaunches();
  const batch = new FakeBatch();
  const job = (
    stage: BatchJobIdentity['stage'],
    status: BatchJobStatus,
    extra: Partial<BatchJobView> = {},
  ): BatchJobView => {
    return batch.set(
      {
        analysis: config.name,
        group: 'lab',
        jobId: ts,
        stage,
        jobDir: JOB_DIR,
        ...(stage === 'in' ? {} : { stageInJobId: 'in-1' }),
        ...(stage === 'run' ? { fetchJobId: 'fetch-1' } : {}),
      },
      `${stage}-1`,
      status,
      { dependsOn: stage === 'fetch' ? ['in-1'] : stage === 'run' ? ['fetch-1'] : [], ...extra },
    );
  };
  const event = async (view: BatchJobView) =>
    onBatchJobState(h.ctx, batch, new FakeLogs(), detailOf(view), h.clock.now().toISOString());
  return { h, batch, ts, job, event };
};

const dependentFailure = { statusReason: 'Dependent Job failed' };

test('fetch running: IN PROGRESS, and the status and certificate say it is fetching, with its log', async () => {
  const { h, ts, job, event } = await launched();
  job('in', 'SUCCEEDED', { startedAt: STARTED, exitCode: 0 });
  expect(await event(job('fetch', 'RUNNING', { startedAt: STARTED, logStreamName: LOG }))).toBe(
    'IN PROGRESS (fetching)',
  );
  expect(await h.states('lab', ts)).toEqual(['IN PROGRESS']);
  expect(await h.status('lab', ts, LABEL)).toMatchObject({
    status: 'IN PROGRESS',
    input: SOURCE,
    instance: 'fetch-1',
    reason: [
      `fetching ${SOURCE} from the group's rclone remote (live log: CloudWatch Logs group /aws/batch/job, stream ${LOG})`,
    ],
  });
  expect(await h.certificate('lab', ts)).toMatch(
    /Batch fetch job fetch-1 is running: fetching rclone:labdrive:/,
  );
});

test('the stage-out waits for the fetch as well; all three succeeded: one stage-out, nothing forced', async () => {
  const { batch, job, event } = await launched();
  const stageIn = job('in', 'SUCCEEDED', { startedAt: STARTED, exitCode: 0 });
  job('fetch', 'RUNNING', { startedAt: STARTED });
  job('run', 'PENDING');
  expect(await event(stageIn)).toBe('waiting for the fetch job to end');
  const fetched = job('fetch', 'SUCCEEDED', { startedAt: STARTED, exitCode: 0 });
  expect(await event(fetched)).toBe('waiting for the analysis job to end');
  const ran = job('run', 'SUCCEEDED', { startedAt: STARTED, exitCode: 0 });
  expect(await event(ran)).toBe('stage-out out-1 submitted');
  expect(await event(fetched)).toBe('the stage-out of this launch is already under way');
  expect(batch.stageOuts).toHaveLength(1);
  expect(batch.stageOuts[0]).toMatchObject({
    jobDir: JOB_DIR,
    analysisJobId: 'run-1',
    job: { datasetKey: SOURCE },
  });
  expect(batch.stageOuts[0].status).toBeUndefined();
  expect(batch.stageOuts[0].reason).toBeUndefined();
});

test('a failed fetch: the stage-out still runs (clean-up) and is told "fetching rclone:... failed" with the exit code', async () => {
  const { h, batch, ts, job, event } = await launched();
  job('in', 'SUCCEEDED', { startedAt: STARTED, exitCode: 0 });
  job('run', 'FAILED', dependentFailure);
  const fetch = job('fetch', 'FAILED', {
    startedAt: STARTED,
    exitCode: 3,
    statusReason: 'Essential container in task exited',
    logStreamName: LOG,
  });
  expect(await event(fetch)).toBe('stage-out out-1 submitted');
  expect(batch.stageOuts[0].status).toBeUndefined();
  expect(batch.stageOuts[0].reason).toBe(
    `fetching ${SOURCE} failed: Essential container in task exited, rclone exit code 3. rclone says why in the fetch job's log (CloudWatch Logs group /aws/batch/job, stream ${LOG}); check the path on the remote and the group's rclone configuration`,
  );
  expect(await h.certificate('lab', ts)).toMatch(
    /Batch fetch job fetch-1 FAILED \(Essential container in task exited\) exit code 3/,
  );
});

test("the analysis job's end (a failed dependency) comes last: the fetch is still what the user is told", async () => {
  const { batch, job, event } = await launched();
  job('in', 'SUCCEEDED', { startedAt: STARTED, exitCode: 0 });
  job('fetch', 'FAILED', {
    startedAt: STARTED,
    exitCode: 1,
    statusReason: 'Essential container in task exited',
  });
  expect(await event(job('run', 'FAILED', dependentFailure))).toBe('stage-out out-1 submitted');
  expect(batch.stageOuts[0].reason).toMatch(/^fetching rclone:labdrive:day 1\/mouse 12\.nwb failed: /);
  expect(batch.stageOuts[0].reason).not.toMatch(/the analysis stage failed/);
});

test('a secret ECS could not read: the fetch never started; the reason says an operator should check it', async () => {
  const { batch, job, event } = await launched();
  job('in', 'SUCCEEDED', { startedAt: STARTED, exitCode: 0 });
  job('run', 'FAILED', dependentFailure);
  const fetch = job('fetch', 'FAILED', {
    statusReason:
      'ResourceInitializationError: unable to pull secrets or registry auth: retrieve secret from ssm: ResourceNotFoundException',
  });
  await event(fetch);
  expect(batch.stageOuts[0].reason).toMatch(
    /^fetching .* failed: ResourceInitializationError.*; Batch could not read the group's rclone configuration: .*RcloneConfigSecret\) exists$/,
  );
});

test.each<[string, string, string, RegExp]>([
  [
    'timeout',
    'Job attempt duration exceeded timeout',
    'TIMED_OUT',
    /^fetching .* did not finish before the job deadline/,
  ],
  [
    'capacity',
    'Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY',
    'FAILED',
    /^no compute capacity: the fetch job waited in the Batch queue/,
  ],
])(
  'a fetch stopped by Batch (%s): the stage-out is told the final state',
  async (_name, why, status, reason) => {
    const { batch, job, event } = await launched();
    job('in', 'SUCCEEDED', { startedAt: STARTED, exitCode: 0 });
    job('run', 'FAILED', dependentFailure);
    await event(job('fetch', 'FAILED', { statusReason: why }));
    expect(batch.stageOuts[0]).toMatchObject({ status, reason: expect.stringMatching(reason) });
  },
);

test('a stage-in that failed first is what the user is told, not the fetch it took down', async () => {
  const { batch, job, event } = await launched();
  job('fetch', 'FAILED', dependentFailure);
  job('run', 'FAILED', dependentFailure);
  await event(
    job('in', 'FAILED', {
      startedAt: STARTED,
      exitCode: 1,
      statusReason: 'Essential container in task exited',
    }),
  );
  expect(batch.stageOuts[0].reason).toMatch(/^stage-in failed: /);
});

test('cancelled while fetching: the launcher stops the analysis job; the stage-out is told CANCELLED', async () => {
  const { h, batch, ts, job, event } = await launched();
  job('in', 'SUCCEEDED', { startedAt: STARTED, exitCode: 0 });
  job('fetch', 'RUNNING', { startedAt: STARTED });
  await h.put(`lab/submissions/${ts}.cancel.json`, '{}');
  await processCancel(h.ctx, `lab/submissions/${ts}.cancel.json`);
  expect(h.launcher.terminations).toEqual(['run-1']);
  job('run', 'FAILED', { statusReason: 'ncaas: stopped by the control plane (cancel, deadline or orphan)' });
  await event(
    job('fetch', 'FAILED', { startedAt: STARTED, statusReason: 'ncaas: stopped by the control plane' }),
  );
  expect(batch.stageOuts[0]).toMatchObject({ status: 'CANCELLED' });
  expect(await h.states('lab', ts)).toEqual(['CANCELLED']);
});
