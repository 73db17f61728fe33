/**
 * `ncaas submit --csv jobs.csv`: many jobs from one spreadsheet, one row a job.
 *
 * Columns (header row required, names in any order and case): `group`, `data`, `config`, and optional
 * `instance_type` and `timestamp`. `data` and `config` are local files or folders (relative paths are
 * read from the CSV file's folder) or keys already in the bucket; several datasets of one job are
 * separated by `;`. A row with no timestamp gets `<time>-<random>-row<N>`: unique, sortable, and it
 * names the row it came from.
 *
 * All or nothing: every row is planned and checked as `ncaas submit` checks one job (the same
 * planSubmission/checkSubmission, so with the blueprint the check is the handler's own) before
 * anything is uploaded. Problems are listed by row (the header is row 1, as a spreadsheet numbers
 * them) and column; timestamps repeated in the file or already used in the bucket, rows repeated
 * without their own timestamps and two files that would land on one key are refused. Only then are
 * the rows sent, in order, each as `ncaas submit` sends one (a file shared by rows is uploaded once).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AnalysisConfig } from '../blueprint/analysis-config';
import { GROUP_NAME } from '../blueprint/blueprint-schema';
import { plural } from '../submission/describe-value';
import type { SubmissionProblem } from '../submission/submission-problem';
import { listBucketGroups } from './bucket-groups';
import { isBlankRecord, parseCsv, type CsvRecord } from './csv-text';
import { CliError, EXIT } from './errors';
import { s3Url } from './job-folders';
import { formatBytes, type Output } from './output';
import type { S3Target } from './s3-target';
import {
  checkSubmission,
  defaultJobId,
  planSubmission,
  sendSubmission,
  type SubmissionPlan,
  type UploadOptions,
} from './submit-command';
import { mapLimited } from './map-limited';

export const CSV_COLUMNS = ['group', 'data', 'config', 'instance_type', 'timestamp'] as const;
export type CsvColumn = (typeof CSV_COLUMNS)[number];
const REQUIRED_COLUMNS: readonly CsvColumn[] = ['group', 'data', 'config'];

/** Separates the datasets of one job in the `data` column. */
export const DATASET_SEPARATOR = ';';

/** Largest CSV read: a job list, not data. */
export const MAX_CSV_BYTES = 10 * 1024 * 1024;

/** Rows checked against the bucket at once. */
const CHECK_CONCURRENCY = 8;

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

/** A row ready to send. */
export interface PlannedRow {
  readonly row: number;
  readonly plan: SubmissionPlan;
}

export type BulkPlan =
  | { readonly ok: true; readonly rows: readonly PlannedRow[]; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly problems: readonly RowProblem[]; readonly warnings: readonly string[] };

export interface BulkSubmitRequest {
  /** The CSV file. */
  readonly csvFile: string;
  /** The analysis (from its blueprint): each row's check is then the handler's in full. Required for a dry run. */
  readonly analysis?: AnalysisConfig;
}

export interface BulkSubmitOptions extends Omit<UploadOptions, 'onProgress'> {
  readonly dryRun?: boolean;
  readonly now?: Date;
  /** The batch's random part of generated job ids (tests). */
  readonly batchId?: string;
}

// ---- reading the file ----------------------------------------------------------------------------

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

const readCsvFile = (file: string): string => {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new CliError(`--csv ${file}: no such file`, EXIT.usage);
  }
  if (!stat.isFile()) throw new CliError(`--csv ${file} is not a file`, EXIT.usage);
  if (stat.size > MAX_CSV_BYTES) {
    throw new CliError(
      `--csv ${file} is ${formatBytes(stat.size)}; a job list may be at most ${formatBytes(MAX_CSV_BYTES)}`,
      EXIT.usage,
    );
  }
  const bytes = fs.readFileSync(file);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CliError(
      `--csv ${file} is not UTF-8 text: save it as "CSV UTF-8" (comma-delimited) and try again`,
      EXIT.usage,
    );
  }
};

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

