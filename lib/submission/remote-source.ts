/**
 * Datasets fetched with rclone (the blueprint's `RemoteSources`): a `submit.json` dataname of the
 * form `rclone:<remote>:<path>` names a path on a remote of the group's own rclone configuration
 * instead of a key in the bucket. The batch runtime's `fetch` stage copies it into the job folder
 * (lib/launch/batch-stages.ts); everything else about the job is as for a key.
 *
 * The value reaches rclone as one argument after `--` (never shell text), and this check makes sure
 * it could not be read as a flag or another remote anyway: the remote name is letters, digits, `_`,
 * `.` and `-` and does not start with `-`; the path has no control characters (no newline), no `.`
 * or `..` folder, no empty folder name and a bounded length. A path ending in `/` names a folder:
 * the whole folder is one dataset, as for a key.
 */
import type { AnalysisConfig } from '../blueprint/analysis-config';
import { firstControlCharacter, hasLoneSurrogate, utf8ByteLength } from './characters';
import { quote } from './describe-value';
import { folderSegmentProblem } from './key-rules';
import { MAX_KEY_BYTES } from './submission-problem';

const RCLONE_PREFIX = 'rclone:';

/** rclone's own rule for remote names, minus spaces, and never a leading `-`. */
const REMOTE_NAME = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/;

export interface RcloneSource {
  /** The configured remote's name. */
  readonly remote: string;
  /** The path on the remote (ends in `/` for a folder). */
  readonly path: string;
  /** `<remote>:<path>`: what rclone receives as its source argument. */
  readonly source: string;
}

/** True for a dataname that names an rclone remote rather than a key. */
export const isRcloneDataset = (dataname: string): boolean => dataname.startsWith(RCLONE_PREFIX);

/** The remote and path of an `rclone:` dataname (not validated: see rcloneDatasetProblem). */
export const parseRcloneDataset = (dataname: string): RcloneSource | undefined => {
  if (!isRcloneDataset(dataname)) return undefined;
  const rest = dataname.slice(RCLONE_PREFIX.length);
  const colon = rest.indexOf(':');
  if (colon < 0) return undefined;
  const remote = rest.slice(0, colon);
  const path = rest.slice(colon + 1);
  return { remote, path, source: `${remote}:${path}` };
};

/**
 * Where the fetch stage puts the dataset inside the job folder's `input/`: the path's last segment
 * (the worker's `data_name`, so the analysis finds it where stage-in puts an S3 dataset), or ''
 * for a folder, whose files go into `input/` itself.
 */
export const rcloneTargetName = (source: RcloneSource): string =>
  source.path.endsWith('/') ? '' : (source.path.split('/').pop() ?? '');

const EXAMPLE = 'rclone:lab-drive:recordings/session1.nwb';

/**
 * Why the `rclone:` dataname `value` (shown as `label`) may not be used by `group`, or undefined.
 * `group` undefined: the submission named no group; only the form is checked.
 */
export const rcloneDatasetProblem = (
  value: string,
  label: string,
  group: string | undefined,
  analysis: AnalysisConfig,
): string | undefined => {
  const shown = `${label} ${quote(value)}`;
  if (group !== undefined) {
    const config = analysis.groups.find((g) => g.name === group);
    if (config !== undefined && config.rcloneConfigSecret === undefined) {
      return `${shown} names an rclone remote, but group ${quote(group)} has no rclone configuration in analysis ${quote(analysis.name)}: upload the data under ${group}/inputs/ and name that key instead, or ask the analysis's developer to add the group to RemoteSources.Groups in the blueprint (with the Secrets Manager secret holding its rclone.conf)`;
    }
  }
  // The longest `rclone:<remote>:<path>` is S3's key limit: one budget for every dataname.
  const bytes = utf8ByteLength(value);
  if (bytes > MAX_KEY_BYTES) {
    return `${label} is ${bytes} bytes long, but an rclone source may be at most ${MAX_KEY_BYTES} bytes: use shorter folder and file names`;
  }
  const control = firstControlCharacter(value);
  if (control) {
    return `${shown} contains ${control.name} (character ${control.index + 1}): rclone paths here may not contain control characters; rename the file on the remote and name it again`;
  }
  if (hasLoneSurrogate(value)) {
    return `${shown} contains a broken character (half of a UTF-16 pair): retype the path`;
  }
  const parsed = parseRcloneDataset(value);
  if (parsed === undefined) {
    return `${shown} has no remote: write rclone:<remote>:<path>, with the remote's name as in the group's rclone.conf, like ${quote(EXAMPLE)}`;
  }
  if (parsed.remote.length === 0) {
    return `${shown} has an empty remote name: write rclone:<remote>:<path>, like ${quote(EXAMPLE)}`;
  }
  if (!REMOTE_NAME.test(parsed.remote)) {
    return `${shown} names the remote ${quote(parsed.remote)}, but remote names here are letters, digits, "_", "." and "-", not starting with "-": use the remote's name as in the group's rclone.conf, like ${quote(EXAMPLE)}`;
  }
  const path = parsed.path;
  if (path.length === 0 || path === '/') {
    return `${shown} names the whole remote ${quote(parsed.remote)}: name one file, or one folder ending in "/", on it, like ${quote(EXAMPLE)}`;
  }
  const segments = path.replace(/^\/+/, '').split('/');
  const badSegment = folderSegmentProblem(
    shown,
    segments,
    `name the path from the remote's root without "." or "..", like ${quote(EXAMPLE)}`,
  );
  if (badSegment) return badSegment;
  return undefined;
};
