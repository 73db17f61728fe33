/**
 * `ncaas submit --csv`: many jobs from a spreadsheet, against s3rver. Every row is checked before
 * anything is uploaded; a problem names its row (the header is row 1) and column, and a file with
 * any problem uploads nothing.
 */
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runBulkSubmit } from '../../lib/cli/bulk-submit';
import { readJobList } from '../../lib/cli/job-list';
import { parseCsv } from '../../lib/cli/csv-text';
import { CliError, EXIT } from '../../lib/cli/errors';
import { targetFromClient, type S3Target } from '../../lib/cli/s3-target';
import { loadBlueprint } from '../../lib/cli/validate-command';
import { parseSubmission } from '../../lib/submission/parse-submission';
import { startS3Emulator, type S3Emulator } from '../support/s3-emulator';
import { captureOutput as capture } from '../support/captured-output';
import { notesSheet, textSheet, workbook } from '../support/workbook';

const mock = loadBlueprint('mock');

let s3: S3Emulator;
let work: string;
let bucket: string;
let target: S3Target;
let bucketCount = 0;

beforeAll(async () => {
  s3 = await startS3Emulator();
});
afterAll(() => s3.stop());
beforeEach(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-cli-bulk-'));
  bucketCount += 1;
  bucket = `cli-bulk-${bucketCount}`;
  await s3.client.send(new CreateBucketCommand({ Bucket: bucket }));
  target = targetFromClient(s3.client, bucket, 'mock');
});
afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

const keys = async (): Promise<string[]> => {
  const out = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
};
const read = (key: string): Promise<string | undefined> => target.objects.readText(key);
const put = (key: string, body: string) =>
  s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));

const file = (name: string, content: string): string => {
  const full = path.join(work, name);
  fs.mkdirSync(path.dirname(full), { recursive: true });
  fs.writeFileSync(full, content);
  return full;
};

/** The data and config files the rows below name, next to the CSV. */
const dataFiles = (): void => {
  file('a.csv', 'a,1\n');
  file('b.csv', 'b,2\n');
  file('c.csv', 'c,3\n');
  file('config.yaml', '__duration__: 10\n');
  file('config2.json', '{"__duration__": 20}');
};

const submitCsv = async (csv: string, options: { dryRun?: boolean; analysis?: boolean } = {}) => {
  const csvFile = file('jobs.csv', csv);
  const io = capture();
  const code = await runBulkSubmit(
    target,
    { csvFile, ...(options.analysis === false ? {} : { analysis: mock }) },
    io.output,
    { dryRun: options.dryRun === true, batchId: 'batch' },
  );
  return { code, stdout: io.stdout(), stderr: io.stderr() };
};

/** A refused file: exit 1, each `row N, column C` named, and not one object in the bucket. */
const expectRefused = async (result: { code: number; stderr: string }, ...where: string[]): Promise<void> => {
  expect(result.code).toBe(EXIT.failed);
  expect(result.stderr).toContain('nothing was uploaded');
  for (const w of where) expect(result.stderr).toContain(`  ${w}: `);
  expect(await keys()).toEqual([]);
};

describe('parseCsv (RFC 4180)', () => {
  test('quoted fields hold commas, doubled quotes and line breaks; CRLF and a BOM are fine', () => {
    const parsed = parseCsv('\uFEFFgroup,data\r\n"lab,A","say ""hi"""\r\nx,"two\nlines"\r\ny,\n');
    expect(parsed).toEqual({
      ok: true,
      records: [
        { row: 1, line: 1, fields: ['group', 'data'] },
        { row: 2, line: 2, fields: ['lab,A', 'say "hi"'] },
        { row: 3, line: 3, fields: ['x', 'two\nlines'] },
        { row: 4, line: 5, fields: ['y', ''] },
      ],
    });
  });

  test('a quote left open, text after a closing quote, a stray quote: errors naming the row', () => {
    expect(parseCsv('a,b\n"open,x\n')).toMatchObject({
      ok: false,
      row: 2,
      message: expect.stringMatching(/never closes/),
    });
    expect(parseCsv('a,b\n"x"y,z\n')).toMatchObject({
      ok: false,
      row: 2,
      message: expect.stringMatching(/follows a closing/),
    });
    expect(parseCsv('a,b\nx"y,z\n')).toMatchObject({
      ok: false,
      row: 2,
      message: expect.stringMatching(/inside a value/),
    });
  });

  test('the last row needs no line break; an empty quoted value is a value', () => {
    expect(parseCsv('a,b\nx,""')).toEqual({
      ok: true,
      records: [
        { row: 1, line: 1, fields: ['a', 'b'] },
        { row: 2, line: 2, fields: ['x', ''] },
      ],
    });
  });
});

