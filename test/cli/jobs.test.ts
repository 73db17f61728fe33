/**
 * status, jobs, logs, results and cancel read only what a lab member can read: status files, the
 * certificate, end.txt and results written here as the worker and the control plane write them.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCancel } from '../../lib/cli/cancel-command';
import { CliError, EXIT } from '../../lib/cli/errors';
import { jobRef, locateJob, parseJobArgument, parseJobFolderName } from '../../lib/cli/job-folders';
import { combineStates, readJob, toState } from '../../lib/cli/job-status';
import { listJobs, parseStateFilter, runJobs } from '../../lib/cli/jobs-table';
import { listAllKeys, listFolders } from '../../lib/cli/list-keys';
import { runLogs } from '../../lib/cli/logs-command';
import { runResults, safeLocalPath } from '../../lib/cli/results-command';
import { targetFromClient, type S3Target } from '../../lib/cli/s3-target';
import { runStatus } from '../../lib/cli/status-command';
import { certificateKey, endMarkerKey, jobResultFolder, statusKey } from '../../lib/layout';
import { startS3Emulator, type S3Emulator } from '../support/s3-emulator';
import { captureOutput as capture } from '../support/captured-output';

const BUCKET = 'cli-jobs';
let s3: S3Emulator;
let target: S3Target;

const write = (key: string, body: string) => target.objects.write(key, body);

/** A status file as worker/run-job.sh writes it. */
const workerStatus = (status: string, input: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify(
    {
      status,
      reason: status === 'IN PROGRESS' ? 'running the analysis' : 'the analysis exited with code 0',
      input,
      instance: 'i-0123',
      job_id: 'x',
      analysis: 'mock',
      launcher: 'ec2',
      job_start: '2026-01-01T00:00:00Z',
      job_finish: null,
      updated: '2026-01-01T00:00:05Z',
      deadline: '2026-01-01T01:00:00Z',
      duration_estimate_minutes: null,
      duration_estimate_exceeded: false,
      exit_code: null,
      std: { stdout: 'line 1\nline 2\n', stderr: '' },
      cpu: null,
      memory: null,
      ...extra,
    },
    null,
    2,
  );

const folder = (group: string, jobId: string) => jobResultFolder(group, 'mock', jobId);

beforeAll(async () => {
  s3 = await startS3Emulator([BUCKET]);
  target = targetFromClient(s3.client, BUCKET, 'mock');

  // labA/one: one dataset, SUCCESS, results and end.txt.
  const one = folder('labA', 'one');
  await write(certificateKey(one), '2026-01-01T00:00:00Z +0:00:00  submission accepted\n');
  await write(
    statusKey(one, 'data.bin'),
    workerStatus('SUCCESS', 'labA/inputs/data.bin', {
      exit_code: 0,
      std: { stdout: 'tail out\n', stderr: 'tail err\n' },
    }),
  );
  await write(`${one}/logs/DATASET_NAME:data.bin_stdout.txt`, 'full stdout 1\nfull stdout 2\n');
  await write(`${one}/process_results/result.txt`, 'done\n');
  await write(`${one}/process_results/sub/sizes.txt`, '42\n');
  await write(endMarkerKey(one), 'job one finished: 1 SUCCESS\n');

  // labA/two: two datasets, one SUCCESS and one FAILED.
  const two = folder('labA', 'two');
  // What each worker cost, as the control plane adds it when a dataset ends: one known, one unknown.
  await write(
    statusKey(two, 'a.bin'),
    workerStatus('SUCCESS', 'labA/inputs/a.bin', { exit_code: 0, cost_usd: 0.0821 }),
  );
  await write(
    statusKey(two, 'b.bin'),
    workerStatus('FAILED', 'labA/inputs/b.bin', {
      exit_code: 3,
      reason: 'the analysis exited with code 3: bad channel map',
      std: { stdout: '', stderr: 'bad channel map\n' },
      cost_usd: 'unknown',
      cost: { unknown_reason: 'no price is known for x9.huge' },
    }),
  );
  await write(endMarkerKey(two), 'job two finished: 1 SUCCESS, 1 FAILED\n');

  // labA/three: running (one dataset in progress, one still queued by the control plane).
  const three = folder('labA', 'three');
  await write(statusKey(three, 'x.bin'), workerStatus('IN PROGRESS', 'labA/inputs/x.bin'));
  await write(
    statusKey(three, 'y.bin'),
    JSON.stringify({ status: 'QUEUED', reason: 'waiting for a worker', input: 'labA/inputs/y.bin' }),
  );

  // labA/pending: submitted, the control plane has not answered yet.
  await write('labA/submissions/pendingsubmit.json', '{"timestamp": "pending"}');
  // labA/refused: refused beside the submission (no results folder).
  await write('labA/submissions/refusedsubmit.json', '{"timestamp": "refused"}');
  await write(
    'labA/submissions/refusedsubmit.error.txt',
    'Your submission was not accepted.\n\n- dataname is empty\n',
  );

  // labB/other: another group's job.
  await write(statusKey(folder('labB', 'other'), 'z.bin'), workerStatus('IN PROGRESS', 'labB/inputs/z.bin'));
});
afterAll(() => s3.stop());

describe('job state from status files', () => {
  test('the furthest state while running; final when every dataset is; FAILED if any failed', () => {
    expect(combineStates(['QUEUED', 'IN PROGRESS'], false)).toEqual({ state: 'IN PROGRESS', final: false });
    expect(combineStates(['SUCCESS', 'QUEUED'], false)).toEqual({ state: 'IN PROGRESS', final: false });
    expect(combineStates(['SUCCESS', 'FAILED'], false)).toEqual({ state: 'FAILED', final: true });
    expect(combineStates(['SUCCESS', 'CANCELLED'], false)).toEqual({ state: 'CANCELLED', final: true });
    expect(combineStates(['SUCCESS', 'SUCCESS'], false)).toEqual({ state: 'SUCCESS', final: true });
    expect(combineStates([], false)).toEqual({ state: 'QUEUED', final: false });
    // end.txt means done, even if a late write left a dataset looking live.
    expect(combineStates(['SUCCESS', 'IN PROGRESS'], true, 'job x: 1 SUCCESS, 1 TIMED_OUT')).toEqual({
      state: 'TIMED_OUT',
      final: true,
    });
    // An unknown status keeps the job live.
    expect(combineStates(['SUCCESS', undefined], false)).toEqual({ state: 'IN PROGRESS', final: false });
  });

  test('two datasets, one SUCCESS and one FAILED: the job FAILED', async () => {
    const view = await readJob(target, jobRef('labA', 'mock', 'two'));
    expect(view).toMatchObject({ state: 'FAILED', final: true, ended: true });
    expect(view?.datasets.map((d) => [d.label, d.status, d.exitCode])).toEqual([
      ['a.bin', 'SUCCESS', 0],
      ['b.bin', 'FAILED', 3],
    ]);
    expect(view?.summary).toContain('b.bin: the analysis exited with code 3: bad channel map');
  });

  test('a submission not answered yet is QUEUED; one refused beside it is FAILED with the reason', async () => {
    expect(await readJob(target, jobRef('labA', 'mock', 'pending'))).toMatchObject({
      state: 'QUEUED',
      final: false,
    });
    const refused = await readJob(target, jobRef('labA', 'mock', 'refused'));
    expect(refused).toMatchObject({ state: 'FAILED', final: true });
    expect(refused?.refusal).toContain('dataname is empty');
    expect(await readJob(target, jobRef('labA', 'mock', 'nothing'))).toBeUndefined();
  });
});

describe('finding a job', () => {
  test('by timestamp, folder name or results key; the analysis read from the folder when not given', async () => {
    expect(parseJobFolderName('job__mock_16:52:06.836494condition_2_3')).toEqual({
      analysis: 'mock',
      jobId: '16:52:06.836494condition_2_3',
    });
    expect(parseJobArgument('labA/results/job__mock_one/')).toEqual({
      group: 'labA',
      analysis: 'mock',
      jobId: 'one',
    });
    const noAnalysis = targetFromClient(s3.client, BUCKET);
    expect(await locateJob(noAnalysis, { group: 'labA', job: 'two' })).toEqual(jobRef('labA', 'mock', 'two'));
    expect(await locateJob(noAnalysis, { group: 'labA', job: 'pending' })).toEqual(
      jobRef('labA', 'mock', 'pending'),
    );
    // Without a group, every group the bucket lists is searched.
    expect(await locateJob(target, { job: 'other' })).toEqual(jobRef('labB', 'mock', 'other'));
  });

  test('a job that is not there is exit code 2', async () => {
    await expect(locateJob(target, { group: 'labA', job: 'nope' })).rejects.toMatchObject({
      exitCode: EXIT.usage,
      message: expect.stringContaining('no job "nope" in group labA'),
    });
    // Another group's job is not found under your group.
    await expect(locateJob(target, { group: 'labA', job: 'other' })).rejects.toBeInstanceOf(CliError);
  });
});

describe('ncaas status', () => {
  test('prints the state and each dataset', async () => {
    const io = capture();
    expect(await runStatus(target, { group: 'labA', job: 'two' }, io.output)).toBe(EXIT.ok);
    const text = io.stdout();
    expect(text).toContain('state     FAILED');
    expect(text).toContain('b.bin  FAILED  exit 3  cost unknown');
    expect(text).toContain('a.bin  SUCCESS  exit 0  $0.0821');
    expect(text).toContain('cost unknown: no price is known for x9.huge');
    expect(text).toContain('cost      $0.0821 + unknown for 1 dataset\n');
    expect(text).toContain('results   s3://cli-jobs/labA/results/job__mock_two/');
  });

  test('--json', async () => {
    const io = capture();
    await runStatus(target, { group: 'labA', job: 'three', json: true }, io.output);
    expect(JSON.parse(io.stdout())).toMatchObject({
      job: 'three',
      state: 'IN PROGRESS',
      final: false,
      datasets: [
        { label: 'x.bin', status: 'IN PROGRESS' },
        { label: 'y.bin', status: 'QUEUED' },
      ],
    });
  });
});

describe('ncaas jobs', () => {
  test("lists the group's jobs from results/ and its pending submissions", async () => {
    const views = await listJobs(target, { group: 'labA' });
    expect(Object.fromEntries(views.map((v) => [v.ref.jobId, v.state]))).toEqual({
      one: 'SUCCESS',
      two: 'FAILED',
      three: 'IN PROGRESS',
      pending: 'QUEUED',
      refused: 'FAILED',
    });
  });

  test('a table, filtered by state', async () => {
    const io = capture();
    expect(await runJobs(target, { group: 'labA', state: 'failed' }, io.output)).toBe(EXIT.ok);
    const lines = io.stdout().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^JOB\s+STATE\s+DATASETS\s+COST\s+SUBMITTED\s+NOTE$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 2))).toEqual(
      expect.arrayContaining([
        ['two', 'FAILED'],
        ['refused', 'FAILED'],
      ]),
    );
    expect(lines).toHaveLength(3);
    expect(lines.find((l) => l.startsWith('two'))).toContain('2/2 done  $0.0821 + unknown for 1 dataset');
    // A job whose workers' costs are not written (refused before any ran) shows none.
    expect(lines.find((l) => l.startsWith('refused'))).toMatch(/^refused\s+FAILED\s+\S+\s+-\s/);
  });

  test('--json, and every group when none is given', async () => {
    const io = capture();
    await runJobs(target, { json: true, state: 'IN_PROGRESS' }, io.output);
    const jobs = JSON.parse(io.stdout()) as { job: string; group: string }[];
    expect(jobs.map((j) => `${j.group}/${j.job}`).sort()).toEqual(['labA/three', 'labB/other']);
  });

  test('an unknown --state is a usage error', () => {
    expect(() => parseStateFilter('RUNNING')).toThrow(/not a job state/);
    expect(parseStateFilter('in-progress,Success')).toEqual(['IN PROGRESS', 'SUCCESS']);
    expect(toState('SUBMITTED')).toBe('QUEUED');
    expect(toState('IN_PROGRESS')).toBe('IN PROGRESS');
    expect(toState('RUNNING')).toBeUndefined();
  });
});

