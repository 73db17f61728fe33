/**
 * The NeuroCAAS-format fixture analysis (test/fixtures/neurocaas-analysis/) run as a worker runs a
 * NeuroCAAS COMMAND, without the worker: the test plays the worker's part (status file and
 * certificate written before COMMAND, COMMAND run with bash in WORKING_DIRECTORY with the four
 * arguments, `shutdown` shim first on PATH) against s3rver, and checks what NeuroCAAS's
 * run_main.sh / workflow.sh would leave behind.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { loadBlueprintFile } from '../../lib/blueprint/load-blueprint';
import { certificateKey, processResultsPrefix, statusKey } from '../../lib/layout';
import { S3Emulator, startS3Emulator } from '../support/s3-emulator';

const ROOT = path.resolve(__dirname, '../..');
const FIXTURE = path.join(ROOT, 'test/fixtures/neurocaas-analysis');
const BLUEPRINT = path.join(FIXTURE, 'blueprint.json');
const LOCAL_PYTHON = path.join(ROOT, 'local/python');
const BUCKET = 'ncaas-fixture-bucket';
const GROUP = 'lab';
const OTHER_DATASET = 'lab/inputs/other.txt';
const DIVIDER = '================';

interface FixtureStatus {
  status: string;
  reason: string[];
  cpu_usage: string[];
  stdout: Record<string, string>;
  stderr: Record<string, string>;
  input: string;
  instance: string;
  job_start: string;
  job_finish: string | null;
  worker_extra: { launcher: string };
}

interface Run {
  readonly datasetKey: string;
  /** `{group}/results/job__...`: the result folder in the bucket. */
  readonly resultFolder: string;
  readonly label: string;
  readonly exitCode: number | null;
  readonly stderr: string;
  /** Lines written by the `shutdown` and `touch` shims. */
  readonly record: string[];
}

let s3: S3Emulator;
let tmp: string;
let commandTemplate: string;
const runs: Record<'json' | 'fail' | 'yaml', Run> = {} as Record<'json' | 'fail' | 'yaml', Run>;

const put = async (key: string, body: string): Promise<void> => {
  await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
};

const getText = async (key: string): Promise<string> => {
  const out = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  if (!out.Body) throw new Error(`no body for ${key}`);
  return out.Body.transformToString('utf-8');
};

const listKeys = async (prefix: string): Promise<string[]> => {
  const out = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
};

const initialLine = (key: string): string =>
  `DATANAME: ${key} | STATUS: INITIALIZING | TIME: 2024-05-01 10:00:00.000000 | LAST COMMAND: N/A | CPU_USAGE: N/A`;

/** The certificate as the worker writes it before COMMAND starts: this dataset's line and another's. */
const initialCertificate = (datasetKey: string): string =>
  [
    'PER ENVIRONMENT MONITORING:',
    DIVIDER,
    initialLine(datasetKey),
    initialLine(OTHER_DATASET),
    DIVIDER,
    'Once jobs start, these logs will be updated regularly.',
    '2024-05-01T10:00:00Z ncaas worker: started',
    '',
  ].join('\n');

/** The blueprint's COMMAND with its `"{}"` as "$1".."$4", the analysis script swapped if asked. */
const commandFor = (analysis?: string): string => {
  let n = 0;
  const command = commandTemplate.replace(/"\{\}"/g, () => `"$${++n}"`);
  return analysis ? command.replace('analyses/succeed.sh', analysis) : command;
};

const readRecord = (file: string): string[] =>
  fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];

