/**
 * Reading and validating one uploaded `submit.json` (docs/DESIGN.md "submit.json", "Who may do what").
 * Pure: no AWS, no I/O. Every problem is collected, not just the first, so one corrected upload
 * is enough; a refused submission launches nothing.
 */
import type { AnalysisConfig } from '../blueprint/analysis-config';
import { nearMatches } from '../near-match';
import {
  analysisLogKey,
  datasetLabel,
  finalReportKey,
  groupOfKey,
  jobResultFolder,
  processResultsPrefix,
  submissionsPrefix,
} from '../layout';
import { utf8ByteLength } from './characters';
import { describeValue, plural, quote } from './describe-value';
import { parseJsonText } from './json-text';
import { exampleKey, referencedKeyProblem } from './key-rules';
import { isRcloneDataset, rcloneDatasetProblem } from './remote-source';
import { listOrNone, schemaProblems } from './schema-issues';
import { submitSchema, SUBMIT_KEYS } from './submit-schema';
import type { SubmissionProblem } from './submission-problem';
import { MAX_KEY_BYTES, MAX_TEXT_FILE_BYTES } from './submission-problem';
import { decodeTextBody, formatSize } from './text-body';
import { jobIdProblem, timestampProblem } from './timestamp-rules';

export interface ValidatedSubmission {
  /** The submitting group: the first segment of the submission's key. */
  readonly group: string;
  /** The submission's `timestamp`, as text: the job id. */
  readonly jobId: string;
  /**
   * One per worker, verbatim; a key ending in `/` is a folder dataset; `rclone:<remote>:<path>` a
   * dataset the batch runtime fetches from the group's rclone remote (./remote-source.ts).
   */
  readonly datasetKeys: string[];
  readonly configKey: string;
  /** The requested `instance_type`, else the blueprint's EC2 default (undefined for Batch without one). */
  readonly instanceType?: string;
  readonly submissionKey: string;
  /** `rerun_of`: the job this one runs again (its id), for the certificate. */
  readonly rerunOf?: string;
}

export type SubmissionResult =
  | { readonly ok: true; readonly submission: ValidatedSubmission; readonly warnings: string[] }
  | {
      readonly ok: false;
      readonly problems: SubmissionProblem[];
      /**
       * Set when the timestamp is valid and the group may submit: the refusal then goes into the job's
       * results folder. Absent: write it beside the submission (layout.ts submissionMessageKey).
       */
      readonly jobId?: string;
    };

export interface SubmissionInput {
  readonly body: Uint8Array | string;
  /** The key the submission was uploaded to: `{group}/submissions/...`. */
  readonly key: string;
  readonly analysis: AnalysisConfig;
  /** `ncaas dev run` checking its own job (its id is `dev-...`, which a submission may not use). */
  readonly devRun?: boolean;
}

export const parseSubmission = ({ body, key, analysis, devRun }: SubmissionInput): SubmissionResult => {
  const where = submitterOf(key, analysis);
  const group = where.group;
  const refuse = (problems: SubmissionProblem[], jobId?: string): SubmissionResult =>
    jobId !== undefined && where.accepted ? { ok: false, problems, jobId } : { ok: false, problems };

  const decoded = decodeTextBody(body);
  if (!decoded.ok) {
    const message =
      decoded.reason === 'too-large'
        ? `submit.json is ${formatSize(decoded.bytes)}, but the limit is ${formatSize(MAX_TEXT_FILE_BYTES)}: a submit.json only names keys, so it is usually a few hundred bytes; check that the right file was uploaded`
        : 'submit.json is not UTF-8 text (it may be a binary file or saved in another encoding): save it as plain UTF-8 text and upload it again';
    return refuse([...where.problems, { field: 'submit.json', message }]);
  }
  const object = readObject(decoded.text, group);
  if (!object.ok) return refuse([...where.problems, object.problem]);
  const raw = object.value;

  const timestamp = readTimestamp(raw, devRun === true);
  const jobId = timestamp.problem === undefined ? timestamp.value : undefined;
  const resultFolder =
    jobId !== undefined && group !== undefined
      ? `${jobResultFolder(group, analysis.name, jobId)}/`
      : undefined;

  const parsed = submitSchema.safeParse(raw);
  const problems: SubmissionProblem[] = inFileOrder([
    ...where.problems,
    ...(parsed.success
      ? []
      : schemaProblems(raw, parsed.error.issues, {
          exampleDataKey: exampleKey('data', group),
          exampleConfigKey: exampleKey('config', group),
          allowedInstanceTypes: analysis.limits.allowedInstanceTypes,
          resultFolder,
        })),
    ...datanameProblems(raw.dataname, group, analysis),
    ...(typeof raw.configname === 'string'
      ? problemIn('configname', referencedKeyProblem(raw.configname, 'configname', 'config', group))
      : []),
    ...(timestamp.problem !== undefined ? [{ field: 'timestamp', message: timestamp.problem }] : []),
    ...(typeof raw.instance_type === 'string' ? instanceTypeProblems(raw.instance_type, analysis) : []),
    ...(typeof raw.rerun_of === 'string' ? rerunOfProblems(raw.rerun_of) : []),
  ]);

  if (!parsed.success || problems.length > 0 || group === undefined || jobId === undefined) {
    return refuse(problems, jobId);
  }
  const data = parsed.data;
  const datasetKeys = typeof data.dataname === 'string' ? [data.dataname] : [...data.dataname];
  const tooLong = derivedKeyProblems(group, analysis.name, jobId, datasetKeys, data.configname);
  if (tooLong.length > 0) return refuse(tooLong, jobId);
  return {
    ok: true,
    submission: {
      group,
      jobId,
      datasetKeys,
      configKey: data.configname,
      instanceType: data.instance_type ?? analysis.ec2?.instanceType,
      submissionKey: key,
      ...(data.rerun_of !== undefined ? { rerunOf: data.rerun_of } : {}),
    },
    warnings: warningsFor(raw),
  };
};

