/**
 * `ncaas dev use-ami`: points a blueprint at a new worker image and records it in git.
 *
 * The file is edited as text, only the value of `Lambda.LambdaConfig.AMI`, so its layout, key order
 * and the developer's other edits stay as they were; the result is checked to differ from the old
 * file in that value only and to be a valid blueprint before it is written.
 *
 * Two commits, of the blueprint file only (whatever else is staged stays staged): when the file has
 * changes git does not know yet, they are committed first as they are ("before"), so the second
 * commit ("after") holds the AMI change alone and says which AMI replaced which.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { AMI_ID, AMI_SSM_PARAMETER } from '../blueprint/blueprint-schema';
import { parseBlueprint } from '../blueprint/load-blueprint';
import { CliError, EXIT } from './errors';

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const amiOf = (json: unknown): unknown => {
  const lambda = isObject(json) ? json.Lambda : undefined;
  const config = isObject(lambda) ? lambda.LambdaConfig : undefined;
  return isObject(config) ? config.AMI : undefined;
};

/** `ami-...` or `resolve:ssm:/...`, as the schema accepts. */
export const checkAmi = (ami: string): string => {
  if (!AMI_ID.test(ami) && !AMI_SSM_PARAMETER.test(ami)) {
    throw new CliError(
      `"${ami}" is not an AMI: give an image id (ami-0123456789abcdef0) or resolve:ssm:/<parameter>`,
      EXIT.usage,
    );
  }
  return ami;
};

/** The blueprint text with `Lambda.LambdaConfig.AMI` replaced, everything else byte for byte. */
export const rewriteBlueprintAmi = (text: string, newAmi: string): { text: string; oldAmi: string } => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CliError(`the blueprint is not valid JSON: ${(error as Error).message}`, EXIT.usage);
  }
  const oldAmi = amiOf(json);
  if (typeof oldAmi !== 'string') {
    throw new CliError('the blueprint has no Lambda.LambdaConfig.AMI (text) to replace', EXIT.usage);
  }
  // The value of every `"AMI": "..."` in the text, tried in order: the one whose change changes exactly
  // Lambda.LambdaConfig.AMI is it (another section may have an "AMI" key of its own).
  const expected = JSON.parse(text) as JsonObject;
  ((expected.Lambda as JsonObject).LambdaConfig as JsonObject).AMI = newAmi;
  for (const match of text.matchAll(/("AMI"\s*:\s*)"(?:[^"\\]|\\.)*"/g)) {
    const start = (match.index ?? 0) + match[1].length;
    const end = (match.index ?? 0) + match[0].length;
    const candidate = `${text.slice(0, start)}${JSON.stringify(newAmi)}${text.slice(end)}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(candidate);
    } catch {
      continue;
    }
    if (isDeepStrictEqual(parsed, expected)) return { text: candidate, oldAmi };
  }
  throw new CliError(
    'could not find Lambda.LambdaConfig.AMI in the text of the blueprint (is it written with escapes?): edit it by hand',
    EXIT.failed,
  );
};

/** Runs git in `cwd`; returns its stdout. Throws with git's own first line of stderr. */
export type Git = (args: readonly string[], cwd: string) => string;

export const runGit: Git = (args, cwd) => {
  try {
    return execFileSync('git', [...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as { stderr?: string; message: string; code?: string };
    if (e.code === 'ENOENT') throw new CliError('git is not installed (or not on PATH)', EXIT.failed);
    const detail = (e.stderr ?? '').trim().split('\n')[0] || e.message.split('\n')[0];
    throw new CliError(`git ${args[0]} failed: ${detail}`, EXIT.failed);
  }
};

export interface UseAmiRequest {
  /** The blueprint file. */
  readonly file: string;
  readonly newAmi: string;
  /** Where the AMI came from, for the commit message (`saved from i-... as "name"`). */
  readonly origin?: string;
  /** Extra text for the commit message. */
  readonly message?: string;
  /** Write the file but make no commit. */
  readonly noCommit?: boolean;
}

export interface UseAmiResult {
  readonly oldAmi: string;
  readonly newAmi: string;
  readonly changed: boolean;
  /** The commit of the blueprint as it was, when it had changes git did not know. */
  readonly beforeCommit?: string;
  /** The commit of the AMI change. */
  readonly afterCommit?: string;
}

export const useAmi = (request: UseAmiRequest, git: Git = runGit): UseAmiResult => {
  const newAmi = checkAmi(request.newAmi.trim());
  const file = path.resolve(request.file);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new CliError(`cannot read the blueprint ${request.file}`, EXIT.usage);
  }
  const rewritten = rewriteBlueprintAmi(text, newAmi);
  if (rewritten.oldAmi === newAmi) return { oldAmi: newAmi, newAmi, changed: false };
  const check = parseBlueprint(JSON.parse(rewritten.text), file);
  if (!check.ok) {
    throw new CliError(
      `with AMI ${newAmi} the blueprint would not be valid: ${check.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
      EXIT.failed,
    );
  }
  const analysis = check.config.name;

  if (request.noCommit) {
    fs.writeFileSync(file, rewritten.text);
    return { oldAmi: rewritten.oldAmi, newAmi, changed: true };
  }
  // Everything git needs is checked before the file is touched.
  const dir = path.dirname(file);
  const top = git(['rev-parse', '--show-toplevel'], dir).trim();
  const relative = path.relative(fs.realpathSync(top), fs.realpathSync(file)).split(path.sep).join('/');
  // Without a name and email git refuses to commit: find out now, not after the file changed.
  git(['var', 'GIT_COMMITTER_IDENT'], top);
  const commit = (message: string): string => {
    git(['add', '--', relative], top);
    git(['commit', '--quiet', '-m', message, '--', relative], top);
    return git(['rev-parse', 'HEAD'], top).trim();
  };

  const pending = git(['status', '--porcelain', '--', relative], top).trim() !== '';
  const beforeCommit = pending
    ? commit(
        `ncaas dev use-ami: ${analysis} blueprint before its AMI changes\n\n` +
          `The blueprint as it was (AMI ${rewritten.oldAmi}), committed so the next commit holds the AMI change alone.`,
      )
    : undefined;
  fs.writeFileSync(file, rewritten.text);
  const afterCommit = commit(
    `ncaas dev use-ami: ${analysis} AMI ${rewritten.oldAmi} -> ${newAmi}\n\n` +
      [
        `Lambda.LambdaConfig.AMI of ${relative}: was ${rewritten.oldAmi}, now ${newAmi}.`,
        ...(request.origin !== undefined ? [`The new AMI was ${request.origin}.`] : []),
        ...(request.message !== undefined && request.message.trim() !== ''
          ? ['', request.message.trim()]
          : []),
      ].join('\n'),
  );
  return {
    oldAmi: rewritten.oldAmi,
    newAmi,
    changed: true,
    ...(beforeCommit !== undefined ? { beforeCommit } : {}),
    afterCommit,
  };
};
