/**
 * `ncaas dev use-ami`: only the blueprint's Lambda.LambdaConfig.AMI changes, byte for byte elsewhere,
 * and git records it: the blueprint as it was (when it had uncommitted edits), then the AMI change
 * alone, with a message naming the old and the new AMI. In a temporary git repository.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { rewriteBlueprintAmi, runGit, useAmi } from '../../lib/cli/blueprint-ami';
import { CliError } from '../../lib/cli/errors';

const ROOT = path.join(__dirname, '..', '..');
const MOCK = fs.readFileSync(path.join(ROOT, 'blueprints', 'mock.json'), 'utf8');
const OLD_AMI = 'resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';
const NEW_AMI = 'ami-0123456789abcdef0';

let repo: string;
let file: string;

/** git in the temp repo, with an identity of its own and no user or system config read. */
const git = (...args: string[]): string =>
  execFileSync('git', args, {
    cwd: repo,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: 'Ada Developer',
      GIT_AUTHOR_EMAIL: 'ada@example.org',
      GIT_COMMITTER_NAME: 'Ada Developer',
      GIT_COMMITTER_EMAIL: 'ada@example.org',
    },
  });

/** The same git for the code under test. */
const gitRunner = (args: readonly string[], cwd: string): string => {
  const saved = repo;
  repo = cwd;
  try {
    return git(...args);
  } finally {
    repo = saved;
  }
};

beforeEach(() => {
  repo = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-use-ami-'));
  git('init', '--quiet', '-b', 'main');
  fs.mkdirSync(path.join(repo, 'blueprints'));
  file = path.join(repo, 'blueprints', 'mock.json');
  fs.writeFileSync(file, MOCK);
  fs.writeFileSync(path.join(repo, 'README.md'), 'hello\n');
  git('add', '.');
  git('commit', '--quiet', '-m', 'initial');
});
afterEach(() => fs.rmSync(repo, { recursive: true, force: true }));

test('rewriting changes the AMI value only: every other byte of the file stays', () => {
  const { text, oldAmi } = rewriteBlueprintAmi(MOCK, NEW_AMI);
  expect(oldAmi).toBe(OLD_AMI);
  expect(text).toBe(MOCK.replace(`"AMI": "${OLD_AMI}"`, `"AMI": "${NEW_AMI}"`));
  expect(JSON.parse(text).Lambda.LambdaConfig.AMI).toBe(NEW_AMI);
});

test('an "AMI" key elsewhere in the file is left alone', () => {
  const text = `{\n  "Notes": { "AMI": "ami-0fffffffffffffff0" },\n  "Lambda": {"LambdaConfig": {"AMI" : "ami-0aaaaaaaaaaaaaaa0"}}\n}\n`;
  expect(rewriteBlueprintAmi(text, NEW_AMI).text).toBe(
    `{\n  "Notes": { "AMI": "ami-0fffffffffffffff0" },\n  "Lambda": {"LambdaConfig": {"AMI" : "${NEW_AMI}"}}\n}\n`,
  );
  expect(() => rewriteBlueprintAmi('{"Lambda": {}}', NEW_AMI)).toThrow(/no Lambda.LambdaConfig.AMI/);
});

test('a clean blueprint: one commit, of that file only, naming the old and the new AMI', () => {
  fs.writeFileSync(path.join(repo, 'README.md'), 'edited, not committed\n');
  const head = git('rev-parse', 'HEAD').trim();

  const result = useAmi(
    { file, newAmi: NEW_AMI, origin: 'saved from dev instance i-0123456789abcdef0' },
    gitRunner,
  );

  expect(result).toMatchObject({ oldAmi: OLD_AMI, newAmi: NEW_AMI, changed: true });
  expect(result.beforeCommit).toBeUndefined();
  expect(git('rev-parse', 'HEAD').trim()).toBe(result.afterCommit);
  expect(git('rev-parse', 'HEAD~1').trim()).toBe(head);
  expect(git('show', '--name-only', '--format=', 'HEAD').trim()).toBe('blueprints/mock.json');
  const message = git('log', '-1', '--format=%B');
  expect(message).toContain(`ncaas dev use-ami: mock AMI ${OLD_AMI} -> ${NEW_AMI}`);
  expect(message).toContain('saved from dev instance i-0123456789abcdef0');
  // The diff is the AMI line alone.
  const diff = git('show', '--format=', '-U0', 'HEAD')
    .split('\n')
    .filter((l) => /^[+-] /.test(l) || /^[+-]\s/.test(l));
  expect(diff).toEqual([`-      "AMI": "${OLD_AMI}",`, `+      "AMI": "${NEW_AMI}",`]);
  // Other work in the tree is untouched and uncommitted.
  expect(git('status', '--porcelain').trim()).toBe('M README.md');
});

test('uncommitted edits to the blueprint: committed first as they were, then the AMI change alone', () => {
  const edited = MOCK.replace('"DEPLOY_LIMIT": 4', '"DEPLOY_LIMIT": 6');
  fs.writeFileSync(file, edited);

  const result = useAmi({ file, newAmi: NEW_AMI, message: 'CUDA 12 and the new model weights' }, gitRunner);

  expect(result.beforeCommit).toBeDefined();
  expect(git('rev-parse', 'HEAD~1').trim()).toBe(result.beforeCommit);
  expect(git('show', `${result.beforeCommit}:blueprints/mock.json`)).toBe(edited);
  expect(git('log', '-1', '--format=%s', result.beforeCommit ?? '')).toContain('before its AMI changes');
  expect(git('show', 'HEAD:blueprints/mock.json')).toBe(edited.replace(OLD_AMI, NEW_AMI));
  expect(git('log', '-1', '--format=%B')).toContain('CUDA 12 and the new model weights');
  expect(git('status', '--porcelain').trim()).toBe('');
});

test('the same AMI: nothing changes, nothing is committed', () => {
  const head = git('rev-parse', 'HEAD').trim();
  expect(useAmi({ file, newAmi: OLD_AMI }, gitRunner)).toMatchObject({ changed: false });
  expect(git('rev-parse', 'HEAD').trim()).toBe(head);
});

test('not an AMI, or not in a git repository: refused before the file is touched', () => {
  expect(() => useAmi({ file, newAmi: 'my-image' }, gitRunner)).toThrow(CliError);
  // The real git (the default runner), in a folder outside any repository.
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-no-git-'));
  try {
    const loose = path.join(outside, 'mock.json');
    fs.writeFileSync(loose, MOCK);
    expect(() => useAmi({ file: loose, newAmi: NEW_AMI }, runGit)).toThrow(/not a git repository/);
    expect(fs.readFileSync(loose, 'utf8')).toBe(MOCK);
    // --no-commit writes the file alone.
    expect(useAmi({ file: loose, newAmi: NEW_AMI, noCommit: true }, runGit)).toMatchObject({
      changed: true,
    });
    expect(JSON.parse(fs.readFileSync(loose, 'utf8')).Lambda.LambdaConfig.AMI).toBe(NEW_AMI);
  } finally {
    fs.rmSync(outside, { recursive: true, force: true });
  }
});
