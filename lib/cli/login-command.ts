/**
 * `ncaas login`, `ncaas logout`, `ncaas whoami`: a lab member signs in to an analysis with an email
 * address and password (no IAM user, no access key). The login is kept per analysis
 * (lib/access/login-store.ts) and every lab-member command uses it when no other AWS credentials are
 * set (lib/cli/login-session.ts); its credentials last an hour and renew from the refresh token
 * without a password for 30 days.
 *
 *   ncaas login --email ana@lab.example.org [--group labA]
 *     --bucket, --analysis, --user-pool, --client-id, --identity-pool or their NCAAS_* variables;
 *     the stack output LabMemberLogin prints the whole command.
 */
import { CognitoIdentityClient } from '@aws-sdk/client-cognito-identity';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { chooseGroup, claimsOf, memberCredentials, memberRoleArnOf } from '../access/member-credentials';
import { type Env, type LoginRecord, readLogin, removeLogin, saveLogin } from '../access/login-store';
import { REFRESH_TOKEN_DAYS } from '../access/session-length';
import { RENEW_BEFORE_MS } from '../access/renewing';
import { refreshTokens, signIn, SignInError, type SignInPrompts } from '../access/sign-in-flow';
import { EMULATOR_CREDENTIALS } from '../emulator-credentials';
import { memberRoleName } from '../member-identity';
import { CliError, EXIT } from './errors';
import type { Output } from './output';
import type { Prompter } from './prompt';
import { checkAnalysisName } from './s3-target';
import { parseEmail } from './users-command';

export interface LoginFlags {
  readonly email?: string;
  readonly group?: string;
  readonly bucket?: string;
  readonly analysis?: string;
  readonly userPool?: string;
  readonly clientId?: string;
  readonly identityPool?: string;
}

/** Where to sign in: flags first, then the environment (the local runtime's env.sh sets them all). */
export interface SignInSettings {
  readonly analysis: string;
  readonly bucket: string;
  readonly region: string;
  readonly userPoolId: string;
  readonly clientId: string;
  readonly identityPoolId?: string;
  /** Set: the local runtime's emulator (AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER). */
  readonly cognitoEndpoint?: string;
  readonly s3Endpoint?: string;
}

const nonEmpty = (value: string | undefined): string | undefined =>
  value !== undefined && value.trim() !== '' ? value.trim() : undefined;

const required = (value: string | undefined, what: string, flag: string, variable: string): string => {
  if (value === undefined) {
    throw new CliError(
      `no ${what} given: pass ${flag} or set ${variable} (your analysis's operator has them: the stack output LabMemberLogin)`,
      EXIT.usage,
    );
  }
  return value;
};

