/**
 * Files to and from the bucket for the CLI. Uploads go through @aws-sdk/lib-storage: a file larger
 * than one part is sent as a multipart upload with several parts in flight at once (one stream is a
 * fraction of what a real network carries), each part retried by the SDK, and the upload aborted on
 * failure so no stray parts are billed. Downloads write to `<file>.part` and rename when whole, so an
 * interrupted download never looks finished.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload as MultipartUpload } from '@aws-sdk/lib-storage';
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Target } from './s3-target';
import type { Upload } from './submission-check';

const MIB = 1024 * 1024;

/** S3 allows at most this many parts in one upload. */
const MAX_PARTS = 10_000;

export interface UploadOptions {
  /** Part size; a file no larger is sent in one request. Raised so a file needs at most 10,000 parts. @default 16 MiB */
  readonly partSize?: number;
  /** Parts in flight at once (the AWS CLI sends 10). @default 8 */
  readonly partsInFlight?: number;
  /** Called as bytes of one file are sent. */
  readonly onProgress?: (upload: Upload, sentBytes: number) => void;
}

export const DEFAULT_PART_SIZE = 16 * MIB;
export const DEFAULT_PARTS_IN_FLIGHT = 8;

/** Uploads one local file, in parallel parts when it is larger than one part. */
export const uploadFile = async (
  target: S3Target,
  upload: Upload,
  options: UploadOptions = {},
): Promise<void> => {
  const partSize = Math.max(options.partSize ?? DEFAULT_PART_SIZE, Math.ceil(upload.size / MAX_PARTS));
  const transfer = new MultipartUpload({
    client: target.client,
    params: {
      Bucket: target.bucket,
      Key: upload.key,
      // Read in chunks of at most 4 MiB: the library gathers them into parts as it reads.
      Body: fs.createReadStream(upload.local, { highWaterMark: Math.min(partSize, 4 * MIB) }),
    },
    partSize,
    queueSize: options.partsInFlight ?? DEFAULT_PARTS_IN_FLIGHT,
    leavePartsOnError: false,
  });
  const onProgress = options.onProgress;
  if (onProgress !== undefined) {
    transfer.on('httpUploadProgress', (progress) => onProgress(upload, progress.loaded ?? 0));
  }
  await transfer.done();
};

/** Downloads one object to `local` (written as `local.part`, renamed when whole); returns its size. */
export const downloadFile = async (target: S3Target, key: string, local: string): Promise<number> => {
  const out = await target.client.send(new GetObjectCommand({ Bucket: target.bucket, Key: key }));
  const partial = `${local}.part`;
  try {
    await pipeline(out.Body as Readable, fs.createWriteStream(partial));
  } catch (error) {
    fs.rmSync(partial, { force: true });
    throw error;
  }
  fs.renameSync(partial, local);
  return fs.statSync(local).size;
};
