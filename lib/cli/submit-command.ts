/**
 * `ncaas submit`: what a lab member does by hand, in one command. Local files given as --data are
 * uploaded to `{group}/inputs/<name>` (a folder to `{group}/inputs/<name>/`, one dataset), a local
 * --config to `{group}/configs/<name>`; a value that is not a local file is taken as a key that is
 * already in the bucket. Then `{group}/submissions/{timestamp}submit.json` is written last (its upload
 * starts the job). The job id is the timestamp.
 *
 * Before anything is uploaded the submission is checked with the handler's own code (parseSubmission,
 * readJobConfig) plus what the handler checks in the bucket (named keys exist, the timestamp is new).
 * With the analysis's blueprint (--blueprint / NCAAS_BLUEPRINT) the check is the handler's in full;
 * without one, the group is checked against the bucket's top-level folders when the credentials may
 * list them (./bucket-groups.ts), and the blueprint's other rules (instance types, caps) are left to
 * the handler, whose refusal `ncaas watch` shows. `--dry-run` needs the blueprint, uploads nothing
 * and prints the submit.json it would write.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AnalysisConfig } from '../blueprint/analysis-config';
import { configsPrefix, inputsPrefix } from '../layout';
import { defaultJobId } from '../submission/job-id';
import type { SubmissionProblem } from '../submission/submission-problem';
import { CliError, EXIT } from './errors';
import { s3Url, submissionKeyFor } from './job-folders';
import { formatBytes, type Output } from './output';
import type { S3Target } from './s3-target';
import {
  blueprintFreeAnalysis,
  checkPlannedSubmission,
  submitJsonText,
  type LocalFiles,
  type SubmissionCheck,
  type SubmissionPlan,
  type SubmitJson,
  type Upload,
} from './submission-check';
import { listBucketGroups } from './bucket-groups';
import { uploadFile, type UploadOptions } from './transfer';

export interface SubmitRequest {
  readonly group: string;
  /** Local files or folders, or keys; one dataset each. */
  readonly data: readonly string[];
  /** A local file or a key. */
  readonly config: string;
  readonly instanceType?: string;
  /** The job id; default: `defaultJobId()`. */
  readonly timestamp?: string;
  /** The analysis (from its blueprint): the check is then the handler's in full. Required for a dry run. */
  readonly analysis?: AnalysisConfig;
}

export { defaultJobId };
export { blueprintFreeAnalysis, submitJsonText, uploadFile };
export type { UploadOptions };
export type { SubmissionCheck, SubmissionPlan, SubmitJson, Upload };

/** The CLI reads a local config from its file system. */
const nodeFiles: LocalFiles = {
  size: (file) => fs.statSync(file).size,
  read: (file) => fs.readFileSync(file),
};

/** Everything the submit handler would refuse, found before anything is uploaded (./submission-check.ts). */
export const checkSubmission = (
  ...[target, plan, analysis, options = {}]: Parameters<typeof checkPlannedSubmission>
): ReturnType<typeof checkPlannedSubmission> =>
  checkPlannedSubmission(target, plan, analysis, { localFiles: nodeFiles, ...options });

const statOrUndefined = (file: string): fs.Stats | undefined => {
  try {
    return fs.statSync(file);
  } catch {
    return undefined;
  }
};

/** Regular files under `dir` (following file symlinks, not folder ones), as sorted `/`-separated paths. */
export const filesUnder = (dir: string): string[] => {
  const found: string[] = [];
  const walk = (folder: string, relative: string): void => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      const rel = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) walk(full, rel);
      else if (entry.isFile()) found.push(rel);
      else if (entry.isSymbolicLink() && statOrUndefined(full)?.isFile()) found.push(rel);
    }
  };
  walk(dir, '');
  return found.sort();
};

/** Name of a local file or folder as it appears in keys (`.` gives the folder's own name). */
const localName = (file: string): string => path.basename(path.resolve(file));

