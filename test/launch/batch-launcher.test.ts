/**
 * The batch launcher against a mocked BatchClient: the SubmitJob, TerminateJob and DescribeJobs
 * requests it sends, exactly as AWS receives them.
 */
import 'aws-sdk-client-mock-jest';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  BatchClient,
  ClientException,
  DescribeJobsCommand,
  ServerException,
  SubmitJobCommand,
  type SubmitJobCommandInput,
  TerminateJobCommand,
} from '@aws-sdk/client-batch';
import { mockClient } from 'aws-sdk-client-mock';
import { encodeWorkerJob, type WorkerJob } from '../../lib/job/worker-job';
import { AwsBatchApi, jobViewOf, submitJobPayloadBytes } from '../../lib/launch/batch-api';
import { BatchLauncher, type BatchLauncherProps, TERMINATE_REASON } from '../../lib/launch/batch-launcher';
import {
  batchJobFolder,
  CLEANUP_BOOTSTRAP,
  CLEANUP_TIMEOUT_SECONDS,
  identityOf,
  MAX_BATCH_JOB_NAME,
  STAGE_ENV,
  SUBMIT_JOB_PAYLOAD_LIMIT,
  transportScript,
} from '../../lib/launch/batch-stages';
import { readWorkerScript } from '../../lib/launch/user-data';
import batchEvent from '../fixtures/batch-job-state-change.json';

const batch = mockClient(BatchClient);

const QUEUE = 'arn:aws:batch:us-east-1:123456789012:job-queue/mock-queue';
const definitions = (group: string) => ({
  stageIn: `arn:aws:batch:us-east-1:123456789012:job-definition/mock-${group}-in:1`,
  analysis: `arn:aws:batch:us-east-1:123456789012:job-definition/mock-${group}-run:1`,
  stageOut: `arn:aws:batch:us-east-1:123456789012:job-definition/mock-${group}-out:1`,
});
const NOW = new Date('2026-11-21T12:00:00Z');

const job: WorkerJob = {
  analysis: 'mock',
  region: 'us-east-1',
  bucket: 'ncaas-mock-data',
  group: 'labA',
  // A NeuroCAAS timestamp: `:` and `.` are not allowed in Batch job names.
  jobId: '16:52:06.836494condition_2_3',
  datasetIndex: 1,
  datasetKey: 'labA/inputs/mouse 12.mp4',
  datasetLabel: 'mouse 12.mp4',
  configKey: 'labA/configs/config.yaml',
  resultFolder: 'labA/results/job__mock_16:52:06.836494condition_2_3',
  command: 'cd /home/ubuntu; run.sh "{}" "{}" "{}" "{}"; cleanup',
  deadlineEpochSeconds: NOW.getTime() / 1000 + 3600,
  launcher: 'batch',
};

const launcher = (overrides: Partial<BatchLauncherProps> = {}) =>
  new BatchLauncher({
    api: new AwsBatchApi(new BatchClient({ region: 'us-east-1' })),
    analysis: 'mock',
    jobQueue: QUEUE,
    jobDefinitions: { labA: definitions('labA'), labB: definitions('labB') },
    now: () => NOW,
    nonce: () => 'c0ffee01',
    ...overrides,
  });

const submitted = (): SubmitJobCommandInput[] =>
  batch.commandCalls(SubmitJobCommand).map((call) => call.args[0].input);
const environmentOf = (input: SubmitJobCommandInput): Record<string, string> =>
  Object.fromEntries((input.containerOverrides?.environment ?? []).map((e) => [e.name ?? '', e.value ?? '']));

beforeEach(() => {
  batch.reset();
});

