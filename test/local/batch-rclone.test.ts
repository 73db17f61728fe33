/**
 * An `rclone:` dataset end to end without AWS: blueprints/mock-batch.json plus RemoteSources for
 * labA, run by the local runtime (stage-in, fetch, analysis and stage-out as processes around the
 * EFS stand-in). A fake `rclone` first on PATH records the arguments it got (one a line), the
 * configuration file it was given and its environment, then copies from a local folder standing in
 * for the remote. It proves the source reaches rclone as one argument whatever it holds (nothing in
 * it is executed), that the group's secret arrives as a file only its owner can read, outside the
 * job folder, and that a failing fetch fails the job naming the fetch, with the job folder removed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PROJECT_ROOT } from '../support/synth';
import {
  certificateKey,
  datasetLabel,
  jobResultFolder,
  processResultsPrefix,
  statusKey,
} from '../../lib/layout';
import { finalStatusOf, runtimeBucket, type RuntimeBucket } from '../support/runtime-bucket';
import { startLocalRuntime, type LocalRuntime } from '../../local/local-runtime';

const GROUP = 'labA';
const SECRET_NAME = 'ncaas/rclone/labA';
const SECRET_TEXT = '[labdrive]\ntype = local\n# token: secret-token-8f3a\n';
/** Characters a shell would act on: spaces, quotes, a command substitution, backticks, `;`. */
const HOSTILE_FILE = `it's "odd" $(touch pwned); \`touch pwned2\` & x.csv`;
const HOSTILE_PATH = `day 1/${HOSTILE_FILE}`;

let runtime: LocalRuntime;
let bucket: RuntimeBucket;
let dir: string;
let remoteRoot: string;
let recordDir: string;
const originalPath = process.env.PATH;
const lines: string[] = [];

/** The fake rclone: `--config FILE copyto -- REMOTE:PATH DEST`, from `remoteRoot`. */
const fakeRclone = (root: string, records: string) => `#!/bin/sh
out='${records}'/call-$$
mkdir -p "$out"
for arg in "$@"; do printf '%s\\n' "$arg"; done >"$out/argv"
cp "$2" "$out/config"
stat -c %a "$2" >"$out/config-mode"
env >"$out/env"
src='${root}'/"\${5#*:}"
case $5 in
  */) mkdir -p "$6" && cp -R "$src." "$6/" ;;
  *) [ -f "$src" ] || { echo "ERROR : $5: object not found" >&2; exit 3; }; mkdir -p "$(dirname "$6")" && cp "$src" "$6" ;;
esac
`;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-local-rclone-'));
  remoteRoot = path.join(dir, 'remote');
  recordDir = path.join(dir, 'rclone-calls');
  const bin = path.join(dir, 'fake-bin');
  for (const d of [
    remoteRoot,
    recordDir,
    bin,
    path.join(remoteRoot, 'day 1'),
    path.join(remoteRoot, 'session/'),
  ])
    fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(remoteRoot, HOSTILE_PATH), 'frame,value\n1,0.5\n');
  fs.writeFileSync(path.join(remoteRoot, 'session', 'a.csv'), 'a\n');
  fs.writeFileSync(path.join(remoteRoot, 'session', 'b.csv'), 'bb\n');
  fs.writeFileSync(path.join(bin, 'rclone'), fakeRclone(remoteRoot, recordDir), { mode: 0o755 });
  process.env.PATH = `${bin}${path.delimiter}${originalPath ?? ''}`;

  const blueprint = JSON.parse(
    fs.readFileSync(path.join(PROJECT_ROOT, 'blueprints', 'mock-batch.json'), 'utf8'),
  );
  delete blueprint.$schema;
  blueprint.RemoteSources = {
    Image: 'registry.example.org/lab/rclone-sh:1.69',
    Groups: { [GROUP]: { RcloneConfigSecret: SECRET_NAME } },
  };
  const blueprintFile = path.join(dir, 'mock-batch-rclone.json');
  fs.writeFileSync(blueprintFile, JSON.stringify(blueprint));
  const secretFile = path.join(dir, 'labA-rclone.conf');
  fs.writeFileSync(secretFile, SECRET_TEXT);

  runtime = await startLocalRuntime({
    blueprint: blueprintFile,
    dir: path.join(dir, 'runtime'),
    secretFiles: { [SECRET_NAME]: secretFile },
    print: (line) => lines.push(line),
    watchdogIntervalMs: 3_600_000,
  });
  bucket = runtimeBucket(runtime);
}, 60_000);

