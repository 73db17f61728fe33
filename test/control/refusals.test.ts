/**
 * Malformed submissions, end to end through processSubmission against s3rver and dynalite: each is
 * refused in words that name the field, where the user looks (the job's certificate when its
 * timestamp is usable and free, else the file beside the submission), and nothing is recorded or
 * launched.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { processSubmission } from '../../lib/control/submission-intake';
import { certificateKey, statusKey, submissionMessageKey, SUBMIT_SUFFIX } from '../../lib/layout';
import {
  type ControlEmulators,
  type ControlHarness,
  newControl,
  startControlEmulators,
  submitJson,
} from '../support/control-harness';

let emulators: ControlEmulators;
let h: ControlHarness;

const MIB = 1024 * 1024;

beforeAll(async () => {
  emulators = await startControlEmulators();
  h = await newControl(emulators, 'refusals');
  await Promise.all([
    h.put('lab/inputs/good.bin', 'data'),
    h.put('lab/inputs/folder/part1.bin', 'data'),
    h.put('lab2/inputs/theirs.bin', 'data'),
    h.put('lab/configs/config.yaml', '__duration__: 30\n'),
    h.put('lab2/configs/config.yaml', '__duration__: 30\n'),
    h.put('lab/configs/bad.yaml', 'threshold: [1, 2\nmode: fast\n'),
    h.put('lab/configs/long.yaml', '__duration__: 100000\n'),
    h.put('lab/configs/negative.yaml', '__duration__: -5\n'),
    h.put('lab/configs/size.yaml', '__dataset_size__: 5000\n'),
    h.put('lab/configs/binary.yaml', new Uint8Array([0xff, 0xfe, 0x00, 0x41])),
    h.put('lab/configs/huge.yaml', `# ${'x'.repeat(MIB)}\n`),
  ]);
});

afterAll(async () => {
  await emulators.stop();
});

interface RefusalCase {
  readonly name: string;
  /** The submission's group folder (the key's first segment). */
  readonly group?: string;
  /** The key, when not `{group}/submissions/<name>_submit.json`. */
  readonly key?: string;
  readonly body: Record<string, unknown> | string | Uint8Array;
  /** The timestamp the body names, when it names one (its results folder must then be checked). */
  readonly ts?: string;
  /** A field the refusal is about (SubmissionProblem.field). */
  readonly field: string;
  /** Words the user reads: the field's name and what is wrong. */
  readonly says: readonly (string | RegExp)[];
  /** Where the refusal must be: the job's certificate, or only beside the submission. */
  readonly where: 'certificate' | 'beside';
}

