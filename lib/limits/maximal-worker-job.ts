/**
 * The largest job a group of this blueprint can send an EC2 worker, built with the real functions:
 * the submission is one the submit handler's own check (parseSubmission) accepts, with keys of
 * S3's maximum 1,024 bytes, a timestamp of the maximum length and the longest dataset name whose
 * derived keys still fit; the job is what the launcher builds from it (buildWorkerJob). The random
 * parts are random characters (they compress as badly as real names can), the same on every run.
 */
import type { AnalysisConfig, GroupConfig } from '../blueprint/analysis-config';
import { buildWorkerJob, type WorkerJob } from '../job/worker-job';
import { configsPrefix, inputsPrefix, submissionsPrefix } from '../layout';
import { parseSubmission } from '../submission/parse-submission';
import { MAX_KEY_BYTES } from '../submission/submission-problem';
import { MAX_TIMESTAMP_LENGTH } from '../submission/timestamp-rules';
import { awsResourceId, seededText } from './physical-names';

const KEY_CHARACTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const HEX = '0123456789abcdef';
/** Folder names of up to this many characters (typical tools refuse longer path segments). */
const FOLDER_LENGTH = 60;
/** The latest deadline a job can have in practice: ten digits of epoch seconds. */
const LATE_DEADLINE = new Date(Date.UTC(2099, 11, 31));

/** `prefix`, random folders, then `file`: `bytes` bytes long (or one less, when one byte cannot be a folder). */
const keyOf = (prefix: string, file: string, bytes: number, seed: string): string => {
  let folders = '';
  let room = bytes - prefix.length - file.length;
  for (let i = 0; room >= 2; i++) {
    let length = Math.min(FOLDER_LENGTH + 1, room);
    if (room - length === 1) length -= 1;
    folders += `${seededText(`${seed}/${i}`, length - 1, KEY_CHARACTERS)}/`;
    room -= length;
  }
  return `${prefix}${folders}${file}`;
};

const fileName = (length: number, seed: string): string =>
  `${seededText(seed, Math.max(1, length - 4), KEY_CHARACTERS)}.bin`;

interface MaximalSubmission {
  readonly datasetKey: string;
  readonly configKey: string;
  readonly jobId: string;
}

/** The submission with the longest dataset file name the submit check accepts, or undefined if none is. */
const maximalSubmission = (config: AnalysisConfig, group: string): MaximalSubmission | undefined => {
  const jobId = seededText(`${config.name}/timestamp`, MAX_TIMESTAMP_LENGTH, KEY_CHARACTERS);
  const configKey = keyOf(configsPrefix(group), 'config.yaml', MAX_KEY_BYTES, `${config.name}/config`);
  const many = config.limits.maxDatasets > 1;
  const attempt = (fileLength: number): MaximalSubmission | undefined => {
    const datasetKey = keyOf(inputsPrefix(group), fileName(fileLength, 'dataset'), MAX_KEY_BYTES, 'inputs');
    // A second dataset (a short name of its own): with several, the derived keys include the config's copy.
    const second = `${inputsPrefix(group)}second.bin`;
    const result = parseSubmission({
      body: JSON.stringify({
        dataname: many ? [datasetKey, second] : datasetKey,
        configname: configKey,
        timestamp: jobId,
      }),
      key: `${submissionsPrefix(group)}submit.json`,
      analysis: config,
    });
    return result.ok ? { datasetKey: result.submission.datasetKeys[0], configKey, jobId } : undefined;
  };
  let low = 5;
  let high = MAX_KEY_BYTES - inputsPrefix(group).length;
  let best = attempt(low);
  if (!best) return undefined;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    const accepted = attempt(middle);
    if (accepted) {
      best = accepted;
      low = middle;
    } else high = middle - 1;
  }
  return best;
};

/** The maximal job of `group` on an EC2 worker, or undefined when the group cannot submit at all. */
export const maximalWorkerJob = (
  config: AnalysisConfig,
  group: GroupConfig,
  bucket: string,
): WorkerJob | undefined => {
  const submission = maximalSubmission(config, group.name);
  if (!submission) return undefined;
  const job = buildWorkerJob({
    config: {
      ...config,
      provenance: config.provenance ?? {
        file: config.sourceFile,
        commit: seededText('commit', 40, HEX),
        uncommittedEdits: true,
      },
    },
    bucket,
    dataset: {
      group: group.name,
      jobId: submission.jobId,
      datasetIndex: config.limits.maxDatasets - 1,
      datasetKey: submission.datasetKey,
      datasetLabel: submission.datasetKey.slice(submission.datasetKey.lastIndexOf('/') + 1),
    },
    configKey: submission.configKey,
    reportToken: seededText('report-token', 32, HEX),
    datasetCount: config.limits.maxDatasets,
    deadline: LATE_DEADLINE,
    durationEstimateMinutes: config.limits.maxDurationMinutes,
    launcher: 'ec2',
  });
  return config.efsOnEc2Workers
    ? {
        ...job,
        efsFileSystemId: awsResourceId('fs', `${config.name}/efs`),
        efsAccessPointId: awsResourceId('fsap', `${config.name}/${group.name}`),
      }
    : job;
};
