/**
 * The local runtime's bucket as a test reads and writes it (through the S3 emulator, with the
 * credentials and checksum settings env.sh gives a client).
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { LocalRuntime } from '../../local/local-runtime';
import { waitFor } from './local-e2e';

export interface RuntimeBucket {
  put(key: string, body: string): Promise<void>;
  /** The object's text, or undefined when it does not exist (or cannot be read yet). */
  read(key: string): Promise<string | undefined>;
  /** Keys under a prefix, sorted (one listing page: enough for a test's job folder). */
  keysUnder(prefix: string): Promise<string[]>;
  destroy(): void;
}

export const runtimeBucket = (runtime: LocalRuntime): RuntimeBucket => {
  const s3 = new S3Client({
    endpoint: runtime.s3Endpoint,
    forcePathStyle: true,
    region: runtime.clientEnv.AWS_REGION,
    credentials: {
      accessKeyId: runtime.clientEnv.AWS_ACCESS_KEY_ID,
      secretAccessKey: runtime.clientEnv.AWS_SECRET_ACCESS_KEY,
    },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    put: async (key, body) => {
      await s3.send(new PutObjectCommand({ Bucket: runtime.bucket, Key: key, Body: Buffer.from(body) }));
    },
    read: async (key) => {
      try {
        const out = await s3.send(new GetObjectCommand({ Bucket: runtime.bucket, Key: key }));
        return await out.Body?.transformToString();
      } catch {
        return undefined;
      }
    },
    keysUnder: async (prefix) => {
      const out = await s3.send(new ListObjectsV2Command({ Bucket: runtime.bucket, Prefix: prefix }));
      return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
    },
    destroy: () => s3.destroy(),
  };
};

const LIVE_STATUSES = ['IN PROGRESS', 'QUEUED', 'INITIALIZING'];

/**
 * A dataset's status file once it names a final state, read again after the runtime is idle (what
 * the control plane adds at the end, e.g. the cost, is in). A read while s3rver writes the object (it
 * does not write atomically) counts as not yet.
 */
export const finalStatusOf = async (
  runtime: LocalRuntime,
  bucket: RuntimeBucket,
  key: string,
  context?: () => string,
): Promise<Record<string, unknown>> => {
  const final = async (): Promise<Record<string, unknown> | undefined> => {
    const text = await bucket.read(key);
    try {
      const status = text === undefined ? undefined : (JSON.parse(text) as Record<string, unknown>);
      return status && !LIVE_STATUSES.includes(String(status.status)) ? status : undefined;
    } catch {
      return undefined;
    }
  };
  const seen = await waitFor(`the final status ${key}`, final, {
    timeoutMs: 90_000,
    ...(context ? { context } : {}),
  });
  await runtime.idle();
  return (await final()) ?? seen;
};
