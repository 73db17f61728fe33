/**
 * The client half of Cognito's Secure Remote Password sign-in (USER_SRP_AUTH): the password never
 * leaves the machine, only a proof that we know it. The arithmetic is amazon-cognito-identity-js's
 * own (AWS's SRP client, also what a browser uses); the requests go through the SDK v3 client that
 * every other call uses (lib/access/sign-in-flow.ts). No Node built-in: the web console signs in
 * with this module too (Web Crypto and TextEncoder are in Node and in browsers).
 */
/** The part of the library's (untyped) AuthenticationHelper used here. */
interface AuthenticationHelper {
  getLargeAValue(callback: (error: unknown, largeA: BigInteger) => void): void;
  getPasswordAuthenticationKey(
    userIdForSrp: string,
    password: string,
    serverB: BigInteger,
    salt: BigInteger,
    callback: (error: unknown, hkdf: Uint8Array) => void,
  ): void;
}
interface BigInteger {
  toString(radix: number): string;
}
interface SrpLibrary {
  AuthenticationHelper: new (poolName: string) => AuthenticationHelper;
  BigInteger: new (text: string, radix: number) => BigInteger;
  DateHelper: new () => { getNowString(): string };
}

const library = (): SrpLibrary => {
  /* eslint-disable @typescript-eslint/no-require-imports -- the package declares no types for these */
  const root = require('amazon-cognito-identity-js') as Pick<
    SrpLibrary,
    'AuthenticationHelper' | 'DateHelper'
  >;
  const bigInteger = require('amazon-cognito-identity-js/lib/BigInteger') as {
    default: SrpLibrary['BigInteger'];
  };
  /* eslint-enable @typescript-eslint/no-require-imports */
  return { ...root, BigInteger: bigInteger.default };
};

/** What Cognito's PASSWORD_VERIFIER challenge sends. */
export interface PasswordVerifierChallenge {
  readonly SALT: string;
  readonly SRP_B: string;
  readonly SECRET_BLOCK: string;
  readonly USER_ID_FOR_SRP: string;
}

export interface SrpSession {
  /** SRP_A for InitiateAuth, hexadecimal. */
  readonly largeA: string;
  /** The challenge responses proving the password, for RespondToAuthChallenge. */
  passwordClaim(challenge: PasswordVerifierChallenge, password: string): Promise<Record<string, string>>;
}

const poolNameOf = (userPoolId: string): string => userPoolId.slice(userPoolId.indexOf('_') + 1);

export const startSrp = async (userPoolId: string): Promise<SrpSession> => {
  const srp = library();
  const poolName = poolNameOf(userPoolId);
  const helper = new srp.AuthenticationHelper(poolName);
  const largeA = await new Promise<BigInteger>((resolve, reject) =>
    helper.getLargeAValue((error, value) => (error ? reject(error) : resolve(value))),
  );
  return {
    largeA: largeA.toString(16),
    passwordClaim: async (challenge, password) => {
      const hkdf = await new Promise<Uint8Array>((resolve, reject) =>
        helper.getPasswordAuthenticationKey(
          challenge.USER_ID_FOR_SRP,
          password,
          new srp.BigInteger(challenge.SRP_B, 16),
          new srp.BigInteger(challenge.SALT, 16),
          (error, key) => (error ? reject(error) : resolve(key)),
        ),
      );
      // Cognito's own timestamp format ("Mon Dec 7 06:50:00 UTC 2026"), signed with the claim.
      const timestamp = new srp.DateHelper().getNowString();
      const key = await crypto.subtle.importKey(
        'raw',
        new Uint8Array(hkdf),
        { name: 'HMAC', hash: 'SHA-256' },
        false,
        ['sign'],
      );
      const text = new TextEncoder();
      const message = concatBytes([
        text.encode(poolName),
        text.encode(challenge.USER_ID_FOR_SRP),
        fromBase64(challenge.SECRET_BLOCK),
        text.encode(timestamp),
      ]);
      const signature = toBase64(new Uint8Array(await crypto.subtle.sign('HMAC', key, message)));
      return {
        USERNAME: challenge.USER_ID_FOR_SRP,
        PASSWORD_CLAIM_SECRET_BLOCK: challenge.SECRET_BLOCK,
        PASSWORD_CLAIM_SIGNATURE: signature,
        TIMESTAMP: timestamp,
      };
    },
  };
};

const concatBytes = (parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> => {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return all;
};

const fromBase64 = (text: string): Uint8Array => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const toBase64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes));
