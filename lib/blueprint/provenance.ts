/**
 * Where a deployed analysis came from, as NeuroCAAS's certificate says it (the git commit of the
 * blueprint that was deployed): read from git when the stack is synthesized (and when the local
 * runtime starts), so every job's certificate and status file can name it.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

export interface BlueprintProvenance {
  /** The blueprint file, relative to its repository's root (or its base name outside one). */
  readonly file: string;
  /** The last commit that changed the file; absent when it is not committed or not in git. */
  readonly commit?: string;
  /** The file differs from that commit (or was never committed): what ran is not in git as such. */
  readonly uncommittedEdits: boolean;
}

const git = (cwd: string, args: readonly string[]): string | undefined => {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
};

export const blueprintProvenance = (file: string): BlueprintProvenance => {
  const dir = path.dirname(path.resolve(file));
  const name = path.basename(file);
  const root = git(dir, ['rev-parse', '--show-toplevel']);
  if (root === undefined) return { file: name, uncommittedEdits: true };
  const commit = git(dir, ['log', '-1', '--format=%H', '--', name]) || undefined;
  const changes = git(dir, ['status', '--porcelain', '--', name]);
  return {
    file: path.relative(root, path.resolve(file)),
    ...(commit ? { commit } : {}),
    uncommittedEdits: commit === undefined || changes === undefined || changes !== '',
  };
};

/** One line for a certificate: `blueprints/x.json at git commit abc123... (no uncommitted edits)`. */
export const describeProvenance = (p: BlueprintProvenance | undefined): string =>
  p === undefined
    ? 'blueprint provenance unknown'
    : p.commit === undefined
      ? `blueprint ${p.file}, not committed in git`
      : `blueprint ${p.file} at git commit ${p.commit} (${p.uncommittedEdits ? 'WITH uncommitted edits' : 'no uncommitted edits'})`;