describe('launch: stage-in, then the analysis depending on it', () => {
  test('two SubmitJob calls: names Batch accepts, the group definitions, the dependency, identity parameters', async () => {
    batch
      .on(SubmitJobCommand)
      .resolvesOnce({ jobId: 'in-1', jobName: 'x' })
      .resolvesOnce({ jobId: 'run-1', jobName: 'y' });
    const outcome = await launcher().launch({ job, attempt: 2, instanceType: 'batch' });
    expect(outcome).toEqual({ kind: 'launched', launcherId: 'run-1' });

    const [stageIn, analysis] = submitted();
    const folder = batchJobFolder(job, 2, 'c0ffee01');
    expect(folder).toBe('mock-labA-16_52_06_836494condition_2_3-1-a2-c0ffee01');
    expect(stageIn).toMatchObject({
      jobName: `${folder}-in`,
      jobQueue: QUEUE,
      jobDefinition: definitions('labA').stageIn,
      timeout: { attemptDurationSeconds: 3600 },
    });
    expect(stageIn.dependsOn).toBeUndefined();
    expect(analysis).toMatchObject({
      jobName: `${folder}-run`,
      jobDefinition: definitions('labA').analysis,
      dependsOn: [{ jobId: 'in-1' }],
      // Stopped before the deadline, so the stage-out can still report TIMED_OUT.
      timeout: { attemptDurationSeconds: 3300 },
      containerOverrides: { environment: [{ name: STAGE_ENV.jobDir, value: folder }] },
    });
    for (const input of [stageIn, analysis]) expect(input.jobName).toMatch(/^[A-Za-z0-9_-]{1,128}$/);
    expect(identityOf(stageIn.parameters)).toEqual({
      analysis: 'mock',
      group: 'labA',
      jobId: job.jobId,
      datasetIndex: 1,
      attempt: 2,
      stage: 'in',
      jobDir: folder,
    });
    expect(identityOf(analysis.parameters)).toMatchObject({
      stage: 'run',
      stageInJobId: 'in-1',
      jobDir: folder,
    });
  });

  test('the stage-in carries the worker script (gzip + base64) and the job as data', async () => {
    batch.on(SubmitJobCommand).resolves({ jobId: 'j', jobName: 'x' });
    await launcher().launch({ job, attempt: 1, instanceType: 'batch' });
    const env = environmentOf(submitted()[0]);
    expect(gunzipSync(Buffer.from(env[STAGE_ENV.script], 'base64')).toString('utf8')).toBe(
      transportScript(readWorkerScript()),
    );
    expect(env[STAGE_ENV.job]).toBe(encodeWorkerJob(job));
    expect(env[STAGE_ENV.jobDir]).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  test("a large job still fits SubmitJob's 30 KiB payload, with room to spare", async () => {
    batch.on(SubmitJobCommand).resolves({ jobId: 'j', jobName: 'x' });
    const key = (prefix: string) => `${prefix}${'k'.repeat(1000)}`;
    const large: WorkerJob = {
      ...job,
      jobId: 't'.repeat(200),
      datasetKey: key('labA/inputs/'),
      configKey: key('labA/configs/'),
      resultFolder: `labA/results/job__mock_${'t'.repeat(200)}`,
      // The handlers' environment (4 KB for everything) caps COMMAND well below this.
      command: `run.sh "{}" "{}" "{}" "{}" ${'x'.repeat(3000)}`,
    };
    await launcher().launch({ job: large, attempt: 1, instanceType: 'batch' });
    const bytes = Buffer.byteLength(JSON.stringify(submitted()[0]), 'utf8');
    // Measured when written: about 21 KB (the script about 12 KB of it).
    expect(bytes).toBeGreaterThan(15_000);
    expect(bytes).toBeLessThan(SUBMIT_JOB_PAYLOAD_LIMIT - 4096);
    for (const input of submitted())
      expect((input.jobName ?? '').length).toBeLessThanOrEqual(MAX_BATCH_JOB_NAME);
  });

  test('over the payload limit: FAILED with the reason, nothing submitted', async () => {
    // Random text does not compress: far over the limit once gzip + base64.
    const outcome = await launcher({ workerScript: () => randomBytes(40_000).toString('base64') }).launch({
      job,
      attempt: 1,
      instanceType: 'batch',
    });
    expect(outcome).toMatchObject({
      kind: 'failed',
      reason: expect.stringContaining("AWS Batch's SubmitJob limit"),
    });
    expect(batch.commandCalls(SubmitJobCommand)).toHaveLength(0);
  });

  test('the analysis job refused: the stage-in is terminated, and a server fault is retried', async () => {
    batch
      .on(SubmitJobCommand)
      .resolvesOnce({ jobId: 'in-1', jobName: 'x' })
      .rejectsOnce(new ServerException({ message: 'internal', $metadata: { httpStatusCode: 500 } }));
    batch.on(TerminateJobCommand).resolves({});
    const outcome = await launcher().launch({ job, attempt: 1, instanceType: 'batch' });
    expect(outcome).toMatchObject({ kind: 'retry', reason: expect.stringContaining('analysis job') });
    expect(batch).toHaveReceivedCommandWith(TerminateJobCommand, { jobId: 'in-1' });
  });

  test('a ClientException (a deleted job definition, a disabled queue) is FAILED, not retried', async () => {
    batch
      .on(SubmitJobCommand)
      .rejects(
        new ClientException({ message: 'JobDefinition not found', $metadata: { httpStatusCode: 400 } }),
      );
    const outcome = await launcher().launch({ job, attempt: 1, instanceType: 'batch' });
    expect(outcome).toEqual({
      kind: 'failed',
      reason: 'AWS Batch refused the stage-in job (ClientException: "JobDefinition not found")',
    });
  });

  test('a group without job definitions, another analysis, a passed deadline: FAILED, nothing submitted', async () => {
    expect(
      await launcher().launch({ job: { ...job, group: 'labC' }, attempt: 1, instanceType: 'batch' }),
    ).toMatchObject({
      kind: 'failed',
      reason: expect.stringContaining('group "labC" has no Batch job definitions'),
    });
    expect(
      await launcher().launch({ job: { ...job, analysis: 'other' }, attempt: 1, instanceType: 'batch' }),
    ).toMatchObject({
      kind: 'failed',
    });
    expect(
      await launcher().launch({
        job: { ...job, deadlineEpochSeconds: NOW.getTime() / 1000 - 1 },
        attempt: 1,
        instanceType: 'batch',
      }),
    ).toMatchObject({ kind: 'failed', reason: expect.stringContaining('deadline') });
    expect(batch.commandCalls(SubmitJobCommand)).toHaveLength(0);
  });
});

describe('terminate: TerminateJob on the stage-in and the analysis (CancelJob would not stop a running job)', () => {
  test('the stage-in is found in the analysis job parameters; both are stopped with a reason', async () => {
    batch.on(DescribeJobsCommand).resolves({
      jobs: [
        {
          jobId: 'run-1',
          jobName: 'x-run',
          jobQueue: QUEUE,
          status: 'PENDING',
          startedAt: undefined,
          jobDefinition: definitions('labA').analysis,
          parameters: { ncaasStageInJob: 'in-1', ncaasAnalysis: 'mock' },
        },
      ],
    });
    batch.on(TerminateJobCommand).resolves({});
    await launcher().terminate('run-1');
    expect(batch.commandCalls(TerminateJobCommand).map((c) => c.args[0].input)).toEqual([
      { jobId: 'in-1', reason: TERMINATE_REASON },
      { jobId: 'run-1', reason: TERMINATE_REASON },
    ]);
  });

  test('an unknown job is not an error; another failure is', async () => {
    batch.on(DescribeJobsCommand).resolves({ jobs: [] });
    batch
      .on(TerminateJobCommand)
      .rejects(new ClientException({ message: 'Job gone not found', $metadata: {} }));
    await expect(launcher().terminate('gone')).resolves.toBeUndefined();
    batch.on(TerminateJobCommand).rejects(new ServerException({ message: 'boom', $metadata: {} }));
    await expect(launcher().terminate('x')).rejects.toThrow('could not stop Batch job x');
  });
});

describe('submitStageOut (called by the reconcile handler)', () => {
  test("the group's stage-out definition, the job, what the control plane decided, no dependency", async () => {
    batch.on(SubmitJobCommand).resolves({ jobId: 'out-1', jobName: 'x' });
    const id = await launcher().submitStageOut({
      job,
      jobDir: 'mock-labA-x-1-a1-c0ffee01',
      attempt: 1,
      analysisJobId: 'run-1',
      status: 'CANCELLED',
      reason: "cancelled at the group's request",
      logStreamName: 'mock-analysis/default/0a1b2c3d',
    });
    expect(id).toBe('out-1');
    const [input] = submitted();
    expect(input).toMatchObject({
      jobName: 'mock-labA-x-1-a1-c0ffee01-out',
      jobDefinition: definitions('labA').stageOut,
      jobQueue: QUEUE,
    });
    expect(input.dependsOn).toBeUndefined();
    const env = environmentOf(input);
    expect(env).toMatchObject({
      [STAGE_ENV.jobDir]: 'mock-labA-x-1-a1-c0ffee01',
      [STAGE_ENV.outStatus]: 'CANCELLED',
      [STAGE_ENV.outReason]: "cancelled at the group's request",
      [STAGE_ENV.logStream]: 'mock-analysis/default/0a1b2c3d',
      [STAGE_ENV.instance]: 'run-1',
    });
    expect(env[STAGE_ENV.script]).toBeTruthy();
    expect(identityOf(input.parameters)).toMatchObject({ stage: 'out', jobDir: 'mock-labA-x-1-a1-c0ffee01' });
  });

  test('a stage-out submission is the whole payload: SubmitJob with no command or resource override', async () => {
    batch.on(SubmitJobCommand).resolves({ jobId: 'out-2', jobName: 'x' });
    await launcher().submitStageOut({ job, jobDir: 'd-1-a1-c0ffee01', attempt: 1 });
    const [input] = submitted();
    expect(input.containerOverrides?.command).toBeUndefined();
    expect(input.containerOverrides?.resourceRequirements).toBeUndefined();
    expect(
      submitJobPayloadBytes({
        jobName: 'a',
        jobQueue: 'q',
        jobDefinition: 'd',
        parameters: {},
        environment: {},
      }),
    ).toBeLessThan(200);
  });
});

describe('submitCleanup: removes one job folder, on either image', () => {
  const request = { job, jobDir: 'mock-labA-x-1-a1-c0ffee01', attempt: 2 };

  test('on the staging image: the stage-out definition in clean-up-only mode, no job, no script', async () => {
    batch.on(SubmitJobCommand).resolves({ jobId: 'clean-1', jobName: 'x' });
    expect(await launcher().submitCleanup({ ...request, image: 'staging' })).toBe('clean-1');
    const [input] = submitted();
    expect(input).toEqual({
      jobName: 'mock-labA-x-1-a1-c0ffee01-out',
      jobQueue: QUEUE,
      jobDefinition: definitions('labA').stageOut,
      parameters: expect.any(Object),
      containerOverrides: {
        environment: [
          { name: STAGE_ENV.jobDir, value: 'mock-labA-x-1-a1-c0ffee01' },
          { name: STAGE_ENV.cleanupOnly, value: '1' },
        ],
      },
      timeout: { attemptDurationSeconds: CLEANUP_TIMEOUT_SECONDS },
      tags: { 'ncaas:analysis': 'mock' },
    });
    expect(identityOf(input.parameters)).toEqual({
      analysis: 'mock',
      group: 'labA',
      jobId: job.jobId,
      datasetIndex: 1,
      attempt: 2,
      stage: 'out',
      jobDir: 'mock-labA-x-1-a1-c0ffee01',
      cleanupOnly: true,
    });
  });

  test('on the analysis image: its definition with the command replaced by rm -rf of the folder, small', async () => {
    batch.on(SubmitJobCommand).resolves({ jobId: 'clean-2', jobName: 'x' });
    await launcher().submitCleanup({ ...request, image: 'analysis' });
    const [input] = submitted();
    expect(input).toMatchObject({
      jobName: 'mock-labA-x-1-a1-c0ffee01-out',
      jobDefinition: definitions('labA').analysis,
      containerOverrides: {
        environment: [{ name: STAGE_ENV.jobDir, value: 'mock-labA-x-1-a1-c0ffee01' }],
        command: ['sh', '-c', CLEANUP_BOOTSTRAP],
        resourceRequirements: [
          { type: 'VCPU', value: '1' },
          { type: 'MEMORY', value: '512' },
        ],
      },
      timeout: { attemptDurationSeconds: CLEANUP_TIMEOUT_SECONDS },
    });
    expect(input.dependsOn).toBeUndefined();
    expect(identityOf(input.parameters)).toMatchObject({ stage: 'out', cleanupOnly: true });
  });

  test('the rm -rf command removes exactly the folder named, and refuses a name that is not one', () => {
    const efs = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-cleanup-'));
    try {
      const keep = path.join(efs, 'jobs', 'other-folder');
      const gone = path.join(efs, 'jobs', 'the-folder', 'output');
      fs.mkdirSync(keep, { recursive: true });
      fs.mkdirSync(gone, { recursive: true });
      fs.writeFileSync(path.join(gone, 'result.txt'), 'x');
      const run = (jobDir: string) =>
        spawnSync('sh', ['-c', CLEANUP_BOOTSTRAP], {
          env: { PATH: process.env.PATH, [STAGE_ENV.efsRoot]: efs, [STAGE_ENV.jobDir]: jobDir },
          encoding: 'utf8',
        });
      for (const bad of ['', '..', '../jobs', 'a/b', 'x y', '$(touch pwned)', '*']) {
        expect(run(bad).status).toBe(2);
      }
      expect(fs.existsSync(path.join(efs, 'jobs', 'the-folder'))).toBe(true);
      const ok = run('the-folder');
      expect(ok.status).toBe(0);
      expect(ok.stderr).toContain('removed the job folder');
      expect(fs.existsSync(path.join(efs, 'jobs', 'the-folder'))).toBe(false);
      expect(fs.existsSync(keep)).toBe(true);
      // Already gone: still a success (a clean-up tried twice).
      expect(run('the-folder').status).toBe(0);
    } finally {
      fs.rmSync(efs, { recursive: true, force: true });
    }
  });

  test('a group without job definitions is refused before any SubmitJob', async () => {
    await expect(
      launcher().submitCleanup({ ...request, job: { ...job, group: 'nobody' }, image: 'analysis' }),
    ).rejects.toThrow('group "nobody" has no Batch job definitions');
    expect(submitted()).toEqual([]);
  });
});

describe('the launch records its job folder before the stage-in can create it', () => {
  const recorder = () => {
    const calls: string[] = [];
    return {
      calls,
      folder: async (dir: string) => {
        calls.push(`folder ${dir} (SubmitJob calls so far: ${submitted().length})`);
      },
      jobs: async (dir: string, ids: readonly string[]) => {
        calls.push(`jobs ${dir} ${ids.join(',')}`);
      },
    };
  };

  test('the folder first, then each job as it is submitted', async () => {
    batch
      .on(SubmitJobCommand)
      .resolvesOnce({ jobId: 'in-1', jobName: 'x' })
      .resolvesOnce({ jobId: 'run-1', jobName: 'y' });
    const jobFolders = recorder();
    await launcher().launch({ job, attempt: 1, instanceType: 'batch', jobFolders });
    const folder = batchJobFolder(job, 1, 'c0ffee01');
    expect(jobFolders.calls).toEqual([
      `folder ${folder} (SubmitJob calls so far: 0)`,
      `jobs ${folder} in-1`,
      `jobs ${folder} run-1`,
    ]);
  });

  test('a folder that cannot be recorded stops the launch before any SubmitJob (retried later)', async () => {
    const outcome = await launcher().launch({
      job,
      attempt: 1,
      instanceType: 'batch',
      jobFolders: {
        folder: async () => {
          throw new Error('ProvisionedThroughputExceededException');
        },
        jobs: async () => undefined,
      },
    });
    expect(outcome).toEqual({
      kind: 'retry',
      reason: expect.stringContaining('could not record the job folder'),
    });
    expect(submitted()).toEqual([]);
  });

  test('jobs that cannot be recorded do not fail a launch that happened', async () => {
    batch
      .on(SubmitJobCommand)
      .resolvesOnce({ jobId: 'in-1', jobName: 'x' })
      .resolvesOnce({ jobId: 'run-1', jobName: 'y' });
    const outcome = await launcher().launch({
      job,
      attempt: 1,
      instanceType: 'batch',
      jobFolders: {
        folder: async () => undefined,
        jobs: async () => {
          throw new Error('InternalServerError');
        },
      },
    });
    expect(outcome).toEqual({ kind: 'launched', launcherId: 'run-1' });
  });
});

test('a Batch Job State Change event detail reads as a job view (exit code and log stream of the last attempt)', () => {
  expect(jobViewOf(batchEvent.detail)).toEqual({
    jobId: '4c7599ae-0a82-49aa-ba5a-4727fcce14a8',
    jobName: 'mock-laba-t1-analysis',
    jobQueue: 'arn:aws:batch:us-east-1:123456789012:job-queue/mock-queue',
    status: 'FAILED',
    statusReason: 'Essential container in task exited',
    parameters: {},
    startedAt: 1763726400000,
    stoppedAt: 1763726460000,
    exitCode: 3,
    logStreamName: 'mock-analysis/default/0a1b2c3d',
    dependsOn: ['9a1b2c3d-0000-4000-8000-000000000001'],
  });
});

describe('an rclone dataset: stage-in, then fetch, then the analysis', () => {
  const FETCH = 'arn:aws:batch:us-east-1:123456789012:job-definition/mock-labA-fetch:1';
  const withFetch = () =>
    launcher({
      jobDefinitions: { labA: { ...definitions('labA'), fetch: FETCH }, labB: definitions('labB') },
    });
  const source = `labdrive:day 1/it's "odd" $(touch pwned); x.nwb`;
  const remoteJob: WorkerJob = {
    ...job,
    datasetKey: `rclone:${source}`,
    datasetLabel: `it's "odd" $(touch pwned); x.nwb`,
  };

  test('three SubmitJob calls chained in -> fetch -> run; the fetch carries the source and target as data, no secret', async () => {
    batch
      .on(SubmitJobCommand)
      .resolvesOnce({ jobId: 'in-1', jobName: 'a' })
      .resolvesOnce({ jobId: 'fetch-1', jobName: 'b' })
      .resolvesOnce({ jobId: 'run-1', jobName: 'c' });
    const outcome = await withFetch().launch({ job: remoteJob, attempt: 1, instanceType: 'batch' });
    expect(outcome).toEqual({ kind: 'launched', launcherId: 'run-1' });
    const [stageIn, fetch, analysis] = submitted();
    const folder = batchJobFolder(remoteJob, 1, 'c0ffee01');
    expect(stageIn.jobDefinition).toBe(definitions('labA').stageIn);
    expect(fetch).toMatchObject({
      jobName: `${folder}-fetch`,
      jobDefinition: FETCH,
      jobQueue: QUEUE,
      dependsOn: [{ jobId: 'in-1' }],
      timeout: { attemptDurationSeconds: 3300 },
    });
    expect(environmentOf(fetch)).toEqual({
      [STAGE_ENV.jobDir]: folder,
      [STAGE_ENV.rcloneSource]: source,
      // The path's last segment: where stage-in would have put it (input/<name>).
      [STAGE_ENV.rcloneTarget]: `it's "odd" $(touch pwned); x.nwb`,
    });
    expect(identityOf(fetch.parameters)).toMatchObject({
      stage: 'fetch',
      stageInJobId: 'in-1',
      jobDir: folder,
    });
    expect(analysis).toMatchObject({
      jobDefinition: definitions('labA').analysis,
      dependsOn: [{ jobId: 'fetch-1' }],
    });
    expect(identityOf(analysis.parameters)).toMatchObject({
      stage: 'run',
      stageInJobId: 'in-1',
      fetchJobId: 'fetch-1',
    });
    // The secret is the job definition's (injected by Batch): no request carries anything of it.
    for (const input of submitted()) {
      expect(JSON.stringify(input)).not.toContain(STAGE_ENV.rcloneConfig);
      expect(input.jobName).toMatch(/^[A-Za-z0-9_-]{1,128}$/);
    }
  });

  test('a folder on the remote: the target is the input folder itself (empty name)', async () => {
    batch.on(SubmitJobCommand).resolves({ jobId: 'j', jobName: 'x' });
    await withFetch().launch({
      job: { ...remoteJob, datasetKey: 'rclone:labdrive:sessions/day1/' },
      attempt: 1,
      instanceType: 'batch',
    });
    expect(environmentOf(submitted()[1])).toMatchObject({
      [STAGE_ENV.rcloneSource]: 'labdrive:sessions/day1/',
      [STAGE_ENV.rcloneTarget]: '',
    });
  });

  test('the longest job folder still makes a Batch name with -fetch', async () => {
    batch.on(SubmitJobCommand).resolves({ jobId: 'j', jobName: 'x' });
    await withFetch().launch({
      job: { ...remoteJob, jobId: 't'.repeat(300) },
      attempt: 12,
      instanceType: 'batch',
    });
    for (const input of submitted())
      expect((input.jobName ?? '').length).toBeLessThanOrEqual(MAX_BATCH_JOB_NAME);
  });

  test('a group without a fetch definition: FAILED naming RemoteSources, nothing submitted', async () => {
    const outcome = await launcher().launch({ job: remoteJob, attempt: 1, instanceType: 'batch' });
    expect(outcome).toMatchObject({
      kind: 'failed',
      reason: expect.stringMatching(/group "labA" has no fetch job definition.*RemoteSources.Groups/),
    });
    expect(batch.commandCalls(SubmitJobCommand)).toHaveLength(0);
  });

  test('the fetch refused: the stage-in is stopped; the analysis refused: stage-in and fetch are stopped', async () => {
    batch
      .on(SubmitJobCommand)
      .resolvesOnce({ jobId: 'in-1', jobName: 'a' })
      .rejectsOnce(new ClientException({ message: 'JobDefinition not found', $metadata: {} }));
    batch.on(TerminateJobCommand).resolves({});
    expect(await withFetch().launch({ job: remoteJob, attempt: 1, instanceType: 'batch' })).toEqual({
      kind: 'failed',
      reason: 'AWS Batch refused the fetch job (ClientException: "JobDefinition not found")',
    });
    expect(batch.commandCalls(TerminateJobCommand).map((c) => c.args[0].input.jobId)).toEqual(['in-1']);

    batch.reset();
    batch
      .on(SubmitJobCommand)
      .resolvesOnce({ jobId: 'in-2', jobName: 'a' })
      .resolvesOnce({ jobId: 'fetch-2', jobName: 'b' })
      .rejectsOnce(new ServerException({ message: 'internal', $metadata: { httpStatusCode: 500 } }));
    batch.on(TerminateJobCommand).resolves({});
    expect(await withFetch().launch({ job: remoteJob, attempt: 1, instanceType: 'batch' })).toMatchObject({
      kind: 'retry',
    });
    expect(batch.commandCalls(TerminateJobCommand).map((c) => c.args[0].input.jobId)).toEqual([
      'in-2',
      'fetch-2',
    ]);
  });

  test('terminate stops the stage-in, the fetch and the analysis', async () => {
    batch.on(DescribeJobsCommand).resolves({
      jobs: [
        {
          jobId: 'run-1',
          jobName: 'x-run',
          jobQueue: QUEUE,
          status: 'PENDING',
          startedAt: undefined,
          jobDefinition: definitions('labA').analysis,
          dependsOn: [{ jobId: 'fetch-1' }],
          parameters: { ncaasStageInJob: 'in-1', ncaasFetchJob: 'fetch-1', ncaasAnalysis: 'mock' },
        },
      ],
    });
    batch.on(TerminateJobCommand).resolves({});
    await withFetch().terminate('run-1');
    expect(batch.commandCalls(TerminateJobCommand).map((c) => c.args[0].input.jobId)).toEqual([
      'in-1',
      'fetch-1',
      'run-1',
    ]);
  });
});
