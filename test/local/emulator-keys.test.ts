/**
 * The local runtime's S3 emulator takes any key a client sends without dying and without touching a
 * path outside its folder (issue 12, item 8). s3rver keeps keys as file paths; local/s3-emulator-guard.ts
 * stores every key it can keep faithfully and refuses the rest with an S3 error. Each hostile key goes
 * through the SDK (PutObject, CopyObject, multipart) or, for what an SDK would not send, a raw HTTP
 * request; after each, the emulator still answers a put, a get and listings, and no file appeared
 * outside its folder.
 */
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEmulators, type Emulators } from '../../local/emulators';
import { keyRefusal, LAST_SEGMENT_MAX_BYTES } from '../../local/s3-emulator-guard';
import { S3Objects } from '../../lib/control/s3-objects';
import { startE2eRuntime, waitFor, type E2eRuntime } from '../support/local-e2e';

jest.setTimeout(60_000);

/** Every file and folder under `dir` (absolute paths), sorted. */
const tree = (dir: string): string[] => {
  const found: string[] = [];
  const walk = (folder: string): void => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      found.push(full);
      if (entry.isDirectory()) walk(full);
    }
  };
  walk(dir);
  return found.sort();
};

/** Unique per run: a file of this name anywhere is one a hostile key wrote. */
const MARKER = `escaped-${process.pid}-${Date.now()}`;

/** `prefix` and then segments of `segment` bytes, exactly `total` bytes long (ending with `suffix`). */
const keyOfBytes = (prefix: string, total: number, suffix = '', segment = 200): string => {
  let key = prefix;
  let letter = 0;
  while (Buffer.byteLength(key) + segment + 1 + suffix.length < total) {
    key += `${String.fromCharCode(97 + (letter++ % 26)).repeat(segment)}/`;
  }
  key += 'z'.repeat(total - Buffer.byteLength(key) - suffix.length) + suffix;
  expect(Buffer.byteLength(key)).toBe(total);
  return key;
};

/** Where unguarded s3rver would have written a key's object file. */
const naiveObjectFile = (s3Dir: string, bucket: string, key: string): string => {
  const parts = key.split('/');
  const last = parts.pop() ?? '';
  return path.join(s3Dir, bucket, ...parts, `${last}._S3rver_object`);
};

const sdkError = async (
  work: Promise<unknown>,
): Promise<{ name: string; message: string; status?: number }> => {
  try {
    await work;
  } catch (error) {
    const e = error as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('expected the request to be refused');
};

const text = async (client: S3Client, bucket: string, key: string): Promise<string> =>
  (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString('utf8');

/** Every key in the bucket, through as many pages as it takes. */
const allKeys = async (client: S3Client, bucket: string, prefix?: string): Promise<string[]> => {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        ...(prefix !== undefined ? { Prefix: prefix } : {}),
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    keys.push(...(page.Contents ?? []).map((o) => o.Key ?? ''));
    token = page.NextContinuationToken;
  } while (token);
  return keys;
};

/** A request as-is (no SDK normalising or encoding the path), unsigned: s3rver lets it through. */
const raw = (
  endpoint: string,
  method: string,
  requestPath: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const url = new URL(endpoint);
    const request = http.request(
      { host: url.hostname, port: url.port, method, path: requestPath, headers },
      (response) => {
        let data = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (data += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: data }));
      },
    );
    request.on('error', reject);
    request.end(body);
  });

