/**
 * `ncaas login` against a deployed analysis, through client mocks of the real request shapes: SRP
 * with the user pool, then the identity pool's credentials for the chosen group's member role; the
 * saved login (0600), its renewal from the refresh token, and what a person is told when it ends.
 * The local runtime's login runs end to end in test/e2e/sign-in.test.ts.
 */
import {
  CognitoIdentityClient,
  GetCredentialsForIdentityCommand,
  GetIdCommand,
} from '@aws-sdk/client-cognito-identity';
import {
  CognitoIdentityProviderClient,
  InitiateAuthCommand,
  NotAuthorizedException,
  RespondToAuthChallengeCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { mockClient } from 'aws-sdk-client-mock';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loginRecordSchema, readLogin, saveLogin, type LoginRecord } from '../../lib/access/login-store';
import { CliError } from '../../lib/cli/errors';
import { loginCredentials, runLogin, runWhoami, signInSettings } from '../../lib/cli/login-command';
import { applicableLogin } from '../../lib/cli/login-session';
import type { Prompter } from '../../lib/cli/prompt';
import { memberRoleName } from '../../lib/member-identity';
import { captureOutput } from '../support/captured-output';
import { SrpServer } from '../support/srp-server';

const userPool = mockClient(CognitoIdentityProviderClient);
const identity = mockClient(CognitoIdentityClient);

const REGION = 'eu-west-1';
const POOL = `${REGION}_AbCdEf123`;
const ANALYSIS = 'spike-sorter';
const EMAIL = 'ana@lab.example.org';
const roleArn = (group: string) =>
  `arn:aws:iam::123456789012:role/ncaas/${ANALYSIS}/${REGION}/members/${memberRoleName(ANALYSIS, REGION, group)}`;

const idToken = (claims: object): string =>
  ['header', Buffer.from(JSON.stringify(claims)).toString('base64url'), 'signature'].join('.');
const tokenFor = (groups: string[]) =>
  idToken({
    email: EMAIL,
    exp: 2_000_000_000,
    'cognito:groups': groups,
    'cognito:roles': groups.map(roleArn),
  });

let env: Record<string, string>;
beforeEach(() => {
  userPool.reset();
  identity.reset();
  env = {
    NCAAS_CONFIG_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-login-')),
    NCAAS_ANALYSIS: ANALYSIS,
    NCAAS_BUCKET: 'spike-sorter-data',
    NCAAS_USER_POOL_ID: POOL,
    NCAAS_USER_POOL_CLIENT_ID: 'client1abc',
    NCAAS_IDENTITY_POOL_ID: `${REGION}:0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b`,
  };
});

const answers = (...lines: string[]): Prompter => {
  const queue = [...lines];
  return {
    ask: async () => {
      const next = queue.shift();
      if (next === undefined) throw new Error('asked more than the test answers');
      return next;
    },
    close: () => undefined,
  };
};

/** A user pool that signs EMAIL in with SRP and gives tokens for `groups`. */
const poolSigningIn = (groups: string[]) => {
  const server = new SrpServer(POOL, 'user-id-1', 'correct horse battery');
  userPool.on(InitiateAuthCommand, { AuthFlow: 'USER_SRP_AUTH' }).callsFake((input) => ({
    ChallengeName: 'PASSWORD_VERIFIER',
    Session: 's',
    ChallengeParameters: server.challenge(input.AuthParameters.SRP_A),
  }));
  userPool.on(RespondToAuthChallengeCommand).callsFake((input) => {
    if (!server.verify(input.ChallengeResponses)) {
      throw new NotAuthorizedException({ message: 'Incorrect username or password.', $metadata: {} });
    }
    return {
      AuthenticationResult: {
        IdToken: tokenFor(groups),
        AccessToken: 'a',
        RefreshToken: 'r1',
        ExpiresIn: 3600,
      },
    };
  });
  identity.on(GetIdCommand).resolves({ IdentityId: `${REGION}:identity-1` });
  identity.on(GetCredentialsForIdentityCommand).resolves({
    Credentials: {
      AccessKeyId: 'ASIAEXAMPLE',
      SecretKey: 'secret',
      SessionToken: 'session',
      Expiration: new Date('2030-01-01T01:00:00Z'),
    },
  });
};

