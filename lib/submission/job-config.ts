/**
 * The two settings the control plane reads from a job's config file (docs/DESIGN.md "submit.json"):
 * `__duration__` (minutes: the estimate used for the budget) and `__dataset_size__` (GB added to the
 * worker's root volume), each honoured within the blueprint's caps. Everything else in the config is
 * the analysis's business. Pure: the caller fetches the file.
 *
 * Format: JSON when the key ends in `.json`, YAML when it ends in `.yaml`/`.yml`; otherwise JSON if
 * the text looks like JSON (starts with `{` or `[`; YAML is tried if JSON fails), else YAML. A config
 * that does not parse is refused; a config that parses to something other than a mapping (a list, a
 * single value, an empty file) cannot hold these keys and is accepted without estimates.
 */
import { load, YAMLException } from 'js-yaml';

import type { SubmissionLimits } from '../blueprint/analysis-config';
import { describeValue, quote } from './describe-value';
import { parseJsonText } from './json-text';
import type { SubmissionProblem } from './submission-problem';
import { MAX_TEXT_FILE_BYTES } from './submission-problem';
import { decodeTextBody, formatSize } from './text-body';

export type JobConfigResult =
  | { readonly ok: true; readonly durationMinutes?: number; readonly datasetSizeGiB?: number }
  | { readonly ok: false; readonly problems: SubmissionProblem[] };

export const DURATION_KEY = '__duration__';
export const DATASET_SIZE_KEY = '__dataset_size__';

export const readJobConfig = (
  body: Uint8Array | string,
  configKey: string,
  limits: SubmissionLimits,
): JobConfigResult => {
  const shown = `config ${quote(configKey)}`;
  const refuse = (message: string): JobConfigResult => ({
    ok: false,
    problems: [{ field: 'configname', message }],
  });

  const decoded = decodeTextBody(body);
  if (!decoded.ok) {
    return refuse(
      decoded.reason === 'too-large'
        ? `${shown} is ${formatSize(decoded.bytes)}, but the limit is ${formatSize(MAX_TEXT_FILE_BYTES)}: a config holds settings, not data; put large files under inputs/ instead`
        : `${shown} is not UTF-8 text (it may be a binary file or saved in another encoding): save it as JSON or YAML text and upload it again`,
    );
  }
  const parsed = parseConfigText(decoded.text, configKey);
  if (!parsed.ok) {
    return refuse(
      `${shown} is not valid ${parsed.format} (${parsed.detail}): fix it, upload it again, then upload submit.json again`,
    );
  }
  const config = parsed.value;
  if (config === null || typeof config !== 'object' || Array.isArray(config)) return { ok: true };

  const problems: SubmissionProblem[] = [];
  const read = (key: string, unit: string, cap: number, example: number): number | undefined => {
    if (!Object.hasOwn(config, key)) return undefined;
    const result = readEstimate((config as Record<string, unknown>)[key], { key, unit, cap, example }, shown);
    if (typeof result === 'string') {
      problems.push({ field: key, message: result });
      return undefined;
    }
    return result;
  };
  const durationMinutes = read(DURATION_KEY, 'minutes', limits.maxDurationMinutes, 90);
  const datasetSizeGiB = read(DATASET_SIZE_KEY, 'GB', limits.maxDatasetSizeGiB, 20);
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    ...(durationMinutes !== undefined ? { durationMinutes } : {}),
    ...(datasetSizeGiB !== undefined ? { datasetSizeGiB } : {}),
  };
};

type ParsedConfig = { ok: true; value: unknown } | { ok: false; format: 'JSON' | 'YAML'; detail: string };

const parseConfigText = (text: string, configKey: string): ParsedConfig => {
  const name = configKey.toLowerCase();
  if (name.endsWith('.json')) return parseJson(text);
  if (name.endsWith('.yaml') || name.endsWith('.yml')) return parseYaml(text);
  if (/^\s*[[{]/.test(text)) {
    const json = parseJson(text);
    if (json.ok) return json;
    const yaml = parseYaml(text);
    return yaml.ok ? yaml : json;
  }
  return parseYaml(text);
};

const parseJson = (text: string): ParsedConfig => {
  if (text.trim().length === 0) return { ok: true, value: null };
  const json = parseJsonText(text);
  return json.ok ? json : { ok: false, format: 'JSON', detail: json.detail };
};

const parseYaml = (text: string): ParsedConfig => {
  try {
    // js-yaml refuses duplicate keys and undefined aliases, and builds an alias as a reference to
    // the same value, so an alias bomb costs no memory. Its default schema, as PyYAML (what NeuroCAAS
    // analyses read configs with) does, follows `<<` merge keys and reads unquoted dates as dates.
    return { ok: true, value: load(text) };
  } catch (thrown) {
    if (!(thrown instanceof YAMLException)) throw thrown;
    // The message's source excerpt spans lines; the reason and where are what a person needs.
    const where = thrown.mark ? ` at line ${thrown.mark.line + 1}, column ${thrown.mark.column + 1}` : '';
    return { ok: false, format: 'YAML', detail: `${thrown.reason}${where}` };
  }
};

/** A positive number (or the text of one) within the cap, or the message saying what is wrong. */
interface Estimate {
  readonly key: string;
  readonly unit: string;
  readonly cap: number;
  /** A sensible value, shown in messages. */
  readonly example: number;
}

const readEstimate = (
  value: unknown,
  { key, unit, cap, example }: Estimate,
  shown: string,
): number | string => {
  const number = toNumber(value);
  if (number === undefined || !Number.isFinite(number)) {
    return `${key} in ${shown} must be a number of ${unit} like ${example}, got ${describeValue(value)}: fix it or remove the line`;
  }
  if (number <= 0) {
    return `${key} in ${shown} is ${number} ${unit}, but it must be more than 0: fix it or remove the line`;
  }
  if (number > cap) {
    return `${key} in ${shown} is ${number} ${unit}, but this analysis allows at most ${cap} ${unit}: lower it, or split the data over several jobs`;
  }
  return number;
};

const NUMBER_TEXT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

const toNumber = (value: unknown): number | undefined => {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && NUMBER_TEXT.test(value.trim())) return Number(value.trim());
  return undefined;
};
