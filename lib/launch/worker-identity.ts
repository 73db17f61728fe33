/**
 * Names of the per-group IAM identities, derived from the analysis, its region and the group alone, so
 * no handler environment or role policy has to list them (both have size limits, and an analysis may
 * have hundreds of groups). IAM names are account-wide: the region keeps the same analysis deployable
 * in several regions. Analysis, region and group names hold no `.` (blueprint schema), so
 * `{analysis}.{region}.{group}` never names two triples.
 */

/** `ncaas-{analysis}.{region}.{group}`: at most 6 + 40 + 1 + 14 + 1 + 64 = 126 characters (IAM allows 128). */
export const workerInstanceProfileName = (analysis: string, region: string, group: string): string =>
  `ncaas-${analysis}.${region}.${group}`;

/**
 * IAM path of an analysis's EC2 worker roles, and of nothing else: the launcher may pass the roles
 * under it and no other, with one resource ARN whatever the number of groups.
 */
export const workerRolePath = (analysis: string, region: string): string =>
  `/ncaas/${analysis}/${region}/workers/`;
