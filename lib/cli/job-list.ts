/**
 * A job list (`ncaas submit --csv`, and the console's job-list upload) read into rows, with every problem of
 * its text, header and values named by row and column; no file system and no S3, so the CLI
 * (./bulk-submit.ts) and the web console share it.
 *
 * Columns (header row required, names in any order and case): `group`, `data`, `config`, and optional
 * `instance_type` and `timestamp`; several datasets of one job are separated by `;`.
 */
import { GROUP_NAME } from '../blueprint/blueprint-schema';
import type { SubmissionProblem } from '../submission/submission-problem';
import { isBlankRecord, parseCsv, type CsvRecord } from './csv-text';
import type { SubmissionPlan } from './submission-check';

export const CSV_COLUMNS = ['group', 'data', 'config', 'instance_type', 'timestamp'] as const;
export type CsvColumn = (typeof CSV_COLUMNS)[number];
const REQUIRED_COLUMNS: readonly CsvColumn[] = ['group', 'data', 'config'];

/** Separates the datasets of one job in the `data` column. */
export const DATASET_SEPARATOR = ';';

/** Largest CSV read: a job list, not data. */
export const MAX_CSV_BYTES = 10 * 1024 * 1024;

/** Rows checked against the bucket at once. */
export interface RowProblem {
  /** As a spreadsheet numbers rows: the header is row 1. */
  readonly row: number;
  /** The column the problem is in; absent for a problem of the whole row or file. */
  readonly column?: CsvColumn | string;
  /** Which dataset of `data` (1-based), when the problem is one dataset's. */
  readonly dataset?: number;
  readonly message: string;
}

/** One row of the file, read. */
export interface BulkRow {
  readonly row: number;
  readonly group: string;
  /** The datasets as written, one per `;`-separated piece. */
  readonly data: readonly string[];
  readonly config: string;
  readonly instanceType?: string;
  /** As written; undefined when the column is absent or empty. */
  readonly timestamp?: string;
}

const columnOrder = (column: string | undefined): number => {
  const index = CSV_COLUMNS.indexOf(column as CsvColumn);
  return column === undefined ? -1 : index < 0 ? CSV_COLUMNS.length : index;
};

/** Problems sorted by row, then column in the header's documented order, then dataset. */
export const sortProblems = (problems: readonly RowProblem[]): RowProblem[] =>
  [...problems].sort(
    (a, b) =>
      a.row - b.row || columnOrder(a.column) - columnOrder(b.column) || (a.dataset ?? 0) - (b.dataset ?? 0),
  );

/** `row 3, column data (dataset 2)`. */
export const whereIs = (problem: RowProblem): string =>
  `row ${problem.row}` +
  (problem.column !== undefined ? `, column ${problem.column}` : '') +
  (problem.dataset !== undefined ? ` (dataset ${problem.dataset})` : '');