describe('which keys the guard refuses (the rule on its own)', () => {
  test('storable keys pass: unicode, %2e, spaces, a trailing slash, a last "." or "..", 1,024 bytes in short segments', () => {
    for (const key of [
      'labA/inputs/données/ñ/日本語/🧠.csv',
      'labA/inputs/%2e%2e/%2e/x',
      'labA/inputs/a b+c&d=e.csv',
      'labA/inputs/folder/',
      'labA/inputs/.',
      'labA/inputs/..',
      '..',
      keyOfBytes('labA/', 1024),
      `labA/${'x'.repeat(LAST_SEGMENT_MAX_BYTES)}`,
      `labA/${'x'.repeat(255)}/y`,
    ]) {
      expect([key.length, keyRefusal(key)]).toEqual([key.length, undefined]);
    }
  });

  test('each refusal names its reason', () => {
    const cases: [string, string, RegExp][] = [
      [
        `k/${'x'.repeat(1022)}y`,
        'KeyTooLongError',
        /Your key is too long: 1025 bytes; S3 allows at most 1024/,
      ],
      [
        `k/${'x'.repeat(LAST_SEGMENT_MAX_BYTES + 1)}`,
        'KeyTooLongError',
        /last segment .* is 234 bytes .* at most 233/,
      ],
      [
        `k/${'x'.repeat(256)}/y`,
        'KeyTooLongError',
        /segment 2 \(between slashes\) is 256 bytes .* at most 255/,
      ],
      [`k/${'日'.repeat(90)}`, 'KeyTooLongError', /last segment .* is 270 bytes/],
      ['a/../../x', 'InvalidArgument', /segment 2 .* is "\.\."/],
      ['a/./x', 'InvalidArgument', /segment 2 .* is "\."/],
      ['a//x', 'InvalidArgument', /segment 2 .* is empty/],
      ['/x', 'InvalidArgument', /segment 1 .* is empty/],
      ['a/b._S3rver_object/x', 'InvalidArgument', /reserves/],
      ['a\0b', 'InvalidArgument', /NUL/],
    ];
    for (const [key, code, message] of cases) {
      const refusal = keyRefusal(key);
      expect(refusal?.code).toBe(code);
      expect(refusal?.message).toMatch(message);
    }
  });
});

