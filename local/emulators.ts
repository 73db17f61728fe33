/**
 * The local runtime's AWS: s3rver and dynalite in this process, on 127.0.0.1, keeping their data
 * under the runtime's folder so a restart on the same folder keeps its jobs.
 */
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import * as path from 'node:path';
import S3rver from 's3rver';
import { createJobTableInput } from '../lib/job/job-table-schema';
import { guardS3rver } from './s3-emulator-guard';

// dynalite ships no types; this is the part used here.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require('dynalite') as (options: { path?: string; createTableMs?: number }) => Server;

import { corsXml } from '../lib/console/console-cors';
import { EMULATOR_CREDENTIALS, EMULATOR_REGION } from '../lib/emulator-credentials';

export { EMULATOR_CREDENTIALS, EMULATOR_REGION };

export interface Emulators {
  readonly s3Endpoint: string;
  readonly dynamoDbEndpoint: string;
  readonly s3: S3Client;
  readonly dynamoDb: DynamoDBClient;
  /**
   * s3rver's notifications: an 'event' (S3-event-shaped, keys not encoded) per put, copy and delete.
   * A listener that throws fails neither the request nor the process (see `onListenerError`).
   */
  readonly events: EventEmitter;
  stop(): Promise<void>;
}

/** The bucket's CORS for the console, as the stack sets it (lib/console/console-cors.ts). */
const corsConfigs = (origins: readonly string[]): string[] =>
  origins.length === 0 ? [] : [corsXml(origins)];

export const startEmulators = async (options: {
  dir: string;
  bucket: string;
  table: string;
  s3Port?: number;
  /** Browser origins the bucket's CORS allows (the local web console's), with the methods it uses. */
  corsOrigins?: readonly string[];
  /** Told when an 'event' listener throws. @default a line on stderr */
  onListenerError?: (error: unknown) => void;
}): Promise<Emulators> => {
  const s3Dir = path.join(options.dir, 's3');
  const dynamoDir = path.join(options.dir, 'dynamodb');
  fs.mkdirSync(s3Dir, { recursive: true });
  fs.mkdirSync(dynamoDir, { recursive: true });

  const s3rver = new S3rver({
    address: '127.0.0.1',
    port: options.s3Port ?? 0,
    silent: true,
    directory: s3Dir,
    configureBuckets: [{ name: options.bucket, configs: corsConfigs(options.corsOrigins ?? []) }],
  });
  // Any key a client sends is stored inside s3Dir or refused with an S3 error (local/s3-emulator-guard.ts).
  guardS3rver(s3rver);
  completeDelimiterListings((s3rver as unknown as { store: ListingStore }).store);
  // s3rver emits inside the request that stored the object: a throwing listener would fail it.
  const events = new EventEmitter();
  const onListenerError =
    options.onListenerError ??
    ((error: unknown) =>
      process.stderr.write(
        `ncaas local: an S3 event handler failed: ${error instanceof Error ? error.message : String(error)}\n`,
      ));
  (s3rver as unknown as EventEmitter).on('event', (event: unknown) => {
    try {
      events.emit('event', event);
    } catch (error) {
      onListenerError(error);
    }
  });
  const { port: s3Port } = await s3rver.run();
  const s3Endpoint = `http://127.0.0.1:${s3Port}`;

  const dynamo = dynalite({ path: dynamoDir, createTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    dynamo.once('error', reject);
    dynamo.listen(0, '127.0.0.1', () => resolve());
  });
  const dynamoDbEndpoint = `http://127.0.0.1:${(dynamo.address() as AddressInfo).port}`;

  const s3 = new S3Client({
    endpoint: s3Endpoint,
    region: EMULATOR_REGION,
    credentials: EMULATOR_CREDENTIALS,
    forcePathStyle: true,
    // Otherwise streamed uploads keep their aws-chunked framing inside the stored object.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const dynamoDb = new DynamoDBClient({
    endpoint: dynamoDbEndpoint,
    region: EMULATOR_REGION,
    credentials: EMULATOR_CREDENTIALS,
  });
  await ensureTable(dynamoDb, options.table);

  return {
    s3Endpoint,
    dynamoDbEndpoint,
    s3,
    dynamoDb,
    events,
    stop: async () => {
      s3.destroy();
      dynamoDb.destroy();
      await s3rver.close();
      await new Promise<void>((resolve) => dynamo.close(() => resolve()));
    },
  };
};

/** The part of s3rver's filesystem store a listing uses. */
interface ListingStore {
  listObjects(
    bucket: string,
    options: { delimiter?: string; prefix?: string; startAfter?: string; maxKeys?: number },
  ): Promise<{ objects: { key: string }[]; commonPrefixes: string[]; isTruncated: boolean }>;
}

/**
 * s3rver 3.7.1 leaves out of a Delimiter listing every folder that holds only sub-folders (its walk
 * never enters them): `aws s3 ls s3://<bucket>/` showed no group, `.../results/` no job folder. The
 * common prefixes are completed from the keys under the prefix (fine for a local bucket's size).
 */
const completeDelimiterListings = (store: ListingStore): void => {
  const list = store.listObjects.bind(store);
  store.listObjects = async (bucket, options) => {
    const result = await list(bucket, options);
    const { delimiter } = options;
    if (!delimiter) return result;
    const prefix = options.prefix ?? '';
    // A truncated page's prefixes stop at its last key; the next page (marker) brings the rest.
    const last = result.isTruncated ? result.objects[result.objects.length - 1]?.key : undefined;
    const prefixes = new Set(result.commonPrefixes);
    for (const { key } of (await list(bucket, { ...options, delimiter: '', maxKeys: Infinity })).objects) {
      const at = key.indexOf(delimiter, prefix.length);
      if (at !== -1 && (last === undefined || key < last)) prefixes.add(key.slice(0, at + delimiter.length));
    }
    return { ...result, commonPrefixes: [...prefixes].sort() };
  };
};

/** Creates the job table as the stack does (same definition), unless a previous run left it. */
const ensureTable = async (client: DynamoDBClient, table: string): Promise<void> => {
  try {
    await client.send(new DescribeTableCommand({ TableName: table }));
  } catch (error) {
    if ((error as { name?: string }).name !== 'ResourceNotFoundException') throw error;
    await client.send(new CreateTableCommand(createJobTableInput(table)));
  }
  // Even with createTableMs 0, dynalite answers CreateTable while the table is CREATING, and a
  // query of a CREATING table fails with ResourceNotFoundException: wait until it is ACTIVE.
  for (let attempt = 0; ; attempt += 1) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
    if (Table?.TableStatus === 'ACTIVE') return;
    if (attempt >= 100) throw new Error(`the local job table ${table} did not become ACTIVE`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};
