/**
 * A job list's bytes, CSV or Excel: a workbook reads into the same rows and problems as the CSV of
 * the same sheet, numbered as the spreadsheet shows them; a file that is neither says what to do.
 */
import { readJobListBytes, type JobListRead } from '../../lib/cli/job-list-file';
import { MAX_CSV_BYTES, readJobList, type JobList } from '../../lib/cli/job-list';
import { notesSheet, textSheet, workbook } from '../support/workbook';

const listOf = (read: JobListRead): JobList => {
  if (!read.ok) throw new Error(`expected a job list, got: ${read.message}`);
  return read.list;
};
const messageOf = (read: JobListRead): string => {
  if (read.ok) throw new Error('expected the file to be refused');
  return read.message;
};
const csvBytes = (text: string): Uint8Array => new TextEncoder().encode(text);

const ROWS = [
  ['group', 'data', 'config', 'instance_type', 'timestamp'],
  ['labA', 'labA/inputs/a.bin;labA/inputs/b.bin', 'labA/configs/c.yaml', '', 'first'],
  ['labA', '', 'labA/configs/c.yaml', 't3.small', ''],
  ['bad group!', 'labA/inputs/a.bin', 'labA/configs/c.yaml', '', ''],
];

test('a workbook reads into the same rows and problems as the CSV of the same sheet', async () => {
  const fromCsv = listOf(await readJobListBytes(csvBytes(ROWS.map((r) => r.join(',')).join('\n'))));
  const fromXlsx = listOf(await readJobListBytes(await workbook(textSheet(ROWS))));
  expect(fromXlsx).toEqual(fromCsv);
  expect(fromXlsx.rows.map((r) => r.row)).toEqual([2]);
  expect(fromXlsx.problems.map((p) => [p.row, p.column])).toEqual([
    [3, 'data'],
    [4, 'group'],
  ]);
});

test('a table placed lower and to the right keeps the spreadsheet row numbers; typed cells read as their text', async () => {
  const sheet = [
    [],
    [],
    [null, 'Group', 'Data', 'Config', 'Timestamp'],
    [null, 'labA', 'labA/inputs/a.bin', 'labA/configs/c.yaml', 20261207],
    [],
    [
      null,
      'labA',
      true,
      'labA/configs/c.yaml',
      { value: new Date(Date.UTC(2026, 11, 7)), format: 'yyyy-mm-dd' },
    ],
  ];
  const list = listOf(await readJobListBytes(await workbook(sheet)));
  expect(list.rows).toEqual([
    {
      row: 4,
      group: 'labA',
      data: ['labA/inputs/a.bin'],
      config: 'labA/configs/c.yaml',
      timestamp: '20261207',
    },
    {
      row: 6,
      group: 'labA',
      data: ['TRUE'],
      config: 'labA/configs/c.yaml',
      timestamp: '2026-12-07T00:00:00.000Z',
    },
  ]);
  expect(list.problems).toEqual([]);
});

test('markup and shell metacharacters in cells stay the text they are', async () => {
  const hostile = '<img src=x onerror=alert(1)>;$(rm -rf ~)`id`';
  const list = listOf(
    await readJobListBytes(
      await workbook(
        textSheet([
          ['group', 'data', 'config'],
          ['labA', hostile, 'javascript:alert(1)'],
        ]),
      ),
    ),
  );
  expect(list.rows[0].data).toEqual(['<img src=x onerror=alert(1)>', '$(rm -rf ~)`id`']);
  expect(list.rows[0].config).toBe('javascript:alert(1)');
});

test('only the first sheet is the job list, however large the others are', async () => {
  const list = listOf(
    await readJobListBytes(
      await workbook(
        textSheet([
          ['group', 'data', 'config'],
          ['labA', 'labA/inputs/a.bin', 'labA/configs/c.yaml'],
        ]),
        notesSheet(20_000),
      ),
    ),
  );
  expect(list.rows).toHaveLength(1);
  expect(list.problems).toEqual([]);
});

test('an empty first sheet is an empty file', async () => {
  const list = listOf(await readJobListBytes(await workbook(textSheet([['', '']]))));
  expect(list.problems[0].message).toContain('the file is empty');
});

describe('a file that is neither CSV UTF-8 nor a readable workbook says what to do', () => {
  test.each([
    [
      'an old .xls workbook',
      Uint8Array.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 0, 0]),
      'old-style .xls',
    ],
    [
      'a broken zip',
      Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 1, 2, 3, 4, 5]),
      'not a readable Excel workbook',
    ],
    [
      'Latin-1 text',
      Uint8Array.from([0x67, 0x72, 0x6f, 0x75, 0x70, 0x2c, 0xe9, 0x0a]),
      'neither UTF-8 text nor an .xlsx',
    ],
  ])('%s', async (_name, bytes, says) => {
    const message = messageOf(await readJobListBytes(bytes));
    expect(message).toContain(says);
    expect(message).toContain('CSV UTF-8');
  });

  test('a workbook cut short', async () => {
    const whole = await workbook(textSheet(ROWS));
    expect(messageOf(await readJobListBytes(whole.subarray(0, whole.length - 200)))).toContain(
      'not a readable Excel workbook',
    );
  });

  test('too large', async () => {
    expect(messageOf(await readJobListBytes(new Uint8Array(MAX_CSV_BYTES + 1)))).toContain('too large');
  });
});

test('CSV reads as before', async () => {
  const text = 'group,data,config\nlabA,labA/inputs/a.bin,labA/configs/c.yaml\n';
  expect(listOf(await readJobListBytes(csvBytes(`\uFEFF${text}`)))).toEqual(readJobList(text));
});