test('login: SRP, then the identity pool gives the group member role; the login is saved 0600', async () => {
  poolSigningIn(['labA']);
  const { output, stdout } = captureOutput();
  await runLogin({ email: 'Ana@Lab.Example.org' }, env, answers('correct horse battery'), output);
  expect(stdout()).toContain(`signed in to ${ANALYSIS} as ${EMAIL}, acting for group labA`);
  const logins = { [`cognito-idp.${REGION}.amazonaws.com/${POOL}`]: tokenFor(['labA']) };
  expect(identity.commandCalls(GetIdCommand)[0]?.args[0].input).toEqual({
    IdentityPoolId: env.NCAAS_IDENTITY_POOL_ID,
    Logins: logins,
  });
  expect(identity.commandCalls(GetCredentialsForIdentityCommand)[0]?.args[0].input).toEqual({
    IdentityId: `${REGION}:identity-1`,
    Logins: logins,
    CustomRoleArn: roleArn('labA'),
  });
  const file = path.join(env.NCAAS_CONFIG_DIR as string, 'logins', `${ANALYSIS}.json`);
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  expect(readLogin(env, ANALYSIS)).toMatchObject({
    email: EMAIL,
    group: 'labA',
    bucket: 'spike-sorter-data',
    region: REGION,
    refreshToken: 'r1',
    credentials: { accessKeyId: 'ASIAEXAMPLE', expiration: '2030-01-01T01:00:00.000Z' },
  });
});

test('a person in two groups chooses one; without a choice the login names both and saves nothing', async () => {
  poolSigningIn(['labA', 'labB']);
  const { output } = captureOutput();
  await expect(runLogin({ email: EMAIL }, env, answers('correct horse battery'), output)).rejects.toThrow(
    /several groups \(labA, labB\): choose one with --group G/,
  );
  expect(readLogin(env, ANALYSIS)).toBeUndefined();
  await runLogin({ email: EMAIL, group: 'labB' }, env, answers('correct horse battery'), output);
  expect(identity.commandCalls(GetCredentialsForIdentityCommand)[0]?.args[0].input.CustomRoleArn).toBe(
    roleArn('labB'),
  );
  await expect(
    runLogin({ email: EMAIL, group: 'labC' }, env, answers('correct horse battery'), output),
  ).rejects.toThrow(/not in group "labC" \(did you mean "lab[AB]"\?\); your groups: labA, labB/);
});

test('a wrong password: one line naming the address; nothing saved', async () => {
  poolSigningIn(['labA']);
  const { output } = captureOutput();
  const failure = runLogin({ email: EMAIL }, env, answers('wrong horse'), output);
  await expect(failure).rejects.toThrow(CliError);
  await expect(failure).rejects.toThrow(`sign-in refused for ${EMAIL}: Incorrect username or password.`);
  expect(readLogin(env, ANALYSIS)).toBeUndefined();
});

test.each([
  [{ NCAAS_USER_POOL_ID: '' }, /no user pool given: pass --user-pool or set NCAAS_USER_POOL_ID/],
  [{ NCAAS_USER_POOL_ID: 'eu-west-1_abc; rm -rf /' }, /is not a user pool id/],
  [{ NCAAS_USER_POOL_CLIENT_ID: '<img src=x onerror=alert(1)>' }, /is not an app client id/],
  [{ NCAAS_IDENTITY_POOL_ID: '' }, /no identity pool given: pass --identity-pool/],
  [{ NCAAS_ANALYSIS: '../../etc' }, /is not an analysis name/],
  [{ NCAAS_BUCKET: '' }, /no bucket given: pass --bucket/],
])('bad settings %p are refused before any request', async (change, message) => {
  const { output } = captureOutput();
  await expect(runLogin({ email: EMAIL }, { ...env, ...change }, answers('x'), output)).rejects.toThrow(
    message,
  );
  expect(userPool.calls()).toHaveLength(0);
});

test.each(['not an address', 'a@b', `${'x'.repeat(300)}@lab.org`, 'ana@lab.org\nrm -rf /'])(
  'the address %p is refused before any request',
  async (email) => {
    const { output } = captureOutput();
    await expect(runLogin({ email }, env, answers('x'), output)).rejects.toThrow(/is not an email address/);
    expect(userPool.calls()).toHaveLength(0);
  },
);