export const signInSettings = (flags: LoginFlags, env: Env): SignInSettings => {
  const analysis = checkAnalysisName(
    required(
      nonEmpty(flags.analysis) ?? nonEmpty(env.NCAAS_ANALYSIS),
      'analysis',
      '--analysis',
      'NCAAS_ANALYSIS',
    ),
  );
  const bucket = required(
    nonEmpty(flags.bucket) ?? nonEmpty(env.NCAAS_BUCKET),
    'bucket',
    '--bucket',
    'NCAAS_BUCKET',
  );
  const userPoolId = required(
    nonEmpty(flags.userPool) ?? nonEmpty(env.NCAAS_USER_POOL_ID),
    'user pool',
    '--user-pool',
    'NCAAS_USER_POOL_ID',
  );
  if (!/^[\w-]+_[0-9a-zA-Z]+$/.test(userPoolId)) {
    throw new CliError(
      `--user-pool ${JSON.stringify(userPoolId)} is not a user pool id like us-east-1_AbCdEf123`,
      EXIT.usage,
    );
  }
  const clientId = required(
    nonEmpty(flags.clientId) ?? nonEmpty(env.NCAAS_USER_POOL_CLIENT_ID),
    'app client',
    '--client-id',
    'NCAAS_USER_POOL_CLIENT_ID',
  );
  if (!/^[\w+]+$/.test(clientId)) {
    throw new CliError(`--client-id ${JSON.stringify(clientId)} is not an app client id`, EXIT.usage);
  }
  // The local runtime's user pool: an emulator on this machine whose pool ids start `local_`. Anything
  // else is Cognito, signed in to with SRP, whatever endpoint a sourced env.sh left in the shell.
  const endpoint = nonEmpty(env.AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER);
  const cognitoEndpoint =
    endpoint !== undefined && isLoopback(endpoint) && userPoolId.startsWith('local_') ? endpoint : undefined;
  const identityPoolId = nonEmpty(flags.identityPool) ?? nonEmpty(env.NCAAS_IDENTITY_POOL_ID);
  if (cognitoEndpoint === undefined && identityPoolId === undefined) {
    required(undefined, 'identity pool', '--identity-pool', 'NCAAS_IDENTITY_POOL_ID');
  }
  const s3Endpoint = nonEmpty(env.AWS_ENDPOINT_URL_S3) ?? nonEmpty(env.AWS_ENDPOINT_URL);
  return {
    analysis,
    bucket,
    // A deployed pool's id starts with its region; the emulator's does not.
    region:
      cognitoEndpoint === undefined
        ? (userPoolId.split('_')[0] as string)
        : (nonEmpty(env.AWS_REGION) ?? 'us-east-1'),
    userPoolId,
    clientId,
    ...(identityPoolId !== undefined ? { identityPoolId } : {}),
    ...(cognitoEndpoint !== undefined ? { cognitoEndpoint } : {}),
    ...(cognitoEndpoint !== undefined && s3Endpoint !== undefined ? { s3Endpoint } : {}),
  };
};

const isLoopback = (url: string): boolean => {
  try {
    return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname);
  } catch {
    return false;
  }
};

const userPoolClient = (settings: Pick<SignInSettings, 'region' | 'cognitoEndpoint'>) =>
  new CognitoIdentityProviderClient({
    region: settings.region,
    ...(settings.cognitoEndpoint !== undefined
      ? { endpoint: settings.cognitoEndpoint, credentials: EMULATOR_CREDENTIALS }
      : {}),
  });

/** The group's credentials for a fresh id token: the identity pool's, or locally the emulator's. */
const credentialsFor = async (
  settings: SignInSettings,
  idToken: string,
  group: string,
): Promise<LoginRecord['credentials']> => {
  if (settings.identityPoolId === undefined) {
    // The local runtime: its emulators take their own credentials, for a day at a time.
    return { ...EMULATOR_CREDENTIALS, expiration: new Date(Date.now() + 24 * 3600_000).toISOString() };
  }
  const claims = claimsOf(idToken);
  const roleArn = memberRoleArnOf(claims, memberRoleName(settings.analysis, settings.region, group));
  if (roleArn === undefined) {
    throw new SignInError(
      `the sign-in gives no role for group "${group}": ask the operator to deploy the analysis again`,
    );
  }
  const client = new CognitoIdentityClient({ region: settings.region });
  try {
    const credentials = await memberCredentials(client, {
      identityPoolId: settings.identityPoolId,
      userPoolId: settings.userPoolId,
      region: settings.region,
      idToken,
      roleArn,
    });
    return {
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}),
      expiration: credentials.expiration.toISOString(),
    };
  } finally {
    client.destroy();
  }
};