describe('ncaas logs', () => {
  test("the certificate, then each dataset's stdout (full copy) and stderr (the status file's tail)", async () => {
    const io = capture();
    expect(await runLogs(target, { group: 'labA', job: 'one' }, io.output)).toBe(EXIT.ok);
    const text = io.stdout();
    expect(text).toContain('== certificate\n2026-01-01T00:00:00Z +0:00:00  submission accepted');
    expect(text).toContain('-- stdout\nfull stdout 1\nfull stdout 2');
    expect(text).toContain('-- stderr (last lines)\ntail err');
  });

  test('a refused submission shows why', async () => {
    const io = capture();
    await runLogs(target, { group: 'labA', job: 'refused' }, io.output);
    expect(io.stdout()).toContain('- dataname is empty');
  });
});

describe('ncaas results', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-cli-results-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('downloads process_results/ (end.txt included) into DIR, keeping folders', async () => {
    const io = capture();
    const out = path.join(dir, 'out');
    const code = await runResults(target, { group: 'labA', job: 'one', download: out }, io.output);
    expect(fs.readFileSync(path.join(out, 'result.txt'), 'utf8')).toBe('done\n');
    expect(fs.readFileSync(path.join(out, 'sub', 'sizes.txt'), 'utf8')).toBe('42\n');
    expect(fs.readdirSync(out, { recursive: true }).map(String).sort()).toEqual([
      'end.txt',
      'result.txt',
      'sub',
      path.join('sub', 'sizes.txt'),
    ]);
    expect(io.stdout()).toContain('downloaded 3 files');
    expect(code).toBe(EXIT.ok);
  });

  test('safe paths', () => {
    expect(safeLocalPath('/tmp/d', 'a/b.txt')).toBe(path.resolve('/tmp/d/a/b.txt'));
    for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'a//b', '', 'a\\..\\b']) {
      expect(safeLocalPath('/tmp/d', bad)).toBeUndefined();
    }
  });

  test('lists without --download; a job without results is exit 1', async () => {
    const io = capture();
    expect(await runResults(target, { group: 'labA', job: 'one' }, io.output)).toBe(EXIT.ok);
    expect(io.stdout()).toMatch(/result\.txt/);
    const none = capture();
    expect(await runResults(target, { group: 'labA', job: 'three' }, none.output)).toBe(EXIT.failed);
    expect(none.stderr()).toContain(
      'no results under s3://cli-jobs/labA/results/job__mock_three/process_results/ yet',
    );
  });
});

