/**
 * Each group's EFS access point, found by its root directory (`/{group}`, lib/constructs/file-system.ts)
 * when a launch first needs it, instead of a map in the handlers' environment that would grow with the
 * groups. Asked once per handler instance and page by page (a file system holds up to 10,000).
 */
import { DescribeAccessPointsCommand, type EFSClient } from '@aws-sdk/client-efs';

export type AccessPointOf = (group: string) => Promise<string | undefined>;

export const efsAccessPointLookup = (client: EFSClient, fileSystemId: string): AccessPointOf => {
  let byGroup: Promise<Map<string, string>> | undefined;
  const load = async (): Promise<Map<string, string>> => {
    const found = new Map<string, string>();
    let nextToken: string | undefined;
    do {
      const page = await client.send(
        new DescribeAccessPointsCommand({ FileSystemId: fileSystemId, NextToken: nextToken }),
      );
      for (const ap of page.AccessPoints ?? []) {
        const root = ap.RootDirectory?.Path;
        if (ap.AccessPointId && ap.LifeCycleState === 'available' && root?.startsWith('/')) {
          found.set(root.slice(1), ap.AccessPointId);
        }
      }
      nextToken = page.NextToken;
    } while (nextToken);
    return found;
  };
  return async (group) => {
    byGroup ??= load().catch((error: unknown) => {
      byGroup = undefined; // a failed lookup is tried again by the next launch
      throw error;
    });
    const map = await byGroup;
    // A group added since this handler instance started: look again once.
    if (!map.has(group)) {
      byGroup = load();
      return (await byGroup).get(group);
    }
    return map.get(group);
  };
};
