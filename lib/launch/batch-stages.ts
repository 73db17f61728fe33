/**
 * The batch runtime's three stages (docs/DESIGN.md "Launchers": batch), shared by the stack (job
 * definitions), the launcher and the reconcile handler (submissions, events) and the local runtime
 * (which runs the same commands as processes). Plain data: handlers import it without the CDK.
 *
 * One dataset is three Batch jobs around a job folder on the analysis EFS,
 * `{EFS root of the group's access point}/jobs/{jobDir}`:
 * - `in` (the staging image): stages the dataset and config from S3 into the job folder and writes
 *   what the analysis needs there (worker/run-job.sh `--stage in`);
 * - `fetch` (the blueprint's RemoteSources.Image, depends on `in`; only for an `rclone:` dataset):
 *   copies the dataset from the group's rclone remote to where stage-in would have put it, with the
 *   group's rclone.conf injected by Batch from Secrets Manager (FETCH_BOOTSTRAP);
 * - `run` (the analysis image, depends on `fetch` if there is one, else on `in`): runs COMMAND from
 *   the job folder, no AWS calls;
 * - `out` (the staging image): uploads results, logs, status and the final report, then removes the
 *   job folder. Batch fails every job that depends on a failed job, so `out` is not chained: the
 *   reconcile handler submits it once the other stages have all ended, whatever their outcome.
 * - clean-up (`out` with `ncaasCleanupOnly`): only removes a job folder, when no stage-out removed it
 *   (lib/control/efs-folders.ts). It runs on either image: the staging definition in clean-up-only
 *   mode, or the analysis definition with its command replaced by `CLEANUP_BOOTSTRAP`, so an image
 *   that cannot be pulled (or a container that never starts) on one does not block it on the other.
 *
 * How the worker script reaches the containers: without its comments, gzip + base64 in an
 * environment override of the `in` and `out` jobs (about 12 KB of SubmitJob's 30 KiB payload limit,
 * the job about 1-9 KB more; a job definition allows only 24 KiB, so the script cannot live there,
 * and a copy in the bucket would need a system prefix, its upload and its version kept in step).
 * `in` copies it into the job folder for `run`, whose image needs nothing but a POSIX sh.
 */
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { encodeWorkerJob, type WorkerJob } from '../job/worker-job';
import { compactShellScript } from './compact-script';

export const BATCH_STAGES = ['in', 'fetch', 'run', 'out'] as const;
export type BatchStage = (typeof BATCH_STAGES)[number];

/** Where the analysis EFS appears inside every container (through the group's access point). */
export const EFS_MOUNT_PATH = '/mnt/efs';

/** The CloudWatch Logs group Batch writes containers' output to (the job definitions' default). */
export const BATCH_LOG_GROUP = '/aws/batch/job';

/** Batch's limit on a SubmitJob request (its "job payload"), in bytes. */
export const SUBMIT_JOB_PAYLOAD_LIMIT = 30 * 1024;

/** Longest Batch job name. Names allow letters, digits, `-` and `_` only. */
export const MAX_BATCH_JOB_NAME = 128;

/** Attempts Batch gives the stage-out job (its job definition's retry strategy). */
export const STAGE_OUT_ATTEMPTS = 3;

/**
 * Clean-up jobs a job folder gets at most (the reconcile handler and the watchdog's sweep together),
 * alternating between the two images; after that an operator is told to remove it.
 */
export const CLEANUP_TRIES = 3;

/** Batch stops a clean-up attempt after this: `rm -rf` of one job folder takes seconds. */
export const CLEANUP_TIMEOUT_SECONDS = 900;

/** A clean-up on the analysis definition needs little of what the analysis does (GPUs are kept). */
export const CLEANUP_RESOURCES = { vcpus: 1, memoryMiB: 512 } as const;

/** Which job definition a clean-up runs on: the analysis image, or the staging image. */
export type CleanupImage = 'analysis' | 'staging';

