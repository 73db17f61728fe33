/**
 * Signing a person in to an analysis's user pool and answering what Cognito asks on the way: the
 * password proof (SRP), a new password after an invitation, a TOTP code, or setting up TOTP when the
 * blueprint requires MFA. The prompts are the caller's (a terminal here; the console has its own),
 * so nothing here reads a keyboard or prints a secret.
 *
 * Deployed pools allow SRP only (lib/constructs/sign-in.ts). The local runtime's emulator
 * (cognito-local) has no SRP, so there the password goes to it over loopback (USER_PASSWORD_AUTH).
 */
import {
  AssociateSoftwareTokenCommand,
  ConfirmForgotPasswordCommand,
  type AuthenticationResultType,
  type ChallengeNameType,
  type CognitoIdentityProviderClient,
  InitiateAuthCommand,
  type InitiateAuthCommandOutput,
  RespondToAuthChallengeCommand,
  VerifySoftwareTokenCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import * as z from 'zod';
import { startSrp } from './srp';

export interface SignInPrompts {
  /** The account's password (or the temporary one from the invitation). */
  password(): Promise<string>;
  /** A new password: the invitation's temporary one must be replaced at the first sign-in. */
  newPassword(): Promise<string>;
  /** The 6-digit code of the person's authenticator app. */
  mfaCode(): Promise<string>;
  /** The code an operator's `ncaas users reset` had Cognito email; without it a reset is refused. */
  resetCode?(): Promise<string>;
  /** MFA is required and not yet set up: the secret to add to an authenticator app (shown to the person only). */
  showTotpSetup(otpauthUri: string, secret: string): void;
}

export interface SignInRequest {
  readonly userPoolId: string;
  readonly clientId: string;
  readonly email: string;
  /** `srp` on AWS; `password` against the local emulator only. */
  readonly flow: 'srp' | 'password';
}

export interface CognitoTokens {
  readonly idToken: string;
  readonly accessToken: string;
  readonly refreshToken: string;
  /** When the id and access tokens expire. */
  readonly expiresAt: Date;
}

/** A sign-in refused for a reason the person can act on. */
export class SignInError extends Error {
  override readonly name = 'SignInError';
}

const verifierChallenge = z.object({
  SALT: z.string().regex(/^[0-9a-fA-F]+$/),
  SRP_B: z.string().regex(/^[0-9a-fA-F]+$/),
  SECRET_BLOCK: z.string().min(1),
  USER_ID_FOR_SRP: z.string().min(1),
});

/** A person cannot be asked more than this many things in one sign-in; more is a loop. */
const MAX_CHALLENGES = 6;

const tokensOf = (result: AuthenticationResultType, refreshToken?: string): CognitoTokens => {
  const refresh = result.RefreshToken ?? refreshToken;
  if (!result.IdToken || !result.AccessToken || !refresh) {
    throw new SignInError('the sign-in answered without tokens: try again');
  }
  return {
    idToken: result.IdToken,
    accessToken: result.AccessToken,
    refreshToken: refresh,
    expiresAt: new Date(Date.now() + (result.ExpiresIn ?? 3600) * 1000),
  };
};

export const signIn = async (
  client: CognitoIdentityProviderClient,
  request: SignInRequest,
  prompts: SignInPrompts,
): Promise<CognitoTokens> => {
  let username = request.email;
  /** The first answer: a proof of the password (SRP), or the password itself to the emulator. */
  const start = async (password: string): Promise<typeof response> => {
    if (request.flow === 'password') {
      return client.send(
        new InitiateAuthCommand({
          ClientId: request.clientId,
          AuthFlow: 'USER_PASSWORD_AUTH',
          AuthParameters: { USERNAME: request.email, PASSWORD: password },
        }),
      );
    }
    const srp = await startSrp(request.userPoolId);
    const started = await client.send(
      new InitiateAuthCommand({
        ClientId: request.clientId,
        AuthFlow: 'USER_SRP_AUTH',
        AuthParameters: { USERNAME: request.email, SRP_A: srp.largeA },
      }),
    );
    const challenge = verifierChallenge.safeParse(started.ChallengeParameters);
    if (started.ChallengeName !== 'PASSWORD_VERIFIER' || !challenge.success) {
      throw new SignInError(`the sign-in asked ${started.ChallengeName ?? 'nothing'} instead of a password`);
    }
    username = challenge.data.USER_ID_FOR_SRP;
    return client.send(
      new RespondToAuthChallengeCommand({
        ClientId: request.clientId,
        ChallengeName: 'PASSWORD_VERIFIER',
        Session: started.Session,
        ChallengeResponses: await srp.passwordClaim(challenge.data, password),
      }),
    );
  };

  // What Cognito answered last: tokens, or its next question (both calls answer in this shape).
  let response: Pick<InitiateAuthCommandOutput, 'AuthenticationResult' | 'ChallengeName' | 'Session'>;
  try {
    response = await start(await prompts.password());
  } catch (error) {
    // After `ncaas users reset`: the emailed code sets a new password, which then signs in.
    if (
      (error as { name?: string } | null)?.name !== 'PasswordResetRequiredException' ||
      !prompts.resetCode
    ) {
      throw error;
    }
    const code = await prompts.resetCode();
    const password = await prompts.newPassword();
    await client.send(
      new ConfirmForgotPasswordCommand({
        ClientId: request.clientId,
        Username: request.email,
        ConfirmationCode: code,
        Password: password,
      }),
    );
    response = await start(password);
  }

  for (let asked = 0; asked < MAX_CHALLENGES; asked++) {
    if (response.AuthenticationResult) return tokensOf(response.AuthenticationResult);
    const name: ChallengeNameType | undefined = response.ChallengeName;
    const answer = async (responses: Record<string, string>, session = response.Session) =>
      client.send(
        new RespondToAuthChallengeCommand({
          ClientId: request.clientId,
          ChallengeName: name,
          Session: session,
          ChallengeResponses: { USERNAME: username, ...responses },
        }),
      );
    if (name === 'NEW_PASSWORD_REQUIRED') {
      response = await answer({ NEW_PASSWORD: await prompts.newPassword() });
    } else if (name === 'SOFTWARE_TOKEN_MFA') {
      response = await answer({ SOFTWARE_TOKEN_MFA_CODE: await prompts.mfaCode() });
    } else if (name === 'MFA_SETUP') {
      const associated = await client.send(new AssociateSoftwareTokenCommand({ Session: response.Session }));
      if (!associated.SecretCode) throw new SignInError('setting up MFA gave no secret: try again');
      const label = encodeURIComponent(`ncaas:${request.email}`);
      prompts.showTotpSetup(
        `otpauth://totp/${label}?secret=${associated.SecretCode}&issuer=ncaas`,
        associated.SecretCode,
      );
      const verified = await client.send(
        new VerifySoftwareTokenCommand({
          Session: associated.Session,
          UserCode: await prompts.mfaCode(),
          FriendlyDeviceName: 'ncaas',
        }),
      );
      if (verified.Status !== 'SUCCESS') throw new SignInError('that code did not match: run login again');
      response = await answer({}, verified.Session);
    } else {
      throw new SignInError(
        `the sign-in asked for ${name ?? 'nothing'}, which ncaas cannot answer: ask the analysis's operator`,
      );
    }
  }
  throw new SignInError('the sign-in kept asking for more: run login again');
};

/** New id and access tokens from the refresh token (lib/access/session-length.ts). */
export const refreshTokens = async (
  client: CognitoIdentityProviderClient,
  clientId: string,
  refreshToken: string,
): Promise<CognitoTokens> => {
  const response = await client.send(
    new InitiateAuthCommand({
      ClientId: clientId,
      AuthFlow: 'REFRESH_TOKEN_AUTH',
      AuthParameters: { REFRESH_TOKEN: refreshToken },
    }),
  );
  if (!response.AuthenticationResult) throw new SignInError('the sign-in did not renew: log in again');
  return tokensOf(response.AuthenticationResult, refreshToken);
};
