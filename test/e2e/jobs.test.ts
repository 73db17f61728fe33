/**
 * End to end through the CLI against the local runtime: a job that succeeds, one whose analysis
 * exits non-zero, a submission of three datasets, a cancel, malformed submissions, and env.sh with
 * the real AWS CLI. The blueprint (test/fixtures/e2e/e2e.json) runs an inline shell analysis whose
 * behaviour the config picks: `{"mode": "succeed"}`, `{"mode": "fail"}` (exit 3 after writing to
 * stderr), `{"mode": "sleep", "seconds": N}`.
 */
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  filesIn,
  inOrder,
  isRunning,
  pidOfLauncherId,
  processesWithArgv,
  startE2eRuntime,
  waitFor,
  type E2eRuntime,
} from '../support/local-e2e';

jest.setTimeout(90_000);

let e2e: E2eRuntime;
/** Unusual and random, so this run's `sleep` process (the job to cancel) can be told from any other. */
const sleepSeconds = 9000 + Math.floor(Math.random() * 999);
/** Job ids of the first four tests: submitted together, so their workers run at the same time. */
let jobs: { success: string; fail: string; three: string; cancel: string };
beforeAll(async () => {
  e2e = await startE2eRuntime({ blueprint: 'e2e' });
  jobs = {
    success: await e2e.submitJob({
      group: 'labA',
      data: [e2e.file('recording.txt', 'spikes 1 2 3\n')],
      config: config({ mode: 'succeed' }),
    }),
    fail: await e2e.submitJob({
      group: 'labB',
      data: [e2e.file('session.txt', 'bad data\n')],
      config: config({ mode: 'fail' }),
    }),
    three: await e2e.submitJob({
      group: 'labA',
      data: ['a.txt', 'b.txt', 'c.txt'].map((name) => e2e.file(name, `dataset ${name}\n`)),
      config: config({ mode: 'succeed' }),
    }),
    cancel: await e2e.submitJob({
      group: 'labA',
      data: [e2e.file('long.txt', 'long\n')],
      config: config({ mode: 'sleep', seconds: sleepSeconds }),
    }),
  };
});
afterAll(async () => {
  await e2e?.stop();
});

const context = () => `runtime printed:\n${e2e.recentLines()}`;
const config = (json: object): string =>
  e2e.file(`${String((json as { mode?: string }).mode)}.json`, JSON.stringify(json));

