/**
 * The local runtime's web console: the built files (web/build.ts) and the console's config.json
 * (lib/console/console-config.ts), served on 127.0.0.1 with the deployed console's headers. GET and
 * HEAD only; a path is served only when it names a built file, so no request reaches another file.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { consoleHeaders, type ConsolePolicy } from '../lib/console/console-headers';
import type { ConsoleConfig } from '../lib/console/console-config';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
};

export interface ConsoleServer {
  /** `http://127.0.0.1:<port>/` */
  readonly url: string;
  readonly origin: string;
  /** What config.json answers (503 until set: the emulators start after the server). */
  configure(config: ConsoleConfig, policy: ConsolePolicy): void;
  stop(): Promise<void>;
}

/** Every file under `dir`, by its URL path (`/chunks/x.js`). */
const builtFiles = (dir: string, relative = ''): Map<string, string> => {
  const files = new Map<string, string>();
  for (const entry of fs.readdirSync(path.join(dir, relative), { withFileTypes: true })) {
    const rel = relative === '' ? entry.name : `${relative}/${entry.name}`;
    if (entry.isDirectory()) for (const [k, v] of builtFiles(dir, rel)) files.set(k, v);
    else files.set(`/${rel}`, path.join(dir, rel));
  }
  return files;
};

export const startConsoleServer = async (options: {
  readonly dir: string;
  readonly port?: number;
}): Promise<ConsoleServer> => {
  const files = builtFiles(options.dir);
  let configured: { body: string; headers: Readonly<Record<string, string>> } | undefined;
  const server = http.createServer((request, response) => {
    const answer = (status: number, body: string | Buffer, type: string) => {
      response.writeHead(status, {
        ...(configured?.headers ?? consoleHeaders({ connectSrc: [] })),
        'Content-Type': type,
        'Cache-Control': 'no-store',
      });
      response.end(request.method === 'HEAD' ? undefined : body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      answer(405, 'only GET and HEAD\n', 'text/plain; charset=utf-8');
      return;
    }
    const pathname = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (pathname === '/config.json') {
      if (configured === undefined) answer(503, '{"error":"starting"}\n', 'application/json');
      else answer(200, configured.body, 'application/json');
      return;
    }
    const file = files.get(pathname === '/' ? '/index.html' : pathname);
    if (file === undefined) {
      answer(404, 'not found\n', 'text/plain; charset=utf-8');
      return;
    }
    answer(200, fs.readFileSync(file), TYPES[path.extname(file)] ?? 'application/octet-stream');
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/`,
    origin,
    configure(config, policy) {
      configured = { body: `${JSON.stringify(config, null, 2)}\n`, headers: consoleHeaders(policy) };
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};
