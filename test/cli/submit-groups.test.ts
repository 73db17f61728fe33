/**
 * Without a blueprint, `ncaas submit` (and `--csv`) learns the groups from the bucket's top-level
 * folders: a group the bucket does not have is refused before anything is uploaded, naming the
 * groups found and the near match. Credentials that may not list the bucket's root (a lab member's)
 * leave the groups unknown, and the upload goes on (S3 then decides, as for any upload).
 */
import {
  CreateBucketCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { listBucketGroups, MAX_ROOT_PAGES } from '../../lib/cli/bucket-groups';
import { runBulkSubmit } from '../../lib/cli/bulk-submit';
import { EXIT } from '../../lib/cli/errors';
import { targetFromClient, type S3Target } from '../../lib/cli/s3-target';
import { CliSession } from '../../lib/cli/session';
import { runSubmit } from '../../lib/cli/submit-command';
import { startEmulators, type Emulators } from '../../local/emulators';
import { captureOutput as capture } from '../support/captured-output';
import { startS3Emulator, type S3Emulator } from '../support/s3-emulator';

let work: string;
beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-cli-groups-'));
});
afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

const file = (name: string, content: string): string => {
  const full = path.join(work, name);
  fs.mkdirSync(path.dirname(full), { recursive: true });
  fs.writeFileSync(full, content);
  return full;
};

const allKeys = async (client: S3Client, bucket: string): Promise<string[]> => {
  const out = await client.send(new ListObjectsCommand({ Bucket: bucket }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
};

/** `ncaas submit --group <group>` of one local data file and config, with no blueprint. */
const submitAs = async (target: S3Target, group: string, timestamp: string) => {
  const io = capture();
  const code = await runSubmit(
    target,
    {
      group,
      data: [file('session.bin', 'neural data')],
      config: file('config.yaml', '__duration__: 10\n'),
      timestamp,
    },
    io.output,
  );
  return { code, stdout: io.stdout(), stderr: io.stderr() };
};

describe("against the local runtime's S3 (`ncaas local`)", () => {
  const bucket = 'groups-local';
  let dir: string;
  let emulators: Emulators;
  let target: S3Target;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-cli-groups-local-'));
    emulators = await startEmulators({ dir, bucket, table: 'groups-jobs' });
    target = targetFromClient(emulators.s3, bucket, 'mock');
    // Groups as a bucket in use holds them: folders of folders only.
    for (const key of ['labA/inputs/old.bin', 'labB/configs/c.yaml', 'labB/submissions/x/submit.json']) {
      await emulators.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }));
    }
  });
  afterAll(async () => {
    await emulators.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a mistyped group is refused naming the near match and the groups; nothing is uploaded', async () => {
    const before = await allKeys(emulators.s3, bucket);
    const result = await submitAs(target, 'laba', 'typo');

    expect(result.code).toBe(EXIT.failed);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('nothing was uploaded');
    expect(result.stderr).toContain(
      `group "laba" has no folder in s3://${bucket}/: did you mean "labA"? (group names are case-sensitive; the bucket's groups: "labA", "labB";`,
    );
    expect(result.stderr).toContain('--blueprint');
    expect(await allKeys(emulators.s3, bucket)).toEqual(before);
  });

  test('a group with a folder is submitted to', async () => {
    const result = await submitAs(target, 'labB', 'right');
    expect(result.code).toBe(EXIT.ok);
    expect(result.stdout).toBe('right\n');
    expect(await allKeys(emulators.s3, bucket)).toContain('labB/submissions/rightsubmit.json');
  });

  test('a CSV row with a group the bucket does not have refuses the whole file', async () => {
    file('a.bin', 'a');
    file('config.yaml', '__duration__: 10\n');
    const csvFile = file(
      'jobs.csv',
      'group,data,config\nlabA,a.bin,config.yaml\nneurolab,a.bin,config.yaml\n',
    );
    const before = await allKeys(emulators.s3, bucket);
    const io = capture();

    const code = await runBulkSubmit(target, { csvFile }, io.output, { batchId: 'batch' });

    expect(code).toBe(EXIT.failed);
    expect(io.stderr()).toContain(
      `  row 3, column group: group "neurolab" has no folder in s3://${bucket}/ (the bucket's groups: "labA", "labB"): check the group's name;`,
    );
    expect(io.stderr()).not.toContain('row 2');
    expect(await allKeys(emulators.s3, bucket)).toEqual(before);
  });
});