test('success: watch exits 0; results hold the output, the config and end.txt; the certificate lists every step', async () => {
  const job = jobs.success;

  const watch = await e2e.cli.watch(job, { group: 'labA' }).done;
  expect(watch.code).toBe(0);
  expect(watch.stdout.join('\n')).toContain(
    'out | e2e analysis of labA/inputs/recording.txt (bucket e2e-local)',
  );
  expect(watch.stdout[watch.stdout.length - 1]).toMatch(/^SUCCESS after /);

  const status = await e2e.cli.statusJson(job, { group: 'labA' });
  expect(status).toMatchObject({ state: 'SUCCESS', final: true });
  expect(status.datasets).toEqual([
    expect.objectContaining({ label: 'recording.txt', status: 'SUCCESS', exit_code: 0 }),
  ]);

  // end.txt is the control plane's, written once the worker's final report is handled.
  await waitFor('end.txt', async () => (await e2e.cli.statusJson(job, { group: 'labA' })).ended, { context });
  // What the worker cost: the local runtime has no price file (`npm run prices` needs AWS), so the
  // cost is "unknown" with the reason, never 0 (the priced path: test/control/lifecycle.test.ts).
  const ended = await e2e.cli.statusJson(job, { group: 'labA' });
  expect(ended.datasets[0]).toMatchObject({
    cost_usd: 'unknown',
    cost_unknown_reason: expect.stringContaining('no price is known for t3.micro'),
  });
  expect(ended.cost).toBe('unknown');
  const download = e2e.folder('success');
  const results = await e2e.cli.results(job, { group: 'labA', download });
  expect(results.code).toBe(0);
  expect(filesIn(download)).toEqual([
    'copy-recording.txt',
    'end.txt',
    'files-recording.txt.txt',
    'result.txt',
    'succeed.json',
  ]);
  expect(fs.readFileSync(path.join(download, 'copy-recording.txt'), 'utf8')).toBe('spikes 1 2 3\n');
  expect(fs.readFileSync(path.join(download, 'result.txt'), 'utf8')).toBe('done\n');
  expect(fs.readFileSync(path.join(download, 'succeed.json'), 'utf8')).toBe('{"mode":"succeed"}');
  expect(fs.readFileSync(path.join(download, 'end.txt'), 'utf8')).toMatch(/1 SUCCESS/);

  const logs = await e2e.cli.logs(job, { group: 'labA' });
  expect(logs.code).toBe(0);
  const whole = logs.stdout.slice(
    logs.stdout.indexOf('== certificate') + 1,
    logs.stdout.findIndex((l) => l.startsWith('== dataset')),
  );
  // NeuroCAAS's layout: a line per dataset between exactly two dividers, then the job log.
  expect(whole.slice(0, 4)).toEqual([
    'PER ENVIRONMENT MONITORING:',
    '================',
    expect.stringMatching(
      /^DATANAME: labA\/inputs\/recording\.txt \| STATUS: SUCCESS \| TIME: \S+ \| LAST COMMAND: .+ \| CPU_USAGE: N\/A$/,
    ),
    '================',
  ]);
  expect(whole.filter((l) => l === '================')).toHaveLength(2);
  const certificate = whole.slice(whole.indexOf('JOB LOG:') + 1).filter((l) => l !== '');
  const at = (text: string): number => certificate.findIndex((l) => l.includes(text));
  const steps = [
    `submission labA/submissions/${job}submit.json accepted: 1 dataset(s)`,
    'dataset labA/inputs/recording.txt: launch requested',
    'dataset labA/inputs/recording.txt: SUCCESS',
    `job finished: 1 SUCCESS; cost ${ended.cost}`,
  ];
  expect(inOrder(certificate, steps)).toBe(true);
  // The blueprint's git commit (NeuroCAAS's certificate names the deployed one), image, instance type.
  expect(certificate.join('\n')).toMatch(
    /reproducibility: blueprint test\/fixtures\/e2e\/e2e\.json at git commit [0-9a-f]{40} \((no|WITH) uncommitted edits\); worker AMI resolve:ssm:\S+, instance type t3\.micro; dataset labA\/inputs\/recording\.txt \(no S3 version: the bucket keeps none\), config labA\/configs\/\S+ \(no S3 version: the bucket keeps none\)/,
  );
  // The launch and the "running" event race each other; both lie between the request and the result.
  for (const step of [/: worker local:\d+:\d+ launched/, /: worker local:\d+:\d+ is running/]) {
    const index = certificate.findIndex((l) => step.test(l));
    expect(index).toBeGreaterThan(at(steps[1]));
    expect(index).toBeLessThan(at(steps[2]));
  }
  expect(certificate.every((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \+\d+:\d\d:\d\d {2}/.test(l))).toBe(true);
  expect(e2e.workersStarted('labA', job)).toHaveLength(1);
});

test('an analysis that exits non-zero: watch exits 1, status FAILED with the stderr tail', async () => {
  const job = jobs.fail;
  const watch = await e2e.cli.watch(job, { group: 'labB' }).done;
  expect(watch.code).toBe(1);
  const shown = watch.stdout.join('\n');
  expect(shown).toContain('err | e2e: the analysis broke on purpose (mode fail)');
  expect(shown).toMatch(
    /FAILED after \d+:\d\d:\d\d: the analysis exited with code 3: e2e: the analysis broke on purpose/,
  );

  const status = await e2e.cli.status(job, { group: 'labB' });
  expect(status.code).toBe(0);
  expect(status.stdout.join('\n')).toMatch(
    /state {5}FAILED: the analysis exited with code 3: e2e: the analysis broke/,
  );
  expect(status.stdout.join('\n')).toMatch(/session\.txt {2}FAILED {2}exit 3/);
  const json = await e2e.cli.statusJson(job, { group: 'labB' });
  expect(json.datasets[0]).toMatchObject({ status: 'FAILED', exit_code: 3 });

  const logs = await e2e.cli.logs(job, { group: 'labB' });
  const text = logs.stdout.join('\n');
  expect(text).toMatch(/-- stdout\n[^]*about to fail/);
  expect(text).toMatch(/-- stderr\ne2e: the analysis broke on purpose \(mode fail\)/);
  await waitFor('end.txt', async () => (await e2e.cli.statusJson(job, { group: 'labB' })).ended, { context });
  expect((await e2e.cli.statusJson(job, { group: 'labB' })).state).toBe('FAILED');
});

test('three datasets in one submission: three workers, a status file each, one end.txt', async () => {
  const job = jobs.three;
  const watch = e2e.cli.watch(job, { group: 'labA' });
  expect((await watch.done).code).toBe(0);
  expect(watch.stdout.join('\n')).toMatch(/a\.txt out \| e2e analysis of labA\/inputs\/a\.txt/);

  const workers = e2e.workersStarted('labA', job);
  expect(workers).toHaveLength(3);
  expect(new Set(workers.map(pidOfLauncherId)).size).toBe(3);
  expect(
    e2e
      .launchedWorkers()
      .filter((w) => w.jobId === job)
      .map((w) => w.datasetKey)
      .sort(),
  ).toEqual(['labA/inputs/a.txt', 'labA/inputs/b.txt', 'labA/inputs/c.txt']);

  const status = await waitFor('end.txt', async () => {
    const view = await e2e.cli.statusJson(job, { group: 'labA' });
    return view.ended && view;
  });
  expect(status.state).toBe('SUCCESS');
  expect(status.datasets.map((d) => [d.label, d.status, d.instance])).toEqual(
    expect.arrayContaining(['a.txt', 'b.txt', 'c.txt'].map((l) => [l, 'SUCCESS', expect.any(String)])),
  );
  expect(status.datasets).toHaveLength(3);
  const listing = await e2e.cli.results(job, { group: 'labA' });
  const files = listing.stdout.map((l) => l.trim().split(/\s+/).pop());
  expect(files.filter((f) => f === 'end.txt')).toHaveLength(1);
  // Several datasets: each one's output in a folder of its own (the same file names, nothing lost).
  expect(files).toEqual(
    expect.arrayContaining([
      'a.txt/copy-a.txt',
      'b.txt/copy-b.txt',
      'c.txt/copy-c.txt',
      'a.txt/result.txt',
      'c.txt/result.txt',
    ]),
  );
  const logs = (await e2e.cli.logs(job, { group: 'labA' })).stdout;
  expect(logs.filter((l) => l.includes('job finished:'))).toEqual([
    expect.stringContaining('job finished: 3 SUCCESS'),
  ]);
});

test('cancel a sleeping job: CANCELLED, its worker and the analysis are gone, end.txt written', async () => {
  const job = jobs.cancel;
  const seconds = sleepSeconds;
  const watch = e2e.cli.watch(job, { group: 'labA' });
  // The analysis prints its pids; the live status carries them to the watch.
  const sleeper = await waitFor(
    'the analysis to start sleeping',
    () => {
      const line = watch.stdout.find((l) => l.includes('out | sleeper pid '));
      return line === undefined ? undefined : Number(line.split('sleeper pid ')[1]);
    },
    { context: () => `watch printed:\n${[...watch.stdout, ...watch.stderr].join('\n')}\n${context()}` },
  );
  const analysisLine = watch.stdout.find((l) => l.includes('out | analysis pid ')) ?? '';
  const analysis = Number(analysisLine.split('analysis pid ')[1]);
  const [launcherId] = e2e.workersStarted('labA', job);
  const worker = pidOfLauncherId(launcherId);
  expect([worker, analysis, sleeper].map(isRunning)).toEqual([true, true, true]);
  expect(processesWithArgv(['sleep', String(seconds)])).toEqual([sleeper]);

  const cancel = await e2e.cli.cancel(job, { group: 'labA' });
  expect(cancel.code).toBe(0);
  expect(cancel.stdout.join('\n')).toContain(`cancel requested for job ${job}`);

  const watched = await watch.done;
  expect(watched.code).toBe(1);
  expect(watched.stdout.join('\n')).toMatch(
    /CANCELLED after \d+:\d\d:\d\d: cancelled at the group's request/,
  );
  await waitFor(
    'the worker and the analysis to be gone',
    () => ![worker, analysis, sleeper].some(isRunning),
    {
      context,
    },
  );
  expect(processesWithArgv(['sleep', String(seconds)])).toEqual([]);

  const status = await waitFor('end.txt', async () => {
    const view = await e2e.cli.statusJson(job, { group: 'labA' });
    return view.ended && view;
  });
  expect(status.state).toBe('CANCELLED');
  expect(status.datasets[0]).toMatchObject({ status: 'CANCELLED', instance: launcherId });
  const listing = await e2e.cli.results(job, { group: 'labA' });
  expect(listing.stdout.join('\n')).toMatch(/end\.txt/);
  expect(e2e.lines).toContain(`cancel labA/submissions/${job}.cancel.json: cancelled`);
  // Cancelling again: nothing left to stop.
  const again = await e2e.cli.cancel(job, { group: 'labA' });
  expect(again.stdout.join('\n')).toContain('has already finished (CANCELLED): nothing to cancel');
});

test('malformed submissions: each gets a message where the user looks, and no worker starts', async () => {
  const s3 = e2e.s3();
  const bucket = e2e.env.NCAAS_BUCKET;
  const put = (key: string, body: string) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from(body) }));
  await put('labA/inputs/ok.txt', 'ok\n');
  await put('labA/configs/ok.json', '{"mode": "succeed"}');
  await put('labA/configs/broken.json', '{"mode": ');
  await put('labB/inputs/theirs.txt', 'labB data\n');

  const submission = (body: object | string) => (typeof body === 'string' ? body : JSON.stringify(body));
  const ok = { dataname: 'labA/inputs/ok.txt', configname: 'labA/configs/ok.json' };
  // [name, body, where the message goes, what it must say]
  const cases: [string, string, 'beside' | 'certificate', RegExp][] = [
    ['bad-json', '{"dataname": "labA/inputs/ok.txt", ', 'beside', /submit\.json is not valid JSON/],
    ['empty', '', 'beside', /submit\.json is empty/],
    [
      'not-an-object',
      submission(['labA/inputs/ok.txt']),
      'beside',
      /holds a list of 1 item, but it must hold one object/,
    ],
    [
      'other-group',
      submission({ ...ok, dataname: 'labB/inputs/theirs.txt', timestamp: 'mal-other-group' }),
      'certificate',
      /is in group "labB", but this submission was uploaded by group "labA"/,
    ],
    [
      'missing-config',
      submission({ ...ok, configname: 'labA/configs/nope.json', timestamp: 'mal-missing-config' }),
      'certificate',
      /configname "labA\/configs\/nope\.json" does not exist/,
    ],
    [
      'missing-data',
      submission({ ...ok, dataname: 'labA/inputs/nope.txt', timestamp: 'mal-missing-data' }),
      'certificate',
      /dataname "labA\/inputs\/nope\.txt" does not exist/,
    ],
    [
      'dot-dot',
      submission({ ...ok, dataname: 'labA/inputs/../../labB/inputs/theirs.txt', timestamp: 'mal-dot-dot' }),
      'certificate',
      /contains a "\.\." folder/,
    ],
    [
      's3-url',
      submission({ ...ok, dataname: 's3://another-bucket/data.txt', timestamp: 'mal-s3-url' }),
      'certificate',
      /is a URL, but keys are plain keys/,
    ],
    [
      'instance-type',
      submission({ ...ok, instance_type: 'p4d.24xlarge', timestamp: 'mal-instance-type' }),
      'certificate',
      /instance_type "p4d\.24xlarge" is not offered by this analysis/,
    ],
    [
      'broken-config',
      submission({ ...ok, configname: 'labA/configs/broken.json', timestamp: 'mal-broken-config' }),
      'certificate',
      /config "labA\/configs\/broken\.json" is not valid JSON/,
    ],
    [
      'no-config',
      submission({ dataname: 'labA/inputs/ok.txt', timestamp: 'mal-no-config' }),
      'certificate',
      /has no "configname"/,
    ],
    [
      'too-many',
      submission({
        ...ok,
        dataname: Array.from({ length: 6 }, () => 'labA/inputs/ok.txt'),
        timestamp: 'mal-too-many',
      }),
      'certificate',
      /lists 6 datasets, but this analysis accepts at most 5/,
    ],
  ];
  expect(cases.length).toBeGreaterThanOrEqual(10);
  for (const [name, body] of cases) await put(`labA/submissions/${name}submit.json`, body);

  await waitFor(
    'a refusal for every malformed submission',
    () =>
      cases.every(([name]) =>
        e2e.lines.some((l) =>
          l.startsWith(`submission labA/submissions/${name}submit.json refused: see s3://`),
        ),
      ),
    { context },
  );
  for (const [name, , where, says] of cases) {
    const key = `labA/submissions/${name}submit.json`;
    const line = e2e.lines.find((l) => l.startsWith(`submission ${key} refused`)) ?? '';
    const messageKey = line.slice(line.indexOf(`s3://${bucket}/`) + `s3://${bucket}/`.length);
    if (where === 'beside') {
      // No usable timestamp: the message sits beside the submission; named like the CLI names its
      // submissions, `status <name>` finds it and shows the refusal.
      expect(messageKey).toBe(`labA/submissions/${name}submit.error.txt`);
      const status = await e2e.cli.statusJson(name, { group: 'labA' });
      expect(status).toMatchObject({ state: 'FAILED', final: true, refusal: expect.stringMatching(says) });
    } else {
      const jobId = `mal-${name}`;
      expect(messageKey).toBe(`labA/results/job__e2e_${jobId}/logs/certificate.txt`);
      // The CLI shows the refusal: the job is FAILED, and `logs` has the words.
      const status = await e2e.cli.statusJson(jobId, { group: 'labA' });
      expect(status).toMatchObject({ state: 'FAILED', final: true });
      const logs = (await e2e.cli.logs(jobId, { group: 'labA' })).stdout.join('\n');
      expect(logs).toMatch(says);
    }
    // Beside the submission in every case (the user sees it next to what they uploaded).
    const text = await readText(`labA/submissions/${name}submit.error.txt`);
    expect(text).toMatch(says);
    expect(text).toContain(`Your submission ${key} was not accepted.`);
    expect(text).toContain('Nothing was launched.');
  }
  // No worker: the runtime started none, and the launcher made no worker folder for them.
  expect(e2e.lines.filter((l) => /^job labA\/mal-.*: worker /.test(l))).toEqual([]);
  // (every worker folder belongs to one of the jobs submitted before the tests).
  const submitted: string[] = Object.values(jobs);
  expect(e2e.launchedWorkers().filter((w) => !submitted.includes(w.jobId))).toEqual([]);
  const listed = await e2e.cli.jobsJson({ group: 'labA' });
  const refused = listed.filter((j) => j.job.startsWith('mal-'));
  expect(refused.map((j) => j.state)).toEqual(refused.map(() => 'FAILED'));
  expect(refused).toHaveLength(cases.filter(([, , where]) => where === 'certificate').length);
});

