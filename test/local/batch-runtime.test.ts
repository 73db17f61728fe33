/**
 * The batch runtime end to end without AWS: the local runtime runs blueprints/mock-batch.json with
 * the real BatchLauncher and batch reconcile code over the local Batch (stage-in, analysis and
 * stage-out as processes, a local folder standing in for the analysis EFS), S3 and DynamoDB on the
 * emulators. A success, a failing analysis, a cancel and a stage-out that cannot start each end
 * with the job folder removed, and the analysis container's log (its process output, as CloudWatch
 * Logs is on AWS) copied into logs/.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  analysisLogKey,
  certificateKey,
  endMarkerKey,
  jobResultFolder,
  processResultsPrefix,
  statusKey,
} from '../../lib/layout';
import { finalStatusOf, runtimeBucket, type RuntimeBucket } from '../support/runtime-bucket';
import { startLocalRuntime, type LocalRuntime } from '../../local/local-runtime';

const GROUP = 'labA';
const DATA = 'labA/inputs/session1.csv';
/** The job whose stage-out cannot start (its staging image "cannot be pulled"). */
const UNPULLABLE = 'batch-unpullable';
const PULL_ERROR = 'CannotPullContainerError: pull access denied for the staging image';

let runtime: LocalRuntime;
let bucket: RuntimeBucket;
let dir: string;
const lines: string[] = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-local-batch-'));
  runtime = await startLocalRuntime({
    blueprint: 'mock-batch',
    dir,
    print: (line) => lines.push(line),
    watchdogIntervalMs: 3_600_000,
    // The staging image of one job's stage-out cannot be pulled; its clean-ups (and other jobs) run.
    batchStartFailure: (submission) =>
      submission.parameters.ncaasJobId === UNPULLABLE &&
      submission.parameters.ncaasStage === 'out' &&
      submission.parameters.ncaasCleanupOnly !== '1'
        ? PULL_ERROR
        : undefined,
  });
  bucket = runtimeBucket(runtime);
  await put(DATA, 'frame,value\n1,0.5\n2,0.7\n');
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
  bucket?.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

const put = (key: string, body: string) => bucket.put(key, body);

const read = (key: string) => bucket.read(key);

const keysUnder = (prefix: string) => bucket.keysUnder(prefix);

const folderOf = (jobId: string) => jobResultFolder(GROUP, 'mock-batch', jobId);

const status = async (jobId: string): Promise<Record<string, unknown> | undefined> => {
  const text = await read(statusKey(folderOf(jobId), 'session1.csv'));
  try {
    return text === undefined ? undefined : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    // Read while it was being written (s3rver does not write atomically): poll again.
    return undefined;
  }
};

/** Submits one dataset with a config whose text steers the mock analysis (fail, sleep, anything). */
const submit = async (jobId: string, mode: string) => {
  const config = `labA/configs/${jobId.replace(/[^A-Za-z0-9]/g, '_')}.json`;
  await put(config, JSON.stringify({ mode }));
  await put(
    `labA/submissions/${jobId.replace(/[^A-Za-z0-9]/g, '_')}submit.json`,
    JSON.stringify({ dataname: DATA, configname: config, timestamp: jobId }),
  );
};

