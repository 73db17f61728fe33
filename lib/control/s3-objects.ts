/**
 * The few S3 operations the control plane needs, with the errors that mean "not there" turned into
 * `undefined` so callers read as the rule they implement.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { httpStatusOf, isNamed } from '../aws-error-names';

const isMissing = (error: unknown): boolean =>
  isNamed(error, 'NoSuchKey', 'NotFound') || httpStatusOf(error) === 404;

export interface ObjectHead {
  readonly size: number;
  readonly etag: string;
  readonly versionId?: string;
  readonly lastModified?: Date;
}

const headOf = (out: {
  ContentLength?: number;
  ETag?: string;
  VersionId?: string;
  LastModified?: Date;
}): ObjectHead => ({
  size: out.ContentLength ?? 0,
  etag: (out.ETag ?? '').replace(/"/g, ''),
  ...(out.VersionId && out.VersionId !== 'null' ? { versionId: out.VersionId } : {}),
  ...(out.LastModified ? { lastModified: out.LastModified } : {}),
});

/** Closes a response body left unread: a Node stream in Lambda and the CLI, a web stream in the console. */
const discardBody = (body: unknown): void => {
  const stream = body as { destroy?: () => void; cancel?: () => Promise<void> } | undefined;
  if (typeof stream?.destroy === 'function') stream.destroy();
  else if (typeof stream?.cancel === 'function') stream.cancel().catch(() => undefined);
};

export class S3Objects {
  constructor(
    readonly client: S3Client,
    readonly bucket: string,
  ) {}

  async head(key: string): Promise<ObjectHead | undefined> {
    try {
      return headOf(await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /**
   * The object's head and, when it holds at most `maxBytes`, its bytes: one GET where a HEAD then a
   * GET would wait on each other. A larger object's body is never read (its stream is closed), so a
   * huge upload costs its headers only. Undefined when it does not exist.
   */
  async readUpTo(
    key: string,
    maxBytes: number,
  ): Promise<{ head: ObjectHead; body?: Uint8Array } | undefined> {
    // Aborted as well as closed: an SDK whose checksum wrapper does not pass `destroy` on to the
    // socket still lets it go.
    const abort = new AbortController();
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
        abortSignal: abort.signal,
      });
      const head = headOf(out);
      if (head.size > maxBytes) {
        discardBody(out.Body);
        abort.abort();
        return { head };
      }
      const body = out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
      // Without a Content-Length (never from S3) the size is known once read.
      return body.byteLength > maxBytes ? { head: { ...head, size: body.byteLength } } : { head, body };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** The object's bytes, or undefined when it does not exist. */
  async read(key: string): Promise<Uint8Array | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async readText(key: string): Promise<string | undefined> {
    const bytes = await this.read(key);
    // TextDecoder, not Buffer: the web console reads through this class too. A BOM is kept, as written.
    return bytes === undefined ? undefined : new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async write(key: string, body: string, contentType = 'text/plain; charset=utf-8'): Promise<void> {
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }),
    );
  }

  /**
   * True when at least one object lies under `prefix` (a folder dataset is not empty).
   *
   * Listings use ListObjects (v1), which real S3 serves as well as v2: s3rver (the local runtime)
   * builds v2 continuation tokens with DES, which Node's OpenSSL 3 lacks, so any truncated v2 listing
   * (here MaxKeys 1 over a folder of two files) fails there with InternalError.
   */
  async hasObjectsUnder(prefix: string): Promise<boolean> {
    const out = await this.client.send(
      new ListObjectsCommand({ Bucket: this.bucket, Prefix: prefix, MaxKeys: 1 }),
    );
    return (out.Contents?.length ?? 0) > 0;
  }

  /** Every key under `prefix` (paginated; v1 for the reason given at `hasObjectsUnder`). */
  async listKeys(prefix: string): Promise<{ key: string; lastModified?: Date; etag: string }[]> {
    const keys: { key: string; lastModified?: Date; etag: string }[] = [];
    let marker: string | undefined;
    do {
      const out = await this.client.send(
        new ListObjectsCommand({ Bucket: this.bucket, Prefix: prefix, Marker: marker }),
      );
      for (const o of out.Contents ?? []) {
        if (o.Key)
          keys.push({ key: o.Key, lastModified: o.LastModified, etag: (o.ETag ?? '').replace(/"/g, '') });
      }
      // Without a delimiter, v1 gives no NextMarker: the next page starts after the last key.
      marker = out.IsTruncated ? (out.NextMarker ?? out.Contents?.at(-1)?.Key) : undefined;
    } while (marker);
    return keys;
  }
}
