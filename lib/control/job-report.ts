/**
 * What users read, written by the control plane (DESIGN.md "What the user sees in the bucket"):
 * the job's certificate (one line per step, with the time elapsed since submission), each dataset's
 * NeuroCAAS-style status file for the states before and after a worker, end.txt, and refusals.
 * The worker writes the status files while it runs; this writer merges into what is there, so a
 * dead worker's last stdout/stderr tail stays visible.
 */
import type { JobState } from '../job/job-state';
import { certificateKey, endMarkerKey, statusKey, submissionMessageKey } from '../layout';
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

export class JobReport {
  constructor(
    private readonly objects: S3Objects,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Appends lines to the certificate. S3 has no append: read, add, write. Only the control plane
   * writes certificates, and a job's events are few and seconds apart.
   */
  async certify(resultFolder: string, submittedAt: string, ...lines: string[]): Promise<void> {
    const key = certificateKey(resultFolder);
    const existing = (await this.objects.readText(key)) ?? '';
    const now = this.now();
    const stamp = `${now.toISOString().replace(/\.\d{3}Z$/, 'Z')} ${elapsed(new Date(submittedAt), now)}`;
    const added = lines.map((line) => `${stamp}  ${line}\n`).join('');
    await this.objects.write(key, existing + added);
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