/** Reads a job list (no file system, no S3). A broken file or header gives no rows. */
export const readJobList = (text: string): JobList => {
  const parsed = parseCsv(text);
  if (!parsed.ok) {
    const line = parsed.line !== parsed.row ? ` (line ${parsed.line} of the file)` : '';
    return { rows: [], problems: [{ row: parsed.row, message: `${parsed.message}${line}` }] };
  }
  const [header, ...records] = parsed.records.filter((r, i) => i === 0 || !isBlankRecord(r));
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

// ---- planning and checking -----------------------------------------------------------------------

/** A relative path is read from the CSV's folder; what is not a local file or folder stays a key. */
const localOrKey = (value: string, baseDir: string): string => {
  const local = path.resolve(baseDir, value);
  return fs.existsSync(local) ? local : value;
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

const rowProblem = (row: number, problem: SubmissionProblem, plan?: SubmissionPlan): RowProblem => {
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

const sameFile = (a: string, b: string): boolean => path.resolve(a) === path.resolve(b);

/** Every row planned and checked; nothing uploaded. */
export const planBulkSubmission = async (
  target: S3Target,
  request: BulkSubmitRequest,
  options: { readonly now?: Date; readonly batchId?: string } = {},
): Promise<BulkPlan> => {
  const read = readJobList(readCsvFile(request.csvFile));
  // Rows that could be read are still checked, so one pass lists every problem of the file.
  const problems: RowProblem[] = [...read.problems];
  const baseDir = path.dirname(path.resolve(request.csvFile));
  const batchId = options.batchId ?? defaultJobId(options.now);
  const width = String(Math.max(0, ...read.rows.map((r) => r.row))).length;

  // Timestamps given in the file: each names one job.
  const timestampRow = new Map<string, number>();
  for (const row of read.rows) {
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

  // Local problems (an empty folder, two files one key) come from planning; every row gets a plan if it can.
  const planned: PlannedRow[] = [];
  for (const row of read.rows) {
    try {
      const plan = planSubmission(
        {
          group: row.group,
          data: row.data.map((d) => localOrKey(d, baseDir)),
          config: localOrKey(row.config, baseDir),
          timestamp: row.timestamp ?? `${batchId}-row${String(row.row).padStart(width, '0')}`,
          ...(row.instanceType !== undefined ? { instanceType: row.instanceType } : {}),
          ...(request.analysis !== undefined ? { analysis: request.analysis } : {}),
        },
        options.now,
      );
      planned.push({ row: row.row, plan });
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      const column: CsvColumn = error.message.startsWith('--config') ? 'config' : 'data';
      problems.push({ row: row.row, column, message: error.message.replace(/^--(?:data|config) /, '') });
    }
  }

  // The same job twice: rows alike in everything, unless each names its own timestamp (a deliberate rerun).
  const jobRow = new Map<string, { row: number; timestamp?: string }>();
  for (const row of read.rows) {
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

  // One key, one file across the whole batch; a key uploaded by an earlier row exists by the time a later row's job reads it.
  const uploadedBy = new Map<string, { row: number; local: string }>();
  const checkPlans = new Map<number, SubmissionPlan>();
  for (const { row, plan } of planned) {
    for (const upload of plan.uploads) {
      const other = uploadedBy.get(upload.key);
      if (other === undefined) uploadedBy.set(upload.key, { row, local: upload.local });
      else if (!sameFile(other.local, upload.local)) {
        problems.push({
          row,
          column: plan.configKey === upload.key ? 'config' : 'data',
          message: `${upload.local} would be uploaded to ${upload.key}, where row ${other.row} uploads ${other.local}: rename one of them (both jobs would read the last one uploaded)`,
        });
      }
    }
    const earlierUpload = (key: string): { row: number; local: string } | undefined => {
      const by = uploadedBy.get(key);
      return by !== undefined && by.row < row ? by : undefined;
    };
    const configFrom = plan.localConfig === undefined ? earlierUpload(plan.configKey) : undefined;
    checkPlans.set(row, {
      ...plan,
      namedKeys: plan.namedKeys.filter((key) => earlierUpload(key) === undefined),
      ...(configFrom !== undefined ? { localConfig: configFrom.local } : {}),
    });
  }

  // The handler's checks, against the bucket (timestamps already used included); without the
  // blueprint, the groups are the bucket's folders, listed once for every row.
  const warnings = new Set<string>();
  const bucketGroups =
    request.analysis === undefined && planned.length > 0 ? await listBucketGroups(target) : undefined;
  const checks = await mapLimited(planned, CHECK_CONCURRENCY, async ({ row, plan }) => ({
    row,
    plan,
    check: await checkSubmission(target, checkPlans.get(row) ?? plan, request.analysis, {
      ...(bucketGroups !== undefined ? { bucketGroups } : {}),
    }),
  }));
  for (const { row, plan, check } of checks) {
    for (const problem of check.problems) problems.push(rowProblem(row, problem, plan));
    for (const warning of check.warnings) warnings.add(`row ${row}: ${warning}`);
  }

  if (problems.length > 0) return { ok: false, problems: sortProblems(problems), warnings: [...warnings] };
  return { ok: true, rows: planned, warnings: [...warnings] };
};

// ---- the command ---------------------------------------------------------------------------------

/** Prints the file's problems, one a line, by row and column. */
const printProblems = (output: Output, problems: readonly RowProblem[]): void => {
  for (const problem of problems) output.err(`  ${whereIs(problem)}: ${problem.message}`);
};

/**
 * `ncaas submit --csv`: checks every row, then (unless a dry run) sends them in order. Prints each
 * job id on stdout as it is submitted (a dry run: each row's submit.json, one JSON a line).
 */
export const runBulkSubmit = async (
  target: S3Target,
  request: BulkSubmitRequest,
  output: Output,
  options: BulkSubmitOptions = {},
): Promise<number> => {
  if (options.dryRun && request.analysis === undefined) {
    throw new CliError(
      '--dry-run checks each row as the analysis would, so it needs the blueprint: pass --blueprint <name|path> or set NCAAS_BLUEPRINT',
      EXIT.usage,
    );
  }
  const file = request.csvFile;
  const planned = await planBulkSubmission(target, request, options);
  for (const warning of planned.warnings) output.err(`warning: ${warning}`);
  if (!planned.ok) {
    output.err(
      `${file}: ${plural(planned.problems.length, 'problem')}; ${options.dryRun ? 'dry run: ' : ''}nothing was uploaded:`,
    );
    printProblems(output, planned.problems);
    return EXIT.failed;
  }
  const { rows } = planned;

  if (options.dryRun) {
    const seen = new Set<string>();
    for (const { row, plan } of rows) {
      output.out(JSON.stringify(plan.submitJson));
      for (const u of plan.uploads) {
        if (seen.has(u.key)) continue;
        seen.add(u.key);
        output.err(`row ${row}: would upload ${u.local} -> ${s3Url(target, u.key)} (${formatBytes(u.size)})`);
      }
      output.err(`row ${row}: would write ${s3Url(target, plan.submitKey)}`);
    }
    output.err(`dry run: ${plural(rows.length, 'job')} valid; nothing was uploaded`);
    return EXIT.ok;
  }

  const uploaded = new Set<string>();
  const sent: PlannedRow[] = [];
  for (const planRow of rows) {
    const { row, plan } = planRow;
    try {
      await sendSubmission(
        target,
        { ...plan, uploads: plan.uploads.filter((u) => !uploaded.has(u.key)) },
        output,
        options,
      );
    } catch (error) {
      output.clearLive();
      const done =
        sent.length > 0 ? `rows ${sent.map((r) => r.row).join(', ')} were submitted` : 'no job was submitted';
      const rest = rows.slice(sent.length + 1).map((r) => r.row);
      output.err(
        `row ${row} was not submitted (${done}${rest.length > 0 ? `; rows ${rest.join(', ')} were not sent` : ''}):`,
      );
      throw error;
    }
    for (const u of plan.uploads) uploaded.add(u.key);
    sent.push(planRow);
    output.err(`row ${row}: submitted job ${plan.jobId} (${s3Url(target, plan.submitKey)})`);
    output.out(plan.jobId);
  }
  output.err(`submitted ${plural(rows.length, 'job')}; follow them with: ncaas jobs --group <group>`);
  return EXIT.ok;
};
