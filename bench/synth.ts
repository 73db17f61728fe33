/**
 * Synth time for 1, 10 and 30 analyses in one app (each run a fresh process, as `cdk synth` is),
 * the ratio 30:1, and the size of each Lambda bundle. Prints its figures; asserts nothing.
 *   npm run bench:synth
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const RUNS = Number(process.env.BENCH_RUNS ?? '3');
const app = path.join(__dirname, 'synth-app.ts');
const tsx = path.join(__dirname, '..', 'node_modules', '.bin', 'tsx');

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const timeSynth = (count: number): { ms: number; outdir: string } => {
  const times: number[] = [];
  let outdir = '';
  for (let run = 0; run < RUNS; run++) {
    outdir = fs.mkdtempSync(path.join(os.tmpdir(), `ncaas-synth-${count}-`));
    const start = process.hrtime.bigint();
    execFileSync(tsx, [app, String(count), outdir], { stdio: ['ignore', 'ignore', 'pipe'] });
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return { ms: median(times), outdir };
};

console.log(
  `synth time, median of ${RUNS} fresh processes (Lambda bundling with the local esbuild, cdk-nag on):`,
);
const results = [1, 10, 30].map((n) => ({ n, ...timeSynth(n) }));
for (const r of results) console.log(`  ${String(r.n).padStart(2)} analyses: ${(r.ms / 1000).toFixed(2)} s`);
const [one, , thirty] = results;
console.log(
  `  ratio 30:1 = ${(thirty.ms / one.ms).toFixed(2)} (30 analyses cost ${(thirty.ms / one.ms / 30).toFixed(2)}x the time of 30 separate synths would)`,
);

console.log('Lambda bundles (one analysis):');
const manifest = JSON.parse(fs.readFileSync(path.join(one.outdir, 'AnalysisStack0.assets.json'), 'utf8')) as {
  files: Record<string, { displayName?: string; source: { path: string } }>;
};
for (const asset of Object.values(manifest.files)) {
  const bundle = path.join(one.outdir, asset.source.path, 'index.js');
  if (!fs.existsSync(bundle)) continue;
  const name = (asset.displayName ?? asset.source.path).replace(/\/Code$/, '');
  console.log(`  ${name.padEnd(60)} ${(fs.statSync(bundle).size / 1024).toFixed(0).padStart(6)} KiB`);
}
