/**
 * A job's state as a lab member can read it: from the status files in its results folder
 * (`logs/DATASET_NAME:{label}_STATUS.txt`, written by the control plane before and after a worker and
 * by the worker while it runs), `process_results/end.txt`, and a refusal beside the submission.
 * Never the job table: lab members hold only S3 permissions.
 *
 * The job's state: while any dataset is live, the furthest state reached (a finished dataset counts as
 * IN PROGRESS); once every dataset is final (or end.txt exists), FAILED if any dataset failed, else
 * TIMED_OUT, INTERRUPTED, CANCELLED in that order, else SUCCESS.
 */
import {
  FINAL_STATES,
  isFinal,
  JOB_STATES,
  stateRank,
  userVisibleState,
  type UserVisibleState,
} from '../job/job-state';
import { reasonText, readStatusFile, type StatusFile } from '../job/status-file';
import { endMarkerKey } from '../layout';
import { jobCostText } from '../pricing/dataset-cost';
import { listAllKeys } from './list-keys';
import { refusalKeyFor, submissionKeyFor, type JobRef } from './job-folders';
import type { S3Target } from './s3-target';

export interface DatasetView {
  /** The `{label}` of `DATASET_NAME:{label}_STATUS.txt`. */
  readonly label: string;
  readonly statusKey: string;
  /** The status as written; `state` is set when it is one of the known states. */
  readonly status: string;
  readonly state?: UserVisibleState;
  readonly reason?: string;
  /** The dataset key. */
  readonly input?: string;
  readonly instance?: string;
  /** The launcher named by a worker's status (`ec2`, `batch`, `local`): a worker wrote this dataset's status. */
  readonly launcher?: string;
  readonly jobStart?: string;
  readonly jobFinish?: string;
  readonly updated?: string;
  readonly exitCode?: number;
  /** Tail of the analysis's stdout / stderr, as the worker last uploaded it. */
  readonly stdout: string;
  readonly stderr: string;
  readonly durationEstimateExceeded: boolean;
  /** What its worker cost (written when it ended), or "unknown" with `costUnknownReason`. */
  readonly cost?: number | 'unknown';
  readonly costUnknownReason?: string;
}

export interface JobView {
  readonly ref: JobRef;
  readonly state: UserVisibleState;
  /** Every dataset is final (or end.txt exists, or the submission was refused). */
  readonly final: boolean;
  /** end.txt exists: the control plane has finished the job. */
  readonly ended: boolean;
  readonly datasets: readonly DatasetView[];
  /** The refusal beside the submission, when the control plane wrote no results folder. */
  readonly refusal?: string;
  /** When the submission was uploaded (else when the first file of the job appeared). */
  readonly submittedAt?: Date;
  /** The last change seen in the job's logs. */
  readonly updatedAt?: Date;
  /** Why the job is in its state, in one line (for tables and the live line). */
  readonly summary: string;
}

const STATUS_FILE = /\/logs\/DATASET_NAME:(.*)_STATUS\.txt$/;

/**
 * The known state a status file's text names, if it names one (`IN_PROGRESS` is read as `IN PROGRESS`;
 * the control plane's internal SUBMITTED is shown as QUEUED, as everywhere users look).
 */
export const toState = (status: string): UserVisibleState | undefined => {
  const normal = status.trim().toUpperCase().replace(/[_-]/g, ' ');
  const state = JOB_STATES.find((s) => s.replace(/_/g, ' ') === normal);
  return state === undefined ? undefined : userVisibleState(state);
};

/** One status file's JSON, read leniently (a NeuroCAAS worker writes fewer fields): lib/job/status-file.ts. */
export const parseStatusFile = (label: string, key: string, body: string): DatasetView => {
  const read = readStatusFile(body);
  const json: StatusFile = read.readable ? read.file : {};
  const status = read.readable ? (json.status ?? 'unknown') : 'unreadable';
  const state = toState(status);
  const reason = reasonText(json.reason);
  return {
    label,
    statusKey: key,
    status,
    ...(state !== undefined ? { state } : {}),
    ...(reason ? { reason } : {}),
    ...(json.input !== undefined ? { input: json.input } : {}),
    ...(json.instance !== undefined ? { instance: json.instance } : {}),
    ...(json.launcher !== undefined ? { launcher: json.launcher } : {}),
    ...(typeof json.job_start === 'string' ? { jobStart: json.job_start } : {}),
    ...(typeof json.job_finish === 'string' ? { jobFinish: json.job_finish } : {}),
    ...(json.updated !== undefined ? { updated: json.updated } : {}),
    ...(typeof json.exit_code === 'number' ? { exitCode: json.exit_code } : {}),
    stdout: json.std?.stdout ?? '',
    stderr: json.std?.stderr ?? '',
    durationEstimateExceeded: json.duration_estimate_exceeded === true,
    ...(json.cost_usd !== undefined ? { cost: json.cost_usd } : {}),
    ...(json.cost?.unknown_reason !== undefined ? { costUnknownReason: json.cost.unknown_reason } : {}),
  };
};

