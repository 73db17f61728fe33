/**
 * Which keys a submission may name (docs/DESIGN.md "submit.json", "Who may do what").
 *
 * A key is taken verbatim: spaces, quotes, `$(...)` and backticks are legal S3 key characters and
 * are accepted, because no key ever passes through a shell (the worker receives data, not shell
 * text). What is refused is anything that could point outside the submitting group or be read
 * differently by the tools that stage the data: URLs, absolute keys, `.`/`..`/empty segments,
 * backslashes, control characters, and keys of other groups (compared by whole segment, so group
 * `lab` never accepts `lab2/...`).
 *
 * Decision: data must lie under `{group}/inputs/` and the config under `{group}/configs/`, not merely
 * under `{group}/`. DESIGN requires the group prefix; the folder is required too because the worker
 * role may read only inputs/ and configs/ (a dataset elsewhere, e.g. a former job's results/, would
 * fail on the worker after paying for an instance) and every NeuroCAAS submission names keys there.
 * Refusing up front gives the user a clear message instead of a failed job.
 */
import { configsPrefix, inputsPrefix } from '../layout';
import { firstControlCharacter, hasLoneSurrogate, utf8ByteLength } from './characters';
import { quote } from './describe-value';
import { MAX_KEY_BYTES } from './submission-problem';

export type KeyKind = 'data' | 'config';

const KINDS: Readonly<Record<KeyKind, { noun: string; folder: (group: string) => string; file: string }>> = {
  data: { noun: 'the data', folder: inputsPrefix, file: 'session1.zip' },
  config: { noun: 'the config', folder: configsPrefix, file: 'config.yaml' },
};

/** An example key of this kind under `group` (or a placeholder group), for messages. */
export const exampleKey = (kind: KeyKind, group: string | undefined): string =>
  `${KINDS[kind].folder(group ?? 'yourgroup')}${KINDS[kind].file}`;

const URL_START = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Why `key` (shown as `label`, e.g. `dataname[1]`) may not be used, or undefined when it may.
 * `group` undefined: the submission's own key named no group; only the key's form is checked.
 */
export const referencedKeyProblem = (
  key: string,
  label: string,
  kind: KeyKind,
  group: string | undefined,
): string | undefined => {
  const shown = `${label} ${quote(key)}`;
  const { noun, folder } = KINDS[kind];
  const home = folder(group ?? 'yourgroup');
  const example = quote(exampleKey(kind, group));

  if (key.length === 0) return `${label} is empty: name the key of ${noun}, like ${example}`;
  if (key.trim().length === 0) return `${label} is only spaces: name the key of ${noun}, like ${example}`;
  const bytes = utf8ByteLength(key);
  if (bytes > MAX_KEY_BYTES) {
    return `${label} is ${bytes} bytes long, but S3 keys are at most ${MAX_KEY_BYTES} bytes: use shorter folder and file names`;
  }
  if (URL_START.test(key) || key.toLowerCase().includes('s3://')) return urlProblem(key, shown, home, group);
  const control = firstControlCharacter(key);
  if (control) {
    return `${shown} contains ${control.name} (character ${control.index + 1}): rename the file without it, upload it again and name the new key`;
  }
  if (hasLoneSurrogate(key)) {
    return `${shown} contains a broken character (half of a UTF-16 pair) that cannot be an S3 key: retype the name`;
  }
  if (key.includes('\\')) {
    return `${shown} contains a backslash (\\): S3 keys separate folders with "/", e.g. ${quote(key.replace(/\\/g, '/'))}`;
  }
  if (key.startsWith('/')) {
    return `${shown} starts with "/": keys start with your group's folder, e.g. ${quote(key.replace(/^\/+/, ''))}`;
  }

  const segments = key.split('/');
  const last = segments.length - 1;
  const badSegment = folderSegmentProblem(
    shown,
    segments,
    `keys are taken literally and cannot step into or out of folders; name the full key from your group's folder, like ${example}`,
  );
  if (badSegment) return badSegment;
  if (kind === 'config' && segments[last] === '') {
    return `${shown} ends in "/", which names a folder: the config must be one file, like ${example}`;
  }
  if (group === undefined) return undefined;

  if (segments.length === 1) {
    return `${shown} is not inside any folder: upload ${noun} under ${home} and name the full key, like ${quote(home + key)}`;
  }
  if (segments[0] !== group) {
    return `${shown} is in group ${quote(segments[0])}, but this submission was uploaded by group ${quote(group)}: upload ${noun} under ${home} and name that key`;
  }
  if (!key.startsWith(home)) {
    return `${shown} is not in ${home}: ${noun} must be under ${home} (the analysis reads only from there); upload it there and name that key`;
  }
  if (key === home) {
    return `${shown} names the whole ${home} folder: name one file or one subfolder inside it, like ${example}`;
  }
  return undefined;
};

const urlProblem = (key: string, shown: string, home: string, group: string | undefined): string => {
  const inBucket = /^s3:\/\/[^/]+\/(.+)$/i.exec(key)?.[1];
  const suggestion =
    inBucket !== undefined && group !== undefined && inBucket.startsWith(`${group}/`)
      ? `; if it is in this analysis's bucket, write just ${quote(inBucket)}`
      : `; files in another bucket must first be copied under ${home}`;
  return `${shown} is a URL, but keys are plain keys in this analysis's bucket, like ${quote(`${home}...`)}${suggestion}`;
};

/**
 * An empty folder name (`a//b`) or a `.`/`..` folder in a path split at `/` (a trailing empty
 * segment, a folder path, is fine); `dotAdvice` says what to write instead of `.` and `..`.
 */
export const folderSegmentProblem = (
  shown: string,
  segments: readonly string[],
  dotAdvice: string,
): string | undefined => {
  for (let i = 0; i < segments.length; i += 1) {
    const segment = segments[i];
    if (segment === '' && i < segments.length - 1) {
      return `${shown} contains an empty folder name ("//"): write one "/" between folder names`;
    }
    if (segment === '.' || segment === '..') return `${shown} contains a "${segment}" folder: ${dotAdvice}`;
  }
  return undefined;
};
