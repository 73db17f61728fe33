import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CliError, EXIT } from '../../lib/cli/errors';
import { targetFromClient, type S3Target } from '../../lib/cli/s3-target';
import {
  checkSubmission,
  defaultJobId,
  planSubmission,
  runSubmit,
  uploadFile,
} from '../../lib/cli/submit-command';
import { loadBlueprint } from '../../lib/cli/validate-command';
import { parseSubmission } from '../../lib/submission/parse-submission';
import { startS3Emulator, type S3Emulator } from '../support/s3-emulator';
import { captureOutput as capture } from '../support/captured-output';

const BUCKET = 'cli-submit';
const mock = loadBlueprint('mock');

let s3: S3Emulator;
let target: S3Target;
let work: string;

beforeAll(async () => {
  s3 = await startS3Emulator([BUCKET]);
  target = targetFromClient(s3.client, BUCKET, 'mock');
});
afterAll(() => s3.stop());
beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-cli-submit-'));
});
afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

const keys = async (prefix = ''): Promise<string[]> => {
  const out = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
};
const read = async (key: string): Promise<string | undefined> => target.objects.readText(key);
const put = (key: string, body: string) =>
  s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));

const file = (name: string, content: string | Buffer): string => {
  const full = path.join(work, name);
  fs.mkdirSync(path.dirname(full), { recursive: true });
  fs.writeFileSync(full, content);
  return full;
};

describe('defaultJobId', () => {
  test('is a sortable UTC time plus a short random suffix, valid as a folder name', () => {
    const id = defaultJobId(new Date('2026-11-21T23:59:59.123Z'), () => 'k3f9');
    expect(id).toBe('2026-11-21T23-59-59Z-k3f9');
    expect(defaultJobId()).toMatch(/^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ-[0-9a-z]{4}$/);
  });
});

