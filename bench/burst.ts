/**
 * Bursts against the local runtime:
 * - 1,000 submit.json uploaded at once: every one becomes exactly one job (accepted: launched or
 *   queued), none lost; accepted per second.
 * - 50 submitted at once and run to completion: all final, none lost. On 2 cores worker start-up
 *   (a shell and several AWS CLI processes per job) dominates.
 *   npx tsx bench/burst.ts [N=1000] [M=50]
 */
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as os from 'node:os';
import { JobStore } from '../lib/job/job-store';
import { isFinal } from '../lib/job/job-state';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startBenchRuntime, submitJson } from './_local';

const N = Number(process.argv[2] ?? '1000');
const M = Number(process.argv[3] ?? '50');

const storeOf = (endpoint: string, table: string, analysis: string) =>
  new JobStore({
    client: DynamoDBDocumentClient.from(
      new DynamoDBClient({
        endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      }),
    ),
    tableName: table,
    analysis,
  });

const acceptanceBurst = async () => {
  const bench = await startBenchRuntime('burst', { DEPLOY_LIMIT: 4 });
  const { runtime } = bench;
  const store = storeOf(runtime.dynamoDbEndpoint, runtime.table, runtime.config.name);
  const start = performance.now();
  const cpuAtStart = process.cpuUsage();
  await Promise.all(
    Array.from({ length: N }, (_, i) =>
      bench.put(`labA/submissions/burst-${i}submit.json`, submitJson(`burst-${i}`)),
    ),
  );
  const uploaded = performance.now();
  // The runtime prints a line per submission handled; counting them costs nothing, where listing a
  // thousand jobs every poll would take its share of the one event loop being measured.
  const handled = () => bench.lines.filter((l) => /^(error: )?submission /.test(l)).length;
  while (handled() < N && performance.now() - start < 600_000) await new Promise((r) => setTimeout(r, 50));
  const accepted = performance.now();
  const cpu = process.cpuUsage(cpuAtStart);
  // Accepted = recorded and admitted (launched or queued): no job left in the internal SUBMITTED state.
  const unadmitted = (await store.listGroupJobs('labA', { limit: N + 10 })).filter(
    (h) => h.state === 'SUBMITTED',
  ).length;
  const headers = await store.listGroupJobs('labA', { limit: N + 10 });
  const ids = new Set(headers.map((h) => h.jobId));
  const states = new Map<string, number>();
  for (const h of headers) states.set(h.state, (states.get(h.state) ?? 0) + 1);
  const refused = bench.lines.filter((l) => l.includes('refused')).length;
  console.log(
    `burst of ${N} submit.json uploaded at once (upload took ${((uploaded - start) / 1000).toFixed(1)} s):`,
  );
  console.log(
    `  jobs recorded: ${headers.length} (distinct ids ${ids.size}); lost: ${N - ids.size}; duplicated: ${headers.length - ids.size}; refused: ${refused}`,
  );
  console.log(
    `  states: ${[...states].map(([s, n]) => `${s} ${n}`).join(', ')}; still unadmitted: ${unadmitted}`,
  );
  console.log(
    `  accepted per second: ${(N / ((accepted - start) / 1000)).toFixed(0)} (first upload -> last job admitted: ${((accepted - start) / 1000).toFixed(1)} s)`,
  );
  // What bounds it here: the emulators, the control plane and the uploads share this one process.
  const cpuMs = (cpu.user + cpu.system) / 1000;
  console.log(
    `  CPU of this process (s3rver, dynalite, the control plane, the uploads): ${(cpuMs / N).toFixed(1)} ms per submission, ` +
      `${((cpuMs / (accepted - start)) * 100).toFixed(0)}% of one core over the burst; one event loop at that cost accepts at most ${(1000 / (cpuMs / N)).toFixed(0)} per second`,
  );
  await runtime.stop();
};

const completionBurst = async () => {
  const bench = await startBenchRuntime('burst-complete', { DEPLOY_LIMIT: 8 });
  const { runtime } = bench;
  const store = storeOf(runtime.dynamoDbEndpoint, runtime.table, runtime.config.name);
  const start = performance.now();
  await Promise.all(
    Array.from({ length: M }, (_, i) =>
      bench.put(`labA/submissions/run-${i}submit.json`, submitJson(`run-${i}`)),
    ),
  );
  let headers = await store.listGroupJobs('labA', { limit: M + 10 });
  while (performance.now() - start < 900_000) {
    headers = await store.listGroupJobs('labA', { limit: M + 10 });
    if (headers.length === M && headers.every((h) => isFinal(h.state))) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const took = (performance.now() - start) / 1000;
  const states = new Map<string, number>();
  for (const h of headers) states.set(h.state, (states.get(h.state) ?? 0) + 1);
  console.log(`burst of ${M} submissions run to completion (DEPLOY_LIMIT 8, ${os.cpus().length} cores):`);
  console.log(
    `  final: ${headers.filter((h) => isFinal(h.state)).length}/${M}; lost: ${M - headers.length}; states: ${[...states].map(([s, n]) => `${s} ${n}`).join(', ')}`,
  );
  console.log(
    `  ${took.toFixed(1)} s in all, ${(M / took).toFixed(2)} jobs/s; worker start-up (a shell and several AWS CLI calls per job) dominates`,
  );
  await runtime.stop();
};

const main = async () => {
  await acceptanceBurst();
  await completionBurst();
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
