/**
 * End to end through the CLI against the local runtime: DEPLOY_LIMIT 2 (more submissions queue, then
 * drain), and a restart on the same folder (running jobs become INTERRUPTED, a queued job still runs,
 * every job is still listed, new submissions work). Blueprint: test/fixtures/e2e/e2e-limited.json.
 */
import {
  isRunning,
  pidOfLauncherId,
  processesWithArgv,
  startE2eRuntime,
  waitFor,
  type E2eRuntime,
  type JobJson,
} from '../support/local-e2e';

jest.setTimeout(180_000);

let e2e: E2eRuntime;
beforeAll(async () => {
  // The watchdog runs every second: its running-count repair must never let a third worker start
  // past DEPLOY_LIMIT 2 while drains take slots (it repairs only a difference seen twice, unchanged).
  e2e = await startE2eRuntime({ blueprint: 'e2e-limited', watchdogIntervalMs: 1000 });
});
afterAll(async () => {
  await e2e?.stop();
});

const context = () => `runtime printed:\n${e2e.recentLines()}`;
const RUNNING = ['INITIALIZING', 'IN PROGRESS'];
/** Job ids of each test, for the restart test's listing. */
const submitted: Record<string, string[]> = {};

/** A sleep long enough to outlive the test, unusual enough to find its process. */
const sleepSeconds = (): number => 9000 + Math.floor(Math.random() * 999);

/** Polls `logs` until the analysis printed its pids: [analysis, sleeper]. */
const analysisPids = (job: string): Promise<[number, number]> =>
  waitFor(
    `job ${job} to print its pids`,
    async () => {
      const text = (await e2e.cli.logs(job, { group: 'labA' })).stdout.join('\n');
      const analysis = /analysis pid (\d+)/.exec(text);
      const sleeper = /sleeper pid (\d+)/.exec(text);
      return analysis && sleeper
        ? ([Number(analysis[1]), Number(sleeper[1])] as [number, number])
        : undefined;
    },
    { context },
  );

test('more submissions than DEPLOY_LIMIT: two run, the rest wait QUEUED (and say why), then all succeed', async () => {
  const config = e2e.file('succeed.json', JSON.stringify({ mode: 'succeed', seconds: 2 }));
  const jobs: string[] = [];
  for (const name of ['one', 'two', 'three', 'four']) {
    jobs.push(await e2e.submitJob({ group: 'labA', data: [e2e.file(`${name}.txt`, `${name}\n`)], config }));
  }
  submitted.queue = jobs;
  const ours = async (): Promise<JobJson[]> =>
    (await e2e.cli.jobsJson({ group: 'labA' })).filter((j) => jobs.includes(j.job));

  // Never more than two running; at some moment exactly two running and two QUEUED by their status files.
  let most = 0;
  const moment = await waitFor(
    'two jobs running and two QUEUED',
    async () => {
      const views = await ours();
      const running = views.filter((v) => RUNNING.includes(v.state));
      most = Math.max(most, running.length);
      const queued = views.filter((v) => v.state === 'QUEUED' && v.datasets[0]?.status === 'QUEUED');
      return running.length === 2 && queued.length === 2 && { running, queued };
    },
    { intervalMs: 100, context },
  );
  for (const view of moment.queued) {
    expect(view.datasets[0].reason).toBe('waiting for a worker (at most 2 of this analysis run at once)');
    expect(e2e.workersStarted('labA', view.job)).toEqual([]);
  }
  const status = await e2e.cli.status(moment.queued[0].job, { group: 'labA' });
  expect(status.stdout.join('\n')).toMatch(
    / {2}QUEUED {2}labA\/inputs\/\w+\.txt\n {4}waiting for a worker \(at most 2 of this analysis run at once\)/,
  );

  // Then the queue drains: every job ends SUCCESS, each with its one worker.
  const watches = jobs.map((job) => e2e.cli.watch(job, { group: 'labA' }));
  const sampler = setInterval(() => {
    void ours().then(
      (views) => (most = Math.max(most, views.filter((v) => RUNNING.includes(v.state)).length)),
      () => undefined,
    );
  }, 300);
  try {
    expect((await Promise.all(watches.map((w) => w.done))).map((r) => r.code)).toEqual([0, 0, 0, 0]);
  } finally {
    clearInterval(sampler);
  }
  expect(most).toBe(2);
  for (const job of jobs) expect(e2e.workersStarted('labA', job)).toHaveLength(1);
  const ended = await waitFor('end.txt of every job', async () => {
    const views = await ours();
    return views.length === 4 && views.every((v) => v.ended) && views;
  });
  expect(ended.map((v) => v.state)).toEqual(['SUCCESS', 'SUCCESS', 'SUCCESS', 'SUCCESS']);
});

