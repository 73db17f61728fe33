/**
 * The web console's download size: what a browser fetches, compressed (gzip -9, as CloudFront's
 * compression gives about the same), for the first page a person sees and for each page after it.
 * Goal: the first load at most 250 KB compressed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildConsole } from '../web/build';

const GOAL_KB = 250;

const main = async (): Promise<void> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-console-bench-'));
  try {
    const built = await buildConsole(dir);
    const gz = (rel: string) => gzipSync(fs.readFileSync(path.join(dir, rel)), { level: 9 }).length;
    const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
    const sum = (files: Iterable<string>) => [...files].reduce((n, f) => n + gz(f), 0);
    const entry = built.imports['web/src/main.tsx'] ?? [];
    const shell = [...entry, 'index.html', 'app.css'];
    const page = (source: string) => (built.imports[source] ?? []).filter((f) => !shell.includes(f));
    const total = Object.keys(built.files).reduce((n, f) => n + gz(f), 0);

    console.log(`console build: ${Object.keys(built.files).length} files, ${kb(total)} compressed in all`);
    console.log(
      `first load, local runtime (page + app.js + its static chunks + css, jobs page included): ${kb(sum(shell))}`,
    );
    const signIn = sum([...shell, ...page('web/src/sign-in.tsx')]);
    console.log(`first load, deployed (the same + the sign-in page): ${kb(signIn)}`);
    for (const source of Object.keys(built.imports)
      .filter((s) => s.includes('/pages/'))
      .sort()) {
      console.log(`  then ${path.basename(source, '.tsx')} page: +${kb(sum(page(source)))}`);
    }
    const worst = Math.max(sum(shell), signIn);
    console.log(
      `largest first load: ${kb(worst)} of ${GOAL_KB} KB allowed (${((worst / 1024 / GOAL_KB) * 100).toFixed(0)}%) ${worst <= GOAL_KB * 1024 ? 'within' : 'OVER'} the goal`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
};

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
