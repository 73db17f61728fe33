/**
 * The groups a bucket shows, for checking `--group` when no blueprint is given: a group is a
 * top-level folder of the analysis bucket, so a mistyped group (`laba` for `labA`) is refused with
 * the groups found before anything is uploaded.
 *
 * Only some credentials can tell: an operator's and the local runtime's may list the bucket's root,
 * a lab member's may list only their own group's prefix, and S3 answers them AccessDenied. Then the
 * groups are unknown and the submission goes on, because the upload itself is S3's to refuse when
 * the credentials do not cover the group (lib/cli/errors.ts turns that AccessDenied into a line
 * naming --group), and a member whose group is right must not be stopped by a check they cannot run.
 */
import { ListObjectsV2Command, type ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import { GROUP_NAME } from '../blueprint/blueprint-schema';
import { groupPrefix } from '../layout';
import { nearMatches } from '../near-match';
import { quote } from '../submission/describe-value';
import type { SubmissionProblem } from '../submission/submission-problem';
import { s3Url } from './job-folders';
import type { S3Target } from './s3-target';

/** Root listing pages read at most (up to 1,000 folders each); a bucket with more counts as unknown. */
export const MAX_ROOT_PAGES = 5;

/**
 * Whether S3 answered (denied, or something that is no listing) rather than never being reached:
 * a network or credentials failure is rethrown, as every later request would meet it too.
 */
const answeredByS3 = (error: unknown): boolean =>
  typeof (error as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode ===
  'number';

/**
 * The bucket's top-level folders that are group names, sorted; undefined when they cannot be known:
 * the listing is denied or fails, is longer than `maxPages`, or finds no folder. No folder is
 * "unknown", not "no groups": a new bucket has none yet, and s3rver 3.7.1 (the S3 of the tests)
 * leaves out of a Delimiter listing every folder that holds only folders, which is what a group's
 * folder is (`labA/inputs/...`).
 */
export const listBucketGroups = async (
  target: S3Target,
  maxPages: number = MAX_ROOT_PAGES,
): Promise<readonly string[] | undefined> => {
  const groups = new Set<string>();
  let token: string | undefined;
  for (let page = 0; page < maxPages; page += 1) {
    let out: ListObjectsV2CommandOutput;
    try {
      out = await target.client.send(
        new ListObjectsV2Command({
          Bucket: target.bucket,
          Delimiter: '/',
          ...(token !== undefined ? { ContinuationToken: token } : {}),
        }),
      );
    } catch (error) {
      if (answeredByS3(error)) return undefined;
      throw error;
    }
    for (const { Prefix: prefix } of out.CommonPrefixes ?? []) {
      const name = prefix?.endsWith('/') ? prefix.slice(0, -1) : undefined;
      if (name !== undefined && GROUP_NAME.test(name)) groups.add(name);
    }
    if (out.IsTruncated !== true) return groups.size > 0 ? [...groups].sort() : undefined;
    token = out.NextContinuationToken;
    if (token === undefined) return undefined;
  }
  return undefined;
};

/**
 * Why `group` cannot be submitted to when the bucket's groups are `listed`; undefined when it can,
 * or when that cannot be told (`listed` unknown).
 */
export const unlistedGroupProblem = async (
  target: S3Target,
  group: string,
  listed: readonly string[] | undefined,
): Promise<SubmissionProblem | undefined> => {
  if (listed === undefined || listed.includes(group)) return undefined;
  // A folder missing from the root listing may still hold objects (s3rver's listing above): the
  // group's own prefix, which its members may list, settles it before anything is refused.
  try {
    if (await target.objects.hasObjectsUnder(groupPrefix(group))) return undefined;
  } catch (error) {
    if (answeredByS3(error)) return undefined;
    throw error;
  }
  const known = listed.map(quote).join(', ');
  const where = s3Url(target, '');
  const newGroup =
    'a group new to the analysis has no folder yet: pass --blueprint <name|path> or set NCAAS_BLUEPRINT to check it against the blueprint instead';
  const near = nearMatches(group, listed);
  return {
    field: 'group',
    message:
      near.length > 0
        ? `group ${quote(group)} has no folder in ${where}: did you mean ${near.map(quote).join(' or ')}? (group names are case-sensitive; the bucket's groups: ${known}; ${newGroup})`
        : `group ${quote(group)} has no folder in ${where} (the bucket's groups: ${known}): check the group's name; ${newGroup}`,
  };
};
