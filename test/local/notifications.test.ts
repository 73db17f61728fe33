/**
 * The local runtime's notifications follow each group's choice exactly as the deployed stack does:
 * `notifications.log` holds only the events chosen for the job's group, each headed by the addresses
 * that group's topic would have, and nothing for a group told about no event. End to end through the
 * CLI with test/fixtures/e2e/e2e-notify.json: labA chose FAIL only (plus a PI's address), labB keeps
 * the analysis's default (BEGIN, END, FAIL), labC chose none.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { JobNotification } from '../../lib/control/notify';
import { loadBlueprintFile } from '../../lib/blueprint/load-blueprint';
import { LocalNotifier } from '../../local/local-notifier';
import { E2E_FIXTURES, startE2eRuntime, waitFor, type E2eRuntime } from '../support/local-e2e';

jest.setTimeout(120_000);

interface LoggedNotification {
  readonly group: string;
  readonly to: string;
  readonly subject: string;
  readonly body: string;
}

/** `notifications.log`, one entry per `=== <time> to group <group>` header. */
const readLog = (file: string): LoggedNotification[] =>
  fs.existsSync(file)
    ? fs
        .readFileSync(file, 'utf8')
        .split(/^=== /m)
        .filter((entry) => entry !== '')
        .map((entry) => {
          const [header, to, subject, , ...body] = entry.split('\n');
          return {
            group: header.replace(/^\S+ to group /, ''),
            to: to.replace(/^To: /, ''),
            subject: subject.replace(/^Subject: /, ''),
            body: body.join('\n'),
          };
        })
    : [];

const config = loadBlueprintFile(path.join(E2E_FIXTURES, 'e2e-notify.json'));

describe('the local notifier on its own', () => {
  const event = (group: string): JobNotification => ({
    kind: 'FAIL',
    group,
    jobId: 'j1',
    outcome: '1 FAILED',
    reason: 'exit 3',
    resultsUrl: `s3://b/${group}/results/job__e2e-notify_j1/`,
  });

  test("it writes to the group's topic addresses, and nothing for a group without a topic", async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-notifier-')), 'notifications.log');
    const printed: string[] = [];
    const notifier = new LocalNotifier(config, file, (line) => printed.push(line));
    await notifier.notify(event('labC'));
    await notifier.notify(event('nolab'));
    expect(fs.existsSync(file)).toBe(false);
    await notifier.notify(event('labA'));
    await notifier.notify(event('labB'));
    expect(readLog(file).map((n) => [n.group, n.to])).toEqual([
      ['labA', 'contact@laba.example.org, ops@example.org, pi@laba.example.org'],
      ['labB', 'ops@example.org'],
    ]);
    expect(printed).toEqual([
      'notification to group labA: [ncaas e2e-notify] job j1 failed',
      'notification to group labB: [ncaas e2e-notify] job j1 failed',
    ]);
  });
});

describe("the local runtime, each group's choice", () => {
  let e2e: E2eRuntime;
  beforeAll(async () => {
    e2e = await startE2eRuntime({ blueprint: 'e2e-notify' });
  });
  afterAll(async () => {
    await e2e?.stop();
  });

  // One config key per mode: a second upload to the same key would change a queued job's config.
  const mode = (m: string) => e2e.file(`${m}.json`, JSON.stringify({ mode: m }));

  test('only the events each group chose reach notifications.log, to that group only', async () => {
    const submit = (group: string, m: string) =>
      e2e.submitJob({ group, data: [e2e.file(`${m}.txt`, `${m}\n`)], config: mode(m) });
    const jobs = {
      aOk: await submit('labA', 'succeed'),
      aBad: await submit('labA', 'fail'),
      bOk: await submit('labB', 'succeed'),
      cBad: await submit('labC', 'fail'),
    };
    const groupOf: Record<string, string> = {
      [jobs.aOk]: 'labA',
      [jobs.aBad]: 'labA',
      [jobs.bOk]: 'labB',
      [jobs.cBad]: 'labC',
    };
    for (const [job, group] of Object.entries(groupOf)) {
      await waitFor(
        `job ${group}/${job} to end`,
        async () => (await e2e.cli.statusJson(job, { group })).ended,
        {
          timeoutMs: 90_000,
          context: () => e2e.recentLines(),
        },
      );
    }
    const file = path.join(e2e.runtimeDir, 'notifications.log');
    // END/FAIL is sent after end.txt: wait for the three expected messages, then for any stray one.
    await waitFor('three notifications', () => readLog(file).length >= 3, {
      context: () => e2e.recentLines(),
    });
    await new Promise((resolve) => setTimeout(resolve, 1000));

    const logged = readLog(file);
    const jobOf = (n: LoggedNotification) => / job (\S+) /.exec(n.subject)?.[1];
    expect(
      logged
        .map((n) => [n.group, jobOf(n), n.subject.split(' ').at(-1)])
        .sort((a, b) => String(a).localeCompare(String(b))),
    ).toEqual(
      [
        ['labA', jobs.aBad, 'failed'],
        ['labB', jobs.bOk, 'accepted'],
        ['labB', jobs.bOk, 'finished'],
      ].sort((a, b) => String(a).localeCompare(String(b))),
    );
    // Each to its own group's addresses: labA's contact and PI plus the analysis's; labB only the analysis's.
    for (const n of logged) {
      expect(n.to).toBe(
        n.group === 'labA'
          ? 'contact@laba.example.org, ops@example.org, pi@laba.example.org'
          : 'ops@example.org',
      );
    }
    const fail = logged.find((n) => n.group === 'labA');
    expect(fail?.body).toContain('Reason:  labA/inputs/fail.txt: FAILED');
    expect(fail?.body).toContain(`Results: s3://e2e-notify-local/labA/results/job__e2e-notify_${jobs.aBad}/`);
    // labC chose no event: nothing was printed or logged for it, though its job failed.
    expect(e2e.lines.filter((l) => l.startsWith('notification to group labC'))).toEqual([]);
    expect((await e2e.cli.statusJson(jobs.cBad, { group: 'labC' })).state).toBe('FAILED');
  });
});