describe('the S3 emulator, any key through the SDK and raw HTTP', () => {
  let parent: string;
  let s3Dir: string;
  let emulators: Emulators;
  let before: string[];
  const bucket = 'keys-local';
  const printed: unknown[] = [];

  /** Files outside the emulators' own folders (the parent and the runtime folder's other files). */
  const outside = (): string[] =>
    tree(parent).filter(
      (file) => !file.startsWith(`${s3Dir}${path.sep}`) && !file.includes(`${path.sep}dynamodb`),
    );

  beforeAll(async () => {
    parent = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-keys-'));
    fs.writeFileSync(path.join(parent, 'neighbour.txt'), 'not the emulator’s\n');
    const dir = path.join(parent, 'runtime');
    s3Dir = path.join(dir, 's3');
    emulators = await startEmulators({
      dir,
      bucket,
      table: 'keys-jobs',
      onListenerError: (error) => printed.push(error),
    });
    before = outside();
  });
  afterAll(async () => {
    await emulators?.stop();
    fs.rmSync(parent, { recursive: true, force: true });
  });

  /** The emulator still answers a put, a get and listings; nothing appeared outside its folder. */
  const stillUp = async (): Promise<void> => {
    const canary = `labA/inputs/canary-${Math.random()}.txt`;
    await emulators.s3.send(new PutObjectCommand({ Bucket: bucket, Key: canary, Body: 'alive' }));
    expect(await text(emulators.s3, bucket, canary)).toBe('alive');
    expect(await allKeys(emulators.s3, bucket)).toContain(canary);
    const folders = await emulators.s3.send(new ListObjectsV2Command({ Bucket: bucket, Delimiter: '/' }));
    expect((folders.CommonPrefixes ?? []).map((p) => p.Prefix)).toContain('labA/');
    expect(outside()).toEqual(before);
    // Every file the emulator keeps is inside its bucket's folder.
    const bucketDir = path.join(s3Dir, bucket);
    expect(
      tree(s3Dir).filter((file) => file !== bucketDir && !file.startsWith(`${bucketDir}${path.sep}`)),
    ).toEqual([]);
    expect(tree(s3Dir).filter((file) => file.includes(MARKER))).toEqual([]);
    for (const marker of [parent, path.dirname(parent), os.tmpdir(), '/']) {
      expect(fs.readdirSync(marker).filter((name) => name.includes(MARKER))).toEqual([]);
    }
  };

  /** A key stored: read back byte for byte, and listed as itself. */
  const expectStored = async (key: string, body: string): Promise<void> => {
    expect(await text(emulators.s3, bucket, key)).toBe(body);
    expect(await allKeys(emulators.s3, bucket, key)).toEqual([key]);
  };

  const storable = [
    'labA/inputs/données/ñ/日本語/🧠 session.csv',
    'labA/inputs/%2e%2e/%2e%2e/%2E/x.csv',
    'labA/inputs/a b+c&d=e;f,g.csv',
    'labA/inputs/folder/',
    'labA/inputs/.',
    'labA/inputs/..',
    `labA/inputs/${'x'.repeat(LAST_SEGMENT_MAX_BYTES)}`,
    // 1,024 bytes in segments the file system can hold.
    keyOfBytes('labA/inputs/', 1024),
  ];
  const refused: [string, RegExp][] = [
    [`labA/inputs/${'x'.repeat(300)}`, /last segment .* 300 bytes/],
    [`labA/inputs/${'x'.repeat(LAST_SEGMENT_MAX_BYTES + 1)}`, /last segment .* 234 bytes/],
    [`labA/inputs/${'d'.repeat(1000)}/x`, /segment 3 .* 1000 bytes/],
    [`labA/inputs/${'e'.repeat(1012)}`, /last segment .* 1012 bytes/],
    [`labA/${'x'.repeat(1020)}`, /Your key is too long: 1025 bytes/],
    [`labA/inputs/../../../../../../../../../../../../../../../../tmp/${MARKER}`, /is "\.\."/],
    [`labA/inputs/../../../${MARKER}`, /is "\.\."/],
    [`../${MARKER}`, /is "\.\."/],
    ['labA/./inputs/x.csv', /is "\."/],
    ['labA//inputs/x.csv', /empty/],
    ['/labA/inputs/x.csv', /empty/],
    [`labA/inputs/${'日'.repeat(90)}`, /last segment .* 270 bytes/],
    ['labA/inputs/a._S3rver_object/x', /reserves/],
  ];

  test('PutObject: each storable key is stored and read back; each other key is an S3 error, and the emulator goes on', async () => {
    for (const key of storable) {
      await emulators.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `body of ${key}` }));
      await expectStored(key, `body of ${key}`);
      await stillUp();
    }
    for (const [key, message] of refused) {
      const error = await sdkError(
        emulators.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' })),
      );
      expect([key.slice(0, 40), error.status, error.name]).toEqual([
        key.slice(0, 40),
        400,
        expect.stringMatching(/^(KeyTooLongError|InvalidArgument)$/),
      ]);
      expect(error.message).toMatch(message);
      expect(fs.existsSync(naiveObjectFile(s3Dir, bucket, key))).toBe(false);
      await stillUp();
    }
    expect(printed).toEqual([]);
  });

  test('CopyObject: to a key it cannot store, and from a key outside its folder, is refused; to a storable key works', async () => {
    const source = 'labA/inputs/source.csv';
    await emulators.s3.send(new PutObjectCommand({ Bucket: bucket, Key: source, Body: 'source' }));
    for (const [key, message] of refused) {
      const error = await sdkError(
        emulators.s3.send(
          new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: `${bucket}/${source}` }),
        ),
      );
      expect([error.status, error.message]).toEqual([400, expect.stringMatching(message)]);
      await stillUp();
    }
    // The source read outside the folder: a file planted next to the emulator is not copied in.
    fs.writeFileSync(path.join(parent, `${MARKER}-secret._S3rver_object`), 'secret');
    before = outside();
    const error = await sdkError(
      emulators.s3.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: 'labA/inputs/stolen.csv',
          CopySource: `${bucket}/labA/../../../${MARKER}-secret`,
        }),
      ),
    );
    expect([error.status, error.message]).toEqual([400, expect.stringMatching(/is "\.\."/)]);
    fs.rmSync(path.join(parent, `${MARKER}-secret._S3rver_object`));
    before = outside();
    for (const key of storable.slice(0, 3)) {
      await emulators.s3.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: `${key}.copy`,
          CopySource: encodeURI(`${bucket}/${source}`),
        }),
      );
      await expectStored(`${key}.copy`, 'source');
    }
    await stillUp();
  });

  test('multipart: a key it cannot store is refused when the upload starts; a storable one is assembled', async () => {
    for (const [key, message] of refused) {
      const error = await sdkError(
        emulators.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key })),
      );
      expect([error.status, error.message]).toEqual([400, expect.stringMatching(message)]);
      await stillUp();
    }
    const key = `labA/inputs/données/${'m'.repeat(LAST_SEGMENT_MAX_BYTES - 2)}é`;
    const { UploadId } = await emulators.s3.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }),
    );
    const parts = [];
    for (const [index, body] of ['first part, ', 'second part'].entries()) {
      const { ETag } = await emulators.s3.send(
        new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: index + 1, Body: body }),
      );
      parts.push({ ETag, PartNumber: index + 1 });
    }
    await emulators.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
    await expectStored(key, 'first part, second part');
    // A part number that was never uploaded: an S3 error, not an unreadable stream.
    const second = await emulators.s3.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'labA/inputs/second' }),
    );
    const missing = await sdkError(
      emulators.s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: 'labA/inputs/second',
          UploadId: second.UploadId,
          MultipartUpload: { Parts: [{ ETag: '"x"', PartNumber: 7 }] },
        }),
      ),
    );
    expect([missing.status, missing.name]).toEqual([400, 'InvalidPart']);
    await stillUp();
  });

  test('raw requests: encoded "..", a bucket of "..", an upload id or part number naming another folder: S3 errors, nothing outside', async () => {
    const endpoint = emulators.s3Endpoint;
    const cases: [string, string, number, RegExp][] = [
      [
        'PUT',
        `/${bucket}/a/%2e%2e/%2e%2e/%2e%2e/%2e%2e/${MARKER}`,
        400,
        /<Code>InvalidArgument<\/Code>.*is &quot;\.\.&quot;/s,
      ],
      ['PUT', `/${bucket}/a%2F..%2F..%2F..%2F..%2F${MARKER}`, 400, /<Code>InvalidArgument<\/Code>/],
      ['GET', `/${bucket}/a%2F..%2F..%2F..%2Fneighbour.txt`, 400, /<Code>InvalidArgument<\/Code>/],
      ['DELETE', `/${bucket}/a%2F..%2F..%2F..%2Fneighbour.txt`, 400, /<Code>InvalidArgument<\/Code>/],
      ['PUT', `/${bucket}/a//b`, 400, /<Code>InvalidArgument<\/Code>.*empty segment/s],
      ['PUT', `/%2e%2e`, 400, /<Code>InvalidBucketName<\/Code>/],
      ['DELETE', `/%2e%2e`, 400, /<Code>InvalidBucketName<\/Code>/],
      ['GET', `/%2e%2e?list-type=2`, 400, /<Code>InvalidBucketName<\/Code>/],
      ['PUT', `/..%2F..%2F${MARKER}`, 400, /<Code>InvalidBucketName<\/Code>/],
      [
        'PUT',
        `/${bucket}/x?uploadId=..%2F..%2F..%2F${MARKER}&partNumber=1`,
        404,
        /<Code>NoSuchUpload<\/Code>/,
      ],
      ['PUT', `/${bucket}/x?uploadId=${'0'.repeat(32)}&partNumber=1`, 404, /<Code>NoSuchUpload<\/Code>/],
    ];
    for (const [method, requestPath, status, body] of cases) {
      const response = await raw(endpoint, method, requestPath, method === 'PUT' ? 'raw body' : undefined);
      expect([method, requestPath, response.status]).toEqual([method, requestPath, status]);
      expect(response.body).toMatch(body);
      await stillUp();
    }
    // A real upload id with a part number that is a path.
    const { UploadId } = await emulators.s3.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'labA/inputs/raw-part' }),
    );
    for (const partNumber of [`..%2F..%2F..%2F${MARKER}`, '0', '10001', '1.5']) {
      const response = await raw(
        endpoint,
        'PUT',
        `/${bucket}/labA/inputs/raw-part?uploadId=${UploadId}&partNumber=${partNumber}`,
        'part',
      );
      expect([partNumber, response.status]).toEqual([partNumber, 400]);
      expect(response.body).toMatch(/Part number must be an integer between 1 and 10000/);
    }
    // DeleteObjects names its keys in the body.
    const deleteBody = `<Delete><Object><Key>a/../../../neighbour.txt</Key></Object></Delete>`;
    const deleted = await raw(endpoint, 'POST', `/${bucket}?delete`, deleteBody, {
      'content-type': 'application/xml',
    });
    expect(deleted.status).toBe(400);
    expect(fs.readFileSync(path.join(parent, 'neighbour.txt'), 'utf8')).toBe('not the emulator’s\n');
    await stillUp();
  });

  test('a write the file system refuses is an S3 error, and an upload the client abandons leaves no object', async () => {
    // A folder where the object's file would go (as a crashed run could leave): s3rver's own writer
    // threw EISDIR from a stream nobody listened to.
    const blocked = naiveObjectFile(s3Dir, bucket, 'labA/inputs/blocked.csv');
    fs.mkdirSync(blocked, { recursive: true });
    try {
      const error = await sdkError(
        emulators.s3.send(
          new PutObjectCommand({ Bucket: bucket, Key: 'labA/inputs/blocked.csv', Body: 'x' }),
        ),
      );
      expect([error.status, error.name]).toEqual([500, 'InternalError']);
      await stillUp();
    } finally {
      fs.rmSync(blocked, { recursive: true });
    }

    // 10 bytes of a promised 100,000, then the connection is gone.
    const url = new URL(emulators.s3Endpoint);
    await new Promise<void>((resolve) => {
      const request = http.request({
        host: url.hostname,
        port: url.port,
        method: 'PUT',
        path: `/${bucket}/labA/inputs/abandoned.csv`,
        headers: { 'content-length': '100000' },
      });
      request.on('error', () => resolve());
      request.write('0123456789', () => setTimeout(() => request.destroy(), 100));
      request.on('close', () => resolve());
    });
    await waitFor('the abandoned upload to be cleaned up', () =>
      !fs.existsSync(naiveObjectFile(s3Dir, bucket, 'labA/inputs/abandoned.csv')) ? true : undefined,
    );
    expect(await allKeys(emulators.s3, bucket, 'labA/inputs/abandoned')).toEqual([]);
    await stillUp();
  });

  test('a listener that throws fails neither the upload nor the emulator', async () => {
    const failing = () => {
      throw new Error('handler bug');
    };
    emulators.events.on('event', failing);
    try {
      await emulators.s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: 'labA/inputs/event.csv', Body: 'e' }),
      );
      expect(await text(emulators.s3, bucket, 'labA/inputs/event.csv')).toBe('e');
      expect(printed.map((e) => (e as Error).message)).toEqual(['handler bug']);
    } finally {
      emulators.events.off('event', failing);
      printed.length = 0;
    }
    await stillUp();
  });

  test('an object rewritten while it is read is read whole, old or new, with its own length; ranges still work', async () => {
    const key = 'labA/results/job__x_1/logs/DATASET_NAME:a_STATUS.txt';
    const bodies = ['a'.repeat(400_000), 'b'.repeat(150_000), 'c'.repeat(600_000)];
    await emulators.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bodies[0] }));
    // A worker rewriting its status file while a browser polls it.
    const writes = Array.from({ length: 12 }, (_, i) =>
      emulators.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bodies[i % 3] })),
    );
    const reads = Array.from({ length: 24 }, () =>
      emulators.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })).then(async (out) => ({
        length: out.ContentLength,
        body: await out.Body!.transformToString('utf8'),
      })),
    );
    const [, got] = await Promise.all([Promise.all(writes), Promise.all(reads)]);
    for (const { length, body } of got) {
      expect(bodies).toContain(body);
      expect(length).toBe(body.length);
    }
    const ranged = await emulators.s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=2-4' }),
    );
    expect(await ranged.Body!.transformToString('utf8')).toHaveLength(3);
    expect(ranged.ContentRange).toMatch(/^bytes 2-4\/\d+$/);
    // A browser's conditional GET answered 304 (no body): the file opened for it is closed.
    const current = await emulators.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    await current.Body!.transformToString('utf8');
    const ETag = current.ETag;
    const openFiles = () => fs.readdirSync('/proc/self/fd').length;
    const before = openFiles();
    for (let i = 0; i < 20; i++) {
      await expect(
        emulators.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, IfNoneMatch: ETag })),
      ).rejects.toMatchObject({ $metadata: { httpStatusCode: 304 } });
    }
    expect(openFiles()).toBeLessThan(before + 5);
    // No partial file is left beside the object.
    expect(fs.readdirSync(path.dirname(naiveObjectFile(s3Dir, bucket, key))).sort()).toEqual([
      'DATASET_NAME:a_STATUS.txt._S3rver_metadata.json',
      'DATASET_NAME:a_STATUS.txt._S3rver_object',
      'DATASET_NAME:a_STATUS.txt._S3rver_object.md5',
    ]);
    await stillUp();
  });

  test('a read capped below the object size stops after its headers: the emulator closes the file and goes on', async () => {
    const key = 'labA/submissions/hugesubmit.json';
    const size = 8 * 1024 * 1024;
    await emulators.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x'.repeat(size) }));
    const objects = new S3Objects(emulators.s3, bucket);
    const openFiles = () => fs.readdirSync('/proc/self/fd').length;
    const before = openFiles();
    for (let i = 0; i < 20; i++) {
      const read = await objects.readUpTo(key, 1024 * 1024);
      expect(read?.head.size).toBe(size);
      expect(read?.body).toBeUndefined();
    }
    await waitFor('the files opened for the abandoned reads to close', () => openFiles() < before + 5);
    // Under the cap the bytes come with the head; a missing key is undefined.
    const small = await objects.readUpTo(key, size);
    expect(small?.body?.byteLength).toBe(size);
    expect(await objects.readUpTo('labA/submissions/nonesubmit.json', size)).toBeUndefined();
    await stillUp();
  });
});