/**
 * The keys the job will write for each dataset (its status, final report and logs; with several
 * datasets, its own results folder holding the config) are longer than its dataset key: each must
 * stay within S3's key limit, or the job could run and never report. Refused here, before anything
 * runs, naming the longest key.
 */
const derivedKeyProblems = (
  group: string,
  analysis: string,
  jobId: string,
  datasetKeys: readonly string[],
  configKey: string,
): SubmissionProblem[] => {
  const folder = jobResultFolder(group, analysis, jobId);
  const configName = configKey.slice(configKey.lastIndexOf('/') + 1);
  const many = datasetKeys.length > 1;
  return datasetKeys.flatMap((key, index) => {
    const label = datasetLabel(key, index, datasetKeys);
    const keys = [
      finalReportKey(folder, label),
      analysisLogKey(folder, label),
      ...(many ? [`${processResultsPrefix(folder)}${label}/${configName}`] : []),
    ];
    const longest = keys.reduce((a, b) => (utf8ByteLength(b) > utf8ByteLength(a) ? b : a));
    const bytes = utf8ByteLength(longest);
    if (bytes <= MAX_KEY_BYTES) return [];
    const field = many ? `dataname[${index}]` : 'dataname';
    return [
      {
        field,
        message: `the job would write ${quote(longest)} for this dataset, a key of ${bytes} bytes, but S3 keys are at most ${MAX_KEY_BYTES} bytes: use a shorter timestamp or shorter folder and file names`,
      },
    ];
  });
};

/** The group that uploaded the submission, and whether it may submit to this analysis. */
const submitterOf = (
  key: string,
  analysis: AnalysisConfig,
): { group?: string; accepted: boolean; problems: SubmissionProblem[] } => {
  const group = groupOfKey(key);
  if (group === undefined) {
    return {
      accepted: false,
      problems: [
        {
          field: 'group',
          message: `the submission ${quote(key)} is not inside a group's folder: upload submit.json to <your group>/submissions/`,
        },
      ],
    };
  }
  const config = analysis.groups.find((g) => g.name === group);
  const refused = (message: string): { group: string; accepted: boolean; problems: SubmissionProblem[] } => ({
    group,
    accepted: false,
    problems: [{ field: 'group', message }],
  });
  if (config === undefined) {
    const known = analysis.groups.map((g) => g.name);
    const near = nearMatches(group, known);
    return refused(
      near.length > 0
        ? `group ${quote(group)} (the first folder of ${quote(key)}) is not a group of analysis ${quote(analysis.name)}: did you mean ${near.map(quote).join(' or ')}? (group names are case-sensitive; its groups: ${known.map(quote).join(', ')})`
        : `group ${quote(group)} (the first folder of ${quote(key)}) is not a group of analysis ${quote(analysis.name)} (its groups: ${known.map(quote).join(', ')}): ask the analysis's developer to add your group to its blueprint`,
    );
  }
  if (!config.userInput) {
    return refused(
      `group ${quote(group)} may not submit jobs to analysis ${quote(analysis.name)} (its blueprint sets UserInput to false for this group): ask the analysis's developer to allow it`,
    );
  }
  if (!key.startsWith(submissionsPrefix(group))) {
    return {
      group,
      accepted: false,
      problems: [
        {
          field: 'submission key',
          message: `submit.json was uploaded to ${quote(key)}, but submissions go in ${submissionsPrefix(group)}: upload it there`,
        },
      ],
    };
  }
  return { group, accepted: true, problems: [] };
};

const readObject = (
  text: string,
  group: string | undefined,
): { ok: true; value: Record<string, unknown> } | { ok: false; problem: SubmissionProblem } => {
  const example = `{"dataname": ${quote(exampleKey('data', group))}, "configname": ${quote(exampleKey('config', group))}, "timestamp": "04_29_20"}`;
  const fail = (message: string): { ok: false; problem: SubmissionProblem } => ({
    ok: false,
    problem: { field: 'submit.json', message },
  });
  if (text.trim().length === 0) return fail(`submit.json is empty: it must hold an object like ${example}`);
  const json = parseJsonText(text);
  if (!json.ok)
    return fail(`submit.json is not valid JSON (${json.detail}): it must hold an object like ${example}`);
  const value = json.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return fail(
      `submit.json holds ${describeValue(value)}, but it must hold one object in braces, like ${example}`,
    );
  }
  return { ok: true, value: value as Record<string, unknown> };
};

