/**
 * An in-process S3 (s3rver) for tests: one per test file, shared by its tests.
 *
 * ```ts
 * let s3: S3Emulator;
 * beforeAll(async () => { s3 = await startS3Emulator(['my-bucket']); });
 * afterAll(() => s3.stop());
 * // SDK: s3.client; child processes (AWS CLI, worker): spawn(cmd, args, { env: s3.childEnv() })
 * ```
 *
 * It listens on 127.0.0.1 on a free port and keeps its objects in a temp dir removed by `stop()`.
 * The settings it hands out avoid s3rver's traps (TOOLCHAIN.md): S3RVER/S3RVER credentials,
 * path-style addressing, checksums only when required (else streamed uploads keep their aws-chunked
 * framing inside the object).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

export interface S3Emulator {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** SDK client for the emulator (path style, emulator credentials, us-east-1). */
  readonly client: S3Client;
  /**
   * The variables a child process needs to reach the emulator and nothing else: endpoint variables,
   * emulator credentials, region, checksum settings, empty AWS config files (no real profile is
   * read) and no instance metadata. Prefer `childEnv()`, which also drops inherited AWS_* variables.
   */
  readonly env: Readonly<Record<string, string>>;
  /** `process.env` without any AWS_* variable, plus `env`, plus `extra` (which wins). */
  childEnv(extra?: Readonly<Record<string, string>>): NodeJS.ProcessEnv;
  /** Stops the server, closes the client and removes the temp dir. */
  stop(): Promise<void>;
}

/** Starts s3rver with `buckets` created. */
export const startS3Emulator = async (buckets: readonly string[] = []): Promise<S3Emulator> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-s3-'));
  const dataDir = path.join(dir, 'data');
  const emptyConfig = path.join(dir, 'aws-config');
  const emptyCredentials = path.join(dir, 'aws-credentials');
  fs.mkdirSync(dataDir);
  fs.writeFileSync(emptyConfig, '');
  fs.writeFileSync(emptyCredentials, '');

  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: dataDir,
    configureBuckets: buckets.map((name) => ({ name, configs: [] })),
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;

  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });

  const env: Record<string, string> = {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    AWS_CONFIG_FILE: emptyConfig,
    AWS_SHARED_CREDENTIALS_FILE: emptyCredentials,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
  };

  const childEnv = (extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv => {
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
    return { ...inherited, ...env, ...extra };
  };

  const stop = async (): Promise<void> => {
    client.destroy();
    // Idle keep-alive sockets (SDK, CLI) would hold close() open until they time out.
    const httpServer = (server as unknown as { httpServer?: http.Server }).httpServer;
    httpServer?.closeAllConnections();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };

  return { endpoint, client, env, childEnv, stop };
};