/**
 * The job's cost as its status files say (`$0.0123`, or with "+ unknown for N datasets"); undefined
 * until a dataset's cost is written, and a dataset still running counts as not known yet.
 */
export const jobCost = (view: JobView): string | undefined =>
  view.datasets.some((d) => d.cost !== undefined)
    ? jobCostText(view.datasets.map((d) => (typeof d.cost === 'number' ? d.cost : undefined)))
    : undefined;

/** The final state a job with these final dataset states ends in. */
const finalOutcome = (states: readonly UserVisibleState[]): UserVisibleState => {
  for (const s of ['FAILED', 'TIMED_OUT', 'INTERRUPTED', 'CANCELLED'] as const)
    if (states.includes(s)) return s;
  return states.includes('SUCCESS') ? 'SUCCESS' : 'FAILED';
};

/** Final states named in end.txt's summary (`job X finished at T: 1 SUCCESS, 1 FAILED`). */
const statesInEndText = (endText: string): UserVisibleState[] =>
  FINAL_STATES.filter((s) => new RegExp(`\\b\\d+ ${s}\\b`).test(endText)) as UserVisibleState[];

/** The job's state from its datasets' states (unknown ones ignored) and whether end.txt exists. */
export const combineStates = (
  states: readonly (UserVisibleState | undefined)[],
  ended: boolean,
  endText = '',
): { state: UserVisibleState; final: boolean } => {
  const known = states.filter((s): s is UserVisibleState => s !== undefined);
  const allFinal = known.length > 0 && known.length === states.length && known.every(isFinal);
  if (allFinal || ended) {
    return { state: finalOutcome([...known.filter(isFinal), ...statesInEndText(endText)]), final: true };
  }
  if (known.length === 0) return { state: 'QUEUED', final: false };
  const furthest = known
    .map((s): UserVisibleState => (isFinal(s) ? 'IN PROGRESS' : s))
    .reduce((a, b) => (stateRank(b) > stateRank(a) ? b : a));
  return { state: furthest, final: false };
};

const byDate = (a: Date, b: Date): number => a.getTime() - b.getTime();

/** Reads everything the bucket says about one job; undefined when it has no trace at all. */
export const readJob = async (target: S3Target, ref: JobRef): Promise<JobView | undefined> => {
  const { objects } = target;
  const [logKeys, endText, submission] = await Promise.all([
    listAllKeys(target, `${ref.resultFolder}/logs/`),
    objects.readText(endMarkerKey(ref.resultFolder)),
    objects.head(submissionKeyFor(ref.group, ref.jobId)),
  ]);
  const statusKeys = logKeys.filter((k) => STATUS_FILE.test(k.key));
  const datasets = await Promise.all(
    statusKeys.map(async ({ key }) => {
      const label = STATUS_FILE.exec(key)?.[1] ?? key;
      return parseStatusFile(label, key, (await objects.readText(key)) ?? '');
    }),
  );
  const ended = endText !== undefined;
  const dates = logKeys
    .map((k) => k.lastModified)
    .filter((d): d is Date => d !== undefined)
    .sort(byDate);
  const submittedAt = submission?.lastModified ?? dates[0];
  const updatedAt = dates[dates.length - 1] ?? submission?.lastModified;
  const times = { ...(submittedAt ? { submittedAt } : {}), ...(updatedAt ? { updatedAt } : {}) };

  if (datasets.length === 0 && !ended) {
    const refusal = await objects.readText(refusalKeyFor(ref.group, ref.jobId));
    if (refusal !== undefined) {
      return {
        ref,
        state: 'FAILED',
        final: true,
        ended: false,
        datasets: [],
        refusal,
        ...times,
        summary: 'the submission was refused (ncaas logs shows why)',
      };
    }
    if (submission === undefined && logKeys.length === 0) return undefined;
    return {
      ref,
      state: 'QUEUED',
      final: false,
      ended: false,
      datasets: [],
      ...times,
      summary: 'submitted: waiting for the analysis to accept it',
    };
  }

  const { state, final } = combineStates(
    datasets.map((d) => d.state),
    ended,
    endText ?? '',
  );
  return { ref, state, final, ended, datasets, ...times, summary: summarize(datasets, state, final) };
};

/** One line: the reason of the dataset that decides the state, or counts when there are several. */
const summarize = (datasets: readonly DatasetView[], state: UserVisibleState, final: boolean): string => {
  if (datasets.length === 0) return final ? 'finished' : '';
  if (datasets.length === 1) return datasets[0].reason ?? '';
  const counts = new Map<string, number>();
  for (const d of datasets) counts.set(d.status, (counts.get(d.status) ?? 0) + 1);
  const parts = [...counts].map(([s, n]) => `${n} ${s}`).join(', ');
  const decisive = datasets.find((d) => d.state === state && d.reason);
  return decisive && final && state !== 'SUCCESS' ? `${parts}; ${decisive.label}: ${decisive.reason}` : parts;
};