describe('a good job list', () => {
  const GOOD = [
    'group,data,config,instance_type,timestamp',
    'labA,a.csv;b.csv,config.yaml,,two-datasets',
    'labA,"c.csv",config2.json,t3.small,',
    'labB,a.csv,config.yaml,,b-job',
    '',
  ].join('\n');

  test('uploads every file once, writes one submit.json a row in order, prints the job ids', async () => {
    dataFiles();
    const result = await submitCsv(GOOD);

    expect(result.stderr).not.toContain('problem');
    expect(result.code).toBe(EXIT.ok);
    expect(result.stdout).toBe('two-datasets\nbatch-row3\nb-job\n');
    expect(await keys()).toEqual([
      'labA/configs/config.yaml',
      'labA/configs/config2.json',
      'labA/inputs/a.csv',
      'labA/inputs/b.csv',
      'labA/inputs/c.csv',
      'labA/submissions/batch-row3submit.json',
      'labA/submissions/two-datasetssubmit.json',
      'labB/configs/config.yaml',
      'labB/inputs/a.csv',
      'labB/submissions/b-jobsubmit.json',
    ]);
    const first = await read('labA/submissions/two-datasetssubmit.json');
    expect(JSON.parse(first ?? '')).toEqual({
      dataname: ['labA/inputs/a.csv', 'labA/inputs/b.csv'],
      configname: 'labA/configs/config.yaml',
      timestamp: 'two-datasets',
    });
    const second = await read('labA/submissions/batch-row3submit.json');
    expect(JSON.parse(second ?? '')).toEqual({
      dataname: 'labA/inputs/c.csv',
      configname: 'labA/configs/config2.json',
      timestamp: 'batch-row3',
      instance_type: 't3.small',
    });
    // What the submit handler reads, it accepts.
    const parsed = parseSubmission({
      body: second ?? '',
      key: 'labA/submissions/batch-row3submit.json',
      analysis: mock,
    });
    expect(parsed.ok).toBe(true);
    expect(await read('labA/inputs/b.csv')).toBe('b,2\n');
  });

  test('a dry run prints each submit.json and uploads nothing', async () => {
    dataFiles();
    const result = await submitCsv(GOOD, { dryRun: true });

    expect(result.code).toBe(EXIT.ok);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { timestamp: string }).timestamp)).toEqual([
      'two-datasets',
      'batch-row3',
      'b-job',
    ]);
    expect(result.stderr).toContain('row 2: would upload');
    expect(result.stderr).toContain('dry run: 3 jobs valid; nothing was uploaded');
    expect(await keys()).toEqual([]);
  });

  test('an Excel workbook of the same rows is read from its first sheet and submits the same jobs', async () => {
    dataFiles();
    const rows = GOOD.trimEnd()
      .split('\n')
      .map((line) => line.split(',').map((cell) => cell.replace(/"/g, '')));
    const xlsx = path.join(work, 'jobs.xlsx');
    fs.writeFileSync(xlsx, await workbook(textSheet(rows), notesSheet(10)));
    const io = capture();
    const code = await runBulkSubmit(target, { csvFile: xlsx, analysis: mock }, io.output, {
      batchId: 'batch',
    });

    expect(io.stderr()).not.toContain('problem');
    expect(code).toBe(EXIT.ok);
    expect(io.stdout()).toBe('two-datasets\nbatch-row3\nb-job\n');
    expect(await keys()).toContain('labA/submissions/batch-row3submit.json');
  });

  test('a file that is neither CSV nor a workbook is a usage error that says how to save it', async () => {
    fs.writeFileSync(path.join(work, 'jobs.xls'), Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0, 0, 0, 0]));
    const io = capture();
    await expect(
      runBulkSubmit(target, { csvFile: path.join(work, 'jobs.xls'), analysis: mock }, io.output),
    ).rejects.toThrow(/--csv .*jobs\.xls is an old-style \.xls workbook.*CSV UTF-8/);
    expect(await keys()).toEqual([]);
  });

  test('keys already in the bucket are used as they are; a file shared by rows is uploaded once', async () => {
    await put('labA/inputs/old.csv', 'old');
    await put('labA/configs/c.yaml', '__duration__: 5\n');
    file('shared.yaml', '__duration__: 5\n');
    file('x.csv', 'x');
    const result = await submitCsv(
      'group,data,config\nlabA,labA/inputs/old.csv,labA/configs/c.yaml\nlabA,x.csv,shared.yaml\nlabA,x.csv;labA/inputs/old.csv,shared.yaml\n',
    );
    expect(result.stderr).not.toContain('problem');
    expect(result.code).toBe(EXIT.ok);
    expect(result.stdout).toBe('batch-row2\nbatch-row3\nbatch-row4\n');
    expect(result.stderr.match(/uploaded .*x\.csv/g)).toHaveLength(1);
    expect(JSON.parse((await read('labA/submissions/batch-row4submit.json')) ?? '')).toMatchObject({
      dataname: ['labA/inputs/x.csv', 'labA/inputs/old.csv'],
    });
  });
});

