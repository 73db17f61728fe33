import { readJobConfig, type JobConfigResult } from '../../lib/submission/job-config';
import { testAnalysis } from './analysis';

const limits = testAnalysis().limits;
const read = (body: Uint8Array | string, key: string): JobConfigResult => readJobConfig(body, key, limits);

const problemsOf = (result: JobConfigResult) => {
  if (result.ok) throw new Error(`expected a refusal, got ${JSON.stringify(result)}`);
  return result.problems;
};

describe('estimates read from the config', () => {
  test('JSON', () => {
    expect(read('{"__duration__": 120, "__dataset_size__": 50, "other": [1]}', 'lab/configs/c.json')).toEqual(
      {
        ok: true,
        durationMinutes: 120,
        datasetSizeGiB: 50,
      },
    );
  });

  test('YAML (.yaml and .yml)', () => {
    const yaml = '# CaImAn settings\n__duration__: 90\n__dataset_size__: 12.5\nparams:\n  fr: 30\n';
    expect(read(yaml, 'lab/configs/c.yaml')).toEqual({ ok: true, durationMinutes: 90, datasetSizeGiB: 12.5 });
    expect(read(yaml, 'lab/configs/c.yml')).toEqual({ ok: true, durationMinutes: 90, datasetSizeGiB: 12.5 });
  });

  test('numbers written as text are accepted', () => {
    expect(read('{"__duration__": "90", "__dataset_size__": " 1e2 "}', 'lab/configs/c.json')).toEqual({
      ok: true,
      durationMinutes: 90,
      datasetSizeGiB: 100,
    });
    expect(read('__duration__: "45.5"\n', 'lab/configs/c.yaml')).toEqual({ ok: true, durationMinutes: 45.5 });
  });

  test('values equal to the caps are accepted', () => {
    expect(read('{"__duration__": 600, "__dataset_size__": 200}', 'lab/configs/c.json')).toEqual({
      ok: true,
      durationMinutes: 600,
      datasetSizeGiB: 200,
    });
  });

  test('no estimates: ok, both undefined', () => {
    const result = read('{"param": 1}', 'lab/configs/c.json');
    expect(result).toEqual({ ok: true });
    expect(result.ok && result.durationMinutes).toBeUndefined();
    expect(result.ok && result.datasetSizeGiB).toBeUndefined();
  });

  test.each([
    ['a plain list (YAML)', '- 1\n- 2\n', 'lab/configs/c.yaml'],
    ['a plain list (JSON)', '[{"__duration__": 5}]', 'lab/configs/c.json'],
    ['an empty YAML file', '', 'lab/configs/c.yaml'],
    ['an empty JSON file', '  \n', 'lab/configs/c.json'],
    ['a single value', 'just some text', 'lab/configs/c.txt'],
    ['null', 'null', 'lab/configs/c.json'],
  ])('%s is accepted without estimates', (_name, body, key) => {
    expect(read(body, key)).toEqual({ ok: true });
  });

  test('a key without a known extension: JSON when it looks like JSON, else YAML', () => {
    expect(read('{"__duration__": 10}', 'lab/configs/params')).toEqual({ ok: true, durationMinutes: 10 });
    expect(read('{__duration__: 11}', 'lab/configs/params')).toEqual({ ok: true, durationMinutes: 11 });
    expect(read('__duration__: 12\n', 'lab/configs/params.cfg')).toEqual({ ok: true, durationMinutes: 12 });
  });

  test('a byte order mark and bytes instead of text', () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"__duration__": 30}')]);
    expect(read(bytes, 'lab/configs/c.json')).toEqual({ ok: true, durationMinutes: 30 });
  });
});

