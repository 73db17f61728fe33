/**
 * Makes the embedded S3 emulator safe for any key. s3rver 3.7.1 keeps each object as files named
 * after its key (`<bucket>/<segment>/.../<last>._S3rver_object`, `..._S3rver_metadata.json`, ...). Left
 * alone, a segment over the file-name limit threw ENAMETOOLONG from a write stream nobody listened
 * to (the whole process died), a last segment that fit but whose metadata file name did not left a
 * half-written object that broke every later listing, and `..` segments wrote outside its folder.
 *
 * The guard wraps s3rver rather than patching it, in two places every request goes through:
 *  - the store: every path it builds from a bucket and a key goes through `getResourcePath` /
 *    `getBucketPath`, which now refuse, with an S3 error, a bucket or key they cannot store as a path
 *    inside the emulator's folder (and check the result is inside it); its three write methods
 *    (PutObject, UploadPart, CompleteMultipartUpload) are replaced by versions whose every stream
 *    has an error path, so no file-system error can escape as an uncaught exception;
 *  - a Koa middleware before the router: a path with an empty key segment (`a//b`), which the
 *    router would not route at all (a bare "404 Not Found"), gets an S3 error too.
 * A refused request gets a 400 S3 XML error naming the limit; the runtime and other requests go on.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type S3rver from 's3rver';

/** s3rver's error class: thrown from the store or a middleware, its `onerror` answers it as S3 XML. */
interface S3ErrorClass {
  new (code: string, message: string, detail?: Record<string, string>): Error & { status: number };
}
/** s3rver's object model (keeps the allowed metadata, defaults the content type). */
interface S3ObjectClass {
  new (
    bucket: string,
    key: string,
    /** null: a GET whose range cannot be satisfied (s3rver answers 416 from the range alone). */
    content: Readable | Buffer | null,
    metadata: Record<string, string | number>,
  ): StoredObject & { range?: { start: number; end: number } };
}
// s3rver's own models, so its error handler and metadata rules apply unchanged (version pinned: 3.7.1).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3Error = require('s3rver/lib/models/error') as S3ErrorClass;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3Object = require('s3rver/lib/models/object') as S3ObjectClass;

/** S3's limit on a key, in UTF-8 bytes. */
export const S3_KEY_MAX_BYTES = 1024;
/** Linux's limit on one file name (NAME_MAX) and on a whole path (PATH_MAX, with its NUL). */
const NAME_MAX = 255;
const PATH_MAX = 4095;
/** What s3rver appends to a key's last segment; the longest of its file suffixes. */
const RESERVED = '._S3rver_';
const LONGEST_SUFFIX = `${RESERVED}metadata.json`;
/** The longest last segment whose every s3rver file name stays within NAME_MAX: 233 bytes. */
export const LAST_SEGMENT_MAX_BYTES = NAME_MAX - Buffer.byteLength(LONGEST_SUFFIX);

export interface Refusal {
  readonly code: 'KeyTooLongError' | 'InvalidArgument' | 'InvalidBucketName';
  readonly message: string;
}

const bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

const CANNOT_STORE =
  'The local S3 emulator (ncaas local) keeps each key as a file path and cannot store this key';
const S3_WOULD = 'AWS S3 itself accepts it; choose another key to use it locally';

/**
 * Why the emulator cannot keep `key` as a path inside its folder, or undefined when it can. Every
 * other key is stored and read back unchanged: unicode, `%2e`, spaces, a last segment of `.` or `..`
 * (which s3rver suffixes, so it names a file, not a folder).
 */
