/**
 * `ncaas jobs`: the jobs of one group (or every group the credentials can list), from the bucket
 * alone: the job folders in `{group}/results/`, plus submissions the control plane has not answered
 * yet. Printed as a table, or as JSON for scripts.
 */
import { isFinal, USER_VISIBLE_STATES, type UserVisibleState } from '../job/job-state';
import { SUBMIT_SUFFIX, submissionMessageKey, submissionsPrefix } from '../layout';
import { CliError, EXIT } from './errors';
import { groupsToSearch, jobRef, listJobFolders, type JobRef } from './job-folders';
import { listAllKeys } from './list-keys';
import { jobCost, readJob, toState, type JobView } from './job-status';
import { alignColumns, formatTime, type Output, type Paint } from './output';
import type { S3Target } from './s3-target';
import { mapLimited } from '../map-limited';

export interface JobsQuery {
  readonly group?: string;
  /** Only jobs in one of these states. */
  readonly states?: readonly UserVisibleState[];
}

/** `--state in-progress,failed` → the states; a name that is not a state is a usage error. */
export const parseStateFilter = (value: string | undefined): UserVisibleState[] | undefined => {
  if (value === undefined || value.trim() === '') return undefined;
  return value.split(',').map((part) => {
    const state = toState(part);
    if (state === undefined) {
      throw new CliError(
        `--state "${part.trim()}" is not a job state: use one of ${USER_VISIBLE_STATES.join(', ')} (IN_PROGRESS works too)`,
        EXIT.usage,
      );
    }
    return state;
  });
};

/**
 * Submissions in `{group}/submissions/` with no results folder yet: the CLI's `{timestamp}submit.json`
 * by name; other names by the timestamp inside (read only for those no folder accounts for).
 */
const pendingSubmissions = async (
  target: S3Target,
  group: string,
  analysis: string | undefined,
  known: Set<string>,
): Promise<JobRef[]> => {
  if (analysis === undefined) return [];
  const keys = await listAllKeys(target, submissionsPrefix(group));
  const names = new Set(keys.map((k) => k.key));
  const pending: JobRef[] = [];
  for (const { key } of keys) {
    if (!key.endsWith(SUBMIT_SUFFIX)) continue;
    const fromName = key.slice(submissionsPrefix(group).length, -SUBMIT_SUFFIX.length);
    if (fromName !== '' && known.has(fromName)) continue;
    let jobId = fromName;
    const body = await target.objects.readText(key);
    try {
      const parsed = JSON.parse(body ?? '') as { timestamp?: unknown };
      if (typeof parsed.timestamp === 'string' || typeof parsed.timestamp === 'number') {
        jobId = String(parsed.timestamp);
      }
    } catch {
      // Unreadable: the control plane refuses it beside the submission.
    }
    if (jobId === '' || known.has(jobId)) continue;
    // A refusal beside a submission not named by its timestamp cannot be tied to a job id: skip it.
    if (jobId !== fromName && names.has(submissionMessageKey(key))) continue;
    known.add(jobId);
    pending.push(jobRef(group, analysis, jobId));
  }
  return pending;
};

export const listJobs = async (target: S3Target, query: JobsQuery): Promise<JobView[]> => {
  const groups = await groupsToSearch(target, query.group);
  const refs: JobRef[] = [];
  for (const group of groups) {
    const folders = await listJobFolders(target, group, target.analysis);
    refs.push(...folders);
    const analyses = [...new Set(folders.map((f) => f.analysis))];
    const analysis = target.analysis ?? (analyses.length === 1 ? analyses[0] : undefined);
    refs.push(...(await pendingSubmissions(target, group, analysis, new Set(folders.map((f) => f.jobId)))));
  }
  const views = (await mapLimited(refs, 8, (ref) => readJob(target, ref))).filter(
    (v): v is JobView => v !== undefined,
  );
  const wanted = query.states;
  return views
    .filter((v) => wanted === undefined || wanted.includes(v.state))
    .sort(
      (a, b) =>
        (a.submittedAt?.getTime() ?? 0) - (b.submittedAt?.getTime() ?? 0) ||
        a.ref.jobId.localeCompare(b.ref.jobId),
    );
};

/** `2/3 done` while running; the final count otherwise. */
const datasetsColumn = (view: JobView): string => {
  const total = view.datasets.length;
  if (total === 0) return '-';
  const done = view.datasets.filter((d) => d.state !== undefined && isFinal(d.state)).length;
  return `${done}/${total} done`;
};

/** A plain-text table; the group column only when several groups are shown. */
export const renderJobsTable = (views: readonly JobView[], paint: Paint): string[] => {
  const showGroup = new Set(views.map((v) => v.ref.group)).size > 1;
  const header = [...(showGroup ? ['GROUP'] : []), 'JOB', 'STATE', 'DATASETS', 'COST', 'SUBMITTED', 'NOTE'];
  const rows = views.map((v) => [
    ...(showGroup ? [v.ref.group] : []),
    v.ref.jobId,
    v.state,
    datasetsColumn(v),
    jobCost(v) ?? '-',
    formatTime(v.submittedAt),
    v.summary.length > 60 ? `${v.summary.slice(0, 59)}…` : v.summary,
  ]);
  const stateColumn = header.indexOf('STATE');
  return alignColumns(header, rows, (padded, cell, column, row) => {
    if (row < 0) return paint.bold(padded);
    return column === stateColumn ? padded.replace(cell, paint.state(cell)) : padded;
  });
};

/** The JSON `jobs --json` and `status --json` print for one job. */
export const jobJson = (view: JobView, bucket: string): Record<string, unknown> => ({
  job: view.ref.jobId,
  group: view.ref.group,
  analysis: view.ref.analysis,
  state: view.state,
  final: view.final,
  ended: view.ended,
  submitted: view.submittedAt?.toISOString() ?? null,
  updated: view.updatedAt?.toISOString() ?? null,
  results: `s3://${bucket}/${view.ref.resultFolder}/`,
  summary: view.summary,
  cost: jobCost(view) ?? null,
  ...(view.refusal !== undefined ? { refusal: view.refusal } : {}),
  datasets: view.datasets.map((d) => ({
    label: d.label,
    input: d.input ?? null,
    status: d.status,
    reason: d.reason ?? null,
    exit_code: d.exitCode ?? null,
    instance: d.instance ?? null,
    job_start: d.jobStart ?? null,
    job_finish: d.jobFinish ?? null,
    cost_usd: d.cost ?? null,
    ...(d.costUnknownReason !== undefined ? { cost_unknown_reason: d.costUnknownReason } : {}),
  })),
});

export const runJobs = async (
  target: S3Target,
  options: { readonly group?: string; readonly state?: string; readonly json?: boolean },
  output: Output,
): Promise<number> => {
  const states = parseStateFilter(options.state);
  const views = await listJobs(target, {
    ...(options.group !== undefined ? { group: options.group } : {}),
    ...(states ? { states } : {}),
  });
  if (options.json) {
    output.out(
      JSON.stringify(
        views.map((v) => jobJson(v, target.bucket)),
        null,
        2,
      ),
    );
    return EXIT.ok;
  }
  if (views.length === 0) {
    const where = options.group !== undefined ? `group ${options.group}` : 'any group';
    output.err(
      `no jobs${states ? ` in state ${states.join(', ')}` : ''} in ${where} of s3://${target.bucket}/${target.analysis ? ` (analysis ${target.analysis})` : ''}`,
    );
    return EXIT.ok;
  }
  for (const line of renderJobsTable(views, output.paint)) output.out(line);
  return EXIT.ok;
};
