/**
 * Submit handler latency against the local emulators: from the call on an uploaded submit.json to
 * its launch request (the launch message), p50/p99. The same services the Lambda runs, over s3rver
 * and dynalite in this process; launches are recorded, not run.
 *   npx tsx bench/submit-latency.ts [N=200]
 */
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadBlueprintFile } from '../lib/blueprint/load-blueprint';
import type { ControlContext } from '../lib/control/control-context';
import { JobReport } from '../lib/control/job-report';
import { S3Objects } from '../lib/control/s3-objects';
import { processSubmission } from '../lib/control/submission-intake';
import { JobStore } from '../lib/job/job-store';
import { NO_PRICES } from '../lib/pricing/price-book';
import { startEmulators } from '../local/emulators';
import { summary } from './_stats';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const N = Number(process.argv[2] ?? '200');

const main = async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-bench-submit-'));
  const config = {
    ...loadBlueprintFile(path.join(__dirname, '..', 'blueprints', 'mock.json')),
    deployLimit: N * 2, // every submission gets a slot: the path measured ends in a launch request
  };
  const bucket = 'bench-bucket';
  const emulators = await startEmulators({ dir, bucket, table: 'bench-jobs' });
  const objects = new S3Objects(emulators.s3, bucket);
  const store = new JobStore({
    client: DynamoDBDocumentClient.from(emulators.dynamoDb, {
      marshallOptions: { removeUndefinedValues: true },
    }),
    tableName: 'bench-jobs',
    analysis: config.name,
  });
  const launchedAt = new Map<string, number>();
  const ctx: ControlContext = {
    config,
    bucket,
    objects,
    report: new JobReport(objects, () => new Date(), {
      analysis: config.name,
      append: (j, l) => store.appendLog(j, l),
    }),
    store,
    launchQueue: { send: async (m) => void launchedAt.set(m.jobId, performance.now()) },
    prices: NO_PRICES,
    now: () => new Date(),
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
  };
  const put = (Key: string, Body: string) =>
    emulators.s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body }));
  await put('labA/inputs/data.csv', 'a,b\n1,2\n');
  await put('labA/configs/config.json', '{"__duration__": 1}');

  const latencies: number[] = [];
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
    const outcome = await processSubmission(ctx, {
      key,
      etag: head?.etag ?? '',
      eventTime: new Date().toISOString(),
    });
    const end = launchedAt.get(jobId);
    if (outcome.kind !== 'accepted' || end === undefined) throw new Error(`submission ${i}: ${outcome.kind}`);
    latencies.push(end - start);
  }
  console.log(
    `submit handler, uploaded submit.json -> launch request, ${N} sequential submissions on s3rver + dynalite:`,
  );
  console.log(`  ${summary(latencies)}`);
  await emulators.stop();
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