/** Plays the worker: writes inputs, status file and certificate, runs COMMAND in the fixture folder. */
const runCommand = async (options: {
  readonly name: string;
  readonly datasetKey: string;
  readonly dataset: Readonly<Record<string, string>>;
  readonly configKey: string;
  readonly config: string;
  readonly timestamp: string;
  readonly analysis?: string;
}): Promise<Run> => {
  const { datasetKey, configKey } = options;
  const resultDir = `results/job__neurocaas-fixture_${options.timestamp}`;
  const resultFolder = `${GROUP}/${resultDir}`;
  const label = path.posix.basename(datasetKey);
  for (const [key, body] of Object.entries(options.dataset)) await put(key, body);
  await put(configKey, options.config);
  const initialStatus = {
    status: 'INITIALIZING',
    reason: [],
    cpu_usage: [],
    stdout: {},
    stderr: {},
    input: datasetKey,
    instance: 'i-0123456789abcdef0',
    job_start: '2024-05-01T10:00:00Z',
    job_finish: null,
    worker_extra: { launcher: 'local' },
  };
  await put(statusKey(resultFolder, label), JSON.stringify(initialStatus, null, 2));
  await put(certificateKey(resultFolder), initialCertificate(datasetKey));

  const caseDir = path.join(tmp, options.name);
  fs.mkdirSync(caseDir);
  const record = path.join(caseDir, 'record.txt');
  const child = spawn(
    'bash',
    ['-c', commandFor(options.analysis), 'ncaas', BUCKET, datasetKey, resultDir, configKey],
    {
      cwd: FIXTURE,
      env: s3.childEnv({
        PATH: `${path.join(tmp, 'bin')}:${process.env.PATH ?? ''}`,
        TMPDIR: caseDir,
        FAKE_RECORD: record,
        NCAAS_FIXTURE_MONITOR_SECONDS: '1',
        // The worker's exports (NeuroCAAS meanings); run_main.sh sets them again from its arguments.
        bucketname: BUCKET,
        groupdir: GROUP,
        resultdir: resultDir,
        processdir: `${resultDir}/process_results`,
        dataname: label,
        inputpath: datasetKey,
        configname: path.posix.basename(configKey),
        configpath: configKey,
        ...(fs.existsSync(LOCAL_PYTHON)
          ? { PYTHONPATH: [LOCAL_PYTHON, process.env.PYTHONPATH].filter(Boolean).join(':') }
          : {}),
      }),
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { datasetKey, resultFolder, label, exitCode, stderr, record: readRecord(record) };
};

const statusOf = async (run: Run): Promise<FixtureStatus> =>
  JSON.parse(await getText(statusKey(run.resultFolder, run.label))) as FixtureStatus;

const certificateOf = async (run: Run): Promise<string[]> =>
  (await getText(certificateKey(run.resultFolder))).split('\n');

/** Every file named `pwned` under `dir`. */
const findPwned = (dir: string): string[] =>
  fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((p) => path.basename(p) === 'pwned')
    .map((p) => path.join(dir, p));

beforeAll(async () => {
  const blueprint = JSON.parse(fs.readFileSync(BLUEPRINT, 'utf8')) as {
    Lambda: { LambdaConfig: { COMMAND: string } };
  };
  commandTemplate = blueprint.Lambda.LambdaConfig.COMMAND;
  s3 = await startS3Emulator([BUCKET]);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-neurocaas-fixture-'));
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin);
  // The worker's shim: cleanup's `shutdown -h 1` is only recorded.
  fs.writeFileSync(path.join(bin, 'shutdown'), '#!/bin/sh\nprintf "shutdown %s\\n" "$*" >>"$FAKE_RECORD"\n', {
    mode: 0o755,
  });
  // Records every `touch`: a `$(touch pwned)` in a key that got evaluated shows up here.
  const realTouch = ['/usr/bin/touch', '/bin/touch'].find((p) => fs.existsSync(p)) ?? 'touch';
  fs.writeFileSync(
    path.join(bin, 'touch'),
    `#!/bin/sh\nprintf "touch %s\\n" "$*" >>"\${FAKE_RECORD:-/dev/null}"\nexec ${realTouch} "$@"\n`,
    { mode: 0o755 },
  );

  // Three runs at once, each its own job: a JSON config, a failing analysis, and a YAML config with a
  // folder dataset whose key (and the job's timestamp) hold a space, quotes, `;` and `$(touch pwned)`.
  const [json, fail, yaml] = await Promise.all([
    runCommand({
      name: 'json',
      datasetKey: 'lab/inputs/recording.txt',
      dataset: { 'lab/inputs/recording.txt': 'frame 1\nframe 2\nframe 3\n' },
      configKey: 'lab/configs/config.json',
      config: JSON.stringify({ label: 'alpha', scale: 2 }),
      timestamp: '2024-05-01T10:00:00Z',
    }),
    runCommand({
      name: 'fail',
      datasetKey: 'lab/inputs/broken.txt',
      dataset: { 'lab/inputs/broken.txt': 'garbage\n' },
      configKey: 'lab/configs/config.json',
      config: JSON.stringify({ label: 'alpha', scale: 2 }),
      timestamp: '2024-05-01T10:05:00Z',
      analysis: 'analyses/fail.sh',
    }),
    runCommand({
      name: 'yaml',
      datasetKey: `lab/inputs/my "data" $(touch pwned); it's/`,
      dataset: {
        [`lab/inputs/my "data" $(touch pwned); it's/a.txt`]: 'one\ntwo\n',
        [`lab/inputs/my "data" $(touch pwned); it's/sub/b.txt`]: 'three\n',
      },
      configKey: 'lab/configs/my config.yaml',
      config: 'label: beta\nscale: 10\n',
      timestamp: `2024-05-01 10:10 '$(touch pwned)'; "x"`,
    }),
  ]);
  Object.assign(runs, { json, fail, yaml });
}, 90_000);

afterAll(async () => {
  await s3?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the NeuroCAAS fixture analysis', () => {
  test('its blueprint loads, and its COMMAND is run_main.sh, then cleanup', () => {
    const config = loadBlueprintFile(BLUEPRINT);
    expect(config.name).toBe('neurocaas-fixture');
    expect(config.command).toBe(commandTemplate);
    expect(commandTemplate).toBe(
      'neurocaas_contrib/run_main.sh "{}" "{}" "{}" "{}" "analyses/succeed.sh"; . neurocaas_contrib/ncap_utils/workflow.sh; cleanup',
    );
    expect(statusKey('lab/results/job__a_t', 'x.txt')).toBe(
      'lab/results/job__a_t/logs/DATASET_NAME:x.txt_STATUS.txt',
    );
  });

  test('succeed.sh with a JSON config: results under {group}/results/job__.../process_results/', async () => {
    const run = runs.json;
    expect(run.exitCode).toBe(0);
    expect(run.stderr).not.toMatch(/Traceback|error/i);
    const prefix = processResultsPrefix(run.resultFolder);
    expect(prefix).toBe('lab/results/job__neurocaas-fixture_2024-05-01T10:00:00Z/process_results/');
    expect(await listKeys(prefix)).toEqual([
      `${prefix}recording.txt_config-seen_config.json`,
      `${prefix}recording.txt_summary.json`,
    ]);
    expect(JSON.parse(await getText(`${prefix}recording.txt_summary.json`))).toEqual({
      dataset: 'lab/inputs/recording.txt',
      files: 1,
      lines: 3,
      bytes: 24,
      label: 'alpha',
      scaled_lines: 6,
    });
    // Nothing under the group twice (a result folder taken as bucket-relative would do that).
    expect(await listKeys(`${GROUP}/${GROUP}/`)).toEqual([]);
  });

  test('succeed.sh: status SUCCESS with the worker keys kept, certificate line finished, shutdown', async () => {
    const run = runs.json;
    const status = await statusOf(run);
    expect(status).toMatchObject({
      status: 'SUCCESS',
      reason: ['analysis script exited with code 0'],
      input: run.datasetKey,
      instance: 'i-0123456789abcdef0',
      job_start: '2024-05-01T10:00:00Z',
      job_finish: null,
      worker_extra: { launcher: 'local' },
    });
    expect(Object.values(status.stdout)).toContain(
      'uploaded to s3://ncaas-fixture-bucket/lab/' +
        'results/job__neurocaas-fixture_2024-05-01T10:00:00Z/process_results/\n',
    );
    expect(Object.keys(status.stdout)[0]).toBe('0');

    const certificate = await certificateOf(run);
    expect(certificate.filter((l) => l === DIVIDER)).toHaveLength(2);
    expect(certificate[2]).toMatch(
      /^DATANAME: lab\/inputs\/recording\.txt \| STATUS: SUCCESS \| TIME: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \(finished\)$/,
    );
    expect(certificate[3]).toBe(initialLine(OTHER_DATASET));
    expect(certificate.slice(4)).toEqual(initialCertificate(run.datasetKey).split('\n').slice(4));
    expect(run.record).toEqual(['shutdown -h 1']);
  });

  test('fail.sh: status FAILED with its output, partial result kept, monitor reported CPU', async () => {
    const run = runs.fail;
    expect(run.exitCode).toBe(0);
    expect(run.stderr).not.toMatch(/Traceback/);
    const status = await statusOf(run);
    expect(status).toMatchObject({
      status: 'FAILED',
      reason: ['analysis script exited with code 3'],
      worker_extra: { launcher: 'local' },
      stdout: {
        '0': 'fail.sh: starting on s3://ncaas-fixture-bucket/lab/inputs/broken.txt\n',
        '1': 'fail.sh: giving up\n',
      },
      stderr: { '0': 'fail.sh: warming up\n', '1': 'fail.sh: error: step 2 failed\n' },
    });
    // Set only by the background monitor: it ran at least once.
    expect(status.cpu_usage).toEqual([expect.stringMatching(/^\d+$/)]);
    expect(await listKeys(processResultsPrefix(run.resultFolder))).toEqual([
      `${processResultsPrefix(run.resultFolder)}broken.txt_partial.txt`,
    ]);
    const certificate = await certificateOf(run);
    expect(certificate.filter((l) => l === DIVIDER)).toHaveLength(2);
    expect(certificate[2]).toMatch(
      /^DATANAME: lab\/inputs\/broken\.txt \| STATUS: FAILED \| TIME: .+ \(finished\)$/,
    );
    expect(certificate[3]).toBe(initialLine(OTHER_DATASET));
    expect(run.record).toEqual(['shutdown -h 1']);
  });

  test('succeed.sh with a YAML config and a folder dataset whose key and timestamp hold shell syntax', async () => {
    const run = runs.yaml;
    expect(run.exitCode).toBe(0);
    expect(run.stderr).not.toMatch(/Traceback/);
    const prefix = processResultsPrefix(run.resultFolder);
    expect(prefix).toBe(
      `lab/results/job__neurocaas-fixture_2024-05-01 10:10 '$(touch pwned)'; "x"/process_results/`,
    );
    const label = `my "data" $(touch pwned); it's`;
    expect(JSON.parse(await getText(`${prefix}${label}_summary.json`))).toEqual({
      dataset: run.datasetKey,
      files: 2,
      lines: 3,
      bytes: 14,
      label: 'beta',
      scaled_lines: 30,
    });
    expect(await getText(`${prefix}${label}_config-seen_my config.yaml`)).toBe('label: beta\nscale: 10\n');
    expect((await statusOf(run)).status).toBe('SUCCESS');
    const certificate = await certificateOf(run);
    expect(certificate.filter((l) => l === DIVIDER)).toHaveLength(2);
    expect(certificate[2].startsWith(`DATANAME: ${run.datasetKey} | STATUS: SUCCESS | TIME: `)).toBe(true);
    expect(certificate[3]).toBe(initialLine(OTHER_DATASET));
    // Data, never evaluated: no `touch` ran, no file `pwned` anywhere the runs could write.
    expect(run.record).toEqual(['shutdown -h 1']);
    expect([
      ...findPwned(FIXTURE),
      ...findPwned(tmp),
      ...fs.readdirSync(ROOT).filter((f) => f === 'pwned'),
    ]).toEqual([]);
  });

  test('certificate.py fails loudly on a certificate without exactly two dividers, and updates one line', async () => {
    const logs = 'lab/results/job__neurocaas-fixture_direct/logs/';
    const script = path.join(FIXTURE, 'neurocaas_contrib/ncap_utils/certificate.py');
    const statusFile = path.join(tmp, 'direct-status.json');
    fs.writeFileSync(
      statusFile,
      JSON.stringify({ status: 'IN PROGRESS', reason: ['bash analyses/succeed.sh'], cpu_usage: ['42'] }),
    );
    const python = (args: string[]): Promise<{ code: number | null; stderr: string }> =>
      new Promise((resolve) => {
        const child = spawn('python3', [script, ...args], {
          env: s3.childEnv(),
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
        child.on('close', (code) => resolve({ code, stderr }));
      });

    const good = initialCertificate('lab/inputs/a.txt');
    const bad = good.replace('PER ENVIRONMENT MONITORING:', DIVIDER);
    await put(`${logs}certificate.txt`, bad);
    const refused = await python(['update', BUCKET, logs, 'lab/inputs/a.txt', statusFile]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("expected exactly two '================' lines");
    expect(await getText(`${logs}certificate.txt`)).toBe(bad);

    await put(`${logs}certificate.txt`, good);
    expect((await python(['update', BUCKET, logs, 'lab/inputs/a.txt', statusFile])).code).toBe(0);
    const lines = (await getText(`${logs}certificate.txt`)).split('\n');
    expect(lines[2]).toMatch(
      /^DATANAME: lab\/inputs\/a\.txt \| STATUS: IN PROGRESS \| TIME: .+ \| LAST COMMAND: bash analyses\/succeed\.sh \| CPU_USAGE: 42$/,
    );
    expect(lines.filter((_, i) => i !== 2)).toEqual(good.split('\n').filter((_, i) => i !== 2));
  });
});
