/**
 * Turns the schema's issues into problems a biologist can act on: the field as it appears in the
 * file (`dataname[2]`), what it holds, what it should hold, with an example under their own group.
 * Zod's own wording ("Invalid input: expected string, received number") never reaches the user.
 */
import type * as z from 'zod/mini';

import { describeValue, quote } from './describe-value';
import type { SubmissionProblem } from './submission-problem';

type Issue = z.core.$ZodIssue;

export interface IssueContext {
  /** Example keys shown in messages, under the submitting group. */
  readonly exampleDataKey: string;
  readonly exampleConfigKey: string;
  readonly allowedInstanceTypes: readonly string[];
  /** The job's results folder (ends in `/`), when group and timestamp are known. */
  readonly resultFolder?: string;
}

interface FlatIssue {
  readonly path: readonly PropertyKey[];
  readonly code: string;
}

export const schemaProblems = (
  raw: Readonly<Record<string, unknown>>,
  issues: readonly Issue[],
  context: IssueContext,
): SubmissionProblem[] => {
  const seen = new Set<string>();
  const problems: SubmissionProblem[] = [];
  for (const issue of flatten(issues, [])) {
    const field = fieldPath(issue.path);
    if (seen.has(field)) continue;
    seen.add(field);
    problems.push({ field, message: messageFor(issue, raw, context) });
  }
  return problems;
};

/**
 * A union (`dataname`: a key or a list of keys) reports every branch. The branch whose issues all lie
 * inside the value is the one the user meant (a list with a bad item): report those; otherwise the
 * value matched no branch and the union's own issue stands.
 */
const flatten = (issues: readonly Issue[], prefix: readonly PropertyKey[]): FlatIssue[] =>
  issues.flatMap((issue): FlatIssue[] => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union') {
      const meant = issue.errors.find(
        (branch) => branch.length > 0 && branch.every((i) => i.path.length > 0),
      );
      if (meant) return flatten(meant, path);
    }
    return [{ path, code: issue.code }];
  });

/** `['dataname', 2]` -> `dataname[2]`. */
export const fieldPath = (path: readonly PropertyKey[]): string =>
  path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i > 0 ? '.' : ''}${String(part)}`))
    .join('');

const valueAt = (raw: Readonly<Record<string, unknown>>, path: readonly PropertyKey[]): unknown => {
  let value: unknown = raw;
  for (const part of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = Object.hasOwn(value, part) ? (value as Record<PropertyKey, unknown>)[part] : undefined;
  }
  return value;
};

const messageFor = (
  issue: FlatIssue,
  raw: Readonly<Record<string, unknown>>,
  context: IssueContext,
): string => {
  const field = fieldPath(issue.path);
  const value = valueAt(raw, issue.path);
  const got = describeValue(value);
  const dataExample = quote(context.exampleDataKey);
  const configExample = quote(context.exampleConfigKey);
  switch (issue.path[0]) {
    case 'dataname':
      if (issue.path.length > 1) return `${field} must be a key (text) like ${dataExample}, got ${got}`;
      if (value === undefined) {
        return `submit.json has no "dataname": add the key of your data, e.g. "dataname": ${dataExample} (or a list of keys, one worker each)`;
      }
      if (issue.code === 'too_small') {
        return `dataname is an empty list: name at least one data key, e.g. "dataname": [${dataExample}]`;
      }
      return `dataname must be a key (text) like ${dataExample}, or a list of such keys, got ${got}`;
    case 'configname':
      if (value === undefined) {
        return `submit.json has no "configname": add the key of your config file, e.g. "configname": ${configExample}`;
      }
      return `configname must be a key (text) like ${configExample}, got ${got}`;
    case 'timestamp':
      if (value === undefined) {
        return 'submit.json has no "timestamp": add one, e.g. "timestamp": "04_29_20"; it names the job and its results folder';
      }
      return `timestamp must be text like "04_29_20" (or a number), got ${got}`;
    case 'instance_type':
      return `instance_type must be text naming one of the instance types this analysis offers (${listOrNone(context.allowedInstanceTypes)}), got ${got}: fix it, or remove instance_type to use the default`;
    case 'rerun_of':
      return `rerun_of must be text: the id (timestamp) of the job this one runs again, got ${got}`;
    case 'resultpath':
      return `resultpath is not accepted here: results always go to this job's results folder${context.resultFolder ? ` (${context.resultFolder})` : ''}. Remove "resultpath" from submit.json`;
    default:
      return `${field} has the wrong form: got ${got}`;
  }
};

export const listOrNone = (items: readonly string[]): string =>
  items.length > 0 ? items.join(', ') : 'none';
