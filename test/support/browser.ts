/**
 * A real headless Chromium for the console's tests: Debian's `chromium` package (.ci/run installs it;
 * no browser is downloaded), driven by playwright-core. One browser per test file; a page per test.
 * `screenshotOnFailure` keeps a picture of the page when a step fails, in test-results/console/.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

const CANDIDATES = [process.env.NCAAS_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'];

export const SCREENSHOT_DIR = path.join(__dirname, '..', '..', 'test-results', 'console');

export const launchChromium = async (): Promise<Browser> => {
  const executablePath = CANDIDATES.find((c): c is string => c !== undefined && fs.existsSync(c));
  if (executablePath === undefined) {
    throw new Error(
      "no Chromium found: install Debian's package (sudo apt-get install chromium) or set NCAAS_CHROMIUM to its path",
    );
  }
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-default-apps',
      '--disable-extensions',
      '--no-first-run',
    ],
  });
};

/** Errors the page reported (uncaught exceptions, console errors such as a CSP refusal). */
export const collectPageErrors = (page: Page): string[] => {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    // A 404 from S3 is an answer the app asks for (does this key exist yet?), not an error. A 500 is
    // s3rver's InternalError for a listing that races a running job's write; the SDK retries it, and
    // had the retry failed the page would show the error, which the tests look for.
    if (message.type() === 'error' && !/status of (404|500)/.test(message.text())) {
      errors.push(`console: ${message.text()}`);
    }
  });
  return errors;
};

/** Runs `step`; if it throws, saves a full-page screenshot named after it, then rethrows. */
export const screenshotOnFailure = async <T>(
  page: Page,
  name: string,
  step: () => Promise<T>,
): Promise<T> => {
  try {
    return await step();
  } catch (error) {
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
    const file = path.join(SCREENSHOT_DIR, `${name.replace(/[^a-z0-9-]+/gi, '-')}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
    throw error;
  }
};
