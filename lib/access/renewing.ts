/**
 * A sign-in that stays good while a page is open: the id token renewed from the refresh token, and
 * each group's credentials fetched again from the identity pool, shortly before either expires (an
 * hour, Cognito's defaults). Without it a console left open, or an upload of many GiB, fails an hour
 * after sign-in. No Node built-in: the web console (web/src/sign-in.tsx) uses it.
 */
import type { CognitoIdentityClient } from '@aws-sdk/client-cognito-identity';
import {
  type CognitoIdentityProviderClient,
  NotAuthorizedException,
} from '@aws-sdk/client-cognito-identity-provider';
import type { CredentialsProvider } from '../cli/login-session';
import { memberCredentials, type IdentityPoolRequest, type MemberCredentials } from './member-credentials';
import { refreshTokens, SignInError, type CognitoTokens } from './sign-in-flow';

/** A value is fetched again this long before it expires, so no request starts with its end near. */
export const RENEW_BEFORE_MS = 5 * 60_000;

export type Clock = () => number;

/**
 * `fetch`'s value, kept until it is about to expire; callers at the same moment share one fetch,
 * and a failed fetch is not kept (the next call tries again).
 */
export const renewing = <T>(
  fetch: () => Promise<T>,
  expiresAt: (value: T) => Date,
  options: { readonly initial?: T; readonly now?: Clock } = {},
): (() => Promise<T>) => {
  const now = options.now ?? Date.now;
  let current = options.initial;
  let pending: Promise<T> | undefined;
  return () => {
    if (current !== undefined && expiresAt(current).getTime() - now() > RENEW_BEFORE_MS) {
      return Promise.resolve(current);
    }
    pending ??= fetch()
      .then((value) => {
        current = value;
        return value;
      })
      .finally(() => {
        pending = undefined;
      });
    return pending;
  };
};

export interface UserPoolClientSource {
  /** A client for the user pool; destroyed after each renewal. */
  readonly client: () => CognitoIdentityProviderClient;
  readonly clientId: string;
}

/** The sign-in's current id token, renewed from its refresh token (REFRESH_TOKEN_AUTH). */
export const renewingIdToken = (
  pool: UserPoolClientSource,
  tokens: CognitoTokens,
  now?: Clock,
): (() => Promise<string>) => {
  const current = renewing(
    async () => {
      const client = pool.client();
      try {
        return await refreshTokens(client, pool.clientId, tokens.refreshToken);
      } catch (error) {
        // Revoked (signed out elsewhere, removed by an operator) or past its 30 days.
        if (error instanceof NotAuthorizedException) {
          throw new SignInError(
            `your sign-in has ended (${error.message}): reload the page and sign in again`,
          );
        }
        throw error;
      } finally {
        client.destroy();
      }
    },
    (t) => t.expiresAt,
    { initial: tokens, ...(now !== undefined ? { now } : {}) },
  );
  return async () => (await current()).idToken;
};

/** A group's member-role credentials, fetched again from the identity pool with the current id token. */
export const renewingMemberCredentials = (
  client: CognitoIdentityClient,
  request: Omit<IdentityPoolRequest, 'idToken'>,
  idToken: () => Promise<string>,
  now?: Clock,
): CredentialsProvider =>
  renewing<MemberCredentials>(
    async () => memberCredentials(client, { ...request, idToken: await idToken() }),
    (c) => c.expiration,
    now !== undefined ? { now } : {},
  );
