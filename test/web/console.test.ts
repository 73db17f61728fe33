/// <reference lib="dom" />
/**
 * The web console in a real headless Chromium against the local runtime (test/support/browser.ts):
 * what a lab member does with only a browser. The blueprint (test/fixtures/e2e/e2e.json) runs an inline
 * shell analysis whose behaviour the config picks: `{"mode": "succeed"}` (copies each input to
 * `copy-<dataset>`), `{"mode": "fail"}` (exit 3 after writing to stderr), `{"mode": "sleep"}`.
 * One runtime and one browser for the file; each test has its own page. A failing step leaves a
 * screenshot in test-results/console/.
 */
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import * as fs from 'node:fs';
import type { Browser, Locator, Page } from 'playwright-core';
import { resolveTarget } from '../../lib/cli/s3-target';
import { collectPageErrors, launchChromium, screenshotOnFailure } from '../support/browser';
import { startE2eRuntime, type E2eRuntime } from '../support/local-e2e';
import { notesSheet, textSheet, workbook } from '../support/workbook';

jest.setTimeout(120_000);

let e2e: E2eRuntime;
let browser: Browser;
let consoleUrl: string;

beforeAll(async () => {
  [e2e, browser] = await Promise.all([
    startE2eRuntime({ blueprint: 'e2e', console: true, statusIntervalSeconds: 1 }),
    launchChromium(),
  ]);
  consoleUrl = e2e.runtime.consoleUrl ?? '';
});
afterAll(async () => {
  await browser?.close();
  await e2e?.stop();
});

/** Puts an object straight into the bucket, as a plain S3 user (or the CLI) would. */
const put = async (key: string, body: string | Uint8Array): Promise<void> => {
  const target = resolveTarget({}, e2e.env);
  await target.client.send(new PutObjectCommand({ Bucket: target.bucket, Key: key, Body: body }));
};

/** A fresh page on one of the console's routes, with the errors it reports collected. */
const open = async (route: string): Promise<{ page: Page; errors: string[] }> => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const errors = collectPageErrors(page);
  page.on('dialog', (dialog) => void dialog.accept());
  await page.goto(`${consoleUrl}${route}`);
  await page.locator('h2').first().waitFor();
  return { page, errors };
};

const jobIdOf = (page: Page): string => decodeURIComponent(new URL(page.url()).hash.replace('#/job/', ''));

