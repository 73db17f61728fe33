/**
 * Each Lambda bundle: its size, the AWS SDK packages its cold start loads, and its cold module
 * initialization (loading the bundle and building its clients, as a cold start does before the first
 * event) beside loading just those SDK packages, as a ratio; medians of fresh Node processes.
 * Bundled with the same esbuild options as lib/constructs/node-lambda.ts (the AWS SDK is left to
 * the runtime; here it resolves from node_modules).
 *   npx tsx bench/lambda-init.ts [RUNS=7]
 */
import { execFileSync } from 'node:child_process';
import { buildSync } from 'esbuild';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadBlueprintFile } from '../lib/blueprint/load-blueprint';
import { handlerConfig } from '../lib/constructs/control-plane';
import type { HandlerEnvironment } from '../lib/handler-environment';
import { percentile } from './_stats';

const RUNS = Number(process.argv[2] ?? '7');
const root = path.join(__dirname, '..');
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-lambda-init-'));
const config = loadBlueprintFile(path.join(root, 'blueprints', 'mock.json'));
const env: HandlerEnvironment = {
  NCAAS_ANALYSIS: config.name,
  NCAAS_BUCKET: 'bench-bucket',
  NCAAS_TABLE: 'bench-table',
  NCAAS_LAUNCH_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/launch',
  NCAAS_LAUNCH_DEAD_LETTER_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/dlq',
  NCAAS_ANALYSIS_CONFIG: JSON.stringify(handlerConfig(config)),
  NCAAS_RUNTIME: 'ec2',
  NCAAS_LAUNCH_TEMPLATE_ID: 'lt-0123456789abcdef0',
  NCAAS_SUBNET_IDS: '["subnet-0123456789abcdef0"]',
};

console.log(
  `Lambda bundles (esbuild, minified, SDK external) and cold module initialization, median of ${RUNS} fresh processes:`,
);
for (const name of ['submit', 'launch', 'reconcile', 'watchdog']) {
  const outfile = path.join(out, name, 'index.js');
  buildSync({
    entryPoints: [path.join(root, 'lambda', `${name}.ts`)],
    outfile,
    bundle: true,
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    platform: 'node',
    target: 'node24',
    external: ['@aws-sdk/*'],
    logLevel: 'silent',
  });
  if (name === 'launch')
    fs.copyFileSync(path.join(root, 'worker', 'run-job.sh'), path.join(out, name, 'run-job.sh'));
  // Deployed with source maps and NODE_OPTIONS=--enable-source-maps (lib/constructs/node-lambda.ts).
  const nodeArgs = ['--enable-source-maps'];
  const childEnv = {
    ...process.env,
    ...env,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    NODE_PATH: path.join(root, 'node_modules'),
  };
  const sdkPattern = /node_modules\/(@aws-sdk\/(?:client|lib)-[^/]+)\//;
  const loadedScript = `require(${JSON.stringify(outfile)});const s=new Set();for(const k of Object.keys(require.cache)){const m=${sdkPattern.toString()}.exec(k);if(m)s.add(m[1])}process.stdout.write([...s].sort().join(' '))`;
  const sdk = execFileSync(process.execPath, [...nodeArgs, '-e', loadedScript], {
    env: childEnv,
    encoding: 'utf8',
  })
    .split(' ')
    .filter((p) => p !== '');
  const timeOf = (script: string): number =>
    Number(execFileSync(process.execPath, [...nodeArgs, '-e', script], { env: childEnv, encoding: 'utf8' }));
  const times: number[] = [];
  const floors: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    times.push(
      timeOf(
        `const t=performance.now();require(${JSON.stringify(outfile)});process.stdout.write(String(performance.now()-t))`,
      ),
    );
    // The floor: loading just those SDK packages (and building nothing), in a fresh process.
    floors.push(
      timeOf(
        `const t=performance.now();for(const p of ${JSON.stringify(sdk)})require(p);process.stdout.write(String(performance.now()-t))`,
      ),
    );
  }
  const size = fs.statSync(outfile).size;
  const init = percentile(times, 50);
  const floor = percentile(floors, 50);
  console.log(
    `  ${name.padEnd(10)} ${(size / 1024).toFixed(0).padStart(5)} KiB   init p50 ${init.toFixed(0)} ms (max ${Math.max(...times).toFixed(0)}), SDK packages alone ${floor.toFixed(0)} ms: ratio ${(init / floor).toFixed(2)}`,
  );
  console.log(`             loads: ${sdk.join(', ') || '(no SDK package)'}`);
}
