/** `npm run bench`: every benchmark in turn, each printing its own figures. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const tsx = path.join(__dirname, '..', 'node_modules', '.bin', 'tsx');
const benches = fs
  .readdirSync(__dirname)
  .filter((f) => f.endsWith('.ts') && !['run-all.ts', 'synth-app.ts'].includes(f) && !f.startsWith('_'))
  .sort();
for (const bench of benches) {
  console.log(`\n== bench/${bench}`);
  execFileSync(tsx, [path.join(__dirname, bench)], { stdio: 'inherit' });
}