/** Submits one job on the submit page (datasets by key, config by key) and returns its id. */
const submitInBrowser = async (page: Page, datasets: readonly string[], config: string): Promise<string> => {
  await page.goto(`${consoleUrl}#/submit`);
  await page.getByRole('heading', { name: 'One job' }).waitFor();
  for (const key of datasets) await page.getByLabel(key, { exact: true }).check();
  await page.getByLabel('Config').selectOption(config);
  await page.getByRole('button', { name: 'Submit', exact: true }).click();
  await page.waitForURL(/#\/job\//);
  return jobIdOf(page);
};

const waitEnabled = async (locator: Locator, timeout = 30_000): Promise<void> => {
  const until = Date.now() + timeout;
  while (await locator.isDisabled()) {
    if (Date.now() > until) throw new Error(`${String(locator)} stayed disabled for ${timeout / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
};

const jobState = (page: Page) => page.locator('h2 .state');

/** Waits until the element's text contains (or for a RegExp matches) `expected`; the last text seen on failure. */
const waitText = async (locator: Locator, expected: string | RegExp, timeout = 30_000): Promise<void> => {
  const until = Date.now() + timeout;
  let last: string | null = null;
  for (;;) {
    last = await locator
      .first()
      .textContent({ timeout: 1000 })
      .catch(() => null);
    if (last !== null && (typeof expected === 'string' ? last.includes(expected) : expected.test(last)))
      return;
    if (Date.now() > until) {
      throw new Error(
        `waited ${timeout / 1000} s for ${String(locator)} to show ${String(expected)}; it showed: ${String(last)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
};

test('upload with progress, submit, follow to SUCCESS, download the result byte for byte', async () => {
  const { page, errors } = await open('#/upload');
  await screenshotOnFailure(page, 'upload-submit-download', async () => {
    // 9 MiB: more than one 8 MiB part, so the upload is multipart.
    const data = Buffer.alloc(9 * 1024 * 1024, 7);
    data.write('recording: spikes 1 2 3\n');
    await page
      .locator('#pick-files')
      .setInputFiles({ name: 'recording.bin', mimeType: 'application/octet-stream', buffer: data });
    const row = page.locator('tr[data-key="labA/inputs/recording.bin"]');
    await waitText(row.locator('.percent'), '100%');
    await waitText(row, 'done');

    await page.getByLabel(/Configs \(configs\/\)/).check();
    await page.locator('#pick-files').setInputFiles({
      name: 'succeed.json',
      mimeType: 'application/json',
      buffer: Buffer.from('{"mode": "succeed"}'),
    });
    await waitText(page.locator('tr[data-key="labA/configs/succeed.json"]'), 'done');
    // The listings below show what is now in the bucket, with sizes.
    await waitText(page.getByRole('table', { name: 'Data (inputs/)' }), '9.0 MiB');

    const jobId = await submitInBrowser(page, ['labA/inputs/recording.bin'], 'labA/configs/succeed.json');
    await waitText(jobState(page), 'SUCCESS', 90_000);
    await waitText(page.locator('pre.stdout'), 'e2e analysis of labA/inputs/recording.bin');
    await waitText(page.locator('pre.certificate'), jobId);

    const link = page.getByRole('link', { name: 'copy-recording.bin' });
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const saved = await download.path();
    expect(Buffer.compare(fs.readFileSync(saved), data)).toBe(0);

    // The whole logs download too; times on the page are in one format.
    const logs = page.getByRole('list', { name: /^Log files/ });
    const stdoutLink = logs.getByRole('link', { name: /_stdout\.txt$/ });
    const [log] = await Promise.all([page.waitForEvent('download'), stdoutLink.click()]);
    expect(fs.readFileSync(await log.path(), 'utf8')).toContain('e2e analysis of labA/inputs/recording.bin');
    await waitText(page.locator('article.dataset p.muted'), /started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);

    // The jobs page lists it, newest first, with its state.
    await page.goto(`${consoleUrl}#/jobs`);
    await waitText(page.locator(`tr[data-job="${jobId}"] .state`), 'SUCCESS');
  });
  expect(errors).toEqual([]);
});

test('an upload waits out a dropped connection: a part that fails four times in a row is sent again, not the file', async () => {
  const { page, errors } = await open('#/upload');
  await screenshotOnFailure(page, 'upload-dropped-connection', async () => {
    const data = Buffer.alloc(9 * 1024 * 1024, 3);
    data.write('flaky network\n');
    // Part 2's first four attempts never reach the bucket, as when the network drops; more than the
    // SDK's default three attempts, so the upload survives only with the console's patient client.
    let dropped = 0;
    await page.route(
      (url) => url.pathname.endsWith('/labA/inputs/flaky.bin') && url.searchParams.get('partNumber') === '2',
      async (route) => {
        if (route.request().method() === 'PUT' && dropped < 4) {
          dropped += 1;
          await route.abort('internetdisconnected');
        } else await route.continue();
      },
    );
    await page
      .locator('#pick-files')
      .setInputFiles({ name: 'flaky.bin', mimeType: 'application/octet-stream', buffer: data });
    const row = page.locator('tr[data-key="labA/inputs/flaky.bin"]');
    await waitText(row, 'done', 60_000);
    expect(dropped).toBe(4);
    expect(await row.getByRole('button', { name: 'Retry' }).count()).toBe(0);
    const target = resolveTarget({}, e2e.env);
    const stored = await target.client.send(
      new GetObjectCommand({ Bucket: target.bucket, Key: 'labA/inputs/flaky.bin' }),
    );
    expect(Buffer.compare(Buffer.from((await stored.Body?.transformToByteArray()) ?? []), data)).toBe(0);
  });
  // The dropped attempts are logged by the browser as failed loads; nothing else may be.
  expect(errors.filter((e) => !e.includes('ERR_INTERNET_DISCONNECTED'))).toEqual([]);
});

test('a failing analysis shows FAILED with its stderr', async () => {
  await put('labA/inputs/session.txt', 'bad data\n');
  await put('labA/configs/fail.json', '{"mode": "fail"}');
  const { page, errors } = await open('#/jobs');
  await screenshotOnFailure(page, 'failed', async () => {
    await submitInBrowser(page, ['labA/inputs/session.txt'], 'labA/configs/fail.json');
    await waitText(jobState(page), 'FAILED', 90_000);
    await waitText(page.locator('pre.stderr'), 'the analysis broke on purpose (mode fail)');
  });
  expect(errors).toEqual([]);
});

test('cancel stops a running job', async () => {
  await put('labA/inputs/long.txt', 'long\n');
  await put('labA/configs/sleep.json', '{"mode": "sleep", "seconds": 9333}');
  const { page, errors } = await open('#/jobs');
  await screenshotOnFailure(page, 'cancel', async () => {
    await submitInBrowser(page, ['labA/inputs/long.txt'], 'labA/configs/sleep.json');
    await waitText(jobState(page), 'IN PROGRESS', 90_000);
    await page.getByRole('button', { name: 'Cancel job' }).click();
    await page.getByText('Cancel requested').waitFor();
    await waitText(jobState(page), 'CANCELLED', 90_000);
  });
  expect(errors).toEqual([]);
});

test('the browser refuses what the handler would, naming the field; a refusal written by the handler is shown with its message', async () => {
  await put('labA/inputs/refuse.txt', 'x\n');
  await put('labA/configs/ok.json', '{"mode": "succeed"}');
  const { page, errors } = await open('#/submit');
  await screenshotOnFailure(page, 'refusals', async () => {
    // In the browser: a timestamp with a slash is refused before anything is written.
    await page.getByLabel('labA/inputs/refuse.txt', { exact: true }).check();
    await page.getByLabel('Config').selectOption('labA/configs/ok.json');
    await page.getByLabel(/^Timestamp/).fill('a/b');
    await page.getByRole('button', { name: 'Submit', exact: true }).click();
    await waitText(page.getByRole('alert'), 'timestamp');
    expect(page.url()).toContain('#/submit');

    // Written by a plain S3 user and refused by the control plane: the jobs page shows why.
    await put(
      'labA/submissions/refused1submit.json',
      JSON.stringify({
        dataname: 'labA/inputs/refuse.txt',
        configname: 'labA/configs/ok.json',
        timestamp: 'refused1',
        instance_type: 'p5.48xlarge',
      }),
    );
    await page.goto(`${consoleUrl}#/jobs`);
    const row = page.locator('tr[data-job="refused1"]');
    await waitText(row.locator('.state'), 'REFUSED', 60_000);
    await waitText(row, 'p5.48xlarge');
  });
  expect(errors).toEqual([]);
});

test('a CSV job list with one bad row blocks the whole list and names the row', async () => {
  await put('labA/inputs/csv1.txt', 'one\n');
  await put('labA/configs/csv.json', '{"mode": "succeed"}');
  const { page, errors } = await open('#/submit');
  await screenshotOnFailure(page, 'csv', async () => {
    const csv =
      'group,data,config\n' +
      'labA,labA/inputs/csv1.txt,labA/configs/csv.json\n' +
      'labA,labA/inputs/not-uploaded.txt,labA/configs/csv.json\n';
    await page
      .locator('#csv')
      .setInputFiles({ name: 'jobs.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await waitText(page.getByRole('alert'), 'row 3, column data');
    await waitText(page.getByRole('alert'), 'labA/inputs/not-uploaded.txt');
    expect(await page.getByRole('button', { name: /^Submit 2 jobs$/ }).isDisabled()).toBe(true);

    // Fixed (and each row its own timestamp), the list goes: both rows become jobs.
    const fixed =
      'group,data,config,timestamp\n' +
      'labA,labA/inputs/csv1.txt,labA/configs/csv.json,csvjob-1\n' +
      'labA,labA/inputs/csv1.txt,labA/configs/csv.json,csvjob-2\n';
    await page
      .locator('#csv')
      .setInputFiles({ name: 'jobs.csv', mimeType: 'text/csv', buffer: Buffer.from(fixed) });
    const send = page.getByRole('button', { name: /^Submit 2 jobs$/ });
    await waitEnabled(send);
    await send.click();
    await waitText(page.getByText(/^Submitted:/), 'row 3');
  });
  expect(errors).toEqual([]);
});

test('an Excel workbook job list: rows numbered as the spreadsheet shows them, a large workbook read under the page policy', async () => {
  await put('labA/inputs/xlsx1.txt', 'one\n');
  await put('labA/configs/xlsx.json', '{"mode": "succeed"}');
  const { page, errors } = await open('#/submit');
  await screenshotOnFailure(page, 'xlsx', async () => {
    const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
    // The table starts at B2, as people place them: the bad row is row 4 of the sheet.
    const bad = await workbook([
      [],
      [null, 'group', 'data', 'config'],
      [null, 'labA', 'labA/inputs/xlsx1.txt', 'labA/configs/xlsx.json'],
      [null, 'labA', 'labA/inputs/not-uploaded.txt', 'labA/configs/xlsx.json'],
    ]);
    await page.locator('#csv').setInputFiles({ name: 'jobs.xlsx', mimeType: XLSX, buffer: bad });
    await waitText(page.getByRole('alert'), 'row 4, column data');

    // A second sheet of notes big enough that the unzip runs in a worker: the page's policy allows it.
    const good = await workbook(
      textSheet([
        ['group', 'data', 'config', 'timestamp'],
        ['labA', 'labA/inputs/xlsx1.txt', 'labA/configs/xlsx.json', 'xlsxjob-1'],
      ]),
      notesSheet(20_000),
    );
    await page.locator('#csv').setInputFiles({ name: 'jobs.xlsx', mimeType: XLSX, buffer: good });
    const send = page.getByRole('button', { name: /^Submit 1 job$/ });
    await waitEnabled(send);
    await send.click();
    await waitText(page.getByText(/^Submitted:/), 'xlsxjob-1');
  });
  expect(errors).toEqual([]);
});

test('hostile strings in keys, logs, refusals and CSV cells render as text; no script from data runs', async () => {
  const markup = '<img src=x onerror=window.__pwned=1>';
  const hostileName = `${markup}.txt`;
  await put('labA/configs/plain.json', '{"mode": "succeed"}');
  await put(
    'labA/submissions/hostile1submit.json',
    JSON.stringify({
      dataname: 'labA/inputs/x.txt',
      configname: 'labA/configs/plain.json',
      timestamp: 'hostile1',
      instance_type: '<script>window.__pwned=4</script>',
    }),
  );
  const { page, errors } = await open('#/upload');
  await screenshotOnFailure(page, 'hostile', async () => {
    await page.locator('#pick-files').setInputFiles({
      name: hostileName,
      mimeType: 'text/plain',
      buffer: Buffer.from('<script>window.__pwned=2</script>\n'),
    });
    await waitText(page.getByRole('table', { name: 'Uploads' }), 'done');
    await waitText(page.getByRole('table', { name: 'Data (inputs/)' }), hostileName);

    // The analysis echoes the dataset key to stdout: the job page shows it, as text.
    await submitInBrowser(page, [`labA/inputs/${hostileName}`], 'labA/configs/plain.json');
    await waitText(jobState(page), 'SUCCESS', 90_000);
    await waitText(page.locator('pre.stdout'), `e2e analysis of labA/inputs/${hostileName}`);

    // A refusal quoting the submitted markup.
    await page.goto(`${consoleUrl}#/jobs`);
    await waitText(page.locator('tr[data-job="hostile1"]'), '<script>window.__pwned=4</script>', 60_000);

    // CSV cells with markup and a javascript: "link", in the preview table and the problems.
    await page.goto(`${consoleUrl}#/submit`);
    await page.getByRole('heading', { name: 'One job' }).waitFor();
    const csv =
      'group,data,config\n' +
      `labA,javascript:window.__pwned=3,<script>window.__pwned=5</script>\n` +
      `labA,labA/inputs/${hostileName},labA/configs/plain.json\n`;
    await page
      .locator('#csv')
      .setInputFiles({ name: 'jobs.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await waitText(page.getByRole('alert'), 'row 2');
    await waitText(page.getByRole('alert'), 'javascript:window.__pwned=3');

    expect(await page.evaluate(() => (window as { __pwned?: unknown }).__pwned)).toBeUndefined();
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('a[href^="javascript:"]').count()).toBe(0);
    // The only script element is the app's own entry.
    expect(
      await page.locator('script').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('src'))),
    ).toEqual(['app.js']);
  });
  expect(errors).toEqual([]);
});

/** axe-core in the page (evaluated through the driver, which the page's CSP does not govern). */
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  readonly id: string;
  readonly impact?: string;
  readonly help: string;
  readonly nodes: readonly { readonly target: readonly unknown[] }[];
}

const seriousViolations = async (page: Page): Promise<string[]> => {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(): Promise<{ violations: AxeViolation[] }> } }).axe;
    return (await axe.run()).violations;
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
};

test('every page: no serious accessibility violation (axe-core), usable by keyboard, no sideways scrolling on a phone or at 200% zoom', async () => {
  const { page, errors } = await open('#/jobs');
  await screenshotOnFailure(page, 'accessibility', async () => {
    const job = await page.locator('tr[data-job] a').first().textContent();
    const routes = ['#/jobs', '#/upload', '#/submit', '#/analysis', `#/job/${encodeURIComponent(job ?? '')}`];
    const found: string[] = [];
    for (const route of routes) {
      await page.goto(`${consoleUrl}${route}`);
      await page.locator('h2').first().waitFor();
      await page.waitForLoadState('networkidle');
      found.push(...(await seriousViolations(page)).map((v) => `${route}: ${v}`));
    }
    expect(found).toEqual([]);

    // Keyboard: Tab reaches the page links; Enter follows one and focus moves to the new page's heading.
    await page.goto(`${consoleUrl}#/jobs`);
    await page.locator('h2').first().waitFor();
    let focused = '';
    for (let i = 0; i < 10 && focused !== 'Upload'; i += 1) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement?.textContent ?? '');
    }
    expect(focused).toBe('Upload');
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/upload$/);
    await waitText(page.locator('h2:focus'), 'Upload');

    // A phone (375 px) and 200% zoom of a 1280 px window (640 CSS px): nothing wider than the screen.
    for (const width of [375, 640]) {
      await page.setViewportSize({ width, height: 800 });
      for (const route of routes) {
        await page.goto(`${consoleUrl}${route}`);
        await page.locator('h2').first().waitFor();
        await page.waitForLoadState('networkidle');
        const overflow = await page.evaluate(
          () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
        );
        if (overflow > 1) found.push(`${route} at ${width} px: ${overflow} px wider than the screen`);
      }
    }
    expect(found).toEqual([]);
  });
  expect(errors).toEqual([]);
});