export const keyRefusal = (key: string): Refusal | undefined => {
  const size = bytes(key);
  if (size > S3_KEY_MAX_BYTES) {
    return {
      code: 'KeyTooLongError',
      message: `Your key is too long: ${size} bytes; S3 allows at most ${S3_KEY_MAX_BYTES} bytes (UTF-8).`,
    };
  }
  if (key.includes('\0')) {
    return { code: 'InvalidArgument', message: `${CANNOT_STORE}: it contains a NUL character.` };
  }
  const segments = key.split('/');
  const last = segments.pop() ?? '';
  for (const [index, segment] of segments.entries()) {
    const which = `segment ${index + 1} (between slashes)`;
    if (segment === '') {
      return {
        code: 'InvalidArgument',
        message: `${CANNOT_STORE}: its ${which} is empty ("//" or a leading "/"). ${S3_WOULD}.`,
      };
    }
    if (segment === '.' || segment === '..') {
      return {
        code: 'InvalidArgument',
        message: `${CANNOT_STORE}: its ${which} is "${segment}", which would name a folder outside the key's own (the emulator never writes outside its folder). ${S3_WOULD}.`,
      };
    }
    if (segment.includes(RESERVED)) {
      return {
        code: 'InvalidArgument',
        message: `${CANNOT_STORE}: its ${which} contains "${RESERVED}", which the emulator reserves for its own file names. ${S3_WOULD}.`,
      };
    }
    if (bytes(segment) > NAME_MAX) {
      return {
        code: 'KeyTooLongError',
        message: `${CANNOT_STORE}: its ${which} is ${bytes(segment)} bytes and a file name may have at most ${NAME_MAX}. ${S3_WOULD}.`,
      };
    }
  }
  if (bytes(last) > LAST_SEGMENT_MAX_BYTES) {
    return {
      code: 'KeyTooLongError',
      message: `${CANNOT_STORE}: its last segment (after the last slash) is ${bytes(last)} bytes and, with the emulator's suffix, may have at most ${LAST_SEGMENT_MAX_BYTES}. ${S3_WOULD}.`,
    };
  }
  return undefined;
};

/** Why `bucket` cannot be a folder of the emulator's, or undefined. Looser than S3's naming rules. */
export const bucketRefusal = (bucket: string): Refusal | undefined =>
  /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(bucket) && !bucket.includes('..') && !bucket.includes(RESERVED)
    ? undefined
    : {
        code: 'InvalidBucketName',
        message:
          'The specified bucket is not valid: a bucket name is letters, digits, dots and hyphens, with no "..".',
      };

const s3Error = (refusal: Refusal, detail: Record<string, string> = {}): Error =>
  new S3Error(refusal.code, refusal.message, detail);

/** s3rver's upload ids: 16 random bytes in hex. */
const UPLOAD_ID = /^[0-9a-f]{32}$/;

/** The part of s3rver's FilesystemStore the guard wraps. */
interface StoredObject {
  readonly bucket: string;
  readonly key: string;
  readonly content: Readable | Buffer;
  readonly metadata: Record<string, string>;
}
interface Written {
  readonly size: number;
  readonly md5: string;
}
interface FilesystemStore {
  readonly rootDirectory: string;
  getBucketPath(bucket: string): string;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5?: string): Promise<void>;
  getMetadata(bucket: string, key: string): Promise<Record<string, string | number>>;
  getObject(
    bucket: string,
    key: string,
    options?: { readonly start?: number; readonly end?: number },
  ): Promise<StoredObject | null>;
  putObject(object: StoredObject): Promise<Written>;
  initiateUpload(
    bucket: string,
    key: string,
    uploadId: string,
    metadata: Record<string, string>,
  ): Promise<void>;
  putPart(bucket: string, uploadId: string, partNumber: unknown, content: Readable): Promise<Written>;
  putObjectMultipart(
    bucket: string,
    uploadId: string,
    parts: readonly { number: number; etag: string }[],
  ): Promise<Written>;
}

/** Reads what is left of a request body, so a refused upload still gets its answer. */
const drain = (content: unknown): void => {
  if (content instanceof Readable && !content.readableEnded) {
    content.unpipe();
    content.on('error', () => undefined);
    content.resume();
  }
};

/**
 * Writes `content` to `file`, hashing it on the way; every stream's error rejects (s3rver's own
 * writer let a write stream's error escape, which ended the process). A failed write leaves no file.
 * The bytes go to a sibling first, renamed over `file` once complete: a GET of the key meanwhile
 * reads the whole old object, never a half-written one (s3rver truncated the file in place, so a
 * browser polling a status file the worker rewrote got ERR_CONTENT_LENGTH_MISMATCH). The sibling's
 * suffix is 7 characters: every accepted key leaves 8 spare (its metadata file's longer suffix).
 */
const writeFile = async (content: Readable | Buffer, file: string): Promise<Written> => {
  const partial = `${file}.${crypto.randomBytes(3).toString('hex')}`;
  const written = await writePartial(content, partial);
  await fs.promises.rename(partial, file).catch(async (error: unknown) => {
    await fs.promises.rm(partial, { force: true }).catch(() => undefined);
    throw error;
  });
  return written;
};