/** Works out keys and uploads from the arguments; local problems (an empty folder, two files one key) throw. */
export const planSubmission = (request: SubmitRequest, now: Date = new Date()): SubmissionPlan => {
  const { group } = request;
  if (request.data.length === 0) {
    throw new CliError('no data given: pass --data <file|folder|key> (once per dataset)', EXIT.usage);
  }
  const jobId = request.timestamp ?? defaultJobId(now);
  const uploads: Upload[] = [];
  const namedKeys: string[] = [];
  const datasetKeys = request.data.map((value) => {
    const stat = statOrUndefined(value);
    if (stat?.isDirectory()) {
      const folderKey = `${inputsPrefix(group)}${localName(value)}/`;
      const files = filesUnder(value);
      if (files.length === 0) {
        throw new CliError(
          `--data ${value}: the folder is empty; a folder dataset needs at least one file`,
          EXIT.usage,
        );
      }
      for (const rel of files) {
        const local = path.join(value, ...rel.split('/'));
        uploads.push({ local, key: `${folderKey}${rel}`, size: fs.statSync(local).size });
      }
      return folderKey;
    }
    if (stat?.isFile()) {
      const key = `${inputsPrefix(group)}${localName(value)}`;
      uploads.push({ local: value, key, size: stat.size });
      return key;
    }
    namedKeys.push(value);
    return value;
  });

  const configStat = statOrUndefined(request.config);
  if (configStat?.isDirectory()) {
    throw new CliError(`--config ${request.config} is a folder: the config must be one file`, EXIT.usage);
  }
  let configKey = request.config;
  let localConfig: string | undefined;
  if (configStat?.isFile()) {
    configKey = `${configsPrefix(group)}${localName(request.config)}`;
    localConfig = request.config;
    uploads.push({ local: request.config, key: configKey, size: configStat.size });
  } else {
    namedKeys.push(request.config);
  }

  // One key, one file: a file named twice is uploaded once; two files with one name are refused.
  const unique = new Map<string, Upload>();
  for (const upload of uploads) {
    const other = unique.get(upload.key);
    if (other === undefined) unique.set(upload.key, upload);
    else if (path.resolve(other.local) !== path.resolve(upload.local)) {
      throw new CliError(
        `${other.local} and ${upload.local} would both be uploaded to ${upload.key}: rename one of them`,
        EXIT.usage,
      );
    }
  }

  const submitJson: SubmitJson = {
    dataname: datasetKeys.length === 1 ? datasetKeys[0] : [...datasetKeys],
    configname: configKey,
    timestamp: jobId,
    ...(request.instanceType !== undefined ? { instance_type: request.instanceType } : {}),
  };
  return {
    group,
    jobId,
    datasetKeys,
    configKey,
    uploads: [...unique.values()],
    ...(localConfig !== undefined ? { localConfig } : {}),
    namedKeys,
    submitKey: submissionKeyFor(group, jobId),
    submitJson,
  };
};

/** Uploads the data and config, then writes submit.json (last: its upload starts the job). */
export const sendSubmission = async (
  target: S3Target,
  plan: SubmissionPlan,
  output: Output,
  options: Omit<UploadOptions, 'onProgress'> = {},
): Promise<void> => {
  const total = plan.uploads.length;
  for (const [index, upload] of plan.uploads.entries()) {
    const what = `${index + 1}/${total} ${upload.key} (${formatBytes(upload.size)})`;
    output.live(`uploading ${what}`);
    await uploadFile(target, upload, {
      ...options,
      onProgress: (u, sent) =>
        output.live(`uploading ${what} ${u.size > 0 ? Math.floor((sent * 100) / u.size) : 100}%`),
    });
    if (!output.tty) output.err(`uploaded ${upload.local} -> ${s3Url(target, upload.key)}`);
  }
  await target.objects.write(plan.submitKey, submitJsonText(plan), 'application/json');
  output.clearLive();
};

/** Prints the problems of a check, one per line, complete sentences from the handler's own rules. */
const printProblems = (
  output: Output,
  problems: readonly SubmissionProblem[],
  plan: SubmissionPlan,
): void => {
  for (const p of problems) output.err(`  - ${p.message}`);
  const unknownValues = plan.namedKeys.filter((v) => !v.startsWith(`${plan.group}/`));
  for (const value of unknownValues) {
    output.err(`  (note: "${value}" is not a local file, so it was taken as a key in the bucket)`);
  }
};

export interface SubmitCommandOptions extends Omit<UploadOptions, 'onProgress'> {
  readonly dryRun?: boolean;
  readonly now?: Date;
}

/** `ncaas submit`: prints the job id (stdout) or, for a dry run, the submit.json; returns the exit code. */
export const runSubmit = async (
  target: S3Target,
  request: SubmitRequest,
  output: Output,
  options: SubmitCommandOptions = {},
): Promise<number> => {
  if (options.dryRun && request.analysis === undefined) {
    throw new CliError(
      '--dry-run checks the submission as the analysis would, so it needs the blueprint: pass --blueprint <name|path> or set NCAAS_BLUEPRINT',
      EXIT.usage,
    );
  }
  const plan = planSubmission(request, options.now);
  const bucketGroups = request.analysis === undefined ? await listBucketGroups(target) : undefined;
  const check = await checkSubmission(target, plan, request.analysis, {
    ...(bucketGroups !== undefined ? { bucketGroups } : {}),
  });
  for (const warning of check.warnings) output.err(`warning: ${warning}`);

  if (options.dryRun) {
    output.out(submitJsonText(plan).trimEnd());
    if (check.problems.length > 0) {
      output.err(
        `dry run: the submission would be refused (${check.problems.length} problem${check.problems.length === 1 ? '' : 's'}):`,
      );
      printProblems(output, check.problems, plan);
      return EXIT.failed;
    }
    for (const u of plan.uploads)
      output.err(`would upload ${u.local} -> ${s3Url(target, u.key)} (${formatBytes(u.size)})`);
    output.err(`would write ${s3Url(target, plan.submitKey)}`);
    output.err('dry run: the submission is valid; nothing was uploaded');
    return EXIT.ok;
  }
  if (check.problems.length > 0) {
    output.err(
      `the submission was not sent (${check.problems.length} problem${check.problems.length === 1 ? '' : 's'}); nothing was uploaded:`,
    );
    printProblems(output, check.problems, plan);
    return EXIT.failed;
  }
  await sendSubmission(target, plan, output, options);
  output.err(`submitted job ${plan.jobId}: ${s3Url(target, plan.submitKey)}`);
  output.err(`follow it: ncaas watch ${plan.jobId} --group ${plan.group}`);
  output.out(plan.jobId);
  return EXIT.ok;
};
