/**
 * The blueprint's git provenance (lib/blueprint/provenance.ts), which every job's certificate and
 * status file name: in a throwaway repository, committed, edited, untracked, and outside git.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { blueprintProvenance, describeProvenance } from '../../lib/blueprint/provenance';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-provenance-'));
const repo = path.join(tmp, 'repo');
const git = (...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args], {
    cwd: repo,
    encoding: 'utf8',
  }).trim();

beforeAll(() => {
  fs.mkdirSync(path.join(repo, 'blueprints'), { recursive: true });
  git('init', '-q');
  fs.writeFileSync(path.join(repo, 'blueprints', 'a.json'), '{}\n');
  git('add', '.');
  git('commit', '-qm', 'a');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('a committed blueprint: its last commit, no uncommitted edits', () => {
  const p = blueprintProvenance(path.join(repo, 'blueprints', 'a.json'));
  expect(p).toEqual({ file: 'blueprints/a.json', commit: git('rev-parse', 'HEAD'), uncommittedEdits: false });
  expect(describeProvenance(p)).toBe(
    `blueprint blueprints/a.json at git commit ${p.commit} (no uncommitted edits)`,
  );
});

test('an edited blueprint says so', () => {
  const file = path.join(repo, 'blueprints', 'a.json');
  fs.writeFileSync(file, '{"x": 1}\n');
  try {
    expect(blueprintProvenance(file)).toMatchObject({
      uncommittedEdits: true,
      commit: expect.stringMatching(/^[0-9a-f]{40}$/),
    });
    expect(describeProvenance(blueprintProvenance(file))).toMatch(/WITH uncommitted edits/);
  } finally {
    git('checkout', '--', 'blueprints/a.json');
  }
});

test('an untracked blueprint, and one outside git, have no commit', () => {
  fs.writeFileSync(path.join(repo, 'blueprints', 'new.json'), '{}\n');
  expect(blueprintProvenance(path.join(repo, 'blueprints', 'new.json'))).toEqual({
    file: 'blueprints/new.json',
    uncommittedEdits: true,
  });
  const outside = path.join(tmp, 'outside.json');
  fs.writeFileSync(outside, '{}\n');
  expect(blueprintProvenance(outside)).toEqual({ file: 'outside.json', uncommittedEdits: true });
  expect(describeProvenance(blueprintProvenance(outside))).toBe(
    'blueprint outside.json, not committed in git',
  );
});