const writePartial = async (content: Readable | Buffer, file: string): Promise<Written> => {
  const hash = crypto.createHash('md5');
  let size = 0;
  const counting = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  const written = pipeline(counting, fs.createWriteStream(file));
  if (Buffer.isBuffer(content)) {
    counting.end(content);
  } else {
    // Not in the pipeline: a failed write must not destroy the request, which still gets its answer.
    content.once('error', (error) => counting.destroy(error));
    // A client that goes away mid-upload: fail the write instead of waiting for the rest forever.
    content.once('close', () => {
      if (!content.readableEnded) counting.destroy(new Error('the upload ended before its content did'));
    });
    content.pipe(counting);
  }
  try {
    await written;
  } catch (error) {
    await fs.promises.rm(file, { force: true }).catch(() => undefined);
    throw error;
  }
  return { size, md5: hash.digest('hex') };
};

const isInside = (root: string, candidate: string): boolean => {
  const relative = path.relative(root, candidate);
  return (
    relative !== '' &&
    relative !== '..' &&
    !relative.startsWith(`..${path.sep}`) &&
    !path.isAbsolute(relative)
  );
};

/** Wraps the store of `s3rver` (before `run()`); see the module comment. */
export const guardS3rver = (s3rver: S3rver): void => {
  const store = (s3rver as unknown as { store: FilesystemStore }).store;
  const root = path.resolve(store.rootDirectory);
  const bucketPath = store.getBucketPath.bind(store);
  const resourcePath = store.getResourcePath.bind(store);

  store.getBucketPath = (bucket) => {
    const refusal = bucketRefusal(bucket);
    if (refusal) throw s3Error(refusal, { BucketName: bucket.slice(0, 255) });
    const folder = bucketPath(bucket);
    if (!isInside(root, path.resolve(folder))) throw s3Error(BUCKET_OUTSIDE);
    return folder;
  };
  store.getResourcePath = (bucket, key, resource) => {
    store.getBucketPath(bucket);
    // No key: the bucket's own resources (its upload folder, CORS); s3rver names those itself.
    const refusal = typeof key === 'string' && key !== '' ? keyRefusal(key) : undefined;
    if (refusal) throw s3Error(refusal, { ArgumentName: 'key' });
    const file = resourcePath(bucket, key, resource);
    const resolved = path.resolve(file);
    if (!isInside(root, resolved)) throw s3Error(KEY_OUTSIDE, { ArgumentName: 'key' });
    if (bytes(resolved) > PATH_MAX) throw s3Error(PATH_TOO_LONG(bytes(resolved)), { ArgumentName: 'key' });
    return file;
  };

  // The length sent is the length of the file opened (not of the path's file a moment earlier), so an
  // object replaced meanwhile (writeFile renames) is sent whole, old or new, with its own length.
  store.getObject = async (bucket, key, options) => {
    const file = store.getResourcePath(bucket, key, 'object');
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    try {
      const [metadata, { size }] = await Promise.all([store.getMetadata(bucket, key), handle.stat()]);
      const lastByte = Math.max(0, size - 1);
      const ranged = options !== undefined && (options.start !== undefined || options.end !== undefined);
      const range = { start: options?.start ?? 0, end: Math.min(options?.end ?? Infinity, lastByte) };
      const satisfiable = range.start >= 0 && range.end >= range.start;
      const content = satisfiable ? handle.createReadStream({ start: range.start, end: range.end }) : null;
      if (content) requestReads.getStore()?.push(content);
      const object = new S3Object(bucket, key, content, { ...metadata, 'content-length': size });
      if (!satisfiable) await handle.close();
      if (ranged) object.range = range;
      return object;
    } catch (error) {
      await handle.close().catch(() => undefined);
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  };

  store.putObject = async (object) => {
    try {
      const file = store.getResourcePath(object.bucket, object.key, 'object');
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      const written = await writeFile(object.content, file);
      await store.putMetadata(object.bucket, object.key, object.metadata, written.md5);
      return written;
    } catch (error) {
      drain(object.content);
      throw error;
    }
  };

  const initiateUpload = store.initiateUpload.bind(store);
  store.initiateUpload = async (bucket, key, uploadId, metadata) => {
    // Refused when the upload starts, not after its parts.
    store.getResourcePath(bucket, key, 'object');
    return initiateUpload(bucket, key, uploadId, metadata);
  };

  const uploadFolder = async (bucket: string, uploadId: unknown): Promise<string> => {
    const uploads = store.getResourcePath(bucket, undefined, 'uploads');
    // The id is checked before it names a path: it comes from the query string.
    const valid = typeof uploadId === 'string' && UPLOAD_ID.test(uploadId);
    const folder = valid ? path.join(uploads, uploadId) : undefined;
    if (
      !folder ||
      !(await fs.promises.stat(folder).then(
        (stat) => stat.isDirectory(),
        () => false,
      ))
    ) {
      throw new S3Error(
        'NoSuchUpload',
        'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
      );
    }
    return folder;
  };
  const partNumberOf = (value: unknown): number => {
    const number = typeof value === 'string' && /^\d{1,5}$/.test(value) ? Number(value) : Number.NaN;
    if (!(number >= 1 && number <= 10_000)) {
      throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', {
        ArgumentName: 'partNumber',
      });
    }
    return number;
  };

  store.putPart = async (bucket, uploadId, partNumber, content) => {
    try {
      const file = path.join(await uploadFolder(bucket, uploadId), String(partNumberOf(partNumber)));
      const written = await writeFile(content, file);
      await fs.promises.writeFile(`${file}.md5`, written.md5);
      return written;
    } catch (error) {
      drain(content);
      throw error;
    }
  };

  store.putObjectMultipart = async (bucket, uploadId, parts) => {
    const folder = await uploadFolder(bucket, uploadId);
    const key = await fs.promises.readFile(path.join(folder, 'key'), 'utf8');
    const metadata = JSON.parse(await fs.promises.readFile(path.join(folder, 'metadata'), 'utf8')) as Record<
      string,
      string
    >;
    const files = [...parts]
      .sort((a, b) => a.number - b.number)
      .map((part) => path.join(folder, String(partNumberOf(String(part.number)))));
    for (const file of files) {
      if (
        !(await fs.promises.stat(file).then(
          (stat) => stat.isFile(),
          () => false,
        ))
      ) {
        throw new S3Error(
          'InvalidPart',
          "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
        );
      }
    }
    // One stream over the parts in order; a part that cannot be read fails the request, not the process.
    const content = Readable.from(
      (async function* () {
        for (const file of files) yield* fs.createReadStream(file);
      })(),
    );
    const written = await store.putObject(new S3Object(bucket, key, content, metadata));
    await fs.promises.rm(folder, { recursive: true, force: true });
    return written;
  };

  // Before the router (s3rver's last middleware, @koa/router's `dispatch`): a path with an empty key
  // segment matches no route. Checked, so that another s3rver release fails here, not silently.
  const app = s3rver as unknown as { middleware: unknown[] };
  if ((app.middleware[app.middleware.length - 1] as { name?: string } | undefined)?.name !== 'dispatch') {
    throw new Error(
      's3rver changed: its router is not its last middleware; review local/s3-emulator-guard.ts',
    );
  }
  app.middleware.splice(app.middleware.length - 1, 0, emptySegmentGuard, closeUnsentReads);
};