describe('refused configs name the config, the key and the limit', () => {
  test.each([
    [
      '__duration__ over the cap',
      '{"__duration__": 601}',
      '__duration__',
      ['601 minutes', 'at most 600 minutes'],
    ],
    [
      '__duration__ text over the cap',
      '__duration__: "900"\n',
      '__duration__',
      ['900 minutes', 'at most 600'],
    ],
    [
      '__dataset_size__ over the cap',
      '{"__dataset_size__": 250}',
      '__dataset_size__',
      ['250 GB', 'at most 200 GB'],
    ],
    ['negative __duration__', '{"__duration__": -5}', '__duration__', ['-5 minutes', 'must be more than 0']],
    ['zero __dataset_size__', '{"__dataset_size__": "0"}', '__dataset_size__', ['0 GB', 'more than 0']],
    [
      '__duration__ not a number',
      '{"__duration__": "ninety"}',
      '__duration__',
      ['must be a number of minutes like 90', 'the text "ninety"'],
    ],
    ['__duration__ with a unit', '__duration__: 90min\n', '__duration__', ['the text "90min"']],
    ['__duration__ true', '{"__duration__": true}', '__duration__', ['the value true']],
    [
      '__duration__ a YAML date',
      '__duration__: 2026-05-01\n',
      '__duration__',
      ['the date 2026-05-01T00:00:00.000Z'],
    ],
    ['__duration__ empty', '__duration__:\n', '__duration__', ['got null']],
    [
      '__dataset_size__ a list',
      '{"__dataset_size__": [1]}',
      '__dataset_size__',
      ['must be a number of GB like 20', 'a list'],
    ],
  ])('%s', (_name, body, field, says) => {
    const key = body.startsWith('{') ? 'lab/configs/c.json' : 'lab/configs/c.yaml';
    const [problem] = problemsOf(read(body, key));
    expect(problem.field).toBe(field);
    expect(problem.message).toContain(`config "${key}"`);
    for (const words of says) expect(problem.message).toContain(words);
  });

  test('both estimates wrong: both reported', () => {
    const problems = problemsOf(read('{"__duration__": 1000, "__dataset_size__": -1}', 'lab/configs/c.json'));
    expect(problems.map((p) => p.field)).toEqual(['__duration__', '__dataset_size__']);
  });

  test('a YAML syntax error names the config key and the line', () => {
    const [problem] = problemsOf(read('__duration__: 10\nparams: [1, 2\nother: 3\n', 'lab/configs/c.yaml'));
    expect(problem.field).toBe('configname');
    expect(problem.message).toContain('config "lab/configs/c.yaml" is not valid YAML');
    expect(problem.message).toContain('line 3');
    expect(problem.message).not.toMatch(/\n/);
  });

  test('YAML with a duplicate key or an undefined alias is refused', () => {
    expect(problemsOf(read('a: 1\na: 2\n', 'lab/configs/c.yaml'))[0].message).toContain('line 2');
    expect(problemsOf(read('a: *nothing\n', 'lab/configs/c.yaml'))[0].message).toContain('not valid YAML');
  });

  test('YAML holding several documents is refused; the message is one line', () => {
    const [problem] = problemsOf(read('__duration__: 10\n---\nother: 1\n', 'lab/configs/c.yaml'));
    expect(problem.message).toContain('not valid YAML (expected a single document');
    expect(problem.message).not.toMatch(/\n/);
  });

  test('an alias bomb is read without expanding it', () => {
    // Nine levels of nine aliases: 9^9 leaves if copied; js-yaml shares one value per alias.
    const levels = ['l0: &l0 [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i <= 9; i++)
      levels.push(
        `l${i}: &l${i} [${Array(9)
          .fill(`*l${i - 1}`)
          .join(', ')}]`,
      );
    const started = process.memoryUsage().heapUsed;
    expect(read(`__duration__: 30\n${levels.join('\n')}\n`, 'lab/configs/c.yaml')).toEqual({
      ok: true,
      durationMinutes: 30,
    });
    expect(process.memoryUsage().heapUsed - started).toBeLessThan(64 * 1024 * 1024);
  });

  test('a JSON syntax error names the config key and the line', () => {
    const body = '{\n  "__duration__": 10\n  "other": 1\n}\n';
    const [problem] = problemsOf(read(body, 'lab/configs/c.json'));
    expect(problem.message).toContain('config "lab/configs/c.json" is not valid JSON (line 3');
  });

  test('a .json key holding YAML is not valid JSON', () => {
    expect(problemsOf(read('__duration__: 10\n', 'lab/configs/c.json'))[0].message).toContain(
      'not valid JSON',
    );
  });

  test('more than 1 MiB', () => {
    const body = `{"pad": "${'x'.repeat(1024 * 1024)}"}`;
    expect(problemsOf(read(body, 'lab/configs/c.json'))[0].message).toContain('the limit is 1.0 MiB');
  });

  test('not UTF-8', () => {
    const bytes = Buffer.from([0x5f, 0x5f, 0xff, 0xfe, 0x00]);
    expect(problemsOf(read(bytes, 'lab/configs/c.yaml'))[0].message).toContain('is not UTF-8 text');
  });
});
