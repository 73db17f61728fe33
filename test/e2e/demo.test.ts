import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

/** The README's first command, as a newcomer runs it: the demo must finish a job and exit 0. */
test('npm run demo runs a job to SUCCESS on the local runtime and shows its result', () => {
  const root = path.join(__dirname, '..', '..');
  const run = spawnSync(path.join(root, 'node_modules', '.bin', 'tsx'), [path.join(root, 'bin', 'demo.ts')], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
  const output = `${run.stdout}\n${run.stderr}`;
  expect({ status: run.status, output }).toEqual({
    status: 0,
    output: expect.stringContaining('5. done: the job succeeded'),
  });
  expect(output).toContain('SUCCESS');
  // The mock analysis's own output, downloaded from process_results/.
  expect(output).toMatch(/--- result\.txt\s+done/);
  expect(output).toContain('"greeting": "hello from the demo"');
}, 150_000);
