/**
 * A lab member with no IAM user and no access key, end to end on the local runtime and through the
 * real `ncaas` entry: the operator adds them with one command, the invitation's temporary password
 * arrives in the local mailbox, they log in (choosing their own password), submit a job and see it
 * succeed, using nothing but the saved login. Then whoami, a wrong password, and logout.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readInvitations } from '../../local/local-sign-in';
import { startE2eRuntime, waitFor, type E2eRuntime } from '../support/local-e2e';

jest.setTimeout(180_000);

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'ncaas.js');
const EMAIL = 'ana.lopez@lab-a.example.org';
const NEW_PASSWORD = 'a long one, chosen here';

let e2e: E2eRuntime;
let configDir: string;
beforeAll(async () => {
  e2e = await startE2eRuntime({ blueprint: 'e2e', signIn: true });
  configDir = path.join(e2e.dir, 'config');
});
afterAll(async () => {
  await e2e?.stop();
});

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `ncaas ...` as a person runs it, with `env` as the whole environment and `input` typed at its prompts. */
const ncaas = (args: readonly string[], env: Record<string, string>, input = ''): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: e2e.dir,
      env: { PATH: process.env.PATH ?? '', NCAAS_CONFIG_DIR: configDir, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });

/** What the operator has: env.sh (the emulators' endpoints and credentials, the pool, the client). */
const operatorEnv = (): Record<string, string> => ({ ...e2e.env });

/** What a lab member is told: the sign-in's settings, and no AWS credentials at all. */
const memberSettings = (): Record<string, string> =>
  Object.fromEntries(
    Object.entries(e2e.env).filter(
      ([name]) => !['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'NCAAS_BLUEPRINT'].includes(name),
    ),
  );

test('the operator adds a person; they log in, submit and see their job succeed with no access key', async () => {
  const added = await ncaas(['users', 'add', EMAIL, '--group', 'labA'], operatorEnv());
  expect(added.stderr).toBe('');
  expect(added.stdout).toContain(`added ${EMAIL} to labA`);
  // Nothing secret is printed by the command; the emulator's invitation carries the password.
  const invitation = await waitFor('the invitation', () =>
    readInvitations(e2e.runtime.signIn?.invitationsFile ?? '').find((i) => i.email === EMAIL),
  );
  expect(added.stdout).not.toContain(invitation.temporaryPassword);

  const login = await ncaas(
    ['login', '--email', EMAIL],
    memberSettings(),
    `${invitation.temporaryPassword}\n${NEW_PASSWORD}\n${NEW_PASSWORD}\n`,
  );
  expect(login.stderr).toContain('Choose your password');
  expect(login.stdout).toContain(
    `signed in to ${e2e.runtime.config.name} as ${EMAIL}, acting for group labA`,
  );
  expect(`${login.stdout}${login.stderr}`).not.toContain(NEW_PASSWORD);
  const saved = path.join(configDir, 'logins', `${e2e.runtime.config.name}.json`);
  expect(fs.statSync(saved).mode & 0o777).toBe(0o600);
  expect(fs.statSync(path.dirname(saved)).mode & 0o777).toBe(0o700);

  // The member's shell now has nothing but the config folder: no bucket, no endpoint, no credentials.
  const data = e2e.file('recording.txt', 'spikes 1 2 3\n');
  const config = e2e.file('config.json', JSON.stringify({ mode: 'succeed' }));
  const submitted = await ncaas(['submit', '--data', data, '--config', config], {});
  expect(submitted.code).toBe(0);
  // Uploaded into the login's group, in the login's bucket, as the group's member.
  expect(submitted.stderr).toContain(`-> s3://${e2e.runtime.bucket}/labA/inputs/recording.txt`);
  const job = submitted.stdout.trim().split('\n').pop() ?? '';
  expect(job).toMatch(/^\S+$/);

  const watched = await ncaas(['watch', job, '--interval', '1'], {});
  expect(watched.code).toBe(0);
  expect(watched.stdout).toContain('SUCCESS');
  // The job is the group's: the operator sees it under labA.
  const status = await e2e.cli.statusJson(job, { group: 'labA' });
  expect(status.state).toBe('SUCCESS');

  const whoami = await ncaas(['whoami'], {});
  expect(whoami.stdout).toContain(`email      ${EMAIL}`);
  expect(whoami.stdout).toContain('group      labA');
  expect(whoami.stdout).toMatch(/expiry {5}credentials until \d{4}-/);
});

test('a wrong password is refused in one line and keeps the login there was', async () => {
  const wrong = await ncaas(['login', '--email', EMAIL], memberSettings(), 'not the password at all\n');
  expect(wrong.code).toBe(1);
  expect(wrong.stderr.trim().split('\n').pop()).toMatch(
    /^ncaas: sign-in refused for ana\.lopez@lab-a\.example\.org/,
  );
  expect(wrong.stderr).not.toMatch(/\n\s+at /);
  expect((await ncaas(['whoami'], {})).stdout).toContain(EMAIL);
});

test('a person in no group signs in and is told to ask the operator; nothing is saved', async () => {
  const other = 'no.group@lab-b.example.org';
  await ncaas(['users', 'add', other, '--group', 'labB'], operatorEnv());
  await ncaas(['users', 'remove', other, '--group', 'labB'], operatorEnv());
  const invitation = await waitFor('the invitation', () =>
    readInvitations(e2e.runtime.signIn?.invitationsFile ?? '').find((i) => i.email === other),
  );
  const login = await ncaas(
    ['login', '--email', other, '--analysis', e2e.runtime.config.name],
    memberSettings(),
    `${invitation.temporaryPassword}\n${NEW_PASSWORD}\n${NEW_PASSWORD}\n`,
  );
  expect(login.code).toBe(1);
  expect(login.stderr).toContain(`${other} is in no group of this analysis yet`);
  expect((await ncaas(['whoami'], {})).stdout).toContain(EMAIL);
});

test('logout removes the login: commands then find no credentials', async () => {
  const out = await ncaas(['logout'], {});
  expect(out.stdout).toContain(`signed out of ${e2e.runtime.config.name}`);
  expect(fs.existsSync(path.join(configDir, 'logins', `${e2e.runtime.config.name}.json`))).toBe(false);
  const jobs = await ncaas(['jobs', '--group', 'labA'], {});
  expect(jobs.code).toBe(2);
  expect(jobs.stderr).toContain('no bucket given');
});
