/** The local runtime for benchmarks: a variant of blueprints/mock.json in a fresh folder, and an S3 client. */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startLocalRuntime, type LocalRuntime } from '../local/local-runtime';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const SAMPLE_DATA = 'labA/inputs/data.csv';
export const SAMPLE_CONFIG = 'labA/configs/config.json';

export interface BenchRuntime {
  readonly runtime: LocalRuntime;
  readonly s3: S3Client;
  put(key: string, body: string): Promise<void>;
  lines: string[];
}

export const startBenchRuntime = async (
  name: string,
  lambdaConfig: Record<string, unknown> = {},
): Promise<BenchRuntime> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ncaas-bench-${name}-`));
  const mock = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'blueprints', 'mock.json'), 'utf8'));
  mock.Lambda.LambdaConfig = { ...mock.Lambda.LambdaConfig, ...lambdaConfig };
  delete mock.$schema;
  const blueprint = path.join(dir, 'blueprint.json');
  fs.writeFileSync(blueprint, JSON.stringify(mock));
  const lines: string[] = [];
  const runtime = await startLocalRuntime({
    blueprint,
    dir: path.join(dir, 'runtime'),
    print: (l) => lines.push(l),
  });
  const s3 = new S3Client({
    endpoint: runtime.s3Endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const put = async (Key: string, Body: string) => {
    await s3.send(new PutObjectCommand({ Bucket: runtime.bucket, Key, Body }));
  };
  // What every benchmark's submissions name (submitJson below).
  await put(SAMPLE_DATA, 'a,b\n1,2\n');
  await put(SAMPLE_CONFIG, '{"__duration__": 1}');
  return { runtime, s3, put, lines };
};

export const submitJson = (jobId: string): string =>
  JSON.stringify({
    dataname: SAMPLE_DATA,
    configname: SAMPLE_CONFIG,
    timestamp: jobId,
  });