test('the runtime restarted on the same folder: running jobs are INTERRUPTED, a queued one still runs, every job is still listed', async () => {
  const seconds = sleepSeconds();
  const sleepConfig = e2e.file('sleep.json', JSON.stringify({ mode: 'sleep', seconds }));
  const running: string[] = [];
  for (const name of ['cut-short-1', 'cut-short-2']) {
    running.push(
      await e2e.submitJob({
        group: 'labA',
        data: [e2e.file(`${name}.txt`, `${name}\n`)],
        config: sleepConfig,
      }),
    );
  }
  const waiting = await e2e.submitJob({
    group: 'labA',
    data: [e2e.file('waiting.txt', 'waiting\n')],
    config: e2e.file('succeed.json', JSON.stringify({ mode: 'succeed' })),
  });
  const pids = (await Promise.all(running.map(analysisPids))).flat();
  const workers = running.map((job) => pidOfLauncherId(e2e.workersStarted('labA', job)[0]));
  expect(processesWithArgv(['sleep', String(seconds)]).sort()).toEqual([pids[1], pids[3]].sort());
  await waitFor('the third job to be QUEUED', async () => {
    const view = await e2e.cli.statusJson(waiting, { group: 'labA' });
    return view.datasets[0]?.status === 'QUEUED';
  });
  const oldEndpoint = e2e.env.AWS_ENDPOINT_URL;

  await e2e.restart();
  expect(e2e.env.AWS_ENDPOINT_URL).not.toBe(oldEndpoint);
  // Stopping the runtime stopped its workers and their analyses.
  expect([...workers, ...pids].filter(isRunning)).toEqual([]);
  expect(processesWithArgv(['sleep', String(seconds)])).toEqual([]);

  for (const job of running) {
    const view = await e2e.cli.statusJson(job, { group: 'labA' });
    expect(view).toMatchObject({ state: 'INTERRUPTED', final: true, ended: true });
    expect(view.datasets[0]).toMatchObject({
      status: 'INTERRUPTED',
      reason: 'the local runtime was stopped',
    });
  }
  // The queued job was not lost: the new runtime runs it. And new submissions work.
  const next = await e2e.submitJob({
    group: 'labA',
    data: [e2e.file('after.txt', 'after the restart\n')],
    config: e2e.file('succeed.json', JSON.stringify({ mode: 'succeed' })),
  });
  const watched = await Promise.all([waiting, next].map((job) => e2e.cli.watch(job, { group: 'labA' }).done));
  expect(watched.map((w) => w.code)).toEqual([0, 0]);
  expect(e2e.workersStarted('labA', waiting)).toHaveLength(1);
  expect(e2e.workersStarted('labA', next)).toHaveLength(1);

  const listed = new Map((await e2e.cli.jobsJson({ group: 'labA' })).map((j) => [j.job, j.state]));
  expect(submitted.queue.map((j) => listed.get(j))).toEqual(['SUCCESS', 'SUCCESS', 'SUCCESS', 'SUCCESS']);
  expect(running.map((j) => listed.get(j))).toEqual(['INTERRUPTED', 'INTERRUPTED']);
  expect([waiting, next].map((j) => listed.get(j))).toEqual(['SUCCESS', 'SUCCESS']);
  const table = (await e2e.cli.jobs({ group: 'labA' })).stdout;
  expect(table[0]).toMatch(/^JOB +STATE +DATASETS +COST +SUBMITTED +NOTE$/);
  expect(table.find((l) => l.startsWith(running[0]))).toMatch(/INTERRUPTED +1\/1 done/);
});
