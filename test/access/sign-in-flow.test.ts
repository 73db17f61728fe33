/**
 * The sign-in conversation with Cognito, against client mocks of the real request shapes: the SRP
 * password proof checked by an independent SRP server (test/support/srp-server.ts), the first
 * sign-in's new password, a TOTP code, setting up TOTP, and what cannot be answered.
 */
import {
  AssociateSoftwareTokenCommand,
  CognitoIdentityProviderClient,
  ConfirmForgotPasswordCommand,
  InitiateAuthCommand,
  NotAuthorizedException,
  PasswordResetRequiredException,
  RespondToAuthChallengeCommand,
  VerifySoftwareTokenCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { mockClient } from 'aws-sdk-client-mock';
import { refreshTokens, signIn, type SignInPrompts } from '../../lib/access/sign-in-flow';
import { SrpServer } from '../support/srp-server';

const cognito = mockClient(CognitoIdentityProviderClient);
const client = new CognitoIdentityProviderClient({ region: 'eu-west-1' });
afterAll(() => client.destroy());
beforeEach(() => cognito.reset());

const POOL = 'eu-west-1_AbCdEf123';
const USER_ID = '7c1f2a4e-0d5b-4b6f-9a51-2f0e1c3d4b5a';
const EMAIL = 'ana@lab.example.org';
const tokens = { IdToken: 'id.token.x', AccessToken: 'access', RefreshToken: 'refresh', ExpiresIn: 3600 };

const prompts = (answers: Partial<Record<keyof SignInPrompts, string>> = {}) => {
  const shown: string[] = [];
  const asked: string[] = [];
  const prompt: SignInPrompts = {
    password: async () => (asked.push('password'), answers.password ?? 'the right password'),
    newPassword: async () => (asked.push('newPassword'), answers.newPassword ?? 'a new long password'),
    mfaCode: async () => (asked.push('mfaCode'), answers.mfaCode ?? '123456'),
    showTotpSetup: (uri) => void shown.push(uri),
  };
  return { prompt, shown, asked };
};

/** Cognito with an SRP verifier for USER_ID: tokens for a proof, NotAuthorized otherwise. */
const srpPool = (
  password: string,
  after?: { ChallengeName: 'NEW_PASSWORD_REQUIRED' | 'SOFTWARE_TOKEN_MFA' },
) => {
  const server = new SrpServer(POOL, USER_ID, password);
  cognito.on(InitiateAuthCommand).callsFake((input: { AuthParameters: Record<string, string> }) => ({
    ChallengeName: 'PASSWORD_VERIFIER',
    Session: 's1',
    ChallengeParameters: server.challenge(input.AuthParameters.SRP_A ?? ''),
  }));
  cognito
    .on(RespondToAuthChallengeCommand, { ChallengeName: 'PASSWORD_VERIFIER' })
    .callsFake((input: { ChallengeResponses: Record<string, string> }) => {
      if (!server.verify(input.ChallengeResponses)) {
        throw new NotAuthorizedException({ message: 'Incorrect username or password.', $metadata: {} });
      }
      return after ? { ...after, Session: 's2' } : { AuthenticationResult: tokens };
    });
};

test('SRP: the proof of the right password is accepted by an independent SRP server; the password is never sent', async () => {
  srpPool('the right password');
  const { prompt } = prompts();
  const result = await signIn(
    client,
    { userPoolId: POOL, clientId: 'client1', email: EMAIL, flow: 'srp' },
    prompt,
  );
  expect(result).toMatchObject({ idToken: 'id.token.x', refreshToken: 'refresh' });
  const started = cognito.commandCalls(InitiateAuthCommand)[0]?.args[0].input;
  expect(started).toEqual({
    ClientId: 'client1',
    AuthFlow: 'USER_SRP_AUTH',
    AuthParameters: { USERNAME: EMAIL, SRP_A: expect.stringMatching(/^[0-9a-f]{700,}$/) },
  });
  const answered = cognito.commandCalls(RespondToAuthChallengeCommand)[0]?.args[0].input;
  expect(answered?.Session).toBe('s1');
  expect(answered?.ChallengeResponses?.TIMESTAMP).toMatch(
    /^[A-Z][a-z]{2} [A-Z][a-z]{2} \d{1,2} \d\d:\d\d:\d\d UTC \d{4}$/,
  );
  // The USERNAME of the proof is Cognito's user id for SRP, as the challenge gave it.
  expect(answered?.ChallengeResponses?.USERNAME).toBe(USER_ID);
  expect(JSON.stringify(cognito.calls().map((c) => c.args[0].input))).not.toContain('the right password');
});

test('SRP: a wrong password gives a proof the server refuses', async () => {
  srpPool('the right password');
  const { prompt } = prompts({ password: 'the wrong password' });
  await expect(
    signIn(client, { userPoolId: POOL, clientId: 'client1', email: EMAIL, flow: 'srp' }, prompt),
  ).rejects.toThrow(NotAuthorizedException);
});

test('the first sign-in answers NEW_PASSWORD_REQUIRED with the new password, as the SRP user', async () => {
  srpPool('temporary', { ChallengeName: 'NEW_PASSWORD_REQUIRED' });
  cognito
    .on(RespondToAuthChallengeCommand, { ChallengeName: 'NEW_PASSWORD_REQUIRED' })
    .resolves({ AuthenticationResult: tokens });
  const { prompt, asked } = prompts({ password: 'temporary' });
  await signIn(client, { userPoolId: POOL, clientId: 'client1', email: EMAIL, flow: 'srp' }, prompt);
  expect(asked).toEqual(['password', 'newPassword']);
  expect(cognito.commandCalls(RespondToAuthChallengeCommand)[1]?.args[0].input).toEqual({
    ClientId: 'client1',
    ChallengeName: 'NEW_PASSWORD_REQUIRED',
    Session: 's2',
    ChallengeResponses: { USERNAME: USER_ID, NEW_PASSWORD: 'a new long password' },
  });
});

test('a TOTP code is asked when the account has MFA', async () => {
  srpPool('the right password', { ChallengeName: 'SOFTWARE_TOKEN_MFA' });
  cognito
    .on(RespondToAuthChallengeCommand, { ChallengeName: 'SOFTWARE_TOKEN_MFA' })
    .resolves({ AuthenticationResult: tokens });
  const { prompt, asked } = prompts({ mfaCode: '654321' });
  await signIn(client, { userPoolId: POOL, clientId: 'client1', email: EMAIL, flow: 'srp' }, prompt);
  expect(asked).toEqual(['password', 'mfaCode']);
  expect(cognito.commandCalls(RespondToAuthChallengeCommand)[1]?.args[0].input.ChallengeResponses).toEqual({
    USERNAME: USER_ID,
    SOFTWARE_TOKEN_MFA_CODE: '654321',
  });
});

test('MFA required and not set up: the secret is shown, the code verified, then the sign-in ends', async () => {
  cognito.on(InitiateAuthCommand).resolves({ ChallengeName: 'MFA_SETUP', Session: 'm1' });
  cognito.on(AssociateSoftwareTokenCommand).resolves({ SecretCode: 'JBSWY3DPEHPK3PXP', Session: 'm2' });
  cognito.on(VerifySoftwareTokenCommand).resolves({ Status: 'SUCCESS', Session: 'm3' });
  cognito.on(RespondToAuthChallengeCommand).resolves({ AuthenticationResult: tokens });
  const { prompt, shown } = prompts();
  await signIn(client, { userPoolId: 'local_x1', clientId: 'c', email: EMAIL, flow: 'password' }, prompt);
  expect(shown[0]).toBe('otpauth://totp/ncaas%3Aana%40lab.example.org?secret=JBSWY3DPEHPK3PXP&issuer=ncaas');
  expect(cognito.commandCalls(AssociateSoftwareTokenCommand)[0]?.args[0].input).toEqual({ Session: 'm1' });
  expect(cognito.commandCalls(VerifySoftwareTokenCommand)[0]?.args[0].input).toMatchObject({
    Session: 'm2',
    UserCode: '123456',
  });
  expect(cognito.commandCalls(RespondToAuthChallengeCommand)[0]?.args[0].input).toMatchObject({
    ChallengeName: 'MFA_SETUP',
    Session: 'm3',
  });
});

test('the local flow sends the password to the emulator (USER_PASSWORD_AUTH)', async () => {
  cognito.on(InitiateAuthCommand).resolves({ AuthenticationResult: tokens });
  await signIn(
    client,
    { userPoolId: 'local_x1', clientId: 'c', email: EMAIL, flow: 'password' },
    prompts().prompt,
  );
  expect(cognito.commandCalls(InitiateAuthCommand)[0]?.args[0].input).toEqual({
    ClientId: 'c',
    AuthFlow: 'USER_PASSWORD_AUTH',
    AuthParameters: { USERNAME: EMAIL, PASSWORD: 'the right password' },
  });
});

test.each([
  [
    'a challenge it cannot answer',
    { ChallengeName: 'SMS_MFA', Session: 'x' },
    /asked for SMS_MFA, which ncaas cannot answer/,
  ],
  ['neither tokens nor a challenge', {}, /asked for nothing/],
])('%s is refused with a message, not a loop', async (_what, answer, message) => {
  cognito.on(InitiateAuthCommand).resolves(answer as never);
  await expect(
    signIn(
      client,
      { userPoolId: 'local_x1', clientId: 'c', email: EMAIL, flow: 'password' },
      prompts().prompt,
    ),
  ).rejects.toThrow(message);
});

test('a challenge asked again and again ends after a few answers', async () => {
  cognito.on(InitiateAuthCommand).resolves({ ChallengeName: 'SOFTWARE_TOKEN_MFA', Session: 'x' });
  cognito.on(RespondToAuthChallengeCommand).resolves({ ChallengeName: 'SOFTWARE_TOKEN_MFA', Session: 'x' });
  await expect(
    signIn(
      client,
      { userPoolId: 'local_x1', clientId: 'c', email: EMAIL, flow: 'password' },
      prompts().prompt,
    ),
  ).rejects.toThrow(/kept asking/);
  expect(cognito.commandCalls(RespondToAuthChallengeCommand).length).toBeLessThanOrEqual(6);
});

test('a PASSWORD_VERIFIER challenge with malformed parameters is refused before any proof', async () => {
  cognito.on(InitiateAuthCommand).resolves({
    ChallengeName: 'PASSWORD_VERIFIER',
    ChallengeParameters: { SALT: 'zz;rm -rf /', SRP_B: '<script>', SECRET_BLOCK: 'x', USER_ID_FOR_SRP: 'u' },
  });
  await expect(
    signIn(client, { userPoolId: POOL, clientId: 'c', email: EMAIL, flow: 'srp' }, prompts().prompt),
  ).rejects.toThrow(/instead of a password/);
  expect(cognito.commandCalls(RespondToAuthChallengeCommand)).toHaveLength(0);
});

test('refresh: REFRESH_TOKEN_AUTH, keeping the refresh token Cognito does not send again', async () => {
  cognito.on(InitiateAuthCommand).resolves({
    AuthenticationResult: { IdToken: 'id2', AccessToken: 'a2', ExpiresIn: 3600 },
  });
  const result = await refreshTokens(client, 'c', 'the-refresh-token');
  expect(result.refreshToken).toBe('the-refresh-token');
  expect(cognito.commandCalls(InitiateAuthCommand)[0]?.args[0].input).toEqual({
    ClientId: 'c',
    AuthFlow: 'REFRESH_TOKEN_AUTH',
    AuthParameters: { REFRESH_TOKEN: 'the-refresh-token' },
  });
});

test('a password reset by the operator: the emailed code and a new password, then the sign-in with it', async () => {
  const server = new SrpServer(POOL, USER_ID, 'a new long password');
  let reset = false;
  cognito.on(InitiateAuthCommand).callsFake((input: { AuthParameters: Record<string, string> }) => {
    if (!reset)
      throw new PasswordResetRequiredException({ message: 'Password reset required', $metadata: {} });
    return {
      ChallengeName: 'PASSWORD_VERIFIER',
      Session: 's',
      ChallengeParameters: server.challenge(input.AuthParameters.SRP_A ?? ''),
    };
  });
  cognito.on(ConfirmForgotPasswordCommand).callsFake(() => {
    reset = true;
    return {};
  });
  cognito
    .on(RespondToAuthChallengeCommand)
    .callsFake((input: { ChallengeResponses: Record<string, string> }) =>
      server.verify(input.ChallengeResponses)
        ? { AuthenticationResult: tokens }
        : { ChallengeName: 'SMS_MFA' },
    );
  const { prompt, asked } = prompts({ password: 'the forgotten one' });
  const withReset: SignInPrompts = { ...prompt, resetCode: async () => (asked.push('resetCode'), '424242') };
  await signIn(client, { userPoolId: POOL, clientId: 'client1', email: EMAIL, flow: 'srp' }, withReset);
  expect(asked).toEqual(['password', 'resetCode', 'newPassword']);
  expect(cognito.commandCalls(ConfirmForgotPasswordCommand)[0]?.args[0].input).toEqual({
    ClientId: 'client1',
    Username: EMAIL,
    ConfirmationCode: '424242',
    Password: 'a new long password',
  });
});