/** Environment variables the stages read (worker/run-job.sh and the bootstraps below). */
export const STAGE_ENV = {
  /** `in` or `out`: which stage a staging container runs (set in its job definition). */
  stage: 'NCAAS_STAGE',
  /** The EFS mount inside the container (job definitions); a local folder in the local runtime. */
  efsRoot: 'NCAAS_EFS_ROOT',
  /** The job folder's name under `jobs/` (every stage; letters, digits, `-`, `_`). */
  jobDir: 'NCAAS_JOB_DIR',
  /** The worker script, gzip + base64 (`in` and `out`). */
  script: 'NCAAS_WORKER_SCRIPT_GZ',
  /** The job file (`encodeWorkerJob`: NAME=BASE64 lines) (`in` and `out`). */
  job: 'NCAAS_WORKER_JOB',
  /** `out`: a final state the control plane already decided (CANCELLED, TIMED_OUT, FAILED). */
  outStatus: 'NCAAS_STAGE_OUT_STATUS',
  /** `out`: why, when the job folder cannot tell (a stage that never ran, a capacity cancel). */
  outReason: 'NCAAS_STAGE_OUT_REASON',
  /** `out`: only remove the job folder (a stage-in whose launch did not go through). */
  cleanupOnly: 'NCAAS_STAGE_OUT_CLEANUP_ONLY',
  /** `out`: Batch's attempts for it; the last one removes the folder even after a failed upload. */
  outAttempts: 'NCAAS_STAGE_OUT_ATTEMPTS',
  /** `out`: the analysis container's CloudWatch log stream, named in the status file. */
  logStream: 'NCAAS_LOG_STREAM',
  /** What the status file calls the worker (the analysis job's id). */
  instance: 'NCAAS_INSTANCE_ID',
  /** `fetch`: the group's rclone.conf, injected by Batch from Secrets Manager (job definition `secrets`). */
  rcloneConfig: 'NCAAS_RCLONE_CONFIG',
  /** `fetch`: `<remote>:<path>`, rclone's source argument (lib/submission/remote-source.ts). */
  rcloneSource: 'NCAAS_RCLONE_SOURCE',
  /** `fetch`: the dataset's name in the job folder's `input/` (empty: a folder, copied into `input/`). */
  rcloneTarget: 'NCAAS_RCLONE_TARGET',
} as const;

/**
 * The command of the staging job definitions: decode the script and the job from the environment
 * (data, never shell text), then run the stage. Needs sh, base64 and gunzip in the staging image.
 */
export const STAGING_BOOTSTRAP = [
  'set -eu',
  // A clean-up only needs the folder's name (checked: letters, digits, - and _), not the script.
  `if [ "\${${STAGE_ENV.cleanupOnly}-}" = 1 ]; then case \${${STAGE_ENV.jobDir}-} in '' | *[!A-Za-z0-9_-]*) exit 2 ;; esac; rm -rf "$${STAGE_ENV.efsRoot}/jobs/$${STAGE_ENV.jobDir}"; echo "ncaas: removed the job folder $${STAGE_ENV.jobDir} (clean-up only)"; exit 0; fi`,
  'd=$(mktemp -d)',
  `printf '%s' "$${STAGE_ENV.script}" | base64 -d | gunzip -c >"$d/run-job.sh"`,
  `printf '%s\\n' "$${STAGE_ENV.job}" >"$d/job.env"`,
  `exec sh "$d/run-job.sh" --stage "$${STAGE_ENV.stage}" "$d/job.env"`,
].join('\n');

/** The command of the analysis job definition: the script stage-in left in the job folder. */
export const ANALYSIS_BOOTSTRAP = `exec sh "$${STAGE_ENV.efsRoot}/jobs/$${STAGE_ENV.jobDir}/run-job.sh" --stage run "$${STAGE_ENV.efsRoot}/jobs/$${STAGE_ENV.jobDir}"`;

