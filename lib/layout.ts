/**
 * The bucket layout users see (docs/DESIGN.md "What the user sees in the bucket"). Every key the system
 * reads or writes is built here, so the stack's notification filters, the handlers, the worker
 * contract and the CLI agree on one layout.
 */
export const GROUP_FOLDERS = ['inputs', 'configs', 'submissions', 'results'] as const;

/** Suffix of the object that starts a job (S3 notification suffix). */
export const SUBMIT_SUFFIX = 'submit.json';
/** Suffix of a cancel request: `{group}/submissions/<job>.cancel.json`. Must not overlap SUBMIT_SUFFIX. */
export const CANCEL_SUFFIX = '.cancel.json';
/**
 * Suffix of the worker's final report under `{group}/results/`; its creation tells the control plane
 * a dataset finished. Only workers (and the control plane) may write results/.
 */
export const FINAL_REPORT_SUFFIX = '.final.json';
/** Suffix of a refusal message written beside a submission that has no usable timestamp. */
export const SUBMISSION_MESSAGE_SUFFIX = '.error.txt';

export const groupPrefix = (group: string): string => `${group}/`;
export const submissionsPrefix = (group: string): string => `${group}/submissions/`;
export const inputsPrefix = (group: string): string => `${group}/inputs/`;
export const configsPrefix = (group: string): string => `${group}/configs/`;
export const resultsPrefix = (group: string): string => `${group}/results/`;

/** `job__{analysis}_{timestamp}`: NeuroCAAS's job folder name, kept so its tools find results. */
export const jobFolderName = (analysis: string, timestamp: string): string => `job__${analysis}_${timestamp}`;

/** `{group}/results/job__{analysis}_{timestamp}` (no trailing slash): COMMAND's third `{}`. */
export const jobResultFolder = (group: string, analysis: string, timestamp: string): string =>
  `${resultsPrefix(group)}${jobFolderName(analysis, timestamp)}`;

/**
 * Job ids of `ncaas dev run` start with this: its job folders are the only ones a dev instance may
 * write, so a dev run never writes into a real job's folder.
 */
export const DEV_RUN_PREFIX = 'dev-';

/** `{group}/results/job__{analysis}_dev-`: the start of every dev run's job folder of this group. */
export const devRunFoldersPrefix = (group: string, analysis: string): string =>
  jobResultFolder(group, analysis, DEV_RUN_PREFIX);

/** A job's logs folder: the certificate, each dataset's status, analysis log, stdout and stderr. */
export const logsPrefix = (resultFolder: string): string => `${resultFolder}/logs/`;
export const certificateKey = (resultFolder: string): string => `${logsPrefix(resultFolder)}certificate.txt`;

/**
 * `DATASET_NAME:{basename}_STATUS.txt`. Two datasets of one job may share a basename
 * (`a/x.zip`, `b/x.zip`): the dataset's index disambiguates all but the first.
 */
export const datasetLabel = (datasetKey: string, index: number, allKeys: readonly string[]): string => {
  const base = baseName(datasetKey);
  const sharedEarlier = allKeys.slice(0, index).some((k) => baseName(k) === base);
  return sharedEarlier ? `${base}-${index + 1}` : base;
};

/**
 * Last segment of a key; a folder key (`.../data/`) gives its folder name. An rclone dataset
 * (`rclone:<remote>:<path>`, remote names have no `:`) gives the last segment of its path.
 */
const baseName = (key: string): string =>
  key
    .replace(/^rclone:[^:]*:/, '')
    .replace(/\/+$/, '')
    .split('/')
    .pop() || 'dataset';

export const statusKey = (resultFolder: string, label: string): string =>
  `${logsPrefix(resultFolder)}DATASET_NAME:${label}_STATUS.txt`;
/** Label of the status file a refused submission writes in its (would-be) job folder. */
export const REFUSAL_LABEL = 'submission';

/**
 * `DATASET_NAME:{label}_analysis-log.txt`: on Batch, the analysis container's log (its CloudWatch
 * stream, stdout and stderr interleaved, each line with its time), copied by the control plane once
 * the analysis has ended (lib/control/container-log.ts).
 */
export const analysisLogKey = (resultFolder: string, label: string): string =>
  `${logsPrefix(resultFolder)}DATASET_NAME:${label}_analysis-log.txt`;

/**
 * `DATASET_NAME:{label}_stdout.txt` (and `_stderr`): the full copies of the analysis's output the
 * worker uploads beside the status file, whose own tail holds only the last lines.
 */
export const outputLogKey = (resultFolder: string, label: string, stream: 'stdout' | 'stderr'): string =>
  `${logsPrefix(resultFolder)}DATASET_NAME:${label}_${stream}.txt`;

export const finalReportKey = (resultFolder: string, label: string): string =>
  `${logsPrefix(resultFolder)}DATASET_NAME:${label}_STATUS${FINAL_REPORT_SUFFIX}`;
export const processResultsPrefix = (resultFolder: string): string => `${resultFolder}/process_results/`;
export const endMarkerKey = (resultFolder: string): string => `${resultFolder}/process_results/end.txt`;

/** Where a refusal goes when the submission has no usable timestamp: beside it, not triggering anything. */
export const submissionMessageKey = (submissionKey: string): string =>
  `${submissionKey.replace(/submit\.json$/, 'submit')}${SUBMISSION_MESSAGE_SUFFIX}`;

/** The group is the first segment of a key. */
export const groupOfKey = (key: string): string | undefined => {
  const slash = key.indexOf('/');
  return slash > 0 ? key.slice(0, slash) : undefined;
};