const good = (ts: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  submitJson('lab', ts, 'lab/inputs/good.bin', 'lab/configs/config.yaml', extra);

const CASES: readonly RefusalCase[] = [
  // -- the file itself --
  {
    name: 'not JSON',
    body: 'dataname: lab/inputs/good.bin\nconfigname: lab/configs/config.yaml\n',
    field: 'submit.json',
    says: ['submit.json is not valid JSON'],
    where: 'beside',
  },
  { name: 'empty file', body: '', field: 'submit.json', says: ['submit.json is empty'], where: 'beside' },
  {
    name: 'a JSON list',
    body: '[1, 2]',
    field: 'submit.json',
    says: ['submit.json holds', 'one object'],
    where: 'beside',
  },
  {
    name: 'not UTF-8',
    body: new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]),
    field: 'submit.json',
    says: ['submit.json is not UTF-8 text'],
    where: 'beside',
  },
  {
    name: 'larger than 1 MiB',
    body: JSON.stringify({ ...good('big'), comment: 'x'.repeat(MIB) }),
    ts: 'big',
    field: 'submit.json',
    says: ['submit.json is 1.0 MiB', 'at most 1.0 MiB'],
    where: 'beside',
  },
  // -- missing or mistyped fields --
  {
    name: 'no dataname',
    body: { configname: 'lab/configs/config.yaml', timestamp: 'no-dataname' },
    ts: 'no-dataname',
    field: 'dataname',
    says: ['submit.json has no "dataname"'],
    where: 'certificate',
  },
  {
    name: 'no configname',
    body: { dataname: 'lab/inputs/good.bin', timestamp: 'no-configname' },
    ts: 'no-configname',
    field: 'configname',
    says: ['submit.json has no "configname"'],
    where: 'certificate',
  },
  {
    name: 'no timestamp',
    body: { dataname: 'lab/inputs/good.bin', configname: 'lab/configs/config.yaml' },
    field: 'timestamp',
    says: ['submit.json has no "timestamp"'],
    where: 'beside',
  },
  {
    name: 'timestamp with a slash',
    body: good('2020/04/29'),
    field: 'timestamp',
    says: ['timestamp "2020/04/29" contains "/"'],
    where: 'beside',
  },
  {
    name: 'timestamp with ..',
    body: good('a..b'),
    field: 'timestamp',
    says: ['timestamp "a..b" contains ".."'],
    where: 'beside',
  },
  {
    name: 'timestamp an object',
    body: { ...good('x'), timestamp: { when: 'now' } },
    field: 'timestamp',
    says: ['timestamp must be text'],
    where: 'beside',
  },
  {
    name: 'dataname a number',
    body: { ...good('dataname-number'), dataname: 42 },
    ts: 'dataname-number',
    field: 'dataname',
    says: ['dataname must be a key'],
    where: 'certificate',
  },
  {
    name: 'dataname an empty list',
    body: { ...good('dataname-empty'), dataname: [] },
    ts: 'dataname-empty',
    field: 'dataname',
    says: ['dataname is an empty list'],
    where: 'certificate',
  },
  // -- keys outside the group --
  {
    name: "another group's data",
    body: { ...good('other-group'), dataname: 'lab2/inputs/theirs.bin' },
    ts: 'other-group',
    field: 'dataname',
    says: ['dataname "lab2/inputs/theirs.bin" is in group "lab2"'],
    where: 'certificate',
  },
  {
    name: "a key stepping out with '..'",
    body: { ...good('dotdot'), dataname: 'lab/inputs/../../lab2/inputs/theirs.bin' },
    ts: 'dotdot',
    field: 'dataname',
    says: ['dataname "lab/inputs/../../lab2/inputs/theirs.bin" contains a ".." folder'],
    where: 'certificate',
  },
  {
    name: 'an s3:// URL',
    body: { ...good('url'), dataname: 's3://other-bucket/lab/inputs/good.bin' },
    ts: 'url',
    field: 'dataname',
    says: ['dataname "s3://other-bucket/lab/inputs/good.bin" is a URL'],
    where: 'certificate',
  },
  {
    name: 'a key starting with /',
    body: { ...good('absolute'), dataname: '/lab/inputs/good.bin' },
    ts: 'absolute',
    field: 'dataname',
    says: ['dataname "/lab/inputs/good.bin" starts with "/"'],
    where: 'certificate',
  },
  {
    name: 'data outside inputs/',
    body: { ...good('not-inputs'), dataname: 'lab/configs/config.yaml' },
    ts: 'not-inputs',
    field: 'dataname',
    says: ['dataname "lab/configs/config.yaml" is not in lab/inputs/'],
    where: 'certificate',
  },
  {
    name: 'a config of another group',
    body: { ...good('their-config'), configname: 'lab2/configs/config.yaml' },
    ts: 'their-config',
    field: 'configname',
    says: ['configname "lab2/configs/config.yaml" is in group "lab2"'],
    where: 'certificate',
  },
  {
    name: 'a list naming one dataset twice',
    body: { ...good('twice'), dataname: ['lab/inputs/good.bin', 'lab/inputs/good.bin'] },
    ts: 'twice',
    field: 'dataname[1]',
    says: ['dataname[1] "lab/inputs/good.bin" repeats dataname[0]'],
    where: 'certificate',
  },
  {
    name: 'more datasets than the analysis allows',
    body: { ...good('too-many'), dataname: [1, 2, 3, 4, 5].map((i) => `lab/inputs/d${i}.bin`) },
    ts: 'too-many',
    field: 'dataname',
    says: ['dataname lists 5 datasets', 'at most 4'],
    where: 'certificate',
  },
  // -- what the keys name must exist --
  {
    name: 'a data object that does not exist',
    body: { ...good('missing-data'), dataname: 'lab/inputs/nothere.bin' },
    ts: 'missing-data',
    field: 'dataname',
    says: ['dataname "lab/inputs/nothere.bin" does not exist'],
    where: 'certificate',
  },
  {
    name: 'one missing object in a list',
    body: { ...good('missing-second'), dataname: ['lab/inputs/good.bin', 'lab/inputs/gone.bin'] },
    ts: 'missing-second',
    field: 'dataname[1]',
    says: ['dataname[1] "lab/inputs/gone.bin" does not exist'],
    where: 'certificate',
  },
  {
    name: 'an empty folder dataset',
    body: { ...good('empty-folder'), dataname: 'lab/inputs/emptyfolder/' },
    ts: 'empty-folder',
    field: 'dataname',
    says: ['dataname names the folder "lab/inputs/emptyfolder/", which is empty or does not exist'],
    where: 'certificate',
  },
  {
    name: 'a config that does not exist',
    body: { ...good('missing-config'), configname: 'lab/configs/nothere.yaml' },
    ts: 'missing-config',
    field: 'configname',
    says: ['configname "lab/configs/nothere.yaml" does not exist'],
    where: 'certificate',
  },
  {
    name: 'a config naming a folder',
    body: { ...good('config-folder'), configname: 'lab/configs/' },
    ts: 'config-folder',
    field: 'configname',
    says: ['configname "lab/configs/" ends in "/"'],
    where: 'certificate',
  },
  // -- the config's content --
  {
    name: 'a config with a YAML error',
    body: { ...good('yaml-error'), configname: 'lab/configs/bad.yaml' },
    ts: 'yaml-error',
    field: 'configname',
    says: ['config "lab/configs/bad.yaml" is not valid YAML'],
    where: 'certificate',
  },
  {
    name: '__duration__ over the cap',
    body: { ...good('too-long'), configname: 'lab/configs/long.yaml' },
    ts: 'too-long',
    field: '__duration__',
    says: ['__duration__ in config "lab/configs/long.yaml" is 100000 minutes', 'at most 600 minutes'],
    where: 'certificate',
  },
  {
    name: '__duration__ negative',
    body: { ...good('negative'), configname: 'lab/configs/negative.yaml' },
    ts: 'negative',
    field: '__duration__',
    says: ['__duration__ in config "lab/configs/negative.yaml" is -5 minutes', 'more than 0'],
    where: 'certificate',
  },
  {
    name: '__dataset_size__ over the cap',
    body: { ...good('too-big-data'), configname: 'lab/configs/size.yaml' },
    ts: 'too-big-data',
    field: '__dataset_size__',
    says: ['__dataset_size__ in config "lab/configs/size.yaml" is 5000 GB', 'at most 50 GB'],
    where: 'certificate',
  },
  {
    name: 'a config that is not text',
    body: { ...good('binary-config'), configname: 'lab/configs/binary.yaml' },
    ts: 'binary-config',
    field: 'configname',
    says: ['config "lab/configs/binary.yaml" is not UTF-8 text'],
    where: 'certificate',
  },
  {
    name: 'a config over 1 MiB',
    body: { ...good('huge-config'), configname: 'lab/configs/huge.yaml' },
    ts: 'huge-config',
    field: 'configname',
    says: ['configname "lab/configs/huge.yaml" is 1.0 MiB', 'at most 1.0 MiB'],
    where: 'certificate',
  },
  // -- options the analysis does not offer --
  {
    name: 'an instance type not allowed',
    body: good('big-machine', { instance_type: 'p4d.24xlarge' }),
    ts: 'big-machine',
    field: 'instance_type',
    says: ['instance_type "p4d.24xlarge" is not offered', 'm5.xlarge, m5.2xlarge'],
    where: 'certificate',
  },
  {
    name: 'NeuroCAAS resultpath',
    body: good('resultpath', { resultpath: 'lab/elsewhere/' }),
    ts: 'resultpath',
    field: 'resultpath',
    says: ['resultpath is not accepted here'],
    where: 'certificate',
  },
  // -- who submits, and where --
  {
    name: 'a group not in the blueprint',
    group: 'strangers',
    body: submitJson('strangers', 'stranger', 'strangers/inputs/good.bin'),
    ts: 'stranger',
    field: 'group',
    says: ['group "strangers"', 'is not a group of analysis'],
    where: 'beside',
  },
  {
    name: 'a group with UserInput false',
    group: 'viewers',
    body: submitJson('viewers', 'viewer', 'viewers/inputs/good.bin'),
    ts: 'viewer',
    field: 'group',
    says: ['group "viewers" may not submit jobs', 'UserInput'],
    where: 'beside',
  },
  {
    name: 'a submission outside submissions/',
    key: 'lab/inputs/misplaced_submit.json',
    body: good('misplaced'),
    ts: 'misplaced',
    field: 'submission key',
    says: ['submissions go in lab/submissions/'],
    where: 'beside',
  },
  {
    name: "lab2 naming lab's data (a prefix is not a group)",
    group: 'lab2',
    body: submitJson('lab2', 'prefix', 'lab/inputs/good.bin', 'lab2/configs/config.yaml'),
    ts: 'prefix',
    field: 'dataname',
    says: ['dataname "lab/inputs/good.bin" is in group "lab"'],
    where: 'certificate',
  },
];