/**
 * The command of a clean-up on the analysis definition (whose environment has NCAAS_EFS_ROOT): only
 * `rm`, which any image with the `sh` the analysis stage needs has too. The folder name comes from
 * the control plane, checked again here.
 */
export const CLEANUP_BOOTSTRAP = [
  'set -eu',
  `case "$${STAGE_ENV.jobDir}" in '' | *[!A-Za-z0-9_-]*) echo 'ncaas clean-up: bad NCAAS_JOB_DIR' >&2; exit 2 ;; esac`,
  `rm -rf -- "$${STAGE_ENV.efsRoot}/jobs/$${STAGE_ENV.jobDir}"`,
  `echo "ncaas clean-up: removed the job folder $${STAGE_ENV.efsRoot}/jobs/$${STAGE_ENV.jobDir}" >&2`,
].join('\n');

/**
 * The command of the fetch job definitions (NeuroConv's rclone step, without its leaks): the
 * group's rclone.conf arrives in an environment variable that Batch fills from Secrets Manager; it is
 * written, readable by this user only, to a file in the container's own temp dir (never EFS), and
 * the variable is unset before rclone starts. The source is one argument after `--` (a quoted
 * expansion, never shell text); the target is where stage-in would have put an S3 dataset:
 * `input/<name>`, or `input` itself for a folder. The name is checked to be one path segment.
 * `printf` is a shell builtin: the configuration never appears in a process's arguments. `exec`
 * makes rclone the container's main process, so Batch's TerminateJob signal reaches it.
 */
export const FETCH_BOOTSTRAP = [
  'set -eu',
  'umask 077',
  `case "\${${STAGE_ENV.jobDir}:?}" in *[!A-Za-z0-9_-]*) echo 'ncaas fetch: bad ${STAGE_ENV.jobDir}' >&2; exit 2;; esac`,
  `case "\${${STAGE_ENV.rcloneTarget}-}" in */* | . | ..) echo 'ncaas fetch: bad ${STAGE_ENV.rcloneTarget}' >&2; exit 2;; esac`,
  'd=$(mktemp -d)',
  `printf '%s\\n' "\${${STAGE_ENV.rcloneConfig}:?the rclone configuration secret was not injected}" >"$d/rclone.conf"`,
  `unset ${STAGE_ENV.rcloneConfig}`,
  `t="$${STAGE_ENV.efsRoot}/jobs/$${STAGE_ENV.jobDir}/input"`,
  `[ -d "$t" ] || { echo "ncaas fetch: $t was not prepared by the stage-in job" >&2; exit 3; }`,
  `exec rclone --config "$d/rclone.conf" copyto -- "\${${STAGE_ENV.rcloneSource}:?}" "$t\${${STAGE_ENV.rcloneTarget}:+/$${STAGE_ENV.rcloneTarget}}"`,
].join('\n');

/**
 * A stage's container command. Batch cannot override an image's ENTRYPOINT, so the images must have
 * none (or one that runs its arguments, like `exec "$@"`).
 */
export const stageCommand = (stage: BatchStage): string[] => [
  'sh',
  '-c',
  stage === 'run' ? ANALYSIS_BOOTSTRAP : stage === 'fetch' ? FETCH_BOOTSTRAP : STAGING_BOOTSTRAP,
];

/** The environment a stage's job definition fixes (the same for every job of the group). */
export const stageDefinitionEnvironment = (
  stage: BatchStage,
  efsRoot: string = EFS_MOUNT_PATH,
): Record<string, string> => ({
  [STAGE_ENV.efsRoot]: efsRoot,
  ...(stage === 'run' || stage === 'fetch' ? {} : { [STAGE_ENV.stage]: stage }),
  ...(stage === 'out' ? { [STAGE_ENV.outAttempts]: String(STAGE_OUT_ATTEMPTS) } : {}),
});

/** A worker script as shipped (readShippedWorkerScript applies this to worker/run-job.sh). */
export const transportScript = (script: string): string => compactShellScript(script, { dropEc2Only: true });

