/**
 * What users read, written by the control plane (DESIGN.md "What the user sees in the bucket"):
 * the job's certificate (one line per step, with the time elapsed since submission), each dataset's
 * NeuroCAAS-style status file for the states before and after a worker, end.txt, and refusals.
 * The worker writes the status files while it runs; this writer merges into what is there, so a
 * dead worker's last stdout/stderr tail stays visible.
 */
import type { JobKey } from '../job/job-keys';
import type { JobState } from '../job/job-state';
import { certificateKey, endMarkerKey, jobFolderName, statusKey, submissionMessageKey } from '../layout';
import type { S3Objects } from './s3-objects';

export interface DatasetStatus {
  readonly status: JobState;
  readonly reason?: string;
  /** The dataset key. */
  readonly input: string;
  readonly instance?: string;
  readonly job_start?: string;
  readonly job_finish?: string;
  readonly exit_code?: number;
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

export class JobReport {
  constructor(
    private readonly objects: S3Objects,
    private readonly now: () => Date = () => new Date(),
    /** Where a job's lines are kept in order; without it (or for a job not recorded) S3 is read and rewritten. */
    private readonly log?: { analysis: string; append: CertificateLog },
  ) {}

  /**
   * Appends lines to the certificate. S3 has no append, and several handlers may write one job's
   * certificate at once (its datasets finish together): the lines are appended atomically to the
   * job's record and the whole certificate is written from there, so none is lost.
   */
  async certify(resultFolder: string, submittedAt: string, ...lines: string[]): Promise<void> {
    const key = certificateKey(resultFolder);
    const now = this.now();
    const stamp = `${now.toISOString().replace(/\.\d{3}Z$/, 'Z')} ${elapsed(new Date(submittedAt), now)}`;
    const stamped = lines.map((line) => `${stamp}  ${line}`);
    const job = this.log ? jobOfResultFolder(this.log.analysis, resultFolder) : undefined;
    const all = job && this.log ? await this.log.append(job, stamped) : undefined;
    if (all) {
      await this.objects.write(key, all.map((line) => `${line}\n`).join(''));
      return;
    }
    const existing = (await this.objects.readText(key)) ?? '';
    await this.objects.write(key, existing + stamped.map((line) => `${line}\n`).join(''));
  }

  /** Writes a dataset's status file, keeping fields the worker wrote (its std tail, usage) unless replaced. */
  async setStatus(resultFolder: string, datasetLabel: string, status: DatasetStatus): Promise<void> {
    const key = statusKey(resultFolder, datasetLabel);
    const previousText = await this.objects.readText(key);
    let previous: Record<string, unknown> = {};
    try {
      previous = previousText ? (JSON.parse(previousText) as Record<string, unknown>) : {};
    } catch {
      previous = {};
    }
    const merged = { ...previous, ...withoutUndefined(status), updated: this.now().toISOString() };
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

const withoutUndefined = (value: object): Record<string, unknown> =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));

/** `{group}/results/job__{analysis}_{jobId}` -> the job; undefined for any other folder. */
const jobOfResultFolder = (analysis: string, resultFolder: string): JobKey | undefined => {
  const [group, results, folder, ...rest] = resultFolder.split('/');
  const prefix = jobFolderName(analysis, '');
  if (!group || results !== 'results' || rest.length > 0 || !folder?.startsWith(prefix)) return undefined;
  return { group, jobId: folder.slice(prefix.length) };
};