describe('submit', () => {
  test('uploads local files to inputs/ and configs/, writes a submit.json the handler accepts', async () => {
    const data = file('session1.bin', 'neural data');
    const config = file('config.yaml', '__duration__: 30\nthreshold: 4\n');
    const io = capture();

    const code = await runSubmit(
      target,
      { group: 'labA', data: [data], config, timestamp: 'job-one', analysis: mock },
      io.output,
    );

    expect(code).toBe(EXIT.ok);
    expect(io.stdout()).toBe('job-one\n');
    expect(io.stderr()).toContain('ncaas watch job-one');
    expect(await read('labA/inputs/session1.bin')).toBe('neural data');
    expect(await read('labA/configs/config.yaml')).toContain('__duration__: 30');
    const body = await read('labA/submissions/job-onesubmit.json');
    expect(JSON.parse(body ?? '')).toEqual({
      dataname: 'labA/inputs/session1.bin',
      configname: 'labA/configs/config.yaml',
      timestamp: 'job-one',
    });
    const parsed = parseSubmission({
      body: body ?? '',
      key: 'labA/submissions/job-onesubmit.json',
      analysis: mock,
    });
    expect(parsed).toMatchObject({
      ok: true,
      submission: { group: 'labA', jobId: 'job-one', datasetKeys: ['labA/inputs/session1.bin'] },
    });
  });

  test('several --data are one dataset each; a folder is one dataset named with a trailing /', async () => {
    const a = file('a.bin', 'A');
    file('recording/part1.dat', '1');
    file('recording/sub/part2.dat', '2');
    const config = file('c.json', '{"__duration__": 5}');
    const io = capture();

    const code = await runSubmit(
      target,
      {
        group: 'labA',
        data: [a, path.join(work, 'recording')],
        config,
        timestamp: 'two-datasets',
        instanceType: 't3.small',
        analysis: mock,
      },
      io.output,
    );

    expect(code).toBe(EXIT.ok);
    expect(await keys('labA/inputs/recording/')).toEqual([
      'labA/inputs/recording/part1.dat',
      'labA/inputs/recording/sub/part2.dat',
    ]);
    const body = await read('labA/submissions/two-datasetssubmit.json');
    expect(JSON.parse(body ?? '')).toEqual({
      dataname: ['labA/inputs/a.bin', 'labA/inputs/recording/'],
      configname: 'labA/configs/c.json',
      timestamp: 'two-datasets',
      instance_type: 't3.small',
    });
    const parsed = parseSubmission({
      body: body ?? '',
      key: 'labA/submissions/two-datasetssubmit.json',
      analysis: mock,
    });
    expect(parsed.ok && parsed.submission.datasetKeys).toEqual([
      'labA/inputs/a.bin',
      'labA/inputs/recording/',
    ]);
  });

  test('values that are not local files are keys already in the bucket: nothing is uploaded for them', async () => {
    await put('labB/inputs/existing.bin', 'old data');
    await put('labB/configs/existing.yaml', 'x: 1\n');
    const io = capture();

    const code = await runSubmit(
      target,
      {
        group: 'labB',
        data: ['labB/inputs/existing.bin'],
        config: 'labB/configs/existing.yaml',
        timestamp: 'by-key',
      },
      io.output,
    );

    expect(code).toBe(EXIT.ok);
    expect(await keys('labB/')).toEqual([
      'labB/configs/existing.yaml',
      'labB/inputs/existing.bin',
      'labB/submissions/by-keysubmit.json',
    ]);
    expect(JSON.parse((await read('labB/submissions/by-keysubmit.json')) ?? '')).toEqual({
      dataname: 'labB/inputs/existing.bin',
      configname: 'labB/configs/existing.yaml',
      timestamp: 'by-key',
    });
  });

  test('without a blueprint, a bad submission is still refused before anything is uploaded', async () => {
    const before = await keys();
    const io = capture();
    const code = await runSubmit(
      target,
      {
        group: 'labA',
        data: ['labA/inputs/missing.bin'],
        config: file('c.yaml', 'a: [1'),
        timestamp: 'no/slash',
      },
      io.output,
    );
    expect(code).toBe(EXIT.failed);
    expect(await keys()).toEqual(before);
    const err = io.stderr();
    expect(err).toContain('nothing was uploaded');
    expect(err).toContain('timestamp "no/slash" contains "/"');
    expect(err).toContain('is not valid YAML');
    expect(io.stdout()).toBe('');
  });

  test('a timestamp already used is refused (the first job is never overwritten)', async () => {
    await put('labA/submissions/takensubmit.json', '{}');
    const io = capture();
    const code = await runSubmit(
      target,
      { group: 'labA', data: [file('d.bin', 'd')], config: file('c.yaml', 'a: 1\n'), timestamp: 'taken' },
      io.output,
    );
    expect(code).toBe(EXIT.failed);
    expect(io.stderr()).toContain('a submission with timestamp "taken" already exists');
    expect(await read('labA/inputs/d.bin')).toBeUndefined();
  });

  test('two files with one name would share a key: refused before upload', () => {
    const one = file('x/data.bin', '1');
    const two = file('y/data.bin', '2');
    expect(() => planSubmission({ group: 'labA', data: [one, two], config: one })).toThrow(
      /would both be uploaded to labA\/inputs\/data.bin/,
    );
  });

  test('an empty folder is not a dataset', () => {
    fs.mkdirSync(path.join(work, 'empty'));
    expect(() =>
      planSubmission({ group: 'labA', data: [path.join(work, 'empty')], config: 'labA/configs/c' }),
    ).toThrow(CliError);
  });
});

