/**
 * The job as the worker receives it: data, never shell text. On EC2 it travels in user data, locally
 * in a file. The encoding is one `NAME=BASE64` line per field so the worker needs nothing but a POSIX
 * shell and `base64` to read it, and no value can be interpreted by a shell on the way.
 */
import { prepareCommand } from '../blueprint/command-template';
import type { BlueprintProvenance } from '../blueprint/provenance';
import { jobResultFolder } from '../layout';

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
  /**
   * The blueprint's COMMAND as the worker runs it: each `{}` replaced by a reference to the variable
   * holding its value (lib/blueprint/command-template.ts), so no key is ever shell text.
   */
  readonly command: string;
  /** `WORKING_DIRECTORY`: where COMMAND runs, when the worker has it (else its scratch run dir). */
  readonly workingDirectory?: string;
  /**
   * What ran, for the status file (JSON text): the blueprint's file and git commit, and the worker
   * image the blueprint names. The worker adds what only it knows (the AMI id, the input versions).
   */
  readonly provenance?: string;
  /** The secret its final report must carry (lib/control/reconcile.ts): 32 hex digits. */
  readonly reportToken?: string;
  /** Datasets in the job: with more than one, each one's results go to `process_results/{label}/`. @default 1 */
  readonly datasetCount?: number;
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

/** What a worker job is made of: the analysis, where its data lies, one dataset, and when it must stop. */
export interface WorkerJobParts {
  readonly config: {
    readonly name: string;
    readonly region: string;
    readonly command: string;
    readonly workingDirectory?: string;
    readonly provenance?: BlueprintProvenance;
    readonly runtime?: 'ec2' | 'batch';
    readonly ec2?: { readonly ami: string };
    readonly batch?: { readonly image: string };
  };
  readonly bucket: string;
  readonly dataset: {
    readonly group: string;
    readonly jobId: string;
    readonly datasetIndex: number;
    readonly datasetKey: string;
    readonly datasetLabel: string;
  };
  readonly configKey: string;
  /** This launch attempt's report secret (lib/job/job-store.ts reportTokenFor); absent for dev runs. */
  readonly reportToken?: string;
  /** How many datasets the job has. */
  readonly datasetCount: number;
  readonly deadline: Date;
  readonly durationEstimateMinutes?: number;
  readonly launcher: WorkerJob['launcher'];
}

/**
 * The one way a worker job is built: the launcher (lib/control/launch-service.ts) and `ncaas dev run`
 * (lib/cli/dev-run.ts) both call it, so a dev run gets exactly what a launched worker gets.
 */
export const buildWorkerJob = (parts: WorkerJobParts): WorkerJob => {
  const command = prepareCommand(parts.config.command);
  // The blueprint loader refused such a COMMAND at synth: reaching this is a config that skipped it.
  if (!command.ok) throw new Error(command.problem);
  return {
    analysis: parts.config.name,
    region: parts.config.region,
    bucket: parts.bucket,
    group: parts.dataset.group,
    jobId: parts.dataset.jobId,
    datasetIndex: parts.dataset.datasetIndex,
    datasetKey: parts.dataset.datasetKey,
    datasetLabel: parts.dataset.datasetLabel,
    configKey: parts.configKey,
    resultFolder: jobResultFolder(parts.dataset.group, parts.config.name, parts.dataset.jobId),
    command: command.text,
    ...(parts.config.workingDirectory ? { workingDirectory: parts.config.workingDirectory } : {}),
    provenance: JSON.stringify(provenanceOf(parts.config)),
    ...(parts.reportToken !== undefined ? { reportToken: parts.reportToken } : {}),
    datasetCount: parts.datasetCount,
    deadlineEpochSeconds: Math.floor(parts.deadline.getTime() / 1000),
    ...(parts.durationEstimateMinutes !== undefined
      ? { durationEstimateMinutes: parts.durationEstimateMinutes }
      : {}),
    launcher: parts.launcher,
  };
};

/** The status file's `provenance` (snake_case, as the rest of the status file). */
const provenanceOf = (config: WorkerJobParts['config']): Record<string, unknown> => ({
  blueprint: config.provenance?.file ?? null,
  blueprint_commit: config.provenance?.commit ?? null,
  blueprint_uncommitted_edits: config.provenance?.uncommittedEdits ?? null,
  image: config.runtime === 'batch' && config.batch ? config.batch.image : (config.ec2?.ami ?? null),
});

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
  'workingDirectory',
  'provenance',
  'reportToken',
  'datasetCount',
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