describe('a bad job list uploads nothing and names the row and column', () => {
  beforeEach(dataFiles);

  test('a missing header column', async () => {
    const result = await submitCsv('group,data\nlabA,a.csv\n');
    await expectRefused(result, 'row 1, column config');
    expect(result.stderr).toContain('the header has no "config" column');
  });

  test('an unknown column', async () => {
    const result = await submitCsv('group,data,config,priority\nlabA,a.csv,config.yaml,high\n');
    await expectRefused(result, 'row 1, column priority');
    expect(result.stderr).toContain('unknown column "priority"');
  });

  test('a header saved with ";" by a spreadsheet in another region', async () => {
    const result = await submitCsv('group;data;config\nlabA;a.csv;config.yaml\n');
    await expectRefused(result, 'row 1');
    expect(result.stderr).toContain('separated by commas');
  });

  test('empty data, and an empty dataset between ";"', async () => {
    const result = await submitCsv('group,data,config\nlabA,,config.yaml\nlabA,a.csv;;b.csv,config.yaml\n');
    await expectRefused(result, 'row 2, column data', 'row 3, column data');
    expect(result.stderr).toContain('no data');
    expect(result.stderr).toContain('empty dataset between ";"');
  });

  test('a group that is not a group of the analysis, a group with a "/", data of another group', async () => {
    const result = await submitCsv(
      [
        'group,data,config',
        'labA,a.csv,config.yaml',
        'labZ,a.csv,config.yaml',
        'labA/inputs,a.csv,config.yaml',
        'labA,labB/inputs/a.csv,config.yaml',
      ].join('\n'),
    );
    await expectRefused(result, 'row 3, column group', 'row 4, column group', 'row 5, column data');
    expect(result.stderr).toContain('"labZ"');
    expect(result.stderr).not.toContain('row 2,');
  });

  test('without the blueprint a bad group name is still refused', async () => {
    const result = await submitCsv('group,data,config\nlab A,a.csv,config.yaml\n', { analysis: false });
    await expectRefused(result, 'row 2, column group');
  });

  test('a timestamp repeated in the file', async () => {
    const result = await submitCsv(
      'group,data,config,timestamp\nlabA,a.csv,config.yaml,t1\nlabA,b.csv,config.yaml,t2\nlabB,c.csv,config.yaml,t1\n',
    );
    await expectRefused(result, 'row 4, column timestamp');
    expect(result.stderr).toContain(`also row 2's`);
  });

  test('a timestamp already used by a job in the bucket', async () => {
    await put('labA/submissions/takensubmit.json', '{}');
    await put('labB/results/job__mock_done/logs/certificate.txt', 'x');
    const result = await submitCsv(
      'group,data,config,timestamp\nlabA,a.csv,config.yaml,taken\nlabB,b.csv,config.yaml,done\nlabA,c.csv,config.yaml,free\n',
    );
    expect(result.code).toBe(EXIT.failed);
    expect(result.stderr).toContain(
      '  row 2, column timestamp: a submission with timestamp "taken" already exists',
    );
    expect(result.stderr).toContain('  row 3, column timestamp: job "done" already exists');
    expect(result.stderr).not.toContain('row 4');
    // Only what the test itself put there.
    expect(await keys()).toEqual([
      'labA/submissions/takensubmit.json',
      'labB/results/job__mock_done/logs/certificate.txt',
    ]);
  });

  test('a quoted field with a comma: two datasets written with "," instead of ";"', async () => {
    const result = await submitCsv('group,data,config\nlabA,"a.csv,b.csv",config.yaml\n');
    await expectRefused(result, 'row 2, column data');
    expect(result.stderr).toContain('separated by ";", not ","');
  });

  test('a comma outside quotes: more values than columns', async () => {
    const result = await submitCsv('group,data,config\nlabA,a.csv,b.csv,config.yaml\n');
    await expectRefused(result, 'row 2');
    expect(result.stderr).toContain('has 4 values but the header names 3 columns');
  });

  test('the same row twice without timestamps', async () => {
    const result = await submitCsv('group,data,config\nlabA,a.csv,config.yaml\nlabA,a.csv,config.yaml\n');
    await expectRefused(result, 'row 3');
    expect(result.stderr).toContain('repeats row 2');
  });

  test('two local files that would land on one key', async () => {
    file('other/a.csv', 'different');
    const result = await submitCsv(
      'group,data,config\nlabA,a.csv,config.yaml\nlabA,other/a.csv,config.yaml\n',
    );
    await expectRefused(result, 'row 3, column data');
    expect(result.stderr).toContain('where row 2 uploads');
  });

  test("an instance type the analysis does not offer, a config over the blueprint's caps", async () => {
    file('long.yaml', '__duration__: 6000\n');
    const result = await submitCsv(
      'group,data,config,instance_type\nlabA,a.csv,config.yaml,p4d.24xlarge\nlabA,b.csv,long.yaml,\n',
    );
    await expectRefused(result, 'row 2, column instance_type', 'row 3, column config');
  });

  test('a quote left open names the row where it opens; every problem of the file is listed at once', async () => {
    const open = await submitCsv('group,data,config\nlabA,a.csv,config.yaml\nlabA,"b.csv,config.yaml\n');
    await expectRefused(open, 'row 3');
    expect(open.stderr).toContain('never closes');

    const many = await submitCsv(
      'group,data,config\n,a.csv,config.yaml\nlabA,,\nlabA,missing.csv,config.yaml\n',
    );
    await expectRefused(
      many,
      'row 2, column group',
      'row 3, column data',
      'row 3, column config',
      'row 4, column data',
    );
    expect(many.stderr).toContain('4 problems');
  });

  test('a header and no rows', async () => {
    await expectRefused(await submitCsv('group,data,config\n'), 'row 2');
  });
});

test('a dry run needs the blueprint; a missing CSV file is a usage error', async () => {
  const io = capture();
  await expect(
    runBulkSubmit(target, { csvFile: path.join(work, 'jobs.csv') }, io.output, { dryRun: true }),
  ).rejects.toThrow(CliError);
  await expect(
    runBulkSubmit(target, { csvFile: path.join(work, 'none.csv') }, io.output),
  ).rejects.toMatchObject({ exitCode: EXIT.usage, message: expect.stringContaining('no such file') });
});

test('readJobList: header names in any case and order; blank rows skipped but counted', () => {
  const read = readJobList(
    'Config,GROUP,Data,Instance-Type\nc.yaml,labA,a.csv,\n,,,\nc.yaml,labB,b.csv,m5.large\n',
  );
  expect(read).toEqual({
    problems: [],
    rows: [
      { row: 2, group: 'labA', data: ['a.csv'], config: 'c.yaml' },
      { row: 4, group: 'labB', data: ['b.csv'], config: 'c.yaml', instanceType: 'm5.large' },
    ],
  });
});
