/**
 * A NeuroCAAS analysis, unchanged, on the local runtime: the fixture of test/fixtures/neurocaas-analysis/
 * is built the way NeuroCAAS's developer guide teaches (run_main.sh + ncap_utils/workflow.sh, the
 * analysis script as the fifth argument, COMMAND ending in `cleanup`), with a blueprint as NeuroCAAS
 * wrote it (WORKING_DIRECTORY set). Its scripts move their own data with `aws s3`, keep their status
 * file with jq and rewrite their certificate line with Python's boto3, as NeuroCAAS's do.
 */
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { startE2eRuntime, waitFor, type E2eRuntime } from '../support/local-e2e';

jest.setTimeout(150_000);

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'neurocaas-analysis');
const ANALYSIS = 'neurocaas-fixture';
const DIVIDER = '================';

let e2e: E2eRuntime;
let tmp: string;
/** Created (in the current folder of whatever shell parsed it) if a key or timestamp ever ran. */
const marker = `ncaas-pwned-${process.pid}`;
/** Where a shell that ran the marker's `touch` would have created it. */
const markerFound = (): string[] => {
  const found = spawnSync('find', [FIXTURE, tmp, e2e.dir, process.cwd(), '-name', marker], {
    encoding: 'utf8',
  });
  return found.stdout.split('\n').filter(Boolean);
};

/** The fixture's blueprint, as NeuroCAAS wrote it, with WORKING_DIRECTORY where the fixture is. */
const writeBlueprint = (): string => {
  const blueprint = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'blueprint.json'), 'utf8')) as {
    Lambda: { LambdaConfig: Record<string, unknown> };
  };
  blueprint.Lambda.LambdaConfig.WORKING_DIRECTORY = FIXTURE;
  blueprint.Lambda.LambdaConfig.COMMAND =
    // The fixture's monitor every second (NeuroCAAS's: every 10 s), so the test does not wait for it.
    'export NCAAS_FIXTURE_MONITOR_SECONDS=1; neurocaas_contrib/run_main.sh "{}" "{}" "{}" "{}" "analyses/by-config.sh"; . neurocaas_contrib/ncap_utils/workflow.sh; cleanup';
  const file = path.join(tmp, 'neurocaas-fixture.json');
  fs.writeFileSync(file, JSON.stringify(blueprint, null, 2));
  return file;
};

