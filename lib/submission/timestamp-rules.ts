/**
 * The submission's `timestamp` is the job id: it becomes one folder name (`job__{analysis}_{timestamp}`)
 * in S3 keys, on workers' disks and in the job table. NeuroCAAS timestamps look like `04_29_20` or
 * `16:52:06.836494condition_2_3`, so `:`, `.`, `_`, `-` and inner spaces stay allowed; what is refused
 * could change the folder structure or garble the name: `/`, `\`, `..`, control characters,
 * leading or trailing spaces, and more than MAX_TIMESTAMP_LENGTH characters.
 */
import { firstControlCharacter, hasLoneSurrogate } from './characters';
import { quote } from './describe-value';
import { DEV_RUN_PREFIX } from '../layout';

export const MAX_TIMESTAMP_LENGTH = 100;

const EXAMPLE = '"04_29_20" or "16:52:06.836494condition_2_3"';

/** Why a submission's `timestamp` cannot be a job id, or undefined when it can. */
export const timestampProblem = (timestamp: string): string | undefined => {
  const shown = `timestamp ${quote(timestamp)}`;
  // Dev runs' folders (job__{analysis}_dev-...) are the only ones a dev instance may write: a job
  // there could be overwritten by one, and a dev run could pass for a job.
  if (timestamp.startsWith(DEV_RUN_PREFIX)) {
    return `${shown} starts with "${DEV_RUN_PREFIX}", which is kept for \`ncaas dev run\`'s test runs: choose a timestamp that does not start with "${DEV_RUN_PREFIX}"`;
  }
  return jobIdProblem(timestamp);
};

/** Why a text cannot name a job folder (`job__{analysis}_{id}`), or undefined when it can. */
export const jobIdProblem = (timestamp: string): string | undefined => {
  const shown = `timestamp ${quote(timestamp)}`;
  if (timestamp.length === 0) return `timestamp is empty: give the job a name, like ${EXAMPLE}`;
  if (timestamp.trim().length === 0) return `timestamp is only spaces: give the job a name, like ${EXAMPLE}`;
  const length = [...timestamp].length;
  if (length > MAX_TIMESTAMP_LENGTH) {
    return `timestamp is ${length} characters long, but at most ${MAX_TIMESTAMP_LENGTH} are allowed: use a shorter one, like ${EXAMPLE}`;
  }
  const control = firstControlCharacter(timestamp);
  if (control) return `${shown} contains ${control.name}: use letters, digits and : . _ - only`;
  if (hasLoneSurrogate(timestamp)) return `${shown} contains a broken character: retype it`;
  if (timestamp.includes('/') || timestamp.includes('\\')) {
    const slash = timestamp.includes('/') ? '/' : '\\';
    return `${shown} contains "${slash}", but it becomes one folder name (job__<analysis>_<timestamp>): use "_" or "-" instead`;
  }
  if (timestamp.includes('..')) return `${shown} contains "..": use a single "." or "_" instead`;
  if (timestamp.trim() !== timestamp) return `${shown} starts or ends with a space: remove it`;
  return undefined;
};
