/**
 * How the stack grows with its groups: for an EC2 blueprint (blueprints/mock.json) and a Batch one
 * (blueprints/mock-batch.json) at 1, 50 and 200 groups of 5 IAM users, the synth time (median of
 * BENCH_RUNS fresh processes, Lambda bundling skipped: its cost is the same at any number of groups),
 * the templates' total size and resources (parent and nested stacks), as ratios to 1 group, and the
 * largest value of each limit the limits check measures (lib/limits/). A synth that fails is a
 * figure too. Prints its figures; asserts nothing.
 *   npm run bench:synth-groups                  (BENCH_GROUPS=1,50 BENCH_RUNS=1 for a shorter run)
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exceededLimits, type LimitsReport } from '../lib/limits/check-assembly-limits';
import { formatExceeded, largestByLimit } from '../lib/limits/format-limits';
import { usedShare } from '../lib/limits/limit-measurement';

const RUNS = Number(process.env.BENCH_RUNS ?? '3');
const GROUPS = (process.env.BENCH_GROUPS ?? '1,50,200').split(',').map(Number);
const root = path.join(__dirname, '..');
const tsx = path.join(root, 'node_modules', '.bin', 'tsx');
const app = path.join(__dirname, '_synth-groups-app.ts');
const BLUEPRINTS = [
  { label: 'EC2', file: path.join(root, 'blueprints', 'mock.json') },
  { label: 'Batch', file: path.join(root, 'blueprints', 'mock-batch.json') },
];

interface Synth {
  readonly synthMs: number;
  readonly checkMs: number;
  readonly templates: readonly { where: string; bytes: number; resources: number }[];
  readonly report: LimitsReport;
}

type Outcome =
  | { readonly ok: true; readonly processMs: number; readonly synth: Synth }
  | { readonly ok: false; readonly error: string };

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const run = (file: string, groups: number): Outcome => {
  const times: number[] = [];
  const synths: Synth[] = [];
  for (let i = 0; i < RUNS; i++) {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), `ncaas-synth-groups-${groups}-`));
    const start = process.hrtime.bigint();
    try {
      const stdout = execFileSync(tsx, [app, file, String(groups), outdir], {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        maxBuffer: 256 * 1024 * 1024,
      });
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
      synths.push(JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Synth);
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? String(error);
      // The error's own line: not Node's frame lines, indented stack lines or its version banner.
      const line = stderr
        .split('\n')
        .find((l) => l.trim() !== '' && !/^(node:internal|\s|Node\.js v)/.test(l));
      return { ok: false, error: (line ?? 'no message').slice(0, 240) };
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  }
  const middle = median(times);
  const synth = synths[times.indexOf(middle)];
  return { ok: true, processMs: middle, synth: { ...synth, synthMs: median(synths.map((s) => s.synthMs)) } };
};

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const ratio = (value: number, base: number | undefined): string =>
  base === undefined ? '    -' : `${(value / base).toFixed(2).padStart(6)}x`;
const pad = (text: string | number, width: number): string => String(text).padStart(width);
const groupsText = (n: number): string => `${n} group${n === 1 ? '' : 's'}`;

console.log(
  `stack growth with groups (${GROUPS.join(', ')} groups of 5 IAM users), median of ${RUNS} fresh processes each;`,
);
console.log(
  'Lambda bundling skipped (constant in the number of groups), cdk-nag on, feature flags as bin/app.ts:',
);
for (const blueprint of BLUEPRINTS) {
  console.log(`\n${blueprint.label} blueprint (${path.relative(root, blueprint.file)}):`);
  console.log(
    `  ${'groups'.padStart(6)} ${'process'.padStart(9)} ${'ratio'.padStart(7)} ${'synth'.padStart(8)} ${'check'.padStart(8)} ${'templates'.padStart(9)} ${'bytes'.padStart(11)} ${'ratio'.padStart(7)} ${'resources'.padStart(9)} ${'ratio'.padStart(7)}`,
  );
  const outcomes = GROUPS.map((groups) => ({ groups, outcome: run(blueprint.file, groups) }));
  const base = outcomes.find((o) => o.groups === 1)?.outcome;
  const baseOk = base?.ok ? base : undefined;
  for (const { groups, outcome } of outcomes) {
    if (!outcome.ok) {
      console.log(`  ${pad(groups, 6)} synth failed: ${outcome.error}`);
      continue;
    }
    const { synth } = outcome;
    const bytes = sum(synth.templates.map((t) => t.bytes));
    const resources = sum(synth.templates.map((t) => t.resources));
    console.log(
      `  ${pad(groups, 6)} ${pad(`${(outcome.processMs / 1000).toFixed(2)} s`, 9)} ${ratio(outcome.processMs, baseOk?.processMs)} ${pad(`${(synth.synthMs / 1000).toFixed(2)} s`, 8)} ${pad(`${synth.checkMs.toFixed(0)} ms`, 8)} ${pad(synth.templates.length, 9)} ${pad(bytes.toLocaleString('en-US'), 11)} ${ratio(bytes, baseOk ? sum(baseOk.synth.templates.map((t) => t.bytes)) : undefined)} ${pad(resources, 9)} ${ratio(resources, baseOk ? sum(baseOk.synth.templates.map((t) => t.resources)) : undefined)}`,
    );
  }
  console.log('  largest value of each limit (value of maximum, share):');
  const measured = outcomes.filter((o) => o.outcome.ok);
  const byLimit = new Map<string, Map<number, string>>();
  for (const { groups, outcome } of measured) {
    if (!outcome.ok) continue;
    for (const m of largestByLimit(outcome.synth.report)) {
      const row = byLimit.get(m.name) ?? new Map<number, string>();
      row.set(groups, `${m.value}/${m.maximum} ${Math.round(usedShare(m) * 100)}%`);
      byLimit.set(m.name, row);
    }
  }
  console.log(`    ${'limit'.padEnd(52)} ${measured.map((o) => pad(groupsText(o.groups), 22)).join(' ')}`);
  for (const [name, row] of byLimit) {
    console.log(`    ${name.padEnd(52)} ${measured.map((o) => pad(row.get(o.groups) ?? '-', 22)).join(' ')}`);
  }
  for (const { groups, outcome } of measured) {
    if (!outcome.ok) continue;
    const exceeded = exceededLimits(outcome.synth.report);
    console.log(`  exceeded at ${groupsText(groups)}:${exceeded.length === 0 ? ' none' : ''}`);
    for (const m of exceeded) console.log(`    ${formatExceeded({ ...m, fix: '...' })}`);
  }
}