const readText = async (key: string): Promise<string> => {
  const out = await e2e.s3().send(new GetObjectCommand({ Bucket: e2e.env.NCAAS_BUCKET, Key: key }));
  return (await out.Body?.transformToString()) ?? '';
};

const hasAwsCli = spawnSync('sh', ['-c', 'command -v aws'], { encoding: 'utf8' }).status === 0;
const awsTest = hasAwsCli ? test : test.skip;
if (!hasAwsCli) console.warn('e2e: skipping the env.sh + AWS CLI test: no `aws` on PATH');

/** Runs a shell script (never spawnSync: the emulators answer from this process's event loop). */
const shell = (script: string, args: readonly string[], env: NodeJS.ProcessEnv) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn('sh', ['-c', script, 'sh', ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });

awsTest(
  `env.sh points the real AWS CLI at the local runtime${hasAwsCli ? '' : ' (skipped: no aws CLI on PATH)'}`,
  async () => {
    const upload = e2e.file('from-cli.txt', 'uploaded with the AWS CLI\n');
    // A clean shell: nothing from this process's AWS or ncaas settings, only what env.sh exports.
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('NCAAS_')),
    );
    const sh = (script: string) => shell(script, [e2e.runtime.envFile, upload], env);

    const ls = await sh('. "$1" && aws s3 ls "s3://$NCAAS_BUCKET/"');
    expect(ls).toMatchObject({ code: 0, stderr: '' });
    expect(ls.stdout).toMatch(/PRE labA\//);
    // Job folders hold only folders (logs/, process_results/): listed too.
    const results = await sh('. "$1" && aws s3 ls "s3://$NCAAS_BUCKET/labA/results/"');
    expect(results.code).toBe(0);
    expect(results.stdout).toMatch(/PRE job__e2e_mal-other-group\//);

    const cp = await sh(
      '. "$1" && aws --endpoint-url "$AWS_ENDPOINT_URL" s3 cp "$2" "s3://$NCAAS_BUCKET/labA/inputs/from-cli.txt"',
    );
    expect(cp.code).toBe(0);
    // Stored as sent (no aws-chunked framing inside the object), readable by the SDK and the CLI.
    expect(await readText('labA/inputs/from-cli.txt')).toBe('uploaded with the AWS CLI\n');
    const back = await sh('. "$1" && aws s3 cp "s3://$NCAAS_BUCKET/labA/inputs/from-cli.txt" -');
    expect(back).toMatchObject({ code: 0, stdout: 'uploaded with the AWS CLI\n' });
  },
);
