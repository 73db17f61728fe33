/**
 * Local end to end, as a lab member sees it: submit.json uploaded -> the analysis command starts,
 * and the command ends -> SUCCESS visible in its status file (polled every 50 ms). The analysis
 * stamps its own start and end in milliseconds (GNU date).
 *   npx tsx bench/local-e2e.ts [N=8]
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SAMPLE_DATA, startBenchRuntime, submitJson } from './_local';
import { ms, percentile, summary } from './_stats';

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
  // What bounds the start: the worker is a shell whose every S3 call is an AWS CLI process.
  const cli = await awsCliCall(runtime.clientEnv, `s3://${runtime.bucket}/${SAMPLE_DATA}`);
  console.log(
    `  one AWS CLI download of the sample dataset from the emulator: ${summary(cli.wall)}, CPU p50 ${ms(percentile(cli.cpu, 50))}` +
      `; before the command the worker waits on one (the dataset) with two beside it (the first status, the config), on ${os.cpus().length} cores`,
  );
  await runtime.stop();
};

/** Wall and CPU time of `aws s3 cp <url> <tmp file>` with the runtime's client settings, 5 runs. */
const awsCliCall = async (
  env: Readonly<Record<string, string>>,
  url: string,
): Promise<{ wall: number[]; cpu: number[] }> => {
  const target = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-bench-cli-')), 'data');
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < 5; i++) {
    const [startedAt, cpuBefore] = [performance.now(), reapedChildrenCpuMs()];
    // Asynchronous: the emulator answering it runs in this process.
    await promisify(execFile)('aws', ['s3', 'cp', url, target, '--only-show-errors'], {
      env: { ...process.env, ...env, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' },
    });
    wall.push(performance.now() - startedAt);
    cpu.push(reapedChildrenCpuMs() - cpuBefore);
  }
  return { wall, cpu };
};

/** User + system CPU of this process's ended children (/proc/self/stat cutime + cstime, 100 ticks/s). */
const reapedChildrenCpuMs = (): number => {
  // The fields after the command name in parentheses; cutime and cstime are the 16th and 17th fields.
  const fields = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(fields[13]) + Number(fields[14])) * 10;
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