/**
 * The worker script as the staging containers receive it: the shipped text (readShippedWorkerScript),
 * gzip, base64. The local runtime runs exactly this text, so its tests cover what Batch runs.
 */
export const packWorkerScript = (shippedScript: string): string =>
  gzipSync(Buffer.from(shippedScript, 'utf8'), { level: 9 }).toString('base64');

/** The job as the staging containers receive it: the job file itself (NAME=BASE64 lines, data). */
export const packWorkerJob = (job: WorkerJob): string => encodeWorkerJob(job);

/**
 * Parameters every submitted job carries, so a state-change event (which carries the job's
 * parameters, not its environment) names the dataset, the stage and the launch it belongs to.
 */
export const JOB_PARAMETERS = {
  analysis: 'ncaasAnalysis',
  group: 'ncaasGroup',
  jobId: 'ncaasJobId',
  dataset: 'ncaasDataset',
  attempt: 'ncaasAttempt',
  stage: 'ncaasStage',
  jobDir: 'ncaasJobDir',
  /** `run` and `fetch`: the id of the launch's stage-in job. */
  stageIn: 'ncaasStageInJob',
  /** `run` only, for an rclone dataset: the id of its fetch job. */
  fetch: 'ncaasFetchJob',
  /** `out` only, "1": a clean-up (only removes the job folder), not a report. */
  cleanupOnly: 'ncaasCleanupOnly',
  /** "1": submitted to the Spot-first queue (a capacity cancel or a reclaim falls back to on-demand). */
  spot: 'ncaasSpot',
} as const;

export interface BatchJobIdentity {
  readonly analysis: string;
  readonly group: string;
  readonly jobId: string;
  readonly datasetIndex: number;
  readonly attempt: number;
  readonly stage: BatchStage;
  readonly jobDir: string;
  readonly stageInJobId?: string;
  readonly fetchJobId?: string;
  readonly cleanupOnly?: boolean;
  /** Submitted to the Spot-first queue. */
  readonly spot?: boolean;
}

export const identityParameters = (identity: BatchJobIdentity): Record<string, string> => ({
  [JOB_PARAMETERS.analysis]: identity.analysis,
  [JOB_PARAMETERS.group]: identity.group,
  [JOB_PARAMETERS.jobId]: identity.jobId,
  [JOB_PARAMETERS.dataset]: String(identity.datasetIndex),
  [JOB_PARAMETERS.attempt]: String(identity.attempt),
  [JOB_PARAMETERS.stage]: identity.stage,
  [JOB_PARAMETERS.jobDir]: identity.jobDir,
  ...(identity.stageInJobId !== undefined ? { [JOB_PARAMETERS.stageIn]: identity.stageInJobId } : {}),
  ...(identity.fetchJobId !== undefined ? { [JOB_PARAMETERS.fetch]: identity.fetchJobId } : {}),
  ...(identity.cleanupOnly ? { [JOB_PARAMETERS.cleanupOnly]: '1' } : {}),
  ...(identity.spot ? { [JOB_PARAMETERS.spot]: '1' } : {}),
});

