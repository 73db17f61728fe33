/**
 * End to end through the CLI against the local runtime: a job that outlives its deadline
 * (SSM_TIMEOUT 20 s in test/fixtures/e2e/e2e-deadline.json) ends TIMED_OUT. The worker stops the
 * analysis NCAAS_UPLOAD_GRACE_SECONDS before the deadline (at most half the time left) and reports;
 * the local launcher SIGTERMs the worker at the deadline itself.
 */
import {
  isRunning,
  pidOfLauncherId,
  processesWithArgv,
  startE2eRuntime,
  waitFor,
  type E2eRuntime,
} from '../support/local-e2e';

jest.setTimeout(90_000);

let e2e: E2eRuntime;
beforeAll(async () => {
  e2e = await startE2eRuntime({ blueprint: 'e2e-deadline' });
});
afterAll(async () => {
  await e2e?.stop();
});

const context = () => `runtime printed:\n${e2e.recentLines()}`;

test('a job past its deadline (SSM_TIMEOUT 20 s) is TIMED_OUT; its worker and analysis are gone', async () => {
  // Unusual and random, so this run's `sleep` process can be told from any other.
  const seconds = 9000 + Math.floor(Math.random() * 999);
  const job = await e2e.submitJob({
    group: 'labA',
    data: [e2e.file('slow.txt', 'slow\n')],
    config: e2e.file('sleep.json', JSON.stringify({ mode: 'sleep', seconds })),
  });
  const started = Date.now();
  const watch = await e2e.cli.watch(job, { group: 'labA' }).done;
  expect(watch.code).toBe(1);
  const shown = watch.stdout.join('\n');
  expect(shown).toMatch(/TIMED_OUT after \d+:\d\d:\d\d: .*deadline/);
  // The worker stops the analysis before the deadline (at most half the time left), or the launcher
  // stops the worker at it: either way well within a minute of the submission.
  expect(Date.now() - started).toBeLessThan(60_000);

  // The analysis printed its pids (shown by the watch): nothing of it, nor the worker, is left.
  const pid = (what: string): number => Number(new RegExp(`out \\| ${what} pid (\\d+)`).exec(shown)?.[1]);
  const [analysis, sleeper] = [pid('analysis'), pid('sleeper')];
  expect([analysis, sleeper].every((p) => p > 0)).toBe(true);
  const [launcherId] = e2e.workersStarted('labA', job);
  await waitFor(
    'the worker and the analysis to be gone',
    () => ![pidOfLauncherId(launcherId), analysis, sleeper].some(isRunning),
    { context },
  );
  expect(processesWithArgv(['sleep', String(seconds)])).toEqual([]);
  const view = await waitFor('end.txt', async () => {
    const v = await e2e.cli.statusJson(job, { group: 'labA' });
    return v.ended && v;
  });
  expect(view.state).toBe('TIMED_OUT');
  expect(view.datasets[0]).toMatchObject({ status: 'TIMED_OUT', instance: launcherId });
});