afterAll(async () => {
  process.env.PATH = originalPath;
  await runtime?.stop();
  bucket?.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

const put = (key: string, body: string) => bucket.put(key, body);

const read = (key: string) => bucket.read(key);

const folderOf = (jobId: string) => jobResultFolder(GROUP, 'mock-batch', jobId);
const efsDir = () => path.join(dir, 'runtime', 'efs');
const efsJobFolders = (): string[] => {
  const jobs = path.join(efsDir(), GROUP, 'jobs');
  return fs.existsSync(jobs) ? fs.readdirSync(jobs) : [];
};

const submit = async (jobId: string, dataname: string) => {
  const config = `labA/configs/${jobId}.json`;
  await put(config, JSON.stringify({ mode: 'ok' }));
  await put(
    `labA/submissions/${jobId}submit.json`,
    JSON.stringify({ dataname, configname: config, timestamp: jobId }),
  );
};

/** The final status of the job's one dataset, once every job of the runtime has ended. */
const finalStatus = (jobId: string, dataname: string): Promise<Record<string, unknown>> =>
  finalStatusOf(runtime, bucket, statusKey(folderOf(jobId), datasetLabel(dataname, 0, [dataname])), () =>
    lines.join('\n'),
  );

/** The fake rclone's records of each call, newest last. */
const calls = () =>
  fs
    .readdirSync(recordDir)
    .map((name) => path.join(recordDir, name))
    .sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs)
    .map((call) => ({
      argv: fs.readFileSync(path.join(call, 'argv'), 'utf8').replace(/\n$/, '').split('\n'),
      config: fs.readFileSync(path.join(call, 'config'), 'utf8'),
      configMode: fs.readFileSync(path.join(call, 'config-mode'), 'utf8').trim(),
      env: fs.readFileSync(path.join(call, 'env'), 'utf8'),
    }));

const filesNamed = (root: string, names: readonly string[]): string[] => {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (names.includes(entry.name)) found.push(p);
      if (entry.isDirectory()) walk(p);
    }
  };
  walk(root);
  return found;
};

describe('an rclone dataset on the local runtime', () => {
  test('hostile path: one argument, nothing executed; the secret as a 0600 file off EFS; SUCCESS with results', async () => {
    const dataname = `rclone:labdrive:${HOSTILE_PATH}`;
    await submit('rclone-ok', dataname);
    const final = await finalStatus('rclone-ok', dataname);
    expect(final).toMatchObject({ status: 'SUCCESS', exit_code: 0, input: dataname });

    const [call] = calls();
    expect(call.argv).toHaveLength(6);
    const [flag, configFile, verb, separator, source, target] = call.argv;
    expect([flag, verb, separator, source]).toEqual(['--config', 'copyto', '--', `labdrive:${HOSTILE_PATH}`]);
    // Where stage-in puts an S3 dataset: the job folder's input/<name>.
    expect(target).toMatch(new RegExp(`^${efsDir()}/labA/jobs/[A-Za-z0-9_-]+/input/`));
    expect(path.basename(target)).toBe(HOSTILE_FILE);
    expect(call.config).toBe(`${SECRET_TEXT}\n`);
    expect(call.configMode).toBe('600');
    expect(path.relative(efsDir(), configFile).startsWith('..')).toBe(true);
    // The variable Batch fills from Secrets Manager is gone before rclone starts.
    expect(call.env).not.toContain('NCAAS_RCLONE_CONFIG');
    expect(call.env).not.toContain('secret-token-8f3a');
    expect(filesNamed(dir, ['pwned', 'pwned2'])).toEqual([]);
    expect(fs.existsSync(path.join(process.cwd(), 'pwned'))).toBe(false);

    const folder = folderOf('rclone-ok');
    expect(await read(`${processResultsPrefix(folder)}result.txt`)).toBe('done\n');
    expect(await read(`${processResultsPrefix(folder)}sizes.txt`)).toContain(HOSTILE_FILE);
    const label = datasetLabel(dataname, 0, [dataname]);
    expect(await read(`${folder}/logs/DATASET_NAME:${label}_stdout.txt`)).toContain(
      `mock analysis of ${dataname} (bucket`,
    );
    expect(await read(certificateKey(folder))).toMatch(
      /Batch fetch job \S+ is running: fetching rclone:labdrive:/,
    );
    expect(efsJobFolders()).toEqual([]);
  }, 120_000);

  test('a folder on the remote is one dataset: its files land in the input folder', async () => {
    const dataname = 'rclone:labdrive:session/';
    await submit('rclone-folder', dataname);
    const final = await finalStatus('rclone-folder', dataname);
    expect(final.status).toBe('SUCCESS');
    const sizes = (await read(`${processResultsPrefix(folderOf('rclone-folder'))}sizes.txt`)) ?? '';
    expect(sizes).toMatch(/input\/a\.csv/);
    expect(sizes).toMatch(/input\/b\.csv/);
    expect(calls().at(-1)?.argv.slice(4)).toEqual(['labdrive:session/', expect.stringMatching(/\/input$/)]);
    expect(efsJobFolders()).toEqual([]);
  }, 120_000);

  test('a failing fetch: FAILED naming the fetch and rclone exit code, the analysis never ran, folder removed', async () => {
    const dataname = 'rclone:labdrive:no such file.csv';
    await submit('rclone-missing', dataname);
    const final = await finalStatus('rclone-missing', dataname);
    expect(final.status).toBe('FAILED');
    expect(String(final.reason)).toContain(`fetching ${dataname} failed`);
    expect(String(final.reason)).toContain('rclone exit code 3');
    expect(final.exit_code).toBeNull();
    const folder = folderOf('rclone-missing');
    expect(await read(`${processResultsPrefix(folder)}result.txt`)).toBeUndefined();
    expect(await read(certificateKey(folder))).toMatch(/Batch fetch job \S+ FAILED/);
    expect(efsJobFolders()).toEqual([]);
  }, 120_000);
});
