/**
 * From a signed-in person's id token to AWS credentials for one group: the identity pool exchanges
 * the token for the member role of the group chosen (lib/constructs/sign-in.ts maps each Cognito
 * group to its member role, lib/member-identity.ts names it). A person in two groups acts for one
 * at a time; a person in none gets nothing. No Node built-in: the web console uses this too.
 */
import {
  type CognitoIdentityClient,
  GetCredentialsForIdentityCommand,
  GetIdCommand,
} from '@aws-sdk/client-cognito-identity';
import * as z from 'zod';
import { nearMatches } from '../near-match';
import { SignInError } from './sign-in-flow';

const idTokenClaims = z.object({
  email: z.string(),
  exp: z.number(),
  'cognito:groups': z.array(z.string()).optional(),
  'cognito:roles': z.array(z.string()).optional(),
});
export type IdTokenClaims = z.infer<typeof idTokenClaims>;

/** Decodes base64url text as UTF-8 (in Node and in the web console alike: no Buffer). */
const base64UrlText = (encoded: string): string => {
  const binary = atob(encoded.replace(/-/g, '+').replace(/_/g, '/'));
  return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
};

/**
 * The claims of an id token. Read, not verified: the token came straight from Cognito over TLS, and
 * what it grants is decided again by the identity pool, which verifies it.
 */
export const claimsOf = (idToken: string): IdTokenClaims => {
  const payload = idToken.split('.')[1];
  const parsed =
    payload === undefined
      ? undefined
      : idTokenClaims.safeParse(
          (() => {
            try {
              return JSON.parse(base64UrlText(payload)) as unknown;
            } catch {
              return undefined;
            }
          })(),
        );
  if (!parsed?.success) throw new SignInError('the sign-in returned a token ncaas cannot read: try again');
  return parsed.data;
};

/** The group to act for: the one asked for, else the only one; never a group the person is not in. */
export const chooseGroup = (claims: IdTokenClaims, requested: string | undefined): string => {
  const groups = claims['cognito:groups'] ?? [];
  if (groups.length === 0) {
    throw new SignInError(
      `${claims.email} is in no group of this analysis yet: ask its operator to add you (ncaas users add ${claims.email} --group G)`,
    );
  }
  if (requested !== undefined) {
    if (groups.includes(requested)) return requested;
    const near = nearMatches(requested, groups);
    throw new SignInError(
      `${claims.email} is not in group "${requested}"${near.length > 0 ? ` (did you mean "${near[0]}"?)` : ''}; your groups: ${groups.join(', ')}`,
    );
  }
  if (groups.length === 1) return groups[0] as string;
  throw new SignInError(
    `${claims.email} is in several groups (${groups.join(', ')}): choose one with --group G`,
  );
};

/**
 * The ARN of a member role among those the token carries, by its name (lib/member-identity.ts
 * `memberRoleName`, which the console reads from its config.json), if the token carries it.
 */
export const memberRoleArnOf = (claims: IdTokenClaims, roleName: string): string | undefined =>
  (claims['cognito:roles'] ?? []).find((arn) => arn.endsWith(`/${roleName}`));

export interface MemberCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration: Date;
}

export interface IdentityPoolRequest {
  readonly identityPoolId: string;
  readonly userPoolId: string;
  readonly region: string;
  readonly idToken: string;
  readonly roleArn: string;
}

/** Exchanges the id token for the role's temporary credentials (an hour, Cognito's default). */
export const memberCredentials = async (
  client: CognitoIdentityClient,
  request: IdentityPoolRequest,
): Promise<MemberCredentials> => {
  const logins = { [`cognito-idp.${request.region}.amazonaws.com/${request.userPoolId}`]: request.idToken };
  const { IdentityId } = await client.send(
    new GetIdCommand({ IdentityPoolId: request.identityPoolId, Logins: logins }),
  );
  if (!IdentityId) throw new SignInError('the identity pool gave no identity: try again');
  const { Credentials } = await client.send(
    new GetCredentialsForIdentityCommand({
      IdentityId,
      Logins: logins,
      CustomRoleArn: request.roleArn,
    }),
  );
  if (!Credentials?.AccessKeyId || !Credentials.SecretKey || !Credentials.Expiration) {
    throw new SignInError('the identity pool gave no credentials: try again');
  }
  return {
    accessKeyId: Credentials.AccessKeyId,
    secretAccessKey: Credentials.SecretKey,
    ...(Credentials.SessionToken ? { sessionToken: Credentials.SessionToken } : {}),
    expiration: Credentials.Expiration,
  };
};
