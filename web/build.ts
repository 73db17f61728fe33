/**
 * Builds the web console (web/src) into static files: `npm run build:web` writes web/dist; the local
 * runtime builds into its own folder at start; the stack deploys the same build. One entry (app.js)
 * and the chunks of the pages it loads when shown, one stylesheet, one page, no inline script: the
 * site's Content-Security-Policy allows none (lib/console/console-headers.ts).
 */
import { build, type Plugin } from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const WEB_DIR = __dirname;

export interface ConsoleBuild {
  readonly dir: string;
  /** Bytes of each file written, by path relative to `dir` (`/`-separated). */
  readonly files: Readonly<Record<string, number>>;
  /** The files each page needs beyond the entry, by its source (`web/src/pages/jobs.tsx`). */
  readonly imports: Readonly<Record<string, readonly string[]>>;
}

/**
 * zod's `z` namespace re-exports every locale it ships (`z.locales`, ~40 KB compressed), which a
 * bundler cannot drop. Nothing here configures one (messages are zod's English, imported directly by
 * its schemas), so the index of locales is replaced by an empty module in the console's bundle only.
 */
const withoutZodLocales: Plugin = {
  name: 'without-zod-locales',
  setup(builder) {
    builder.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      args.importer.includes(`${path.sep}zod${path.sep}`)
        ? { path: 'zod-locales', namespace: 'empty' }
        : undefined,
    );
    builder.onLoad({ filter: /.*/, namespace: 'empty' }, () => ({ contents: 'export {};', loader: 'js' }));
  },
};

const filesUnder = (dir: string, relative = ''): string[] =>
  fs.readdirSync(path.join(dir, relative), { withFileTypes: true }).flatMap((entry) => {
    const rel = relative === '' ? entry.name : `${relative}/${entry.name}`;
    return entry.isDirectory() ? filesUnder(dir, rel) : [rel];
  });

export const buildConsole = async (
  outDir: string,
  options: { minify?: boolean } = {},
): Promise<ConsoleBuild> => {
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });
  const result = await build({
    entryPoints: { app: path.join(WEB_DIR, 'src', 'main.tsx') },
    outdir: outDir,
    entryNames: '[name]',
    chunkNames: 'chunks/[name]-[hash]',
    splitting: true,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: options.minify ?? true,
    sourcemap: false,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    tsconfig: path.join(WEB_DIR, 'tsconfig.json'),
    legalComments: 'none',
    logLevel: 'silent',
    metafile: true,
    plugins: [withoutZodLocales],
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  for (const file of ['index.html', 'app.css'])
    fs.copyFileSync(path.join(WEB_DIR, file), path.join(outDir, file));
  const files = Object.fromEntries(
    filesUnder(outDir).map((rel) => [rel, fs.statSync(path.join(outDir, rel)).size]),
  );
  // Which output holds each page's own code, and what it imports statically: a page's load.
  const relOut = (file: string) => path.relative(outDir, path.resolve(file)).split(path.sep).join('/');
  const outputs = result.metafile.outputs;
  const closure = (file: string, seen = new Set<string>()): Set<string> => {
    if (seen.has(file)) return seen;
    seen.add(file);
    for (const imp of outputs[file]?.imports ?? [])
      if (imp.kind === 'import-statement') closure(imp.path, seen);
    return seen;
  };
  const imports: Record<string, string[]> = {};
  for (const [file, output] of Object.entries(outputs)) {
    const source = output.entryPoint ?? Object.keys(output.inputs).find((i) => i.startsWith('web/src/'));
    if (source !== undefined && file.endsWith('.js')) imports[source] = [...closure(file)].map(relOut);
  }
  return { dir: outDir, files, imports };
};

if (require.main === module) {
  const out = process.argv[2] ?? path.join(WEB_DIR, 'dist');
  buildConsole(out).then(
    (result) => {
      for (const [name, bytes] of Object.entries(result.files)) console.log(`${name}  ${bytes} bytes`);
      console.log(`web console built into ${result.dir}`);
    },
    (error: unknown) => {
      console.error(`build:web failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    },
  );
}