let jobs: { success: string; failure: string; two: string; hostile: string };
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-neurocaas-e2e-'));
  const blueprint = writeBlueprint();
  e2e = await startE2eRuntime({ blueprint });
  // env.sh names the blueprint: `ncaas submit --dry-run` and the CLI's checks need no --blueprint.
  expect(e2e.env.NCAAS_BLUEPRINT).toBe(blueprint);
  const submit = (data: string[], config: string, timestamp?: string) =>
    e2e.submitJob({ group: 'lab', data, config, ...(timestamp ? { timestamp } : {}) });
  // Submitted together, so the four run at once (DEPLOY_LIMIT 4).
  jobs = {
    success: await submit([e2e.file('recording.txt', 'a\nb\nc\n')], e2e.file('config.json', '{"scale": 2}')),
    failure: await submit([e2e.file('session.txt', 'x\n')], e2e.file('fail-config.json', '{}')),
    two: await submit(
      [e2e.file('left.txt', 'l\n'), e2e.file('right.txt', 'r1\nr2\n')],
      e2e.file('config.yaml', 'label: both\nscale: 3\n'),
    ),
    hostile: await submit(
      [e2e.file(`my "data" $(touch ${marker}); it's.txt`, 'h\n')],
      e2e.file('hostile-config.json', '{}'),
      `16:52:06.8 $(touch ${marker}) "q"; 'q'`,
    ),
  };
});
afterAll(async () => {
  await e2e?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const folder = (job: string): string => `lab/results/job__${ANALYSIS}_${job}`;
const read = async (key: string): Promise<string | undefined> => {
  try {
    const out = await e2e.s3().send(new GetObjectCommand({ Bucket: e2e.runtime.bucket, Key: key }));
    return await out.Body?.transformToString('utf8');
  } catch {
    return undefined;
  }
};
const status = async (job: string, label: string): Promise<Record<string, unknown>> =>
  JSON.parse((await read(`${folder(job)}/logs/DATASET_NAME:${label}_STATUS.txt`)) ?? '{}') as Record<
    string,
    unknown
  >;
/** Follows the job as a user would; its exit code once the job has ended (end.txt written). */
const finished = async (job: string): Promise<number> => {
  const { code } = await e2e.cli.watch(job, { group: 'lab' }).done;
  await waitFor(`end.txt of ${job}`, async () => (await e2e.cli.statusJson(job, { group: 'lab' })).ended);
  return code;
};
const keys = async (prefix: string): Promise<string[]> => {
  const out = await e2e.s3().send(new ListObjectsV2Command({ Bucket: e2e.runtime.bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key ?? '');
};

/**
 * NeuroCAAS's own check of a certificate (the fixture's certificate.py, as log.py parses it). Async:
 * the S3 emulator runs in this process and must answer while Python waits.
 */
const neurocaasAccepts = (
  job: string,
  datasetKey: string,
): Promise<{ code: number | null; stderr: string }> =>
  new Promise((resolve) => {
    const child = spawn(
      'python3',
      [
        path.join(FIXTURE, 'neurocaas_contrib/ncap_utils/certificate.py'),
        'final',
        e2e.runtime.bucket,
        `${folder(job)}/logs/`,
        datasetKey,
        'SUCCESS',
      ],
      {
        env: { ...e2e.runtime.clientEnv, PATH: process.env.PATH ?? '' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('close', (code) => resolve({ code, stderr }));
  });

test('success: results in the job folder (not under the group twice), SUCCESS, NeuroCAAS files in its layout', async () => {
  expect(await finished(jobs.success)).toBe(0);
  const results = `${folder(jobs.success)}/process_results/`;
  const summary = JSON.parse((await read(`${results}recording.txt_summary.json`)) ?? '{}') as Record<
    string,
    unknown
  >;
  expect(summary).toMatchObject({ dataset: 'lab/inputs/recording.txt', lines: 3, scaled_lines: 6 });
  expect(await keys('lab/lab/')).toEqual([]);
  expect(await read(`${results}end.txt`)).toMatch(/1 SUCCESS/);

  // The status file: NeuroCAAS's keys and types; what the analysis wrote into it is kept (its own
  // stdout, keyed by line, from its joboutput.txt), the outcome and our fields are the worker's.
  const s = await status(jobs.success, 'recording.txt');
  expect(s).toMatchObject({
    status: 'SUCCESS',
    reason: ['the analysis finished and reported SUCCESS'],
    input: 'lab/inputs/recording.txt',
    analysis_status: 'SUCCESS',
    job_id: jobs.success,
  });
  expect(Object.values(s.stdout as Record<string, string>).join('')).toContain('summary: {');
  expect(s.cpu_usage).toEqual(expect.arrayContaining([expect.any(String)]));

  // The certificate: NeuroCAAS's layout, which its own parser accepts (two dividers, the dataset's line).
  const certificate = (await read(`${folder(jobs.success)}/logs/certificate.txt`)) ?? '';
  const lines = certificate.split('\n');
  expect(lines[0]).toBe('PER ENVIRONMENT MONITORING:');
  expect(lines.filter((l) => l === DIVIDER)).toHaveLength(2);
  expect(lines[2]).toMatch(/^DATANAME: lab\/inputs\/recording\.txt \| STATUS: SUCCESS \| TIME: /);
  expect(await neurocaasAccepts(jobs.success, 'lab/inputs/recording.txt')).toEqual({ code: 0, stderr: '' });

  // Reproducibility: what ran, on what, with which inputs (the emulator keeps no S3 versions).
  expect(certificate).toContain(
    'reproducibility: blueprint neurocaas-fixture.json, not committed in git; worker AMI ami-0123456789abcdef0, instance type t3.micro; dataset lab/inputs/recording.txt (no S3 version: the bucket keeps none), config lab/configs/config.json (no S3 version: the bucket keeps none)',
  );
  expect(s.provenance).toEqual({
    job: {
      blueprint: 'neurocaas-fixture.json',
      blueprint_commit: null,
      blueprint_uncommitted_edits: true,
      image: 'ami-0123456789abcdef0',
    },
    image_id: null,
    instance_type: null,
    dataset: { key: 'lab/inputs/recording.txt', version_id: null },
    config: { key: 'lab/configs/config.json', version_id: null },
  });
});

test("the analysis fails but COMMAND exits 0 (cleanup): FAILED, with the analysis's own reason", async () => {
  expect(await finished(jobs.failure)).not.toBe(0);
  const view = await e2e.cli.statusJson(jobs.failure, { group: 'lab' });
  expect(view.state).toBe('FAILED');
  const [dataset] = view.datasets;
  expect(dataset?.exit_code).toBe(0);
  expect(dataset?.reason).toMatch(
    /^the analysis reported FAILED in its status file \(analysis script exited with code 3\) \(COMMAND exited 0\)/,
  );
  const s = await status(jobs.failure, 'session.txt');
  expect(s).toMatchObject({ status: 'FAILED', analysis_status: 'FAILED' });
  // What it wrote before failing is kept, where NeuroCAAS scripts put it.
  expect(await read(`${folder(jobs.failure)}/process_results/session.txt_partial.txt`)).toBe(
    'partial result of lab/inputs/session.txt\n',
  );
});

test("two datasets and a YAML config: both SUCCESS, each one's files kept", async () => {
  expect(await finished(jobs.two)).toBe(0);
  const results = `${folder(jobs.two)}/process_results/`;
  for (const [name, lines] of [
    ['left.txt', 1],
    ['right.txt', 2],
  ] as const) {
    const summary = JSON.parse((await read(`${results}${name}_summary.json`)) ?? '{}') as Record<
      string,
      unknown
    >;
    expect(summary).toMatchObject({ label: 'both', lines, scaled_lines: lines * 3 });
  }
  const certificate = (await read(`${folder(jobs.two)}/logs/certificate.txt`)) ?? '';
  expect(certificate.split('\n').filter((l) => l === DIVIDER)).toHaveLength(2);
  expect(certificate).toMatch(/^DATANAME: lab\/inputs\/left\.txt \| STATUS: SUCCESS/m);
  expect(certificate).toMatch(/^DATANAME: lab\/inputs\/right\.txt \| STATUS: SUCCESS/m);
});

test('a key and a timestamp full of shell syntax reach the analysis as data: nothing runs', async () => {
  expect(await finished(jobs.hostile)).toBe(0);
  const key = `lab/inputs/my "data" $(touch ${marker}); it's.txt`;
  const name = path.posix.basename(key);
  const summary = JSON.parse(
    (await read(`${folder(jobs.hostile)}/process_results/${name}_summary.json`)) ?? '{}',
  ) as Record<string, unknown>;
  expect(summary).toMatchObject({ dataset: key, lines: 1 });
  expect(markerFound()).toEqual([]);
});
