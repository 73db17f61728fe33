import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compactShellScript } from '../../lib/launch/compact-script';
import { readWorkerScript } from '../../lib/launch/user-data';

const original = readWorkerScript();
const compact = compactShellScript(original);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compact-'));
const compactFile = path.join(dir, 'run-job.sh');
fs.writeFileSync(compactFile, compact);

test('the compacted worker is smaller and still valid sh', () => {
  expect(compact.length).toBeLessThan(original.length * 0.8);
  execFileSync('sh', ['-n', compactFile]);
  expect(compact.startsWith('#!/bin/sh\n')).toBe(true);
});

test('here-document bodies are kept whole (the shims keep their #!/bin/sh)', () => {
  const bodies = (text: string) => [...text.matchAll(/<<'SHIM'\n([\s\S]*?)\nSHIM\n/g)].map((m) => m[1]);
  expect(bodies(compact)).toEqual(bodies(original));
  expect(bodies(compact).length).toBeGreaterThan(0);
});

test.each([
  'run.sh "{}" "{}" "{}" "{}"',
  "run.sh {} '{}' \"x {}\" 'y {} z'",
  'cd /home/ubuntu; neurocaas_remote/run_main.sh "{}" "{}" "{}" "{}"; . neurocaas_remote/ncap_utils/workflow.sh; cleanup',
])('rewrites COMMAND exactly as the full script does: %s', (command) => {
  const rewrite = (file: string) =>
    execFileSync('sh', [file, '--rewrite-command'], { input: command, encoding: 'utf8' });
  expect(rewrite(compactFile)).toBe(rewrite(path.join(__dirname, '..', '..', 'worker', 'run-job.sh')));
});
