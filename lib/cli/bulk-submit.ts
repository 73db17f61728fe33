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
import { plural } from '../submission/describe-value';
import { listBucketGroups } from './bucket-groups';
import {
  MAX_CSV_BYTES,
  repeatedRowProblems,
  rowTimestamps,
  rowProblem,
  sortProblems,
  whereIs,
  type CsvColumn,
  type JobList,
  type RowProblem,
} from './job-list';
import { readJobListBytes } from './job-list-file';
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
import { mapLimited } from '../map-limited';

const CHECK_CONCURRENCY = 8;

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

/** The job list file (CSV UTF-8 or .xlsx) read into rows and problems; a file that cannot be read is a usage error. */
const readJobListFile = async (file: string): Promise<JobList> => {
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
  const read = await readJobListBytes(fs.readFileSync(file));
  if (!read.ok) throw new CliError(`--csv ${file} ${read.message}`, EXIT.usage);
  return read.list;
};

// ---- planning and checking -----------------------------------------------------------------------

/** A relative path is read from the CSV's folder; what is not a local file or folder stays a key. */
const localOrKey = (value: string, baseDir: string): string => {
  const local = path.resolve(baseDir, value);
  return fs.existsSync(local) ? local : value;
};

const sameFile = (a: string, b: string): boolean => path.resolve(a) === path.resolve(b);

/** Every row planned and checked; nothing uploaded. */
export const planBulkSubmission = async (
  target: S3Target,
  request: BulkSubmitRequest,
  options: { readonly now?: Date; readonly batchId?: string } = {},
): Promise<BulkPlan> => {
  const read = await readJobListFile(request.csvFile);
  // Rows that could be read are still checked, so one pass lists every problem of the file.
  const problems: RowProblem[] = [...read.problems, ...repeatedRowProblems(read.rows)];
  const baseDir = path.dirname(path.resolve(request.csvFile));
  const timestampOf = rowTimestamps(read.rows, options.batchId ?? defaultJobId(options.now));

  // Local problems (an empty folder, two files one key) come from planning; every row gets a plan if it can.
  const planned: PlannedRow[] = [];
  for (const row of read.rows) {
    try {
      const plan = planSubmission(
        {
          group: row.group,
          data: row.data.map((d) => localOrKey(d, baseDir)),
          config: localOrKey(row.config, baseDir),
          timestamp: timestampOf(row),
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
