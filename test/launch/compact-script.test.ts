import { execFileSync, spawnSync } from 'node:child_process';
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

test('the awk programs still work once compacted (indentation stripped)', () => {
  // Defines only the program variable from the compacted script, then runs it as the worker does.
  const sample = path.join(dir, 'status.json');
  fs.writeFileSync(
    sample,
    '{\n    "status": "FAILED",\n    "reason": ["bash \\"$5\\"", "x"],\n    "n": {"a": [1, "}"]}\n}\n',
  );
  const run = (mode: string, key: string) =>
    execFileSync(
      'sh',
      [
        '-c',
        `eval "$(sed -n "/^JSON_MEMBERS_AWK='$/,/^'$/p" "$1")"; awk -v mode=${mode} -v key=${key} -v file="$2" "$JSON_MEMBERS_AWK"`,
        'sh',
        compactFile,
        sample,
      ],
      { encoding: 'utf8' },
    );
  expect(run('get', 'status')).toBe('FAILED\n');
  expect(run('get', 'reason')).toBe('bash "$5"; x\n');
});

test('the EC2 flavour drops the Batch stages and refuses --stage; the Batch flavour keeps them', () => {
  const ec2 = compactShellScript(original, { dropBatchOnly: true });
  expect(ec2.length).toBeLessThan(compact.length * 0.85);
  expect(ec2).not.toContain('run_stage');
  expect(compact).toContain('run_stage');
  const ec2File = path.join(dir, 'run-job-ec2.sh');
  fs.writeFileSync(ec2File, ec2);
  execFileSync('sh', ['-n', ec2File]);
  const usage = spawnSync('sh', [ec2File, '--stage', 'run', dir], { encoding: 'utf8' });
  expect(usage.status).toBe(2);
  expect(usage.stderr).toContain('usage:');
});

test("the Batch flavour drops what only EC2 workers run (Spot's notice watch, the EFS mount); the EC2 one keeps it", () => {
  const batch = compactShellScript(original, { dropEc2Only: true });
  const ec2 = compactShellScript(original, { dropBatchOnly: true });
  for (const ec2Only of ['spot_notice()', 'mount -t efs']) {
    expect(ec2).toContain(ec2Only);
    expect(batch).not.toContain(ec2Only);
  }
  expect(batch).toContain('run_stage');
  const batchFile = path.join(dir, 'run-job-batch.sh');
  fs.writeFileSync(batchFile, batch);
  execFileSync('sh', ['-n', batchFile]);
});
