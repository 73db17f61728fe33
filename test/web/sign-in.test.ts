/// <reference lib="dom" />
/**
 * The web console's sign-in in a real headless Chromium, against the local runtime's user pool
 * (cognito-local): the operator adds a person to two groups, the invitation's temporary password
 * signs them in, the console asks for their own password, then shows their jobs; they switch groups
 * and sign out. A wrong password and a person in no group are told why, in one line.
 */
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import type { Browser, Page } from 'playwright-core';
import { addMember } from '../../lib/access/user-admin';
import { EMULATOR_CREDENTIALS } from '../../lib/emulator-credentials';
import { readInvitations } from '../../local/local-sign-in';
import { collectPageErrors, launchChromium, screenshotOnFailure } from '../support/browser';
import { startE2eRuntime, waitFor, type E2eRuntime } from '../support/local-e2e';

jest.setTimeout(120_000);

let e2e: E2eRuntime;
let browser: Browser;

beforeAll(async () => {
  [e2e, browser] = await Promise.all([
    startE2eRuntime({ blueprint: 'e2e', console: true, signIn: true }),
    launchChromium(),
  ]);
});
afterAll(async () => {
  await browser?.close();
  await e2e?.stop();
});

/** Adds a person as `ncaas users add` does; returns the invitation's temporary password. */
const invite = async (email: string, groups: readonly string[]): Promise<string> => {
  const signIn = e2e.runtime.signIn;
  if (signIn === undefined) throw new Error('the local sign-in is not running');
  const client = new CognitoIdentityProviderClient({
    region: 'us-east-1',
    endpoint: signIn.endpoint,
    credentials: EMULATOR_CREDENTIALS,
  });
  try {
    await addMember(client, signIn.userPoolId, email, groups);
  } finally {
    client.destroy();
  }
  const invitation = await waitFor('the invitation', () =>
    readInvitations(signIn.invitationsFile).find((i) => i.email === email),
  );
  return invitation.temporaryPassword;
};

const signInWith = async (page: Page, email: string, password: string): Promise<void> => {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
};

test('invited to two groups: sign in with the temporary password, choose a password, see the jobs, switch group, sign out', async () => {
  const email = 'ana.lopez@lab-a.example.org';
  const temporary = await invite(email, ['labA', 'labB']);
  const page = await browser.newPage();
  const errors = collectPageErrors(page);
  await screenshotOnFailure(page, 'sign-in', async () => {
    await page.goto(e2e.runtime.consoleUrl ?? '');
    await page.getByRole('heading', { name: 'Sign in to e2e' }).waitFor();
    await signInWith(page, email, temporary);
    await page.getByLabel('New password').fill('a long one, chosen here');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Jobs of group labA' }).waitFor();
    expect(await page.getByText(email).count()).toBe(1);

    await page.getByLabel('Group', { exact: true }).selectOption('labB');
    await page.getByRole('heading', { name: 'Jobs of group labB' }).waitFor();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to e2e' }).waitFor();
    // Signed out, the next sign-in uses the password chosen above.
    await signInWith(page, email, 'a long one, chosen here');
    await page.getByRole('heading', { name: /^Jobs of group / }).waitFor();
  });
  expect(errors).toEqual([]);
});

test('a wrong password, and a person in no group, are told why and stay on the sign-in page', async () => {
  const lonely = 'no.group@lab-a.example.org';
  const temporary = await invite(lonely, []);
  const page = await browser.newPage();
  await screenshotOnFailure(page, 'sign-in-refused', async () => {
    await page.goto(e2e.runtime.consoleUrl ?? '');
    await page.getByRole('heading', { name: 'Sign in to e2e' }).waitFor();
    await signInWith(page, 'ana.lopez@lab-a.example.org', 'not the password at all');
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/Not signed in/);

    await signInWith(page, lonely, temporary);
    await page.getByLabel('New password').fill('another long one, chosen');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByText('is in no group of this analysis yet').waitFor();
    expect(await page.getByRole('heading', { name: 'Sign in to e2e' }).count()).toBe(1);
  });
});
