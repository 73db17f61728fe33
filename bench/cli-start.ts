/**
 * The command line's start: `node bin/ncaas.js --help` (tsx, commander and the help text, no command
 * module), beside an empty Node process as the floor; medians of fresh processes.
 *   npx tsx bench/cli-start.ts [RUNS=9]
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { summary } from './_stats';

const RUNS = Number(process.argv[2] ?? '9');
const entry = path.join(__dirname, '..', 'bin', 'ncaas.js');

const timed = (args: readonly string[]): number[] =>
  Array.from({ length: RUNS }, () => {
    const started = performance.now();
    execFileSync(process.execPath, args, { stdio: 'ignore' });
    return performance.now() - started;
  });

// One run first: tsx caches what it compiles, as it has on any machine after the first command.
execFileSync(process.execPath, [entry, '--help'], { stdio: 'ignore' });
console.log(`command line start, ${RUNS} fresh processes each:`);
console.log(`  node bin/ncaas.js --help:  ${summary(timed([entry, '--help']))}`);
console.log(`  node -e 0 (the floor):     ${summary(timed(['-e', '0']))}`);