/** The identity in a job's parameters, or undefined for a job ncaas did not submit. */
export const identityOf = (
  parameters: Readonly<Record<string, string>> | undefined,
): BatchJobIdentity | undefined => {
  if (!parameters) return undefined;
  const get = (name: string): string | undefined =>
    Object.hasOwn(parameters, name) ? parameters[name] : undefined;
  const analysis = get(JOB_PARAMETERS.analysis);
  const group = get(JOB_PARAMETERS.group);
  const jobId = get(JOB_PARAMETERS.jobId);
  const datasetIndex = Number(get(JOB_PARAMETERS.dataset));
  const attempt = Number(get(JOB_PARAMETERS.attempt));
  const stage = BATCH_STAGES.find((s) => s === get(JOB_PARAMETERS.stage));
  const jobDir = get(JOB_PARAMETERS.jobDir);
  if (!analysis || !group || !jobId || !stage || !jobDir || !isJobDirName(jobDir)) return undefined;
  if (!Number.isInteger(datasetIndex) || datasetIndex < 0 || !Number.isInteger(attempt)) return undefined;
  const stageInJobId = get(JOB_PARAMETERS.stageIn);
  const fetchJobId = get(JOB_PARAMETERS.fetch);
  return {
    analysis,
    group,
    jobId,
    datasetIndex,
    attempt,
    stage,
    jobDir,
    ...(stageInJobId ? { stageInJobId } : {}),
    ...(fetchJobId ? { fetchJobId } : {}),
    ...(get(JOB_PARAMETERS.cleanupOnly) === '1' ? { cleanupOnly: true } : {}),
    ...(get(JOB_PARAMETERS.spot) === '1' ? { spot: true } : {}),
  };
};

const NAME_CHARACTERS = /^[A-Za-z0-9_-]+$/;
/** Room for the `-fetch` suffix of the longest stage name. */
const MAX_JOB_DIR = MAX_BATCH_JOB_NAME - '-fetch'.length;

export const isJobDirName = (name: string): boolean =>
  name.length <= MAX_JOB_DIR && NAME_CHARACTERS.test(name);

/** A random 8-hex-digit suffix: each launch attempt gets a job folder of its own. */
export const randomNonce = (): string => randomBytes(4).toString('hex');

/**
 * The job folder of one launch: readable (analysis, group, job id, dataset, attempt) and unique
 * (the nonce: a launch retried after a lost reply must not share a folder with the first try).
 * Job ids contain `:` and `.`, which Batch names refuse: anything but letters, digits, `-` and `_`
 * becomes `_`, and the readable part is shortened to fit 128 characters with the stage suffix.
 */
export const batchJobFolder = (
  job: Pick<WorkerJob, 'analysis' | 'group' | 'jobId' | 'datasetIndex'>,
  attempt: number,
  nonce: string,
): string => {
  const tail = `-${job.datasetIndex}-a${attempt}-${nonce.replace(/[^A-Za-z0-9]/g, '')}`;
  const head = `${job.analysis}-${job.group}-${job.jobId}`.replace(/[^A-Za-z0-9_-]/g, '_');
  return `${head.slice(0, Math.max(1, MAX_JOB_DIR - tail.length))}${tail}`;
};

/**
 * The name of a group's job definition for a stage: `ncaas-{analysis}_{group}-{stage}`. Fixed names
 * let the handlers submit by name (the latest active revision) with no ARN per group and stage in
 * their environment (4 KB for everything; ten groups' ARNs alone would take 3 KB). Analysis names
 * have no `_`, so two analyses never share a name.
 */
export const batchJobDefinitionName = (analysis: string, group: string, stage: BatchStage): string =>
  `${batchJobDefinitionPrefix(analysis)}${group}-${stage}`;

/**
 * The start of every job definition name of an analysis. Analysis names have no `_`, so the prefix of
 * `a` never matches the job definitions of `a-b`.
 */
export const batchJobDefinitionPrefix = (analysis: string): string => `ncaas-${analysis}_`;

/**
 * The start of every log stream of a group's analysis containers: Batch names a container's stream
 * `{job definition name}/default/{task id}` in BATCH_LOG_GROUP (the job definitions set no log
 * configuration of their own). The reconcile handler may read these streams and no others.
 */
export const analysisLogStreamPrefix = (analysis: string, group: string): string =>
  `${batchJobDefinitionName(analysis, group, 'run')}/`;

/** Tag every submitted job carries (TerminateJob is allowed only on jobs of this analysis). */
export const BATCH_ANALYSIS_TAG = 'ncaas:analysis';

/** `{jobDir}-{stage}`: at most 128 letters, digits, `-` and `_`. */
export const batchJobName = (jobDir: string, stage: BatchStage): string => `${jobDir}-${stage}`;