describe('submit --dry-run', () => {
  test('uploads nothing and prints the submit.json it would write', async () => {
    const before = await keys();
    const io = capture();
    const code = await runSubmit(
      target,
      {
        group: 'labA',
        data: [file('s.bin', 'x')],
        config: file('c.yaml', '__duration__: 10\n'),
        timestamp: 'dry',
        analysis: mock,
      },
      io.output,
      { dryRun: true },
    );
    expect(code).toBe(EXIT.ok);
    expect(await keys()).toEqual(before);
    expect(JSON.parse(io.stdout())).toEqual({
      dataname: 'labA/inputs/s.bin',
      configname: 'labA/configs/c.yaml',
      timestamp: 'dry',
    });
    expect(io.stderr()).toContain('nothing was uploaded');
    expect(io.stderr()).toContain('would write s3://cli-submit/labA/submissions/drysubmit.json');
  });

  test("reports every problem the handler would: another group's key, instance type, caps, missing key", async () => {
    const before = await keys();
    const io = capture();
    const code = await runSubmit(
      target,
      {
        group: 'labA',
        data: ['labB/inputs/theirs.bin', 'labA/inputs/not-there.bin'],
        config: file('c.yaml', '__duration__: 600\n'),
        instanceType: 'p4d.24xlarge',
        timestamp: 'dry-bad',
        analysis: mock,
      },
      io.output,
      { dryRun: true },
    );
    expect(code).toBe(EXIT.failed);
    expect(await keys()).toEqual(before);
    const err = io.stderr();
    expect(err).toContain('would be refused (4 problems)');
    expect(err).toContain('is in group "labB", but this submission was uploaded by group "labA"');
    expect(err).toContain('instance_type "p4d.24xlarge" is not offered by this analysis');
    expect(err).toContain('__duration__ in config "labA/configs/c.yaml" is 600 minutes');
    expect(err).toContain('"labA/inputs/not-there.bin" is not a local file and does not exist');
    expect(err).toContain('"labB/inputs/theirs.bin" is not a local file, so it was taken as a key');
  });

  test('a group the blueprint does not list is refused', async () => {
    const plan = planSubmission({
      group: 'labZ',
      data: ['labZ/inputs/x'],
      config: 'labZ/configs/y',
      timestamp: 't',
    });
    const check = await checkSubmission(target, plan, mock);
    expect(check.problems.map((p) => p.field)).toContain('group');
  });

  test("the config's __duration__ comes with the check (ncaas dev run passes it to the worker)", async () => {
    const plan = (config: string) =>
      planSubmission({ group: 'labA', data: ['labA/inputs/x'], config, timestamp: 'duration' });
    const withEstimate = await checkSubmission(target, plan(file('c.yaml', '__duration__: 12\n')), mock);
    expect(withEstimate.durationMinutes).toBe(12);
    const without = await checkSubmission(target, plan(file('d.yaml', 'x: 1\n')), mock);
    expect(without.durationMinutes).toBeUndefined();
  });

  test('an rclone dataset is checked for its form and never looked up in the bucket; the blueprint says whether the group may', async () => {
    const plan = (data: string, group = 'labA') =>
      planSubmission({ group, data: [data], config: `${group}/configs/c.yaml`, timestamp: 't' });
    const withoutBlueprint = await checkSubmission(target, plan('rclone:labdrive:day 1/x.nwb'), undefined);
    expect(withoutBlueprint.problems.filter((p) => p.field === 'dataname')).toEqual([]);
    const badForm = await checkSubmission(target, plan('rclone:-x:a.nwb'), undefined);
    expect(badForm.problems).toContainEqual({
      field: 'dataname',
      message: expect.stringContaining('not starting with "-"'),
    });
    // The mock blueprint gives no group an rclone configuration.
    const withBlueprint = await checkSubmission(target, plan('rclone:labdrive:x.nwb'), mock);
    expect(withBlueprint.problems).toContainEqual({
      field: 'dataname',
      message: expect.stringContaining('group "labA" has no rclone configuration'),
    });
  });

  test('needs the blueprint', async () => {
    const io = capture();
    await expect(
      runSubmit(target, { group: 'labA', data: ['labA/inputs/x'], config: 'labA/configs/y' }, io.output, {
        dryRun: true,
      }),
    ).rejects.toMatchObject({ exitCode: EXIT.usage, message: expect.stringContaining('--blueprint') });
  });
});

describe('uploads', () => {
  test('a large file goes up in parallel parts and arrives whole', async () => {
    const size = 11 * 1024 * 1024 + 123;
    const content = Buffer.alloc(size);
    for (let i = 0; i < size; i += 1) content[i] = (i * 31) % 251;
    const local = file('big.bin', content);
    const progress: number[] = [];
    await uploadFile(
      target,
      { local, key: 'labA/inputs/big.bin', size },
      { partSize: 5 * 1024 * 1024, onProgress: (_u, sent) => progress.push(sent) },
    );
    const back = await target.objects.read('labA/inputs/big.bin');
    expect(back && Buffer.from(back).equals(content)).toBe(true);
    // One report a part, counting up to the whole file, whichever part finished first.
    expect(progress).toHaveLength(3);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    expect(progress[2]).toBe(size);
  });
});