/** Cognito's refusals, said for a person at a terminal (`newPasswordGiven`: the person chose one). */
const explained = (error: unknown, email: string, newPasswordGiven: boolean): unknown => {
  const name = (error as { name?: string } | null)?.name;
  const message = (error as { message?: string } | null)?.message ?? '';
  switch (name) {
    case 'NotAuthorizedException':
      return new CliError(
        `sign-in refused for ${email}: ${message || 'wrong email or password'}`,
        EXIT.failed,
      );
    case 'UserNotFoundException':
      return new CliError(`sign-in refused for ${email}: wrong email or password`, EXIT.failed);
    case 'PasswordResetRequiredException':
      return new CliError(
        `${email} must choose a new password first: ask the operator for a reset code (ncaas users reset ${email}), then log in again`,
        EXIT.failed,
      );
    case 'InvalidPasswordException':
      // Cognito says this of a new password that breaks the policy; its emulator also of a wrong one.
      return newPasswordGiven
        ? new CliError(`that new password is refused: ${message} (run login again)`, EXIT.failed)
        : new CliError(`sign-in refused for ${email}: wrong email or password`, EXIT.failed);
    case 'CodeMismatchException':
    case 'ExpiredCodeException':
      return new CliError('that code did not match: run login again with a fresh code', EXIT.failed);
    case 'SignInError':
      return new CliError((error as Error).message, EXIT.failed);
    default:
      return error;
  }
};

const terminalPrompts = (prompter: Prompter, output: Output, onNewPassword: () => void): SignInPrompts => ({
  password: () => prompter.ask('Password: ', { secret: true }),
  newPassword: async () => {
    onNewPassword();
    output.err(
      'Choose your password: at least 12 characters, with upper- and lower-case letters, a digit and a symbol.',
    );
    const first = await prompter.ask('New password: ', { secret: true });
    const again = await prompter.ask('New password again: ', { secret: true });
    if (first !== again) throw new CliError('the two new passwords differ: run login again', EXIT.usage);
    return first;
  },
  mfaCode: () => prompter.ask('Code from your authenticator app: '),
  resetCode: () => {
    output.err('Your password was reset: enter the code Cognito emailed you, then a new password.');
    return prompter.ask('Reset code: ');
  },
  showTotpSetup: (uri, secret) => {
    output.err('This analysis requires a second factor. Add this key to an authenticator app:');
    output.err(`  ${secret}`);
    output.err(`  (or as a link: ${uri})`);
  },
});

export const runLogin = async (
  flags: LoginFlags,
  env: Env,
  prompter: Prompter,
  output: Output,
  now: () => Date = () => new Date(),
): Promise<number> => {
  if (flags.email === undefined)
    throw new CliError('give your email address: --email you@lab.example.org', EXIT.usage);
  const email = parseEmail(flags.email);
  const settings = signInSettings(flags, env);
  const client = userPoolClient(settings);
  let newPasswordGiven = false;
  try {
    const tokens = await signIn(
      client,
      {
        userPoolId: settings.userPoolId,
        clientId: settings.clientId,
        email,
        flow: settings.cognitoEndpoint === undefined ? 'srp' : 'password',
      },
      terminalPrompts(prompter, output, () => {
        newPasswordGiven = true;
      }),
    );
    const claims = claimsOf(tokens.idToken);
    const group = chooseGroup(claims, nonEmpty(flags.group) ?? nonEmpty(env.NCAAS_GROUP));
    const credentials = await credentialsFor(settings, tokens.idToken, group);
    const record: LoginRecord = {
      version: 1,
      ...settings,
      email: claims.email,
      group,
      groups: claims['cognito:groups'] ?? [],
      refreshToken: tokens.refreshToken,
      signedInAt: now().toISOString(),
      credentials,
    };
    saveLogin(env, record);
    output.out(
      `signed in to ${settings.analysis} as ${claims.email}, acting for group ${group}` +
        `${record.groups.length > 1 ? ` (also in ${record.groups.filter((g) => g !== group).join(', ')}: log in with --group to switch)` : ''}`,
    );
    output.out(
      'ncaas commands now use this sign-in when no other AWS credentials are set; `ncaas logout` ends it',
    );
    return EXIT.ok;
  } catch (error) {
    throw explained(error, email, newPasswordGiven);
  } finally {
    prompter.close();
    client.destroy();
  }
};

/**
 * The login's credentials, renewed from the refresh token (and saved) when they are about to expire.
 * A refresh token that expired or was revoked asks the person to log in again.
 */