const readTimestamp = (
  raw: Readonly<Record<string, unknown>>,
  devRun: boolean,
): { value?: string; problem?: string } => {
  const parsed = submitSchema.shape.timestamp.safeParse(raw.timestamp);
  // A wrongly typed or missing timestamp is reported by the schema pass.
  if (!parsed.success) return { problem: undefined };
  return { value: parsed.data, problem: (devRun ? jobIdProblem : timestampProblem)(parsed.data) };
};

const FIELD_ORDER = [
  'group',
  'submission key',
  'submit.json',
  'dataname',
  'configname',
  'timestamp',
  'instance_type',
  'rerun_of',
];

/** `rerun_of` names a job by its id: the same rules as a timestamp (it ends up in the certificate). */
const rerunOfProblems = (rerunOf: string): SubmissionProblem[] => {
  const problem = jobIdProblem(rerunOf);
  return problem === undefined
    ? []
    : [
        {
          field: 'rerun_of',
          message: `rerun_of names the job this one reruns: ${problem.replace(/^timestamp/, 'its id')}`,
        },
      ];
};

/** Problems in the order a reader meets the fields: where it was uploaded, then submit.json top to bottom. */
const inFileOrder = (problems: SubmissionProblem[]): SubmissionProblem[] => {
  const rank = (problem: SubmissionProblem): [number, number] => {
    const [, name, index] = /^([^[]*)(?:\[(\d+)\])?/.exec(problem.field) ?? [];
    const position = FIELD_ORDER.indexOf(name ?? '');
    return [position < 0 ? FIELD_ORDER.length : position, index === undefined ? -1 : Number(index)];
  };
  return problems
    .map((problem, order) => ({ problem, order, rank: rank(problem) }))
    .sort((a, b) => a.rank[0] - b.rank[0] || a.rank[1] - b.rank[1] || a.order - b.order)
    .map(({ problem }) => problem);
};

const problemIn = (field: string, message: string | undefined): SubmissionProblem[] =>
  message === undefined ? [] : [{ field, message }];

/** A dataset is a key in the bucket, or a path on the group's rclone remote. */
const datasetProblem = (
  value: string,
  label: string,
  group: string | undefined,
  analysis: AnalysisConfig,
): string | undefined =>
  isRcloneDataset(value)
    ? rcloneDatasetProblem(value, label, group, analysis)
    : referencedKeyProblem(value, label, 'data', group);

const datanameProblems = (
  dataname: unknown,
  group: string | undefined,
  analysis: AnalysisConfig,
): SubmissionProblem[] => {
  const maxDatasets = analysis.limits.maxDatasets;
  if (typeof dataname === 'string') {
    return problemIn('dataname', datasetProblem(dataname, 'dataname', group, analysis));
  }
  if (!Array.isArray(dataname)) return [];
  const problems: SubmissionProblem[] = [];
  if (dataname.length > maxDatasets) {
    problems.push({
      field: 'dataname',
      message: `dataname lists ${plural(dataname.length, 'dataset')}, but this analysis accepts at most ${maxDatasets} in one submission: split them over several submissions, each with its own timestamp`,
    });
  }
  const firstIndex = new Map<string, number>();
  dataname.forEach((item: unknown, index) => {
    if (typeof item !== 'string') return;
    const field = `dataname[${index}]`;
    const earlier = firstIndex.get(item);
    if (earlier !== undefined) {
      problems.push({
        field,
        message: `${field} ${quote(item)} repeats dataname[${earlier}]: list each dataset once`,
      });
      return;
    }
    firstIndex.set(item, index);
    problems.push(...problemIn(field, datasetProblem(item, field, group, analysis)));
  });
  return problems;
};

const instanceTypeProblems = (requested: string, analysis: AnalysisConfig): SubmissionProblem[] => {
  const allowed = analysis.limits.allowedInstanceTypes;
  if (allowed.includes(requested)) return [];
  const fallback = analysis.ec2?.instanceType;
  const orDefault = `remove instance_type to use the default${fallback ? ` (${fallback})` : ''}`;
  const message =
    allowed.length === 0
      ? `instance_type ${quote(requested)} cannot be chosen: this analysis does not let a submission pick the instance type; ${orDefault}`
      : `instance_type ${quote(requested)} is not offered by this analysis: choose one of ${listOrNone(allowed)}, or ${orDefault}`;
  return [{ field: 'instance_type', message }];
};

const warningsFor = (raw: Readonly<Record<string, unknown>>): string[] => {
  const warnings = Object.keys(raw)
    .filter((k) => !SUBMIT_KEYS.includes(k))
    .map((k) => `submit.json key ${quote(k)} is not used here and was ignored`);
  if (typeof raw.timestamp === 'number') {
    warnings.push(
      `timestamp was the number ${String(raw.timestamp)}; it is used as the text "${String(raw.timestamp)}"`,
    );
  }
  return warnings;
};