const saved = (overrides: Partial<LoginRecord> = {}): LoginRecord =>
  loginRecordSchema.parse({
    version: 1,
    analysis: ANALYSIS,
    bucket: 'spike-sorter-data',
    region: REGION,
    userPoolId: POOL,
    clientId: 'client1abc',
    identityPoolId: env.NCAAS_IDENTITY_POOL_ID,
    email: EMAIL,
    group: 'labA',
    groups: ['labA'],
    refreshToken: 'r1',
    signedInAt: '2030-01-01T00:00:00.000Z',
    credentials: {
      accessKeyId: 'OLD',
      secretAccessKey: 'the-secret-key',
      expiration: '2030-01-01T01:00:00.000Z',
    },
    ...overrides,
  });

test('credentials about to expire are renewed from the refresh token, without a password, and saved', async () => {
  userPool.on(InitiateAuthCommand).resolves({
    AuthenticationResult: { IdToken: tokenFor(['labA']), AccessToken: 'a', ExpiresIn: 3600 },
  });
  identity.on(GetIdCommand).resolves({ IdentityId: 'id-1' });
  identity.on(GetCredentialsForIdentityCommand).resolves({
    Credentials: {
      AccessKeyId: 'NEW',
      SecretKey: 's2',
      SessionToken: 't2',
      Expiration: new Date('2030-01-01T02:00:00Z'),
    },
  });
  saveLogin(env, saved());
  const at = (iso: string) => () => new Date(iso);
  // Still valid for 10 minutes: kept.
  expect((await loginCredentials(env, saved(), at('2030-01-01T00:50:00Z'))).accessKeyId).toBe('OLD');
  expect(userPool.calls()).toHaveLength(0);
  // 4 minutes left: renewed.
  expect((await loginCredentials(env, saved(), at('2030-01-01T00:56:00Z'))).accessKeyId).toBe('NEW');
  expect(userPool.commandCalls(InitiateAuthCommand)[0]?.args[0].input).toEqual({
    ClientId: 'client1abc',
    AuthFlow: 'REFRESH_TOKEN_AUTH',
    AuthParameters: { REFRESH_TOKEN: 'r1' },
  });
  expect(readLogin(env, ANALYSIS)?.credentials.accessKeyId).toBe('NEW');
});

test('a renewal never writes over a login made since, nor back after a logout', async () => {
  userPool.on(InitiateAuthCommand).resolves({
    AuthenticationResult: { IdToken: tokenFor(['labA', 'labB']), AccessToken: 'a', ExpiresIn: 3600 },
  });
  identity.on(GetIdCommand).resolves({ IdentityId: 'id-1' });
  identity.on(GetCredentialsForIdentityCommand).resolves({
    Credentials: { AccessKeyId: 'RENEWED', SecretKey: 's2', Expiration: new Date('2030-01-01T02:00:00Z') },
  });
  const started = saved({
    credentials: { accessKeyId: 'OLD', secretAccessKey: 's', expiration: '2000-01-01T00:00:00.000Z' },
  });
  // Another terminal logged in for labB while a long command ran on the labA login.
  saveLogin(env, saved({ group: 'labB', refreshToken: 'r2' }));
  expect((await loginCredentials(env, started)).accessKeyId).toBe('RENEWED');
  expect(readLogin(env, ANALYSIS)).toMatchObject({ group: 'labB', refreshToken: 'r2' });
  // Logged out meanwhile: the file stays gone.
  fs.rmSync(path.join(env.NCAAS_CONFIG_DIR as string, 'logins', `${ANALYSIS}.json`));
  await loginCredentials(env, started);
  expect(readLogin(env, ANALYSIS)).toBeUndefined();
});

test('the login file is replaced whole: no temporary file is left, even when the write fails', () => {
  const dir = path.join(env.NCAAS_CONFIG_DIR as string, 'logins');
  saveLogin(env, saved());
  expect(fs.readdirSync(dir)).toEqual([`${ANALYSIS}.json`]);
  // A folder where the login goes: the rename fails (for root too), after the secret was written.
  fs.rmSync(path.join(dir, `${ANALYSIS}.json`));
  fs.mkdirSync(path.join(dir, `${ANALYSIS}.json`));
  expect(() => saveLogin(env, saved({ group: 'labB' }))).toThrow();
  expect(fs.readdirSync(dir)).toEqual([`${ANALYSIS}.json`]);
  expect(fs.statSync(path.join(dir, `${ANALYSIS}.json`)).isDirectory()).toBe(true);
});