export const loginCredentials = async (
  env: Env,
  record: LoginRecord,
  now: () => Date = () => new Date(),
): Promise<LoginRecord['credentials']> => {
  if (Date.parse(record.credentials.expiration) - now().getTime() > RENEW_BEFORE_MS)
    return record.credentials;
  const client = userPoolClient(record);
  try {
    const tokens = await refreshTokens(client, record.clientId, record.refreshToken);
    const claims = claimsOf(tokens.idToken);
    // Taken out of the group since: the renewal stops here, and says why.
    const group = chooseGroup(claims, record.group);
    const credentials = await credentialsFor(record, tokens.idToken, group);
    // Saved only over the login this renewal started from: a login made since (another group, another
    // account) or a logout in another terminal wins over a long-running command's renewal.
    const onDisk = readLogin(env, record.analysis);
    if (onDisk?.refreshToken === record.refreshToken && onDisk.group === record.group) {
      saveLogin(env, { ...onDisk, groups: claims['cognito:groups'] ?? [], credentials });
    }
    return credentials;
  } catch (error) {
    const name = (error as { name?: string } | null)?.name;
    if (name === 'NotAuthorizedException' || name === 'SignInError') {
      throw new CliError(
        `your sign-in to ${record.analysis} has ended (${(error as Error).message}): ncaas login --email ${record.email}`,
        EXIT.usage,
      );
    }
    throw error;
  } finally {
    client.destroy();
  }
};

export const runLogout = async (
  analysisFlag: string | undefined,
  env: Env,
  output: Output,
): Promise<number> => {
  const analysis = checkAnalysisName(
    required(
      nonEmpty(analysisFlag) ?? nonEmpty(env.NCAAS_ANALYSIS),
      'analysis',
      '--analysis',
      'NCAAS_ANALYSIS',
    ),
  );
  const record = readLogin(env, analysis);
  if (record !== undefined) {
    // Best effort: the refresh token stops working at once; the local file goes whatever happens.
    const client = userPoolClient(record);
    try {
      const { RevokeTokenCommand } = await import('@aws-sdk/client-cognito-identity-provider');
      await client.send(new RevokeTokenCommand({ ClientId: record.clientId, Token: record.refreshToken }));
    } catch {
      // Offline, or already revoked: nothing left to undo but the file.
    } finally {
      client.destroy();
    }
  }
  const removed = removeLogin(env, analysis);
  output.out(removed ? `signed out of ${analysis}` : `not signed in to ${analysis}`);
  return EXIT.ok;
};

export const runWhoami = (
  analysis: string | undefined,
  env: Env,
  output: Output,
  now = new Date(),
): number => {
  if (analysis === undefined) {
    output.out('not signed in (ncaas login --email you@lab.example.org); commands use your AWS credentials');
    return EXIT.ok;
  }
  const record = readLogin(env, analysis);
  if (record === undefined) {
    output.out(`not signed in to ${analysis} (ncaas login --email you@lab.example.org)`);
    return EXIT.ok;
  }
  const overridden = ['AWS_ACCESS_KEY_ID', 'AWS_PROFILE'].filter((name) => nonEmpty(env[name]) !== undefined);
  if (overridden.length > 0) {
    output.out(
      `(not used now: ${overridden.join(' and ')} set in this shell, and commands use that instead)`,
    );
  }
  const expires = Date.parse(record.credentials.expiration);
  output.out(`email      ${record.email}`);
  output.out(`analysis   ${record.analysis} (bucket ${record.bucket}, ${record.region})`);
  output.out(
    `group      ${record.group}${record.groups.length > 1 ? ` (groups: ${record.groups.join(', ')})` : ''}`,
  );
  output.out(`signed in  ${record.signedInAt}`);
  output.out(
    `expiry     credentials ${expires > now.getTime() ? `until ${record.credentials.expiration}` : 'expired'}; renewed without a password until ${new Date(Date.parse(record.signedInAt) + REFRESH_TOKEN_DAYS * 86_400_000).toISOString()}`,
  );
  return EXIT.ok;
};