const expectWords = (text: string | undefined, says: RefusalCase['says']): void => {
  for (const words of says) {
    if (typeof words === 'string') expect(text).toContain(words);
    else expect(text).toMatch(words);
  }
};

const upload = async (key: string, body: RefusalCase['body']): Promise<void> => {
  const bytes = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
  await emulators.s3.client.send(
    new PutObjectCommand({ Bucket: h.bucket, Key: key, Body: Buffer.from(bytes) }),
  );
};

describe('malformed submissions are refused where the user looks, and nothing runs', () => {
  test('there are at least 25 distinct cases', () => {
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
    expect(CASES.length).toBeGreaterThanOrEqual(25);
  });

  test.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const group = c.group ?? 'lab';
    const slug = c.name.replace(/[^a-z0-9]+/gi, '-');
    const key = c.key ?? `${group}/submissions/${slug}_submit.json`;
    await upload(key, c.body);
    const queued = h.queue.sent.length;

    const outcome = await processSubmission(h.ctx, await h.refOf(key));
    if (outcome.kind !== 'refused') throw new Error(`expected a refusal, got ${JSON.stringify(outcome)}`);
    expect(outcome.problems.map((p) => p.field)).toContain(c.field);

    const besideKey = submissionMessageKey(key);
    expect(besideKey.endsWith(SUBMIT_SUFFIX)).toBe(false);
    const beside = await h.read(besideKey);
    expect(beside).toContain(`Your submission ${key} was not accepted.`);
    expectWords(beside, c.says);
    expect(beside).toContain('Nothing was launched.');

    const folder = c.ts !== undefined ? h.resultFolder(group, c.ts) : undefined;
    if (c.where === 'certificate') {
      if (!folder) throw new Error('a certificate case needs its timestamp');
      expect(outcome.messageKey).toBe(certificateKey(folder));
      const certificate = await h.certificate(group, c.ts ?? '');
      expectWords(certificate, c.says);
      const status = JSON.parse((await h.read(statusKey(folder, 'submission'))) ?? '{}') as Record<
        string,
        unknown
      >;
      expect(status).toMatchObject({ status: 'FAILED', input: key });
      expect(String(status.reason)).toContain(`${c.field}: `);
    } else {
      expect(outcome.messageKey).toBe(besideKey);
      // Nothing in a results folder: no timestamp, or one this submission may not use.
      if (folder) expect(await h.objects.listKeys(`${folder}/`)).toEqual([]);
    }

    // Refused before anything was recorded: no job, no dedupe row, no launch, no worker slot.
    if (c.ts !== undefined) expect(await h.job(group, c.ts)).toBeUndefined();
    const head = await h.objects.head(key);
    expect(await h.store.hasSubmission(h.bucket, key, head?.etag ?? '')).toBe(false);
    expect(h.queue.sent.length).toBe(queued);
  });

  test('after every refusal: no launch message, no job row, no worker, no budget used', async () => {
    expect(h.queue.sent).toEqual([]);
    expect(h.launcher.launches).toEqual([]);
    expect(await h.store.listLive()).toEqual([]);
    expect(await h.store.counters.runningCount()).toBe(0);
    for (const group of ['lab', 'lab2', 'viewers', 'strangers']) {
      expect(await h.store.listGroupJobs(group)).toEqual([]);
      expect(await h.store.counters.getBudget(group, h.clock.now().toISOString().slice(0, 7))).toBe(0);
    }
  });

  test('a refusal reports every problem at once, in the order of the file', async () => {
    const key = await h.upload('lab', 'several', {
      dataname: ['lab/inputs/good.bin', 'lab/inputs/gone1.bin', 'lab/inputs/gone2.bin'],
      configname: 'lab/configs/nothere.yaml',
      timestamp: 'several',
    });
    const outcome = await processSubmission(h.ctx, await h.refOf(key));
    expect(outcome.kind === 'refused' && outcome.problems.map((p) => p.field)).toEqual([
      'dataname[1]',
      'dataname[2]',
      'configname',
    ]);
  });
});