describe('ncaas cancel', () => {
  test('uploads {group}/submissions/<job>.cancel.json for a running job', async () => {
    const io = capture();
    expect(await runCancel(target, { group: 'labA', job: 'three' }, io.output)).toBe(EXIT.ok);
    const body = await target.objects.readText('labA/submissions/three.cancel.json');
    expect(JSON.parse(body ?? '')).toMatchObject({ timestamp: 'three' });
    expect(io.stdout()).toContain('cancel requested for job three');
  });

  test('a finished job has nothing to cancel: no request is written', async () => {
    const io = capture();
    expect(await runCancel(target, { group: 'labA', job: 'one' }, io.output)).toBe(EXIT.ok);
    expect(await target.objects.head('labA/submissions/one.cancel.json')).toBeUndefined();
    expect(io.stdout()).toContain('already finished (SUCCESS)');
  });
});

describe('listing', () => {
  test('finds every folder, also those holding only sub-folders, however the pages fall', async () => {
    for (const key of [
      'lst/a/logs/1',
      'lst/a/logs/2',
      'lst/a/process_results/3',
      'lst/b/logs/1',
      'lst/c/x',
      'lst/file-at-top',
      'lst/d\uffff/logs/1',
      'lst/d\uffff/logs/2',
    ]) {
      await write(key, 'x');
    }
    for (const pageSize of [1, 2, 3, 1000]) {
      expect((await listFolders(target, 'lst/', pageSize)).sort()).toEqual([
        'lst/a/',
        'lst/b/',
        'lst/c/',
        'lst/d\uffff/',
      ]);
      expect((await listAllKeys(target, 'lst/a/', pageSize)).map((k) => k.key)).toEqual([
        'lst/a/logs/1',
        'lst/a/logs/2',
        'lst/a/process_results/3',
      ]);
    }
  });
});
