/**
 * Submit handler latency against the local emulators: from the call on an uploaded submit.json to
 * its launch request (the launch message), p50/p99. The same services the Lambda runs, over s3rver
 * and dynalite in this process; launches are recorded, not run.
 *   npx tsx bench/submit-latency.ts [N=200]
 */
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadBlueprintFile } from '../lib/blueprint/load-blueprint';
import { createControlContext } from '../lib/control/create-context';
import { processSubmission } from '../lib/control/submission-intake';
import { NO_PRICES } from '../lib/pricing/price-book';
import { startEmulators } from '../local/emulators';
import { ms, percentile, summary } from './_stats';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const N = Number(process.argv[2] ?? '200');

const main = async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-bench-submit-'));
  const config = {
    ...loadBlueprintFile(path.join(__dirname, '..', 'blueprints', 'mock.json')),
    deployLimit: N * 2, // every submission gets a slot: the path measured ends in a launch request
  };
  const bucket = 'bench-bucket';
  const table = 'bench-jobs';
  const emulators = await startEmulators({ dir, bucket, table });
  const documentClient = DynamoDBDocumentClient.from(emulators.dynamoDb, {
    marshallOptions: { removeUndefinedValues: true },
  });
  const launchedAt = new Map<string, number>();
  // Put together as the Lambda entries, the local runtime and the tests do (lib/control/create-context.ts).
  const ctx = createControlContext({
    config,
    bucket,
    s3: emulators.s3,
    table: { client: documentClient, name: table },
    launchQueue: { send: async (m) => void launchedAt.set(m.jobId, performance.now()) },
    prices: NO_PRICES,
    now: () => new Date(),
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
  });
  // Every request the intake sends, timed: how many, and how many rounds of them wait on each other.
  const requests: { start: number; end: number; service: 'S3' | 'DynamoDB' }[] = [];
  const timed = async <T>(service: 'S3' | 'DynamoDB', send: () => Promise<T>): Promise<T> => {
    const start = performance.now();
    try {
      return await send();
    } finally {
      requests.push({ start, end: performance.now(), service });
    }
  };
  const timing = { step: 'initialize', name: 'benchRequestTimes' } as const;
  emulators.s3.middlewareStack.add((next) => (args) => timed('S3', () => next(args)), timing);
  emulators.dynamoDb.middlewareStack.add((next) => (args) => timed('DynamoDB', () => next(args)), timing);
  const objects = ctx.objects;
  const put = (Key: string, Body: string) =>
    emulators.s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body }));
  await put('labA/inputs/data.csv', 'a,b\n1,2\n');
  await put('labA/configs/config.json', '{"__duration__": 1}');

  const latencies: number[] = [];
  const perSubmission: { s3: number; dynamoDb: number; rounds: number }[] = [];
  for (let i = 0; i < N; i++) {
    const jobId = `bench-${i}`;
    const key = `labA/submissions/${jobId}submit.json`;
    await put(
      key,
      JSON.stringify({
        dataname: 'labA/inputs/data.csv',
        configname: 'labA/configs/config.json',
        timestamp: jobId,
      }),
    );
    const head = await objects.head(key);
    const start = performance.now();
    requests.length = 0;
    const outcome = await processSubmission(ctx, {
      key,
      etag: head?.etag ?? '',
      eventTime: new Date().toISOString(),
    });
    const end = launchedAt.get(jobId);
    if (outcome.kind !== 'accepted' || end === undefined) throw new Error(`submission ${i}: ${outcome.kind}`);
    latencies.push(end - start);
    perSubmission.push({
      s3: requests.filter((r) => r.service === 'S3').length,
      dynamoDb: requests.filter((r) => r.service === 'DynamoDB').length,
      rounds: sequentialRounds(requests),
    });
  }
  // The floor: what the emulators take for the least a submission needs, one S3 GET (the submit.json)
  // and one DynamoDB conditional put (the job's record).
  const floor: number[] = [];
  for (let i = 0; i < N; i++) {
    const start = performance.now();
    const got = await emulators.s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: `labA/submissions/bench-${i}submit.json` }),
    );
    await got.Body?.transformToString();
    await documentClient.send(
      new PutCommand({
        TableName: table,
        Item: { pk: `FLOOR#${i}`, sk: 'FLOOR', at: new Date().toISOString() },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    floor.push(performance.now() - start);
  }
  console.log(
    `submit handler, uploaded submit.json -> launch request, ${N} sequential submissions on s3rver + dynalite:`,
  );
  console.log(`  ${summary(latencies)}`);
  console.log(`  floor, one S3 GET + one DynamoDB conditional put on the same emulators: ${summary(floor)}`);
  console.log(`  p50 ratio to the floor: ${(percentile(latencies, 50) / percentile(floor, 50)).toFixed(1)}`);
  // What bounds the p50 here: requests that wait on each other, each costing about half the floor.
  const rounds = percentile(
    perSubmission.map((r) => r.rounds),
    50,
  );
  const [s3, dynamoDb] = [
    percentile(
      perSubmission.map((r) => r.s3),
      50,
    ),
    percentile(
      perSubmission.map((r) => r.dynamoDb),
      50,
    ),
  ];
  console.log(
    `  requests per submission (median): ${s3} S3 + ${dynamoDb} DynamoDB, in ${rounds} rounds that wait on each other; ` +
      `${rounds} x half the floor = ${ms((rounds * percentile(floor, 50)) / 2)} of emulator time at the least`,
  );
  await emulators.stop();
};

/** Groups of requests in flight together, in order: a request starting after all earlier ones ended waits on them. */
const sequentialRounds = (requests: readonly { start: number; end: number }[]): number => {
  let rounds = 0;
  let busyUntil = -Infinity;
  for (const r of [...requests].sort((a, b) => a.start - b.start)) {
    if (r.start >= busyUntil) rounds += 1;
    busyUntil = Math.max(busyUntil, r.end);
  }
  return rounds;
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