const waitFor = async <T>(what: string, probe: () => Promise<T | undefined>, ms = 90_000): Promise<T> => {
  const until = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until)
      throw new Error(`timed out waiting for ${what}; runtime said:\n${lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
};

/** The final status, once the stage-out has reported it and every job of the runtime has ended. */
const finalStatus = (jobId: string): Promise<Record<string, unknown>> =>
  finalStatusOf(runtime, bucket, statusKey(folderOf(jobId), 'session1.csv'));

const efsJobFolders = (): string[] => {
  const jobs = path.join(dir, 'efs', GROUP, 'jobs');
  return fs.existsSync(jobs) ? fs.readdirSync(jobs) : [];
};

describe('the local runtime runs a batch blueprint (mock-batch) end to end', () => {
  test('success: three stages, results and logs uploaded, the EFS job folder removed', async () => {
    // A NeuroCAAS timestamp: `:` and `.` are not allowed in Batch job names.
    const jobId = '16:52:06.836494ok';
    await submit(jobId, 'ok');
    const final = await finalStatus(jobId);
    expect(final).toMatchObject({ status: 'SUCCESS', exit_code: 0, launcher: 'batch' });
    expect(String(final.instance)).toMatch(/^local:batch:/);

    const folder = folderOf(jobId);
    expect(await read(`${processResultsPrefix(folder)}result.txt`)).toBe('done\n');
    expect(await read(`${processResultsPrefix(folder)}config-seen`)).toBe('{"mode":"ok"}');
    expect(await read(`${processResultsPrefix(folder)}sizes.txt`)).toContain('session1.csv');
    expect(await read(endMarkerKey(folder))).toContain('1 SUCCESS');
    expect(await read(`${folder}/logs/DATASET_NAME:session1.csv_stdout.txt`)).toContain(
      'mock analysis of labA/inputs/session1.csv',
    );
    const certificate = (await read(certificateKey(folder))) ?? '';
    expect(certificate).toMatch(/Batch stage-in job \S+ is running/);
    expect(certificate).toMatch(/Batch analysis job \S+ is running/);
    expect(certificate).toMatch(/Batch stage-out job \S+ submitted/);
    expect(certificate).toMatch(/: SUCCESS/);
    expect(efsJobFolders()).toEqual([]);

    // The analysis container's log, copied before the stage-out ran, hence before the final state.
    const log = await read(analysisLogKey(folder, 'session1.csv'));
    expect(log).toContain(`mock analysis of labA/inputs/session1.csv (bucket ${runtime.bucket})`);
    expect(log).not.toContain('[ncaas]');
    const copied = certificate.indexOf("the analysis container's log (");
    expect(copied).toBeGreaterThan(0);
    expect(certificate.indexOf('Batch stage-out job')).toBeGreaterThan(copied);
    expect(certificate.indexOf('session1.csv: SUCCESS')).toBeGreaterThan(copied);
  }, 120_000);

  test('a failing analysis: FAILED with its exit code and stderr, logs still uploaded, folder removed', async () => {
    const jobId = 'batch-fail.1';
    await submit(jobId, 'fail');
    const final = await finalStatus(jobId);
    expect(final).toMatchObject({ status: 'FAILED', exit_code: 3 });
    expect(String(final.reason)).toContain('the analysis exited with code 3');
    expect(String(final.reason)).toContain('failing on purpose');
    const folder = folderOf(jobId);
    expect(await read(`${folder}/logs/DATASET_NAME:session1.csv_stderr.txt`)).toContain('failing on purpose');
    // One log with both streams, as the CloudWatch stream has them.
    const log = (await read(analysisLogKey(folder, 'session1.csv'))) ?? '';
    expect(log).toContain('mock analysis of labA/inputs/session1.csv');
    expect(log).toContain('mock analysis: failing on purpose');
    expect(await keysUnder(`${processResultsPrefix(folder)}`)).toContain(
      `${processResultsPrefix(folder)}end.txt`,
    );
    // The stage-out reported and removed the folder: it succeeded, so no clean-up was needed.
    expect(await read(certificateKey(folder))).not.toContain('clean-up job');
    expect(efsJobFolders()).toEqual([]);
  }, 120_000);

  test('a cancel while the analysis runs: CANCELLED, the stage-out still runs, folder removed', async () => {
    const jobId = 'batch-cancel';
    await submit(jobId, 'sleep');
    await waitFor('the analysis to run', async () => {
      const s = await status(jobId);
      return String(s?.reason ?? '').startsWith('running the analysis') ? true : undefined;
    });
    await put(`labA/submissions/${jobId}.cancel.json`, '{}');
    const final = await finalStatus(jobId);
    expect(final.status).toBe('CANCELLED');
    expect(String(final.reason)).toContain('cancelled');
    const folder = folderOf(jobId);
    expect(await read(`${folder}/logs/DATASET_NAME:session1.csv_stdout.txt`)).toContain('sleeping');
    expect(await read(analysisLogKey(folder, 'session1.csv'))).toContain('mock analysis: sleeping');
    expect(efsJobFolders()).toEqual([]);
  }, 120_000);

  test('a stage-out that cannot start: FAILED, and a clean-up on the analysis image still removes the folder', async () => {
    await submit(UNPULLABLE, 'ok');
    const final = await finalStatus(UNPULLABLE);
    expect(final.status).toBe('FAILED');
    expect(String(final.reason)).toContain(`stage-out failed: FAILED (${PULL_ERROR})`);
    const certificate = (await read(certificateKey(folderOf(UNPULLABLE)))) ?? '';
    expect(certificate).toMatch(
      /clean-up job \S+ submitted to remove the job folder \S+ from the analysis EFS \(try 1 of 3, on the analysis image\)/,
    );
    expect(certificate).toMatch(/the job folder \S+ was removed from the analysis EFS \(clean-up job \S+\)/);
    expect(efsJobFolders()).toEqual([]);
  }, 120_000);
});
