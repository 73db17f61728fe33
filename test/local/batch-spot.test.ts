/**
 * Spot with an on-demand fallback, end to end on the local runtime: a batch blueprint with
 * `Container.Spot` sends stage-in and analysis jobs to the Spot-first queue; when Spot fails a launch
 * (its queue cancels a job waiting for capacity, or the instance is taken back mid-run) the control
 * plane removes what was staged and launches the dataset again on the on-demand queue, once. The user
 * sees SUCCESS, a certificate that says what happened, and no EFS job folder is left behind.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BatchSubmission } from '../../lib/launch/batch-api';
import { JOB_PARAMETERS } from '../../lib/launch/batch-stages';
import { certificateKey, jobResultFolder, processResultsPrefix, statusKey } from '../../lib/layout';
import type { SpotInterruption } from '../../local/local-batch';
import { LOCAL_JOB_QUEUE, LOCAL_SPOT_QUEUE } from '../../local/local-batch';
import { finalStatusOf, runtimeBucket, type RuntimeBucket } from '../support/runtime-bucket';
import { startLocalRuntime, type LocalRuntime } from '../../local/local-runtime';

const GROUP = 'labA';
const DATA = 'labA/inputs/session1.csv';

/** Job id -> what Spot does to its jobs, by stage; every job that became RUNNABLE, with its queue. */
const plan = new Map<string, { readonly stage: string; readonly interruption: SpotInterruption }>();
const seen: { jobId: string; stage: string; queue: string }[] = [];

const spotInterruption = (submission: BatchSubmission): SpotInterruption | undefined => {
  const jobId = submission.parameters[JOB_PARAMETERS.jobId];
  const stage = submission.parameters[JOB_PARAMETERS.stage];
  seen.push({ jobId, stage, queue: submission.jobQueue });
  const planned = plan.get(jobId);
  return planned?.stage === stage ? planned.interruption : undefined;
};

let runtime: LocalRuntime;
let bucket: RuntimeBucket;
let dir: string;
const lines: string[] = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-local-spot-'));
  const blueprint = JSON.parse(
    fs.readFileSync(path.join(__dirname, '..', '..', 'blueprints', 'mock-batch.json'), 'utf8'),
  ) as { Container: Record<string, unknown>; $schema?: string };
  blueprint.Container.Spot = true;
  delete blueprint.$schema;
  const blueprintFile = path.join(dir, 'mock-batch-spot.json');
  fs.writeFileSync(blueprintFile, JSON.stringify(blueprint));
  runtime = await startLocalRuntime({
    blueprint: blueprintFile,
    dir,
    print: (line) => lines.push(line),
    watchdogIntervalMs: 3_600_000,
    spotInterruption,
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

const folderOf = (jobId: string) => jobResultFolder(GROUP, runtime.config.name, jobId);

const finalStatus = (jobId: string): Promise<Record<string, unknown>> =>
  finalStatusOf(runtime, bucket, statusKey(folderOf(jobId), 'session1.csv'), () => lines.join('\n'));

const submit = async (jobId: string) => {
  const config = `labA/configs/${jobId}.json`;
  await put(config, JSON.stringify({ mode: 'ok' }));
  await put(
    `labA/submissions/${jobId}submit.json`,
    JSON.stringify({ dataname: DATA, configname: config, timestamp: jobId }),
  );
};

const efsJobFolders = (): string[] => {
  const jobs = path.join(dir, 'efs', GROUP, 'jobs');
  return fs.existsSync(jobs) ? fs.readdirSync(jobs) : [];
};

const queuesOf = (jobId: string) => seen.filter((s) => s.jobId === jobId).map((s) => `${s.stage}@${s.queue}`);

describe('Spot with an on-demand fallback (local runtime, mock-batch with Container.Spot)', () => {
  test('Spot works: stage-in and analysis on the Spot queue, stage-out on the on-demand queue', async () => {
    await submit('spot-ok');
    expect(await finalStatus('spot-ok')).toMatchObject({ status: 'SUCCESS' });
    expect(queuesOf('spot-ok')).toEqual([
      `in@${LOCAL_SPOT_QUEUE}`,
      `run@${LOCAL_SPOT_QUEUE}`,
      `out@${LOCAL_JOB_QUEUE}`,
    ]);
    expect(efsJobFolders()).toEqual([]);
  }, 120_000);

  test('the instance is taken back mid-analysis: relaunched on on-demand, SUCCESS, old folder removed', async () => {
    plan.set('spot-reclaimed', { stage: 'run', interruption: 'reclaimed' });
    await submit('spot-reclaimed');
    const final = await finalStatus('spot-reclaimed');
    expect(final).toMatchObject({ status: 'SUCCESS', exit_code: 0 });
    const folder = folderOf('spot-reclaimed');
    expect(await read(`${processResultsPrefix(folder)}result.txt`)).toBe('done\n');
    const certificate = (await read(certificateKey(folder))) ?? '';
    expect(certificate).toContain('Spot took the instance back');
    expect(certificate).toMatch(/relaunched on on-demand capacity: Batch analysis job \S+/);
    // The first launch's stage-in had staged the data: a clean-up removed its folder.
    expect(queuesOf('spot-reclaimed')).toEqual([
      `in@${LOCAL_SPOT_QUEUE}`,
      `run@${LOCAL_SPOT_QUEUE}`,
      `out@${LOCAL_JOB_QUEUE}`, // the clean-up of the first launch's folder
      `in@${LOCAL_JOB_QUEUE}`,
      `run@${LOCAL_JOB_QUEUE}`,
      `out@${LOCAL_JOB_QUEUE}`,
    ]);
    expect(efsJobFolders()).toEqual([]);
  }, 120_000);

  test('no Spot capacity for the stage-in: relaunched on on-demand, SUCCESS, nothing left on EFS', async () => {
    plan.set('spot-none', { stage: 'in', interruption: 'no-capacity' });
    await submit('spot-none');
    const final = await finalStatus('spot-none');
    expect(final).toMatchObject({ status: 'SUCCESS' });
    const certificate = (await read(certificateKey(folderOf('spot-none')))) ?? '';
    expect(certificate).toContain('no Spot capacity');
    expect(certificate).toContain('INSUFFICIENT_INSTANCE_CAPACITY');
    // The stage-in never ran (nor its analysis): nothing to clean up, straight to the on-demand launch.
    expect(queuesOf('spot-none')).toEqual([
      `in@${LOCAL_SPOT_QUEUE}`,
      `in@${LOCAL_JOB_QUEUE}`,
      `run@${LOCAL_JOB_QUEUE}`,
      `out@${LOCAL_JOB_QUEUE}`,
    ]);
    expect(efsJobFolders()).toEqual([]);
  }, 120_000);
});