test('a logins folder that is a symbolic link is refused', () => {
  const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-elsewhere-'));
  fs.symlinkSync(elsewhere, path.join(env.NCAAS_CONFIG_DIR as string, 'logins'));
  expect(() => saveLogin(env, saved())).toThrow(/symbolic link/);
  expect(fs.readdirSync(elsewhere)).toEqual([]);
});

test('a revoked sign-in or a member taken out of the group: told to log in again', async () => {
  const expired = saved({
    credentials: { accessKeyId: 'OLD', secretAccessKey: 's', expiration: '2000-01-01T00:00:00.000Z' },
  });
  userPool
    .on(InitiateAuthCommand)
    .rejects(new NotAuthorizedException({ message: 'Refresh Token has been revoked', $metadata: {} }));
  await expect(loginCredentials(env, expired)).rejects.toThrow(
    `your sign-in to ${ANALYSIS} has ended (Refresh Token has been revoked): ncaas login --email ${EMAIL}`,
  );
  userPool.reset();
  userPool.on(InitiateAuthCommand).resolves({
    AuthenticationResult: { IdToken: tokenFor(['labB']), AccessToken: 'a', ExpiresIn: 3600 },
  });
  await expect(loginCredentials(env, expired)).rejects.toThrow(/has ended \(.*not in group "labA"/);
});

test('which login a command uses: none when AWS credentials are set; the only one, or NCAAS_ANALYSIS', () => {
  saveLogin(env, saved());
  const { NCAAS_BUCKET: _b, NCAAS_ANALYSIS: _a, ...bare } = env;
  void _b;
  void _a;
  const applied = applicableLogin(bare);
  expect(applied?.env).toMatchObject({
    NCAAS_BUCKET: 'spike-sorter-data',
    NCAAS_GROUP: 'labA',
    AWS_REGION: REGION,
  });
  // What the person set wins over the login's.
  expect(applicableLogin({ ...bare, NCAAS_GROUP: 'labB' })?.env.NCAAS_GROUP).toBe('labB');
  expect(applicableLogin({ ...bare, AWS_PROFILE: 'mine' })).toBeUndefined();
  expect(applicableLogin({ ...bare, AWS_ACCESS_KEY_ID: 'AKIA' })).toBeUndefined();
  saveLogin(env, saved({ analysis: 'other-analysis' }));
  // Two logins: the analysis must be named.
  expect(applicableLogin(bare)).toBeUndefined();
  expect(applicableLogin({ ...bare, NCAAS_ANALYSIS: 'other-analysis' })?.record.analysis).toBe(
    'other-analysis',
  );
});

test('a login file that is not a login (edited, truncated, hostile) counts as no login', () => {
  const dir = path.join(env.NCAAS_CONFIG_DIR as string, 'logins');
  fs.mkdirSync(dir, { recursive: true });
  for (const text of [
    '',
    '{',
    '{"version":1}',
    JSON.stringify({ ...saved(), analysis: 'someone-else' }),
    'null',
  ]) {
    fs.writeFileSync(path.join(dir, `${ANALYSIS}.json`), text);
    expect(readLogin(env, ANALYSIS)).toBeUndefined();
  }
});

test('whoami: email, groups, analysis and expiry; nothing secret', () => {
  saveLogin(env, saved({ groups: ['labA', 'labB'] }));
  const { output, stdout } = captureOutput();
  runWhoami(ANALYSIS, env, output, new Date('2030-01-01T00:30:00Z'));
  expect(stdout()).toContain(`email      ${EMAIL}`);
  expect(stdout()).toContain('group      labA (groups: labA, labB)');
  expect(stdout()).toContain(`analysis   ${ANALYSIS} (bucket spike-sorter-data, ${REGION})`);
  expect(stdout()).toContain(
    'credentials until 2030-01-01T01:00:00.000Z; renewed without a password until 2030-01-31',
  );
  expect(stdout()).not.toMatch(/r1|OLD|the-secret-key/);
});

test('settings: the region is the pool id prefix when deployed', () => {
  expect(signInSettings({}, env)).toMatchObject({
    region: REGION,
    identityPoolId: env.NCAAS_IDENTITY_POOL_ID,
  });
  expect(signInSettings({}, env)).not.toHaveProperty('cognitoEndpoint');
});
