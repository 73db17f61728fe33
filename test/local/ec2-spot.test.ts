/**
 * Spot on the EC2 runtime, end to end on the local runtime: a blueprint with `Ec2.Spot` runs its
 * workers "on Spot"; the runtime plays a reclaim (EC2's two-minute warning, then the worker killed
 * without a word). The worker uploads what it has on the warning; the control plane relaunches the
 * dataset once on on-demand capacity, and the user sees SUCCESS with a certificate that says why.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { certificateKey, jobResultFolder, processResultsPrefix, statusKey } from '../../lib/layout';
import type { LaunchRequest } from '../../lib/launch/launcher';
import { startLocalRuntime, type LocalRuntime } from '../../local/local-runtime';
import { finalStatusOf, runtimeBucket, type RuntimeBucket } from '../support/runtime-bucket';

const GROUP = 'labA';
const DATA = 'labA/inputs/session1.csv';
/** Writes a partial result, runs 6 s, then the result: long enough for a reclaim 1.5 s in. */
const COMMAND =
  'sh -c \'echo partial > "$NCAAS_OUTPUT_DIR/partial.txt"; sleep 6; echo done > "$NCAAS_OUTPUT_DIR/result.txt"\' spot "{}" "{}" "{}" "{}"';

const reclaimed = new Set<string>();
/** The launches that ran on Spot (the runtime asks which of them Spot reclaims). */
const launches: LaunchRequest[] = [];
let runtime: LocalRuntime;
let bucket: RuntimeBucket;
let dir: string;
const lines: string[] = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-local-ec2-spot-'));
  const blueprint = JSON.parse(
    fs.readFileSync(path.join(__dirname, '..', '..', 'blueprints', 'mock.json'), 'utf8'),
  ) as { Lambda: { LambdaConfig: Record<string, unknown> }; $schema?: string } & Record<string, unknown>;
  delete blueprint.$schema;
  blueprint.PipelineName = 'mock-spot';
  blueprint.Lambda.LambdaConfig.COMMAND = COMMAND;
  blueprint.Ec2 = { Spot: true };
  const blueprintFile = path.join(dir, 'mock-spot.json');
  fs.writeFileSync(blueprintFile, JSON.stringify(blueprint));
  runtime = await startLocalRuntime({
    blueprint: blueprintFile,
    dir,
    print: (line) => lines.push(line),
    watchdogIntervalMs: 3_600_000,
    spotReclaim: (request) => {
      launches.push(request);
      return reclaimed.has(request.job.jobId) ? { afterMs: 1500, noticeMs: 3000 } : undefined;
    },
  });
  bucket = runtimeBucket(runtime);
  await bucket.put(DATA, 'frame,value\n1,0.5\n');
}, 60_000);

afterAll(async () => {
  await runtime?.stop();
  bucket?.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

const folderOf = (jobId: string) => jobResultFolder(GROUP, runtime.config.name, jobId);

const finalStatus = (jobId: string): Promise<Record<string, unknown>> =>
  finalStatusOf(runtime, bucket, statusKey(folderOf(jobId), 'session1.csv'), () => lines.join('\n'));

const submit = async (jobId: string) => {
  const config = `labA/configs/${jobId}.json`;
  await bucket.put(config, '{}');
  await bucket.put(
    `labA/submissions/${jobId}submit.json`,
    JSON.stringify({ dataname: DATA, configname: config, timestamp: jobId }),
  );
};

test('Spot reclaims the worker mid-analysis: what it wrote is uploaded, the dataset is relaunched on on-demand once, SUCCESS', async () => {
  reclaimed.add('reclaimed');
  await submit('reclaimed');
  expect(await finalStatus('reclaimed')).toMatchObject({ status: 'SUCCESS', exit_code: 0 });
  const folder = folderOf('reclaimed');
  expect(await bucket.read(`${processResultsPrefix(folder)}result.txt`)).toBe('done\n');
  // Spot was asked about the first launch only: the relaunch asked for on-demand capacity.
  expect(launches.filter((l) => l.job.jobId === 'reclaimed')).toHaveLength(1);

  const certificate = (await bucket.read(certificateKey(folder))) ?? '';
  expect(certificate).toMatch(/worker local:\d+:\d+ launched \(t3\.micro on Spot\)/);
  expect(certificate).toMatch(/Spot will reclaim worker local:\d+:\d+ in two minutes \(terminate\)/);
  expect(certificate).toMatch(
    /INTERRUPTED: Spot reclaimed the instance \(worker local:\d+:\d+\); relaunched on on-demand capacity: worker local:\d+:\d+ launched \(t3\.micro\)/,
  );
  expect(certificate).toMatch(/job finished: 1 SUCCESS; cost unknown/);
  // The Spot worker's log says it uploaded on the notice (the on-demand worker's replaced its status).
  const workers = fs.readdirSync(path.join(dir, 'workers'));
  const logs = workers.map((w) => fs.readFileSync(path.join(dir, 'workers', w, 'worker.log'), 'utf8'));
  expect(
    logs.some((l) => /Spot is reclaiming this instance .*: uploading what the analysis wrote so far/.test(l)),
  ).toBe(true);
}, 120_000);

test('a Spot worker that is not reclaimed runs to the end on Spot', async () => {
  await submit('kept');
  expect(await finalStatus('kept')).toMatchObject({ status: 'SUCCESS' });
  expect(launches.filter((l) => l.job.jobId === 'kept')).toHaveLength(1);
}, 120_000);
