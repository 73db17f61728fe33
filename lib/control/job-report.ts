/**
 * What users read, written by the control plane (docs/DESIGN.md "What the user sees in the bucket"):
 * the job's certificate (one line per step, with the time elapsed since submission), each dataset's
 * NeuroCAAS-style status file for the states before and after a worker, end.txt, and refusals.
 * The worker writes the status files while it runs; this writer merges into what is there, so a
 * dead worker's last stdout/stderr tail stays visible.
 */
import type { JobKey } from '../job/job-keys';
import type { DatasetRecord, Job } from '../job/job-items';
import type { JobState } from '../job/job-state';
import { statusFileMembers } from '../job/status-file';
import { costStatusFields, type DatasetCost } from '../pricing/dataset-cost';
import { certificateKey, endMarkerKey, jobFolderName, statusKey, submissionMessageKey } from '../layout';
import {
  datasetLine,
  parseCertificate,
  renderCertificate,
  type CertificateDataset,
} from './certificate-text';
import type { S3Objects } from './s3-objects';

export interface DatasetStatus {
  /** Absent: only `cost` is added to what the worker wrote. */
  readonly status?: JobState;
  readonly reason?: string;
  /** The dataset key. */
  readonly input?: string;
  readonly instance?: string;
  readonly job_start?: string;
  readonly job_finish?: string;
  readonly exit_code?: number;
  /** What its worker cost, once it ended: `cost_usd` and how it was computed. */
  readonly cost?: DatasetCost;
}

