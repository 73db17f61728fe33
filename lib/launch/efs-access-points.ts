/**
 * Each group's EFS access point, found by its tags (`ncaas:analysis`, `ncaas:group`, set by
 * lib/constructs/file-system.ts) when a launch needs it, instead of a map in the handlers' environment
 * that would grow with the groups. Asked page by page (a file system holds up to 10,000) and kept for
 * a few minutes: a redeploy replaces access points, and a launcher must not hand out a deleted one.
 */
import { DescribeAccessPointsCommand, type EFSClient } from '@aws-sdk/client-efs';
import { EFS_ACCESS_POINT_TAGS } from './efs-access-point-tags';

export type AccessPointOf = (group: string) => Promise<string | undefined>;

/** How long a lookup is trusted. */
const CACHE_MS = 5 * 60 * 1000;

export const efsAccessPointLookup = (
  client: EFSClient,
  fileSystemId: string,
  analysis: string,
  now: () => number = Date.now,
): AccessPointOf => {
  let cached: { readonly at: number; readonly byGroup: Promise<Map<string, string>> } | undefined;
  const load = async (): Promise<Map<string, string>> => {
    const found = new Map<string, string>();
    let nextToken: string | undefined;
    do {
      const page = await client.send(
        new DescribeAccessPointsCommand({ FileSystemId: fileSystemId, NextToken: nextToken }),
      );
      for (const ap of page.AccessPoints ?? []) {
        const tag = (key: string) => ap.Tags?.find((t) => t.Key === key)?.Value;
        const group = tag(EFS_ACCESS_POINT_TAGS.group);
        if (
          ap.AccessPointId &&
          ap.LifeCycleState === 'available' &&
          tag(EFS_ACCESS_POINT_TAGS.analysis) === analysis &&
          group !== undefined &&
          ap.RootDirectory?.Path === `/${group}`
        ) {
          found.set(group, ap.AccessPointId);
        }
      }
      nextToken = page.NextToken;
    } while (nextToken);
    return found;
  };
  const fresh = (): Promise<Map<string, string>> => {
    const byGroup = load();
    cached = { at: now(), byGroup };
    byGroup.catch(() => {
      cached = undefined; // a failed lookup is tried again by the next launch
    });
    return byGroup;
  };
  return async (group) => {
    const map = await (cached && now() - cached.at < CACHE_MS ? cached.byGroup : fresh());
    // A group whose access point is new since the last lookup: look again once.
    return map.get(group) ?? (await fresh()).get(group);
  };
};
