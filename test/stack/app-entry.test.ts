/**
 * The CDK app (bin/app.ts, what `npx cdk synth|deploy` runs) says on stderr which blueprint it uses,
 * with or without `-c blueprint=`, before anything can fail.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { blueprintNotice } from '../../lib/blueprint/load-blueprint';
import { PROJECT_ROOT } from '../support/synth';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-app-entry-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('blueprintNotice', () => {
  test('no -c blueprint: the default file, and how to pass another', () => {
    expect(blueprintNotice(undefined, path.join(PROJECT_ROOT, 'blueprints', 'mock.json'), PROJECT_ROOT)).toBe(
      'ncaas: blueprint blueprints/mock.json (default; pass -c blueprint=<name|path> for another)',
    );
  });

  test('-c blueprint=<name|path>: the file it names, and what was passed', () => {
    expect(
      blueprintNotice('mock-batch', path.join(PROJECT_ROOT, 'blueprints', 'mock-batch.json'), PROJECT_ROOT),
    ).toBe('ncaas: blueprint blueprints/mock-batch.json (-c blueprint=mock-batch)');
    // Outside the current folder: the absolute path.
    expect(blueprintNotice('/srv/x.json', '/srv/x.json', PROJECT_ROOT)).toBe(
      'ncaas: blueprint /srv/x.json (-c blueprint=/srv/x.json)',
    );
  });
});

/**
 * Runs bin/app.ts as cdk does (one Node process, through tsx), with `context` as the CDK context;
 * stops it once `enough` of stderr has arrived (a full synth takes ~20 s on two cores).
 */
const runApp = (context: Record<string, unknown>, enough: (stderr: string) => boolean) =>
  new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', 'tsx/cjs', path.join('bin', 'app.ts')], {
      cwd: PROJECT_ROOT,
      env: {
        ...process.env,
        CDK_CONTEXT_JSON: JSON.stringify({ 'aws:cdk:bundling-stacks': [], ...context }),
        CDK_OUTDIR: fs.mkdtempSync(path.join(dir, 'out-')),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (enough(stderr)) child.kill();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });

test('bin/app.ts without -c blueprint: names the default blueprint first', async () => {
  const run = await runApp({}, (stderr) => stderr.includes('\n'));
  expect(run.stderr.split('\n')[0]).toBe(
    'ncaas: blueprint blueprints/mock.json (default; pass -c blueprint=<name|path> for another)',
  );
}, 60_000);

test('bin/app.ts with -c blueprint=<path>: names the file, even when it is refused', async () => {
  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(bad, JSON.stringify({ PipelineName: 'bad', REGION: 'us-east-1', Submisions: {} }));
  const run = await runApp({ blueprint: bad }, () => false);
  expect(run.code).toBe(1);
  const [first, ...rest] = run.stderr.split('\n');
  expect(first).toBe(`ncaas: blueprint ${bad} (-c blueprint=${bad})`);
  expect(rest.join('\n')).toContain(
    `${bad}: Submisions: unknown key "Submisions": did you mean Submissions?`,
  );
}, 60_000);