describe('the local runtime: hostile keys under inputs/ and submissions/', () => {
  let e2e: E2eRuntime;
  beforeAll(async () => {
    e2e = await startE2eRuntime({ blueprint: 'e2e' });
  });
  afterAll(async () => {
    await e2e?.stop();
  });

  test('every such key is stored or refused, the runtime handles what it stored, and a job afterwards runs to SUCCESS', async () => {
    const client = e2e.s3();
    const bucket = e2e.runtime.bucket;
    const keys = [
      `labA/inputs/${'x'.repeat(300)}.csv`,
      `labA/inputs/${'x'.repeat(220)}.csv`,
      `labA/inputs/../../../../${MARKER}`,
      'labA/inputs/%2e%2e/%2e%2e/x.csv',
      'labA/inputs/données/🧠.csv',
      keyOfBytes('labA/inputs/', 1024),
      `labA/submissions/${'x'.repeat(300)}submit.json`,
      `labA/submissions/${'x'.repeat(200)}submit.json`,
      `labA/submissions/../../${MARKER}submit.json`,
      'labA/submissions/./submit.json',
      'labA/submissions/%2e%2e/submit.json',
      'labA/submissions/ü/submit.json',
      keyOfBytes('labA/submissions/', 1024, 'submit.json'),
      `labA/submissions/${'x'.repeat(1020)}submit.json`,
      'labA/submissions/cancel-me.cancel.json',
    ];
    const outcomes: string[] = [];
    for (const key of keys) {
      const body = JSON.stringify({
        dataname: ['labA/inputs/missing.csv'],
        configname: 'labA/configs/c.json',
      });
      try {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
        outcomes.push('stored');
      } catch (error) {
        const e = error as { name: string; $metadata?: { httpStatusCode?: number } };
        expect([key.slice(0, 40), e.$metadata?.httpStatusCode]).toEqual([key.slice(0, 40), 400]);
        outcomes.push(e.name);
      }
    }
    expect(outcomes).toEqual([
      'KeyTooLongError',
      'stored',
      'InvalidArgument',
      'stored',
      'stored',
      'stored',
      'KeyTooLongError',
      'stored',
      'InvalidArgument',
      'InvalidArgument',
      'stored',
      'stored',
      'stored',
      'KeyTooLongError',
      'stored',
    ]);
    await e2e.runtime.idle();
    // No refused key left a file anywhere (in or next to the runtime's folder), and the bucket still lists.
    expect(tree(e2e.dir).filter((f) => f.includes(MARKER))).toEqual([]);
    for (const folder of [path.dirname(e2e.dir), '/'])
      expect(fs.readdirSync(folder).filter((name) => name.includes(MARKER))).toEqual([]);
    expect((await allKeys(client, bucket, 'labA/inputs/')).length).toBeGreaterThanOrEqual(4);

    const job = await e2e.submitJob({
      group: 'labA',
      data: [e2e.file('after.txt', 'still going\n')],
      config: e2e.file('config.json', JSON.stringify({ mode: 'succeed' })),
    });
    const status = await waitFor(
      `job ${job} to end`,
      async () => {
        const s = await e2e.cli.statusJson(job, { group: 'labA' });
        return s.final ? s : undefined;
      },
      { context: () => e2e.recentLines() },
    );
    expect(status.state).toBe('SUCCESS');
  });
});
