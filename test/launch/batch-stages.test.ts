/**
 * The staging bootstrap (the command of the stage-in and stage-out job definitions) run with sh as
 * Batch runs it: a clean-up only job removes its job folder with nothing but the folder's name, and
 * refuses a name that could reach outside the jobs folder.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { STAGE_ENV, stageCommand } from '../../lib/launch/batch-stages';

const runBootstrap = (env: Record<string, string>) => {
  const [command, ...args] = stageCommand('out');
  return spawnSync(command, args, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    encoding: 'utf8',
  });
};

let efs: string;
beforeEach(() => {
  efs = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-bootstrap-'));
  fs.mkdirSync(path.join(efs, 'jobs', 'keep', 'input'), { recursive: true });
  fs.mkdirSync(path.join(efs, 'jobs', 'a-1-a1-c0ffee01', 'input'), { recursive: true });
  fs.writeFileSync(path.join(efs, 'jobs', 'a-1-a1-c0ffee01', 'input', 'data.bin'), 'x');
});
afterEach(() => fs.rmSync(efs, { recursive: true, force: true }));

test('a clean-up only job removes its folder without the worker script or the job (a small request)', () => {
  const out = runBootstrap({
    [STAGE_ENV.efsRoot]: efs,
    [STAGE_ENV.stage]: 'out',
    [STAGE_ENV.jobDir]: 'a-1-a1-c0ffee01',
    [STAGE_ENV.cleanupOnly]: '1',
  });
  expect(out.status).toBe(0);
  expect(out.stdout).toContain('removed the job folder a-1-a1-c0ffee01');
  expect(fs.readdirSync(path.join(efs, 'jobs'))).toEqual(['keep']);
});

test.each(['', '..', '../jobs', 'a/b', 'a b', '*', '$(touch x)'])(
  'a clean-up of folder %j is refused and removes nothing',
  (jobDir) => {
    const out = runBootstrap({
      [STAGE_ENV.efsRoot]: efs,
      [STAGE_ENV.stage]: 'out',
      [STAGE_ENV.jobDir]: jobDir,
      [STAGE_ENV.cleanupOnly]: '1',
    });
    expect(out.status).toBe(2);
    expect(fs.readdirSync(path.join(efs, 'jobs')).sort()).toEqual(['a-1-a1-c0ffee01', 'keep']);
  },
);
