/**
 * Finding jobs in the bucket the way a lab member can: by listing their group's prefix. A job is its
 * results folder `{group}/results/job__{analysis}_{timestamp}/`, or, before the control plane has
 * written anything, its submission `{group}/submissions/{timestamp}submit.json` (the CLI's name).
 * The job id a user types is the timestamp; the folder name and `group/results/job__...` are accepted too.
 */
import { PIPELINE_NAME } from '../blueprint/blueprint-schema';
import {
  groupOfKey,
  jobResultFolder,
  resultsPrefix,
  SUBMIT_SUFFIX,
  submissionMessageKey,
  submissionsPrefix,
} from '../layout';
import { CliError, EXIT } from './errors';
import { listFolders } from './list-keys';
import type { S3Target } from './s3-target';

/** One job, located. */
export interface JobRef {
  readonly group: string;
  readonly analysis: string;
  /** The submission's timestamp. */
  readonly jobId: string;
  /** `{group}/results/job__{analysis}_{jobId}` (no trailing slash). */
  readonly resultFolder: string;
}

export const jobRef = (group: string, analysis: string, jobId: string): JobRef => ({
  group,
  analysis,
  jobId,
  resultFolder: jobResultFolder(group, analysis, jobId),
});

/** Where the CLI writes a job's submit.json. */
export const submissionKeyFor = (group: string, jobId: string): string =>
  `${submissionsPrefix(group)}${jobId}${SUBMIT_SUFFIX}`;

/** The refusal the control plane writes beside that submission when it has no usable results folder. */
export const refusalKeyFor = (group: string, jobId: string): string =>
  submissionMessageKey(submissionKeyFor(group, jobId));

/** `job__{analysis}_{timestamp}` split in two (analysis names have no `_`); undefined if not one. */
export const parseJobFolderName = (name: string): { analysis: string; jobId: string } | undefined => {
  const match = /^job__([^_]*)_(.+)$/.exec(name);
  return match && PIPELINE_NAME.test(match[1]) ? { analysis: match[1], jobId: match[2] } : undefined;
};

/** What the user typed: a timestamp, a job folder name, or a results key of one. */
export const parseJobArgument = (argument: string): { jobId: string; analysis?: string; group?: string } => {
  const trimmed = argument.trim().replace(/\/+$/, '');
  if (trimmed === '') throw new CliError('no job given: name the job by its id (the timestamp)', EXIT.usage);
  const segments = trimmed.split('/');
  const last = segments[segments.length - 1];
  const folder = parseJobFolderName(last);
  if (!folder) return { jobId: trimmed };
  const group = segments.length >= 3 && segments[segments.length - 2] === 'results' ? segments[0] : undefined;
  return { ...folder, ...(group !== undefined ? { group } : {}) };
};

/** The job folders in a group's results/, parsed; only this analysis's when it is known. */
export const listJobFolders = async (
  target: S3Target,
  group: string,
  analysis: string | undefined,
): Promise<JobRef[]> => {
  const prefix = resultsPrefix(group);
  const folders = await listFolders(target, `${prefix}job__`);
  const refs: JobRef[] = [];
  for (const folder of folders) {
    const parsed = parseJobFolderName(folder.slice(prefix.length, -1));
    if (!parsed) continue;
    if (analysis !== undefined && parsed.analysis !== analysis) continue;
    refs.push(jobRef(group, parsed.analysis, parsed.jobId));
  }
  return refs;
};

/**
 * The groups to look in: the one given, else every top-level folder of the bucket (which needs
 * permission to list the bucket's top level: a lab member has it only for their own prefix).
 */
export const groupsToSearch = async (target: S3Target, group: string | undefined): Promise<string[]> => {
  if (group !== undefined) return [group];
  let folders: string[];
  try {
    folders = await listFolders(target, '');
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 403) {
      throw new CliError(
        'cannot list the groups of the bucket with these credentials: pass --group G or set NCAAS_GROUP',
        EXIT.usage,
      );
    }
    throw error;
  }
  return folders.map((f) => groupOfKey(f)).filter((g): g is string => g !== undefined);
};

/** The one analysis whose job folders a group's results/ holds, when there is exactly one. */
const onlyAnalysisIn = (refs: readonly JobRef[]): string | undefined => {
  const names = [...new Set(refs.map((r) => r.analysis))];
  return names.length === 1 ? names[0] : undefined;
};

/**
 * Finds a job: in the group given (or every group the bucket lists), under the analysis given (or the
 * one its folder names). Not found, or found in several groups: a CliError with exit code 2.
 */
export const locateJob = async (
  target: S3Target,
  options: { readonly group?: string; readonly job: string },
): Promise<JobRef> => {
  const argument = parseJobArgument(options.job);
  const jobId = argument.jobId;
  const groups = await groupsToSearch(target, options.group ?? argument.group);
  const found: JobRef[] = [];
  let needsAnalysis: string | undefined;

  for (const group of groups) {
    const known = argument.analysis ?? target.analysis;
    if (known !== undefined) {
      const ref = jobRef(group, known, jobId);
      if (await jobExists(target, ref)) found.push(ref);
      continue;
    }
    const folders = await listJobFolders(target, group, undefined);
    const matches = folders.filter((r) => r.jobId === jobId);
    if (matches.length > 1) {
      throw new CliError(
        `job "${jobId}" exists for several analyses in group ${group} (${matches.map((m) => m.analysis).join(', ')}): pass --analysis`,
        EXIT.usage,
      );
    }
    if (matches.length === 1) {
      found.push(matches[0]);
      continue;
    }
    // Submitted, no results folder yet: the folder's analysis is the one the group's other jobs use.
    const submitted =
      (await target.objects.head(submissionKeyFor(group, jobId))) !== undefined ||
      (await target.objects.head(refusalKeyFor(group, jobId))) !== undefined;
    if (!submitted) continue;
    const analysis = onlyAnalysisIn(folders);
    if (analysis === undefined) needsAnalysis = group;
    else found.push(jobRef(group, analysis, jobId));
  }

  if (found.length === 1) return found[0];
  if (found.length > 1) {
    throw new CliError(
      `job "${jobId}" exists in several groups (${found.map((f) => f.group).join(', ')}): pass --group`,
      EXIT.usage,
    );
  }
  if (needsAnalysis !== undefined) {
    throw new CliError(
      `job "${jobId}" was submitted in group ${needsAnalysis}, but its analysis is not known yet: pass --analysis or set NCAAS_ANALYSIS`,
      EXIT.usage,
    );
  }
  const where = groups.length === 1 ? `group ${groups[0]}` : `any group (${groups.join(', ') || 'none'})`;
  const analysis = argument.analysis ?? target.analysis;
  throw new CliError(
    `no job "${jobId}" in ${where}${analysis ? ` of analysis ${analysis}` : ''} in bucket ${target.bucket}: check the id with \`ncaas jobs\``,
    EXIT.usage,
  );
};

/** The job has a results folder, a submission under the CLI's name, or a refusal beside it. */
export const jobExists = async (target: S3Target, ref: JobRef): Promise<boolean> =>
  (await target.objects.hasObjectsUnder(`${ref.resultFolder}/`)) ||
  (await target.objects.head(submissionKeyFor(ref.group, ref.jobId))) !== undefined ||
  (await target.objects.head(refusalKeyFor(ref.group, ref.jobId))) !== undefined;

/** For messages: `s3://bucket/key`. */
export const s3Url = (target: S3Target, key: string): string => `s3://${target.bucket}/${key}`;
