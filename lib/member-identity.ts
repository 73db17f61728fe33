/**
 * The member role of a group: what a lab member of that group may do (lib/constructs/group-access.ts),
 * assumed by the IAM users the blueprint names for the group. Its name and ARN follow from the
 * analysis and group alone, so the CLI and a lab member's AWS profile can name it without a stack
 * output that would grow with the groups.
 */
import { createHash } from 'node:crypto';

/** IAM role names hold at most 64 characters. */
const ROLE_NAME_LIMIT = 64;

/** IAM path of an analysis's member roles. */
export const memberRolePath = (analysis: string, region: string): string =>
  `/ncaas/${analysis}/${region}/members/`;

/**
 * `ncaas-{analysis}.{region}.{group}` (IAM names are account-wide; analysis, region and group names
 * hold no `.`, so no two triples share it); when longer than IAM allows, its first characters and a
 * hash of the whole, so it stays unique.
 */
export const memberRoleName = (analysis: string, region: string, group: string): string => {
  const full = `ncaas-${analysis}.${region}.${group}`;
  if (full.length <= ROLE_NAME_LIMIT) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 10);
  return `${full.slice(0, ROLE_NAME_LIMIT - hash.length - 1)}-${hash}`;
};
