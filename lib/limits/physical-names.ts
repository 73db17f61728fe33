/**
 * Physical names and ids as AWS generates them, at their real lengths: the limits check measures
 * policies, environments and templates holding these values, so a placeholder shorter than the real
 * name would hide a broken limit. The random parts are derived from the seed (stable across runs).
 */
import { createHash } from 'node:crypto';

/** How CloudFormation names a resource whose template names none. */
export interface GeneratedNameRule {
  /** The service's maximum name length. */
  readonly maxLength: number;
  /** Length of the random part CloudFormation appends (12 or 13 characters). */
  readonly suffixLength: number;
  /** Bucket names are lowercase. */
  readonly lowercase?: boolean;
}

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const LOWER = 'abcdefghijklmnopqrstuvwxyz0123456789';
const HEX = '0123456789abcdef';

/** `length` characters of `alphabet`, always the same for one seed. */
export const seededText = (seed: string, length: number, alphabet: string): string => {
  let text = '';
  for (let round = 0; text.length < length; round++) {
    const bytes = createHash('sha256').update(`${round}:${seed}`).digest();
    for (const byte of bytes) {
      if (text.length === length) break;
      text += alphabet[byte % alphabet.length];
    }
  }
  return text;
};

/**
 * `{stack}-{logicalId}-{random}`, CloudFormation's name for a resource that names none; the stack
 * name and the logical id are cut (the longer first) so the whole fits the service's maximum.
 */
export const generatedName = (stackName: string, logicalId: string, rule: GeneratedNameRule): string => {
  const suffix = seededText(`${stackName}/${logicalId}`, rule.suffixLength, rule.lowercase ? LOWER : UPPER);
  const room = Math.max(2, rule.maxLength - suffix.length - 2);
  let stack = stackName;
  let id = logicalId;
  if (stack.length + id.length > room) {
    stack = stack.slice(0, Math.min(stack.length, Math.max(room - id.length, Math.ceil(room / 2))));
    id = id.slice(0, room - stack.length);
  }
  const name = `${stack}-${id}-${suffix}`;
  return rule.lowercase ? name.toLowerCase() : name;
};

/** An EC2-style id: `vpc-` and 17 hex digits. */
export const awsResourceId = (prefix: string, seed: string): string =>
  `${prefix}-${seededText(seed, 17, HEX)}`;

/** A UUID (36 characters). */
export const seededUuid = (seed: string): string => {
  const hex = seededText(seed, 32, HEX);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};

/** An IAM unique id (`AROA`, `ANPA`, `AIDA`... and 17 characters). */
export const iamUniqueId = (prefix: string, seed: string): string =>
  `${prefix}${seededText(seed, 17, UPPER)}`;

/** Name rules by service (maximum lengths from each service's API reference). */
export const NAME_RULES = {
  bucket: { maxLength: 63, suffixLength: 13, lowercase: true },
  iamRole: { maxLength: 64, suffixLength: 12 },
  iamUser: { maxLength: 64, suffixLength: 12 },
  iamLong: { maxLength: 128, suffixLength: 12 },
  lambdaFunction: { maxLength: 64, suffixLength: 12 },
  queue: { maxLength: 80, suffixLength: 12 },
  topic: { maxLength: 256, suffixLength: 12 },
  table: { maxLength: 255, suffixLength: 12 },
  logGroup: { maxLength: 512, suffixLength: 12 },
  eventRule: { maxLength: 64, suffixLength: 12 },
  stack: { maxLength: 128, suffixLength: 13 },
  other: { maxLength: 128, suffixLength: 13 },
} as const satisfies Record<string, GeneratedNameRule>;
