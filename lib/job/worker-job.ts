/**
 * The job as the worker receives it: data, never shell text. On EC2 it travels in user data, locally
 * in a file. The encoding is one `NAME=BASE64` line per field so the worker needs nothing but a POSIX
 * shell and `base64` to read it, and no value can be interpreted by a shell on the way.
 */
export interface WorkerJob {
  readonly analysis: string;
  readonly region: string;
  readonly bucket: string;
  readonly group: string;
  /** The submission's `timestamp`: the job id. */
  readonly jobId: string;
  readonly datasetIndex: number;
  /** Key of the dataset; ends in `/` for a folder dataset. */
  readonly datasetKey: string;
  /** Unique label of the dataset within the job (status file name). */
  readonly datasetLabel: string;
  readonly configKey: string;
  /** `{group}/results/job__{analysis}_{timestamp}` (no trailing slash). */
  readonly resultFolder: string;
  /** The blueprint's COMMAND, placeholders not yet filled (the worker fills them safely). */
  readonly command: string;
  /** Hard deadline, seconds since the epoch. */
  readonly deadlineEpochSeconds: number;
  /** The config's `__duration__` estimate, minutes (flagged in status when exceeded, not killed). */
  readonly durationEstimateMinutes?: number;
  /** Who launched it (instance id, Batch job id or local pid are known only after launch). */
  readonly launcher: 'ec2' | 'batch' | 'local';
  /**
   * EC2 workers of a blueprint with `Efs.MountOnEc2Workers`: the analysis file system and the
   * group's access point, mounted at /mnt/efs before staging (needs amazon-efs-utils on the AMI).
   */
  readonly efsFileSystemId?: string;
  readonly efsAccessPointId?: string;
}

const FIELD_NAMES: readonly (keyof WorkerJob)[] = [
  'analysis',
  'region',
  'bucket',
  'group',
  'jobId',
  'datasetIndex',
  'datasetKey',
  'datasetLabel',
  'configKey',
  'resultFolder',
  'command',
  'deadlineEpochSeconds',
  'durationEstimateMinutes',
  'launcher',
  'efsFileSystemId',
  'efsAccessPointId',
];

/** Shell-friendly variable name of a field: `datasetKey` -> `NCAAS_JOB_DATASET_KEY`. */
export const jobVariableName = (field: keyof WorkerJob): string =>
  `NCAAS_JOB_${field.replace(/([A-Z])/g, '_$1').toUpperCase()}`;

export const encodeWorkerJob = (job: WorkerJob): string =>
  FIELD_NAMES.filter((f) => job[f] !== undefined)
    .map((f) => `${jobVariableName(f)}=${Buffer.from(String(job[f]), 'utf8').toString('base64')}`)
    .join('\n') + '\n';
