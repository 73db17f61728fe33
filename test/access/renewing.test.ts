/**
 * The console's sign-in stays good past the hour: the id token is renewed from the refresh token and
 * the group's credentials fetched again, each only when near its end, through the real request
 * shapes (Cognito's REFRESH_TOKEN_AUTH, the identity pool's GetId and GetCredentialsForIdentity).
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
} from '@aws-sdk/client-cognito-identity-provider';
import { mockClient } from 'aws-sdk-client-mock';
import { renewing, renewingIdToken, renewingMemberCredentials } from '../../lib/access/renewing';

const MINUTE = 60_000;
const START = Date.parse('2026-12-07T12:00:00Z');
let clock = START;
beforeEach(() => {
  clock = START;
  jest.spyOn(Date, 'now').mockImplementation(() => clock);
});
afterEach(() => jest.restoreAllMocks());

describe('renewing', () => {
  const expiring = (minutes: number) => ({ at: new Date(clock + minutes * MINUTE) });

  test('keeps a value until five minutes before it expires, then fetches again', async () => {
    const fetch = jest.fn(async () => expiring(60));
    const value = renewing(fetch, (v) => v.at);
    const first = await value();
    clock += 54 * MINUTE;
    expect(await value()).toBe(first);
    clock += 2 * MINUTE;
    expect(await value()).not.toBe(first);
    expect(fetch).toHaveBeenCalledTimes(2);
  });

  test('callers at the same moment share one fetch; a failed fetch is tried again on the next call', async () => {
    let fail = true;
    const fetch = jest.fn(async () => {
      if (fail) throw new Error('network down');
      return expiring(60);
    });
    const value = renewing(fetch, (v) => v.at);
    const results = await Promise.allSettled([value(), value(), value()]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(fetch).toHaveBeenCalledTimes(1);
    fail = false;
    await Promise.all([value(), value()]);
    expect(fetch).toHaveBeenCalledTimes(2);
  });
});

describe('a console sign-in left open', () => {
  const userPool = mockClient(CognitoIdentityProviderClient);
  const identity = mockClient(CognitoIdentityClient);
  beforeEach(() => {
    userPool.reset();
    identity.reset();
  });

  const POOL = 'us-east-1_Abc';
  const LOGIN = `cognito-idp.us-east-1.amazonaws.com/${POOL}`;
  const ROLE = 'arn:aws:iam::123456789012:role/ncaas-mock-member-labA';
  const signedIn = () => ({
    idToken: 'id-token-1',
    accessToken: 'access-1',
    refreshToken: 'refresh-1',
    expiresAt: new Date(clock + 60 * MINUTE),
  });
  const credentialsAnswer = (n: number) => ({
    IdentityId: 'us-east-1:identity',
    Credentials: {
      AccessKeyId: `AKIA${n}`,
      SecretKey: 'secret',
      SessionToken: 'session',
      Expiration: new Date(clock + 60 * MINUTE),
    },
  });

  const groupCredentials = () => {
    const idToken = renewingIdToken(
      { client: () => new CognitoIdentityProviderClient({ region: 'us-east-1' }), clientId: 'client-1' },
      signedIn(),
    );
    return renewingMemberCredentials(
      new CognitoIdentityClient({ region: 'us-east-1' }),
      { identityPoolId: 'us-east-1:pool', userPoolId: POOL, region: 'us-east-1', roleArn: ROLE },
      idToken,
    );
  };

  test('an hour on, the id token is renewed from the refresh token and the credentials fetched with it', async () => {
    identity.on(GetIdCommand).resolves({ IdentityId: 'us-east-1:identity' });
    identity.on(GetCredentialsForIdentityCommand).callsFake(() => credentialsAnswer(identity.calls().length));
    userPool.on(InitiateAuthCommand).resolves({
      AuthenticationResult: { IdToken: 'id-token-2', AccessToken: 'access-2', ExpiresIn: 3600 },
    });
    const credentials = groupCredentials();

    const first = await credentials();
    clock += 30 * MINUTE;
    expect(await credentials()).toBe(first);
    expect(userPool.commandCalls(InitiateAuthCommand)).toHaveLength(0);

    clock += 26 * MINUTE;
    const renewed = await credentials();
    expect(renewed.accessKeyId).not.toBe(first.accessKeyId);
    expect(userPool.commandCalls(InitiateAuthCommand).map((c) => c.args[0].input)).toEqual([
      {
        ClientId: 'client-1',
        AuthFlow: 'REFRESH_TOKEN_AUTH',
        AuthParameters: { REFRESH_TOKEN: 'refresh-1' },
      },
    ]);
    const asked = identity.commandCalls(GetCredentialsForIdentityCommand).map((c) => c.args[0].input);
    expect(asked).toEqual([
      { IdentityId: 'us-east-1:identity', Logins: { [LOGIN]: 'id-token-1' }, CustomRoleArn: ROLE },
      { IdentityId: 'us-east-1:identity', Logins: { [LOGIN]: 'id-token-2' }, CustomRoleArn: ROLE },
    ]);
  });

  test('a refresh token revoked since sign-in ends the session with a message saying so, and is tried again next time', async () => {
    identity.on(GetIdCommand).resolves({ IdentityId: 'us-east-1:identity' });
    identity.on(GetCredentialsForIdentityCommand).callsFake(() => credentialsAnswer(1));
    userPool
      .on(InitiateAuthCommand)
      .rejects(new NotAuthorizedException({ message: 'Refresh Token has been revoked', $metadata: {} }));
    const credentials = groupCredentials();
    await credentials();
    clock += 58 * MINUTE;
    await expect(credentials()).rejects.toThrow(
      'your sign-in has ended (Refresh Token has been revoked): reload the page and sign in again',
    );
    await expect(credentials()).rejects.toThrow('Refresh Token has been revoked');
    expect(userPool.commandCalls(InitiateAuthCommand)).toHaveLength(2);
  });
});