/** The object streams a request opened (store.getObject above), to close those it never sent. */
const requestReads = new AsyncLocalStorage<Readable[]>();

/**
 * A Koa middleware: an object opened for a GET that s3rver then answers without its body (304 Not
 * Modified to a browser's conditional GET, HEAD) is closed here, not left open until garbage
 * collection.
 */
const closeUnsentReads = async (
  ctx: { readonly body?: unknown },
  next: () => Promise<void>,
): Promise<void> => {
  const opened: Readable[] = [];
  try {
    await requestReads.run(opened, next);
  } finally {
    for (const stream of opened) if (ctx.body !== stream) stream.destroy();
  }
};

const BUCKET_OUTSIDE: Refusal = {
  code: 'InvalidBucketName',
  message: 'The specified bucket is not valid: it would name a folder outside the local S3 emulator.',
};
const KEY_OUTSIDE: Refusal = {
  code: 'InvalidArgument',
  message: `${CANNOT_STORE}: it would name a file outside the emulator's folder. ${S3_WOULD}.`,
};
const PATH_TOO_LONG = (size: number): Refusal => ({
  code: 'KeyTooLongError',
  message: `${CANNOT_STORE}: with the emulator's folder its file path would be ${size} bytes, over the system's ${PATH_MAX}; start ncaas local with a shorter --dir. ${S3_WOULD}.`,
});

const EMPTY_SEGMENT: Refusal = {
  code: 'InvalidArgument',
  message: `${CANNOT_STORE}: it has an empty segment ("//" or a leading "/"). ${S3_WOULD}.`,
};

interface KoaContext {
  readonly path: string;
  readonly req: Readable;
}

/** A Koa middleware: `a//b` and a leading `/` in a key, refused as an S3 error instead of a bare 404. */
const emptySegmentGuard = async (ctx: KoaContext, next: () => Promise<void>): Promise<void> => {
  // Path-style `/<bucket>/<key>`: any `//` is an empty segment of the key (or an empty bucket).
  if (ctx.path.includes('//')) {
    drain(ctx.req);
    throw s3Error(EMPTY_SEGMENT, { ArgumentName: 'key' });
  }
  await next();
};