/** The header's columns by position, or the header's problems (all in row 1). */
const readHeader = (
  header: CsvRecord,
): { ok: true; columns: (CsvColumn | undefined)[] } | { ok: false; problems: RowProblem[] } => {
  const problems: RowProblem[] = [];
  const names = header.fields.map((f) => f.trim().toLowerCase());
  const expected = `the header names the columns group, data, config and optionally instance_type, timestamp`;
  if (names.length === 1 && names[0].includes(';')) {
    return {
      ok: false,
      problems: [
        {
          row: 1,
          message: `the header "${header.fields[0]}" has no commas: columns must be separated by commas (a spreadsheet set to another region may save ";" instead; export as "CSV (comma delimited)")`,
        },
      ],
    };
  }
  const seen = new Map<string, number>();
  const columns = names.map((name, index): CsvColumn | undefined => {
    const shown = header.fields[index].trim();
    if (name === '') {
      problems.push({
        row: 1,
        column: `${index + 1}`,
        message: `column ${index + 1} has no name: ${expected}`,
      });
      return undefined;
    }
    const known = CSV_COLUMNS.find((c) => c === name.replace(/[\s-]+/g, '_'));
    if (known === undefined) {
      problems.push({ row: 1, column: shown, message: `unknown column "${shown}": ${expected}` });
      return undefined;
    }
    const earlier = seen.get(known);
    if (earlier !== undefined) {
      problems.push({
        row: 1,
        column: known,
        message: `column "${known}" appears twice (columns ${earlier + 1} and ${index + 1}): keep one`,
      });
      return undefined;
    }
    seen.set(known, index);
    return known;
  });
  for (const required of REQUIRED_COLUMNS) {
    if (!seen.has(required) && !problems.some((p) => p.column === required)) {
      problems.push({
        row: 1,
        column: required,
        message: `the header has no "${required}" column: ${expected}`,
      });
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, columns };
};

/** One record as a row, or its problems. Values are trimmed; empty optional values count as absent. */
const readRow = (
  record: CsvRecord,
  columns: readonly (CsvColumn | undefined)[],
): { row?: BulkRow; problems: RowProblem[] } => {
  const { row } = record;
  if (record.fields.length > columns.length) {
    const extra = record.fields.slice(columns.length).some((f) => f.trim() !== '');
    if (extra) {
      return {
        problems: [
          {
            row,
            message: `row ${row} has ${record.fields.length} values but the header names ${columns.length} columns: a value that holds a comma must be in double quotes`,
          },
        ],
      };
    }
  }
  const value = (column: CsvColumn): string => {
    const index = columns.indexOf(column);
    return index < 0 ? '' : (record.fields[index] ?? '').trim();
  };
  const problems: RowProblem[] = [];
  const group = value('group');
  if (group === '') {
    problems.push({
      row,
      column: 'group',
      message: 'the group is empty: give your group (the first folder of its keys)',
    });
  } else if (!GROUP_NAME.test(group)) {
    problems.push({
      row,
      column: 'group',
      message: `"${group}" is not a group name: a group is letters, digits, "-" or "_" (the first folder of its keys, without "/")`,
    });
  }
  const dataText = value('data');
  const data = dataText.split(DATASET_SEPARATOR).map((d) => d.trim());
  if (dataText === '') {
    problems.push({
      row,
      column: 'data',
      message: `no data: give a local file or folder, or a key in the bucket (several datasets separated by "${DATASET_SEPARATOR}")`,
    });
  } else if (data.some((d) => d === '')) {
    problems.push({
      row,
      column: 'data',
      message: `"${dataText}" has an empty dataset between "${DATASET_SEPARATOR}": remove the extra "${DATASET_SEPARATOR}"`,
    });
  }
  const config = value('config');
  if (config === '') {
    problems.push({
      row,
      column: 'config',
      message: 'no config: give a local file, or the key of one in the bucket',
    });
  }
  const instanceType = value('instance_type');
  const timestamp = value('timestamp');
  if (problems.length > 0) return { problems };
  return {
    row: {
      row,
      group,
      data,
      config,
      ...(instanceType !== '' ? { instanceType } : {}),
      ...(timestamp !== '' ? { timestamp } : {}),
    },
    problems,
  };
};

/** A job list read: the rows that could be read, and every problem of its text, header and values. */
export interface JobList {
  readonly rows: readonly BulkRow[];
  readonly problems: readonly RowProblem[];
}

/** Reads a CSV job list (no file system, no S3). A broken file or header gives no rows. */
export const readJobList = (text: string): JobList => {
  const parsed = parseCsv(text);
  if (!parsed.ok) {
    const line = parsed.line !== parsed.row ? ` (line ${parsed.line} of the file)` : '';
    return { rows: [], problems: [{ row: parsed.row, message: `${parsed.message}${line}` }] };
  }
  return readJobRecords(parsed.records);
};

/**
 * Reads a job list's records, however they were stored (CSV text, a spreadsheet's first sheet): the
 * first record is the header, blank records are skipped but keep their row numbers.
 */
export const readJobRecords = (all: readonly CsvRecord[]): JobList => {
  const [header, ...records] = all.filter((r, i) => i === 0 || !isBlankRecord(r));
  if (header === undefined || isBlankRecord(header)) {
    return {
      rows: [],
      problems: [
        {
          row: 1,
          message: 'the file is empty: row 1 is the header (group,data,config), then one row a job',
        },
      ],
    };
  }
  const columns = readHeader(header);
  if (!columns.ok) return { rows: [], problems: columns.problems };
  if (records.length === 0) {
    return {
      rows: [],
      problems: [{ row: 2, message: 'no jobs: the file has a header but no rows after it' }],
    };
  }
  const rows: BulkRow[] = [];
  const problems: RowProblem[] = [];
  for (const record of records) {
    const read = readRow(record, columns.columns);
    problems.push(...read.problems);
    if (read.row) rows.push(read.row);
  }
  return { rows, problems };
};

/** Rows that repeat a job: a timestamp given twice, or rows alike in everything without their own timestamps. */
export const repeatedRowProblems = (rows: readonly BulkRow[]): RowProblem[] => {
  const problems: RowProblem[] = [];
  // Timestamps given in the file: each names one job.
  const timestampRow = new Map<string, number>();
  for (const row of rows) {
    if (row.timestamp === undefined) continue;
    const earlier = timestampRow.get(row.timestamp);
    if (earlier !== undefined) {
      problems.push({
        row: row.row,
        column: 'timestamp',
        message: `timestamp "${row.timestamp}" is also row ${earlier}'s: each row is a job and needs its own timestamp (or leave the column empty for a new one)`,
      });
    } else timestampRow.set(row.timestamp, row.row);
  }

  // The same job twice: rows alike in everything, unless each names its own timestamp (a deliberate rerun).
  const jobRow = new Map<string, { row: number; timestamp?: string }>();
  for (const row of rows) {
    const identity = JSON.stringify([row.group, row.data, row.config, row.instanceType ?? '']);
    const earlier = jobRow.get(identity);
    if (earlier === undefined) {
      jobRow.set(identity, {
        row: row.row,
        ...(row.timestamp !== undefined ? { timestamp: row.timestamp } : {}),
      });
    } else if (earlier.timestamp === undefined || row.timestamp === undefined) {
      problems.push({
        row: row.row,
        message: `row ${row.row} repeats row ${earlier.row} (same group, data, config and instance type): remove it, or give both rows their own timestamps to run the job twice`,
      });
    }
  }

  return problems;
};

/** The column a check's problem belongs to (the handler names submit.json's fields and the config's keys). */
const columnOf = (field: string): { column?: CsvColumn; dataset?: number } => {
  const dataset = /^dataname(?:\[(\d+)\])?$/.exec(field);
  if (dataset)
    return { column: 'data', ...(dataset[1] !== undefined ? { dataset: Number(dataset[1]) + 1 } : {}) };
  if (field === 'group' || field === 'submission key') return { column: 'group' };
  if (field === 'timestamp') return { column: 'timestamp' };
  if (field === 'instance_type') return { column: 'instance_type' };
  if (field === 'submit.json') return {};
  // `configname`, and the config's own keys (`__duration__`, `__dataset_size__`).
  return { column: 'config' };
};

export const rowProblem = (row: number, problem: SubmissionProblem, plan?: SubmissionPlan): RowProblem => {
  const where = columnOf(problem.field);
  const key = where.column === 'data' && plan ? plan.datasetKeys[(where.dataset ?? 1) - 1] : undefined;
  const hint =
    key !== undefined && key.includes(',') && plan?.namedKeys.includes(key)
      ? ` (several datasets are separated by "${DATASET_SEPARATOR}", not ",")`
      : '';
  // The handler's words name `ncaas submit`'s flag; here the timestamp is a column.
  const message = problem.message.replace(/--timestamp\b/g, 'timestamp');
  return { row, ...where, message: `${message}${hint}` };
};

/**
 * Each row's job id: its timestamp, or `<batch>-row<N>` (N padded to the widest row number), unique,
 * sortable, and naming the row it came from.
 */
export const rowTimestamps = (rows: readonly BulkRow[], batchId: string): ((row: BulkRow) => string) => {
  const width = String(Math.max(0, ...rows.map((r) => r.row))).length;
  return (row) => row.timestamp ?? `${batchId}-row${String(row.row).padStart(width, '0')}`;
};
