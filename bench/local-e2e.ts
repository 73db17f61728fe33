/**
 * Local end to end, as a lab member sees it: submit.json uploaded -> the analysis command starts,
 * and the command ends -> SUCCESS visible in its status file (polled every 50 ms). The analysis
 * stamps its own start and end in milliseconds (GNU date).
 *   npx tsx bench/local-e2e.ts [N=8]
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { startBenchRuntime, submitJson } from './_local';
import { summary } from './_stats';

const N = Number(process.argv[2] ?? '8');
const COMMAND =
  'date +%s%3N > "$NCAAS_OUTPUT_DIR/start_ms"; echo "{} {} {} {}" > /dev/null; date +%s%3N > "$NCAAS_OUTPUT_DIR/end_ms"';

const main = async () => {
  const bench = await startBenchRuntime('e2e', { COMMAND, DEPLOY_LIMIT: 2 });
  const { runtime, s3 } = bench;
  const read = async (key: string): Promise<string | undefined> => {
    try {
      const out = await s3.send(new GetObjectCommand({ Bucket: runtime.bucket, Key: key }));
      return await out.Body?.transformToString();
    } catch {
      return undefined;
    }
  };
  const toStart: number[] = [];
  const toVisible: number[] = [];
  for (let i = 0; i < N; i++) {
    const jobId = `e2e-${i}`;
    const folder = `labA/results/job__${runtime.config.name}_${jobId}`;
    const submitted = Date.now();
    await bench.put(`labA/submissions/${jobId}submit.json`, submitJson(jobId));
    let visible = 0;
    while (Date.now() - submitted < 120_000) {
      const status = await read(`${folder}/logs/DATASET_NAME:data.csv_STATUS.txt`);
      if (status?.includes('"SUCCESS"')) {
        visible = Date.now();
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const start = Number(await read(`${folder}/process_results/start_ms`));
    const end = Number(await read(`${folder}/process_results/end_ms`));
    if (!visible || !start || !end) throw new Error(`job ${jobId} did not succeed`);
    toStart.push(start - submitted);
    toVisible.push(visible - end);
    await runtime.idle();
  }
  console.log(`local runtime, ${N} jobs one after another:`);
  console.log(`  submit.json uploaded -> command start:   ${summary(toStart)}`);
  console.log(`  command end -> SUCCESS visible (status):  ${summary(toVisible)}`);
  await runtime.stop();
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
