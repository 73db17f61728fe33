/**
 * Names of the per-group IAM identities, derived from the analysis and group names alone, so no
 * handler environment or role policy has to list them (both have size limits, and an analysis may
 * have hundreds of groups). Analysis names have no `.` and group names no `.` (blueprint schema), so
 * `{analysis}.{group}` never names two pairs.
 */

/** `ncaas-{analysis}.{group}`: at most 6 + 40 + 1 + 64 = 111 characters (IAM allows 128). */
export const workerInstanceProfileName = (analysis: string, group: string): string =>
  `ncaas-${analysis}.${group}`;

/**
 * IAM path of an analysis's EC2 worker roles, and of nothing else: the launcher may pass the roles
 * under it and no other, with one resource ARN whatever the number of groups.
 */
export const workerRolePath = (analysis: string): string => `/ncaas/${analysis}/workers/`;
