/**
 * The server half of Cognito's SRP sign-in, written for the tests from the protocol (RFC 5054 with
 * Cognito's choices: the 3072-bit group, SHA-256, the "Caldera Derived Key" HKDF and the signed
 * claim), on BigInt and node:crypto, sharing no code with the client (lib/access/srp.ts), so a
 * client that computes anything wrong is refused.
 */
import { createHash, createHmac, getDiffieHellman, randomBytes } from 'node:crypto';

const N = BigInt(`0x${getDiffieHellman('modp15').getPrime('hex')}`);
const g = 2n;

const padHex = (value: bigint): string => {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return /^[89a-f]/i.test(hex) ? `00${hex}` : hex;
};
const sha256Hex = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const hexHash = (hex: string): string => sha256Hex(Buffer.from(hex, 'hex'));
const big = (hex: string): bigint => BigInt(`0x${hex}`);
const modPow = (base: bigint, exponent: bigint, modulus: bigint): bigint => {
  let result = 1n;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
};
const k = big(hexHash(padHex(N) + padHex(g)));

export interface SrpChallenge {
  readonly SALT: string;
  readonly SRP_B: string;
  readonly SECRET_BLOCK: string;
  readonly USER_ID_FOR_SRP: string;
  readonly USERNAME: string;
}

export class SrpServer {
  private readonly salt = big(randomBytes(16).toString('hex'));
  private readonly verifier: bigint;
  private pending: { A: bigint; B: bigint; b: bigint; secretBlock: string } | undefined;

  constructor(
    private readonly userPoolId: string,
    /** Cognito's internal username for an email-username pool: not the email. */
    readonly userId: string,
    password: string,
  ) {
    const x = big(hexHash(padHex(this.salt) + sha256Hex(`${this.poolName}${userId}:${password}`)));
    this.verifier = modPow(g, x, N);
  }

  private get poolName(): string {
    return this.userPoolId.split('_')[1] ?? '';
  }

  /** InitiateAuth(USER_SRP_AUTH) with SRP_A: the PASSWORD_VERIFIER challenge. */
  challenge(srpA: string): SrpChallenge {
    const A = big(srpA);
    if (A % N === 0n) throw new Error('A is 0 mod N');
    const b = big(randomBytes(32).toString('hex'));
    const B = (k * this.verifier + modPow(g, b, N)) % N;
    const secretBlock = randomBytes(64).toString('base64');
    this.pending = { A, B, b, secretBlock };
    return {
      SALT: this.salt.toString(16),
      SRP_B: B.toString(16),
      SECRET_BLOCK: secretBlock,
      USER_ID_FOR_SRP: this.userId,
      USERNAME: this.userId,
    };
  }

  /** RespondToAuthChallenge(PASSWORD_VERIFIER): true when the claim proves the password. */
  verify(responses: Record<string, string | undefined>): boolean {
    const pending = this.pending;
    if (!pending || responses.PASSWORD_CLAIM_SECRET_BLOCK !== pending.secretBlock) return false;
    if (responses.USERNAME !== this.userId) return false;
    const u = big(hexHash(padHex(pending.A) + padHex(pending.B)));
    const S = modPow((pending.A * modPow(this.verifier, u, N)) % N, pending.b, N);
    const prk = createHmac('sha256', Buffer.from(padHex(u), 'hex'))
      .update(Buffer.from(padHex(S), 'hex'))
      .digest();
    const key = createHmac('sha256', prk)
      .update(Buffer.concat([Buffer.from('Caldera Derived Key', 'utf8'), Buffer.from([1])]))
      .digest()
      .subarray(0, 16);
    const expected = createHmac('sha256', key)
      .update(
        Buffer.concat([
          Buffer.from(this.poolName, 'utf8'),
          Buffer.from(this.userId, 'utf8'),
          Buffer.from(pending.secretBlock, 'base64'),
          Buffer.from(responses.TIMESTAMP ?? '', 'utf8'),
        ]),
      )
      .digest('base64');
    return responses.PASSWORD_CLAIM_SIGNATURE === expected;
  }
}