/** `+1:02:03` (h:mm:ss) since the submission. */
export const elapsed = (since: Date, now: Date): string => {
  const total = Math.max(0, Math.floor((now.getTime() - since.getTime()) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `+${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
};

/** Appends to a job's certificate log and returns all of it (the job store), or undefined without a job. */
type CertificateLog = (job: JobKey, lines: readonly string[]) => Promise<string[] | undefined>;

/** Where the certificate's parts come from (the job store); each is optional. */
export interface JobRecordSource {
  readonly analysis: string;
  /** Keeps a job's lines in order; without it (or for a job not recorded) S3 is read and rewritten. */
  readonly append?: CertificateLog;
  /** The job's log as recorded (what `append` returns), for a handler redoing an interrupted step. */
  readonly read?: (job: JobKey) => Promise<string[] | undefined>;
  /** The job's datasets for the certificate's per-dataset lines; without it those lines are kept as they are. */
  readonly datasets?: (job: JobKey) => Promise<readonly CertificateDataset[] | undefined>;
}

export class JobReport {
  constructor(
    private readonly objects: S3Objects,
    private readonly now: () => Date = () => new Date(),
    private readonly record?: JobRecordSource,
  ) {}

  /**
   * Appends lines to the certificate (lib/control/certificate-text.ts: NeuroCAAS's layout, a line per
   * dataset, then the log). S3 has no append, and several handlers may write one job's certificate at
   * once (its datasets finish together): the lines are appended atomically to the job's record and
   * the whole certificate is written from there, so none is lost.
   */
  async certify(resultFolder: string, submittedAt: string, ...lines: string[]): Promise<void> {
    return this.certifyAt(resultFolder, submittedAt, this.now(), ...lines);
  }

  /**
   * As certify, stamped with when it happened (an event's own time) rather than when it is written:
   * events handled out of order (EventBridge does not keep order) still read in the order they
   * happened. The log keeps milliseconds to order lines of one second; the certificate shows seconds.
   */
  async certifyAt(resultFolder: string, submittedAt: string, at: Date, ...lines: string[]): Promise<void> {
    const key = certificateKey(resultFolder);
    const stamp = `${at.toISOString()} ${elapsed(new Date(submittedAt), at)}`;
    const stamped = lines.map((line) => `${stamp}  ${line}`);
    const job = this.record ? jobOfResultFolder(this.record.analysis, resultFolder) : undefined;
    // The append and the datasets' read are independent: one round trip, not two.
    const [recorded, datasets] = await Promise.all([
      job && this.record?.append ? this.record.append(job, stamped) : undefined,
      job && this.record?.datasets ? this.record.datasets(job) : undefined,
    ]);
    if (recorded && datasets) {
      await this.objects.write(key, renderCertificate(datasets.map(datasetLine), inEventOrder(recorded)));
      return;
    }
    // Only S3 holds the log (or the dataset lines): read, add, write back.
    const existing = parseCertificate((await this.objects.readText(key)) ?? '');
    const body = renderCertificate(
      datasets ? datasets.map(datasetLine) : existing.datasetLines,
      recorded ? inEventOrder(recorded) : [...existing.log, ...stamped.map(toSeconds)],
    );
    await this.objects.write(key, body);
  }

  /**
   * A dataset's line stamped with when its event happened (an EC2 state change's EventBridge `time`)
   * rather than when it is handled, so a late-handled "running" still reads before the FAILED that
   * came after it. The rule, and why:
   * - not later than now: an event cannot have happened after it is handled (a clock ahead of ours
   *   would put it after the lines this handler writes next, "job finished" among them);
   * - not earlier than the dataset's latest line already logged: EventBridge's time is whole
   *   seconds while this log keeps milliseconds, so "launched" logged at 12:00:05.300 would sort
   *   after the "running" it led to, stamped 12:00:05. A dataset's lines already logged are what
   *   led to this event (its launch, its start), so its own lines keep the order of cause and
   *   effect; on a tie the line logged later stays later (inEventOrder is stable). The job's other
   *   datasets did not cause it, so against their lines it is placed by time alone.
   */
  async certifyDatasetEvent(
    resultFolder: string,
    dataset: { readonly datasetKey: string; readonly submittedAt: string },
    happened: Date,
    ...lines: string[]
  ): Promise<void> {
    const now = this.now().getTime();
    const eventTime = Number.isNaN(happened.getTime()) ? now : Math.min(happened.getTime(), now);
    const own = datasetLinePrefix(dataset.datasetKey);
    const ownTimes = (await this.logLines(resultFolder))
      .filter((line) => lineText(line).startsWith(own))
      .map(lineTime)
      .filter((time) => !Number.isNaN(time));
    const at = new Date(Math.max(eventTime, ...ownTimes));
    return this.certifyAt(resultFolder, dataset.submittedAt, at, ...lines);
  }

  /**
   * The certificate's log lines: as recorded with the job (the source of the certificate; the S3 copy
   * may lag it when its write failed), else as the S3 copy holds them.
   */
  async logLines(resultFolder: string): Promise<string[]> {
    const job = this.record ? jobOfResultFolder(this.record.analysis, resultFolder) : undefined;
    const recorded = job && this.record?.read ? await this.record.read(job) : undefined;
    return (
      recorded ?? parseCertificate((await this.objects.readText(certificateKey(resultFolder))) ?? '').log
    );
  }

  /** Writes a dataset's status file, keeping fields the worker wrote (its std tail, usage) unless replaced. */
  async setStatus(resultFolder: string, datasetLabel: string, status: DatasetStatus): Promise<void> {
    const key = statusKey(resultFolder, datasetLabel);
    const previous = statusFileMembers(await this.objects.readText(key));
    // NeuroCAAS's types: `reason` is a list of strings (its tools and its users' scripts read it so).
    const { reason, cost, ...rest } = status;
    const merged = {
      ...previous,
      ...withoutUndefined(rest),
      ...(cost !== undefined ? costStatusFields(cost) : {}),
      ...(reason !== undefined ? { reason: [reason] } : {}),
      updated: this.now().toISOString(),
    };
    await this.objects.write(key, `${JSON.stringify(merged, null, 2)}\n`, 'application/json');
  }

  /** end.txt: written last, once every dataset of the job is final. */
  async writeEnd(resultFolder: string, summary: string): Promise<void> {
    await this.objects.write(endMarkerKey(resultFolder), `${summary}\n`);
  }

  /** A refusal for a submission with no usable results folder: beside it, never ending in submit.json. */
  async writeBesideSubmission(submissionKey: string, text: string): Promise<string> {
    const key = submissionMessageKey(submissionKey);
    await this.objects.write(key, text);
    return key;
  }
}

/** What a dataset's certificate line says when no reason was recorded. */
const STEP_OF_STATE: Readonly<Record<JobState, string>> = {
  SUBMITTED: 'checking the submission',
  QUEUED: 'waiting for a worker',
  INITIALIZING: 'launching a worker',
  'IN PROGRESS': 'running the analysis',
  SUCCESS: 'finished',
  FAILED: 'failed',
  TIMED_OUT: 'reached its deadline',
  CANCELLED: 'cancelled',
  INTERRUPTED: 'interrupted',
};

export const certificateDataset = (d: DatasetRecord): CertificateDataset => ({
  key: d.datasetKey,
  state: d.state,
  time: d.finishedAt ?? d.startedAt ?? d.queuedAt ?? d.submittedAt,
  lastCommand: d.reason ?? STEP_OF_STATE[d.state],
});

/** The job store as the certificate's source: its log lines and its dataset rows. */
export const jobRecordSource = (
  analysis: string,
  store: {
    appendLog(job: JobKey, lines: readonly string[]): Promise<string[] | undefined>;
    readLog(job: JobKey): Promise<string[] | undefined>;
    getJob(job: JobKey): Promise<Job | undefined>;
  },
): JobRecordSource => ({
  analysis,
  append: (job, lines) => store.appendLog(job, lines),
  read: (job) => store.readLog(job),
  datasets: async (job) => (await store.getJob(job))?.datasets.map(certificateDataset),
});

/** How a dataset's certificate lines start (after the stamp). */
export const datasetLinePrefix = (datasetKey: string): string => `dataset ${datasetKey}: `;

/** A log line's time: its stamp's first part (`2026-12-07T02:00:01.123Z`); NaN if it has none. */
const lineTime = (line: string): number => Date.parse(/^\S+/.exec(line)?.[0] ?? '');

/** A log line without its stamp (`<time> <elapsed>  text`): the stamp holds no two spaces in a row. */
const lineText = (line: string): string => {
  const gap = line.indexOf('  ');
  return gap < 0 ? line : line.slice(gap + 2);
};

/** `2026-12-07T02:00:01.123Z +0:00:05  text` shown as `2026-12-07T02:00:01Z +0:00:05  text`. */
const toSeconds = (line: string): string => line.replace(/^(\S+?)\.\d{3}Z /, '$1Z ');

/** The log by the time each line happened (stable: lines of one moment keep their order), in seconds. */
const inEventOrder = (log: readonly string[]): string[] =>
  log
    .map((line, index) => ({ line, index, at: lineTime(line) }))
    .sort((a, b) => a.at - b.at || a.index - b.index)
    .map(({ line }) => toSeconds(line));

const withoutUndefined = (value: object): Record<string, unknown> =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));

/** `{group}/results/job__{analysis}_{jobId}` -> the job; undefined for any other folder. */
const jobOfResultFolder = (analysis: string, resultFolder: string): JobKey | undefined => {
  const [group, results, folder, ...rest] = resultFolder.split('/');
  const prefix = jobFolderName(analysis, '');
  if (!group || results !== 'results' || rest.length > 0 || !folder?.startsWith(prefix)) return undefined;
  return { group, jobId: folder.slice(prefix.length) };
};
