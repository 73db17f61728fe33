/**
 * Listing keys and folders in a way that works on S3 and on s3rver (the local runtime's S3).
 *
 * - ListObjects (v1) with Marker, not ListObjectsV2: s3rver encrypts V2 continuation tokens with DES,
 *   which Node 20's OpenSSL 3 no longer has, so every truncated V2 listing fails with InternalError.
 *   The same permission (s3:ListBucket on the group's prefix) allows both.
 * - Folders are found from keys, not with Delimiter: s3rver leaves out of a Delimiter listing every
 *   folder that holds only sub-folders, which is what a job folder is (logs/, process_results/).
 */
import { ListObjectsCommand } from '@aws-sdk/client-s3';
import type { S3Target } from './s3-target';

/** Keys per request (S3's maximum). */
const PAGE_SIZE = 1000;

/** Sorts after every character a key can hold (S3 compares keys as UTF-8 bytes). */
const AFTER_EVERYTHING = '\u{10FFFF}';

export interface ListedKey {
  readonly key: string;
  readonly size: number;
  readonly lastModified?: Date;
}

const listPage = async (
  target: S3Target,
  prefix: string,
  marker: string | undefined,
  pageSize: number,
): Promise<{ keys: ListedKey[]; truncated: boolean }> => {
  const out = await target.client.send(
    new ListObjectsCommand({
      Bucket: target.bucket,
      Prefix: prefix,
      MaxKeys: pageSize,
      ...(marker !== undefined ? { Marker: marker } : {}),
    }),
  );
  const keys: ListedKey[] = [];
  for (const o of out.Contents ?? []) {
    if (o.Key === undefined) continue;
    keys.push({ key: o.Key, size: o.Size ?? 0, ...(o.LastModified ? { lastModified: o.LastModified } : {}) });
  }
  return { keys, truncated: out.IsTruncated === true };
};

/** Every key under `prefix`, in S3's order. */
export const listAllKeys = async (
  target: S3Target,
  prefix: string,
  pageSize: number = PAGE_SIZE,
): Promise<ListedKey[]> => {
  const all: ListedKey[] = [];
  let marker: string | undefined;
  for (;;) {
    const { keys, truncated } = await listPage(target, prefix, marker, pageSize);
    all.push(...keys);
    if (!truncated || keys.length === 0) return all;
    marker = keys[keys.length - 1].key;
  }
};

/**
 * The sub-folders directly under `prefix`, each ending in `/`. After a page, the next one starts past
 * the last folder seen (Marker), so a folder of many files costs one request, not one per thousand files.
 */
export const listFolders = async (
  target: S3Target,
  prefix: string,
  pageSize: number = PAGE_SIZE,
): Promise<string[]> => {
  const folders = new Set<string>();
  let marker: string | undefined;
  for (;;) {
    const { keys, truncated } = await listPage(target, prefix, marker, pageSize);
    let lastFolder: string | undefined;
    for (const { key } of keys) {
      const slash = key.indexOf('/', prefix.length);
      lastFolder = slash < 0 ? undefined : key.slice(0, slash + 1);
      if (lastFolder !== undefined) folders.add(lastFolder);
    }
    if (!truncated || keys.length === 0) return [...folders];
    // Skip the rest of the last folder; the page's last key is the fallback, so every page moves on.
    const lastKey = keys[keys.length - 1].key;
    const skip = lastFolder !== undefined ? `${lastFolder}${AFTER_EVERYTHING}` : undefined;
    marker = skip !== undefined && skip > lastKey ? skip : lastKey;
  }
};
