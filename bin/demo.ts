/**
 * `npm run demo`: the whole service on this machine, as a lab member uses it. Starts the local
 * runtime with blueprints/mock.json, uploads sample data and a config, submits, follows the job
 * with a live status line, shows where logs and results are and the result itself, then stops.
 * Needs nothing but Node and an AWS CLI on PATH (the worker stages data with it).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createOutput } from '../lib/cli/output';
import { readJob } from '../lib/cli/job-status';
import { jobRef } from '../lib/cli/job-folders';
import { downloadResults, listResults } from '../lib/cli/results-command';
import { resolveTarget } from '../lib/cli/s3-target';
import { runSubmit } from '../lib/cli/submit-command';
import { runWatch } from '../lib/cli/watch';
import { startLocalRuntime } from '../local/local-runtime';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const GROUP = 'labA';
const DEMO_DIR = path.join(__dirname, '..', 'demo');

const main = async (): Promise<number> => {
  const aws = spawnSync('aws', ['--version'], { encoding: 'utf8' });
  if (aws.error || aws.status !== 0) {
    console.error(
      'npm run demo needs the AWS CLI (v1 or v2) on PATH: the worker stages data and uploads results with it.\n' +
        'Install it (e.g. `apt-get install awscli` or `pip install awscli`) and run `npm run demo` again.',
    );
    return 1;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-demo-'));
  const output = createOutput({ stdout: process.stdout, stderr: process.stderr });
  console.log(`1. starting the local runtime for blueprints/mock.json (data in ${dir})`);
  const runtime = await startLocalRuntime({
    blueprint: 'mock',
    dir,
    console: true,
    print: (line) => console.log(`   [runtime] ${line}`),
  });
  try {
    console.log(`   S3 at ${runtime.s3Endpoint}, DynamoDB at ${runtime.dynamoDbEndpoint}`);
    console.log(
      `   any AWS client can join in: . ${runtime.envFile} && aws s3 ls s3://${runtime.bucket}/${GROUP}/`,
    );
    const target = resolveTarget({}, runtime.clientEnv);

    const jobId = `demo-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    console.log(`2. submitting job ${jobId} as group ${GROUP}: demo/session1.csv with demo/config.json`);
    const submittedAt = Date.now();
    const submitted = await runSubmit(
      target,
      {
        group: GROUP,
        data: [path.join(DEMO_DIR, 'session1.csv')],
        config: path.join(DEMO_DIR, 'config.json'),
        timestamp: jobId,
        analysis: runtime.config,
      },
      output,
    );
    if (submitted !== 0) return submitted;

    console.log('3. following the job');
    const outcome = await runWatch(target, { group: GROUP, job: jobId, intervalMs: 500 }, output);
    const successVisibleAt = Date.now();

    const view = await readJob(target, jobRef(GROUP, runtime.config.name, jobId));
    const folder = view?.ref.resultFolder ?? '';
    console.log(`4. logs:    s3://${runtime.bucket}/${folder}/logs/`);
    console.log(`   results: s3://${runtime.bucket}/${folder}/process_results/`);
    if (view) {
      const local = path.join(dir, 'results');
      await downloadResults(target, await listResults(target, view), local);
      console.log(`   downloaded to ${local}:`);
      for (const file of fs.readdirSync(local).sort()) {
        console.log(`   --- ${file}`);
        for (const line of fs.readFileSync(path.join(local, file), 'utf8').trimEnd().split('\n'))
          console.log(`   ${line}`);
      }
      const dataset = view.datasets[0];
      if (dataset?.jobStart && dataset.jobFinish) {
        // The worker stamps its times to the second.
        const seconds = (ms: number) => `${Math.max(0, ms / 1000).toFixed(1)} s`;
        console.log(
          `   timings (1 s resolution): submit -> worker start ${seconds(Date.parse(dataset.jobStart) - submittedAt)}, ` +
            `worker end -> SUCCESS visible ${seconds(successVisibleAt - Date.parse(dataset.jobFinish))}`,
        );
      }
    }
    console.log(
      outcome === 0 ? '5. done: the job succeeded' : `5. the job did not succeed (exit ${outcome})`,
    );
    console.log(
      `   web console (while the demo ran): ${runtime.consoleUrl ?? '-'} ; to keep one open: npx ncaas local, then open the URL it prints`,
    );
    return outcome;
  } finally {
    await runtime.stop();
  }
};

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