describe('against s3rver as it is (it lists no folder that holds only folders)', () => {
  let s3: S3Emulator;
  let count = 0;
  let bucket: string;
  let target: S3Target;

  beforeAll(async () => {
    s3 = await startS3Emulator();
  });
  afterAll(() => s3.stop());
  beforeEach(async () => {
    count += 1;
    bucket = `groups-raw-${count}`;
    await s3.client.send(new CreateBucketCommand({ Bucket: bucket }));
    target = targetFromClient(s3.client, bucket, 'mock');
  });
  const put = (key: string) => s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }));

  test('a root listing with no folder is "unknown", not "no groups": the submission goes on', async () => {
    await put('labA/inputs/old.bin');
    expect(await listBucketGroups(target)).toBeUndefined();
    expect((await submitAs(target, 'labA', 'unknown')).code).toBe(EXIT.ok);
  });

  test('a group the listing left out but whose folder holds objects is not refused', async () => {
    await put('labB/readme.txt');
    await put('labA/inputs/old.bin');
    // s3rver shows labB (a file directly inside) and leaves out labA (folders only).
    expect(await listBucketGroups(target)).toEqual(['labB']);

    expect((await submitAs(target, 'labA', 'left-out')).code).toBe(EXIT.ok);
    const refused = await submitAs(target, 'labb', 'typo');
    expect(refused.code).toBe(EXIT.failed);
    expect(refused.stderr).toContain('did you mean "labB"?');
  });
});

describe('credentials that may not list the bucket root (a lab member)', () => {
  const bucket = 'member-bucket';
  const accessDenied = (): Error =>
    Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
  const notFound = (): Error =>
    Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });

  /** Reads an upload's body as S3 would (a file stream left unread would open after the test). */
  const received = async (input: { Body?: unknown }): Promise<void> => {
    const body = input.Body;
    if (body !== null && typeof body === 'object' && Symbol.asyncIterator in body) {
      for await (const chunk of body as AsyncIterable<unknown>) void chunk;
    }
  };

  const memberClient = () => {
    const client = new S3Client({
      region: 'us-east-1',
      credentials: { accessKeyId: 'member', secretAccessKey: 'member' },
    });
    const s3 = mockClient(client);
    s3.on(ListObjectsV2Command, { Delimiter: '/' }).rejects(accessDenied());
    s3.on(HeadObjectCommand).rejects(notFound());
    s3.on(ListObjectsCommand).resolves({ Contents: [] });
    return { client, s3, target: targetFromClient(client, bucket, 'mock') };
  };

  test('the listing is denied: the submission is uploaded as without the check', async () => {
    const { client, s3, target } = memberClient();
    s3.on(PutObjectCommand).callsFake(async (input: { Body?: unknown }) => {
      await received(input);
      return {};
    });

    const result = await submitAs(target, 'labA', 'member-job');

    expect(result.code).toBe(EXIT.ok);
    expect(result.stdout).toBe('member-job\n');
    expect(s3.commandCalls(ListObjectsV2Command)).toHaveLength(1);
    expect(s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key)).toEqual([
      'labA/inputs/session.bin',
      'labA/configs/config.yaml',
      'labA/submissions/member-jobsubmit.json',
    ]);
    client.destroy();
  });

  test('S3 then refuses an upload to a group the credentials do not cover, in one line naming --group', async () => {
    const { client, s3, target } = memberClient();
    s3.on(PutObjectCommand).callsFake(async (input: { Body?: unknown }) => {
      await received(input);
      throw accessDenied();
    });
    const io = capture();
    const session = new CliSession(io.output, {});

    const code = await session.run(() =>
      runSubmit(
        target,
        {
          group: 'labZ',
          data: [file('session.bin', 'x')],
          config: file('config.yaml', '__duration__: 10\n'),
          timestamp: 'not-mine',
        },
        io.output,
      ),
    );

    expect(code).toBe(EXIT.failed);
    expect(io.stderr()).toBe(
      "ncaas: access denied by S3 to the bucket: your credentials may only use your own group's folder; check --group (or NCAAS_GROUP) and --bucket\n",
    );
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(1);
    client.destroy();
  });

  test('a root listing longer than the pages read counts as unknown', async () => {
    const client = new S3Client({
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    const s3 = mockClient(client);
    s3.on(ListObjectsV2Command).resolves({
      CommonPrefixes: [{ Prefix: 'labA/' }],
      IsTruncated: true,
      NextContinuationToken: 'more',
    });
    expect(await listBucketGroups(targetFromClient(client, bucket))).toBeUndefined();
    expect(s3.commandCalls(ListObjectsV2Command)).toHaveLength(MAX_ROOT_PAGES);
    client.destroy();
  });
});
