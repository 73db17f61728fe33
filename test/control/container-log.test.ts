/**
 * Copying a Batch analysis container's CloudWatch log stream (lib/control/container-log.ts over
 * lib/control/cloudwatch-log-source.ts) against a mocked CloudWatchLogsClient: the GetLogEvents
 * requests exactly as AWS receives them, pagination until the token repeats, the size and time caps
 * and what the file says about them, a stream that does not exist, throttling and refusals.
 */
import 'aws-sdk-client-mock-jest';
import {
  AccessDeniedException,
  CloudWatchLogsClient,
  GetLogEventsCommand,
  type GetLogEventsCommandOutput,
  InvalidParameterException,
  ResourceNotFoundException,
  ServiceUnavailableException,
  ThrottlingException,
} from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import { CloudWatchLogSource } from '../../lib/control/cloudwatch-log-source';
import {
  CONTAINER_LOG_LIMITS,
  type ContainerLogLimits,
  copyContainerLog,
  describeCopy,
} from '../../lib/control/container-log';
import { BATCH_LOG_GROUP } from '../../lib/launch/batch-stages';

const logs = mockClient(CloudWatchLogsClient);

const STREAM = 'ncaas-mock_labA-run/default/4c7599ae0a8249aaba5a4727fcce14a8';
const WHERE = `CloudWatch Logs (region us-east-1), log group /aws/batch/job, stream ${STREAM}`;
const KEY = 'labA/results/job__mock_ts/logs/DATASET_NAME:session1.csv_analysis-log.txt';
const T0 = Date.UTC(2026, 10, 21, 12, 0, 0);
const metadata = { httpStatusCode: 400, $metadata: {} };

let sleeps: number[];
let written: Map<string, string>;

const source = (props: { maxAttempts?: number } = {}) =>
  new CloudWatchLogSource({
    client: new CloudWatchLogsClient({ region: 'us-east-1', maxAttempts: 1 }),
    logGroup: BATCH_LOG_GROUP,
    region: 'us-east-1',
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...props,
  });

const copy = (limits?: ContainerLogLimits, from = source()) =>
  copyContainerLog({
    source: from,
    stream: STREAM,
    key: KEY,
    objects: {
      write: async (key: string, body: string) => {
        written.set(key, body);
      },
    },
    ...(limits ? { limits } : {}),
  });

const file = (): string => written.get(KEY) ?? '(not written)';

/** A page of GetLogEvents: `messages` at one-second steps from `first`, and the forward token. */
const page = (messages: readonly string[], token: string, first = 0): GetLogEventsCommandOutput => ({
  $metadata: { httpStatusCode: 200 },
  events: messages.map((message, i) => ({
    timestamp: T0 + (first + i) * 1000,
    ingestionTime: T0 + (first + i) * 1000 + 300,
    message,
  })),
  nextForwardToken: token,
  nextBackwardToken: 'b/0',
});

const requests = () => logs.commandCalls(GetLogEventsCommand).map((call) => call.args[0].input);

const throttled = () =>
  new ThrottlingException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } });

beforeEach(() => {
  logs.reset();
  sleeps = [];
  written = new Map();
});

describe('GetLogEvents from the head of the stream until the token repeats', () => {
  test('the requests: the Batch log group, the stream, from the head, then each nextForwardToken', async () => {
    logs
      .on(GetLogEventsCommand)
      .resolvesOnce(page(['first', 'second'], 'f/2'))
      // GetLogEvents may answer empty pages before the end: only a repeated token ends the stream.
      .resolvesOnce(page([], 'f/3'))
      .resolvesOnce(page(['third'], 'f/4', 2))
      .resolvesOnce(page([], 'f/4'));
    const result = await copy();

    expect(requests()).toEqual([
      { logGroupName: '/aws/batch/job', logStreamName: STREAM, startFromHead: true },
      { logGroupName: '/aws/batch/job', logStreamName: STREAM, startFromHead: true, nextToken: 'f/2' },
      { logGroupName: '/aws/batch/job', logStreamName: STREAM, startFromHead: true, nextToken: 'f/3' },
      { logGroupName: '/aws/batch/job', logStreamName: STREAM, startFromHead: true, nextToken: 'f/4' },
    ]);
    expect(result).toEqual({ kind: 'copied', lines: 3, bytes: Buffer.byteLength(file()) });
    expect(file()).toBe(
      [
        '2026-11-21T12:00:00.000Z  first',
        '2026-11-21T12:00:01.000Z  second',
        '2026-11-21T12:00:02.000Z  third',
        '',
      ].join('\n'),
    );
  });

  test('each request can be abandoned: it carries the copy time limit as its abort signal', async () => {
    logs.on(GetLogEventsCommand).resolves(page([], 'f/0'));
    await copy();
    const [call] = logs.commandCalls(GetLogEventsCommand);
    const options = (call.args as readonly unknown[])[1] as { abortSignal?: unknown } | undefined;
    expect(options?.abortSignal).toBeInstanceOf(AbortSignal);
  });

  test('an empty stream: a note instead of an empty file', async () => {
    logs.on(GetLogEventsCommand).resolves(page([], 'f/0'));
    expect(await copy()).toEqual({ kind: 'copied', lines: 0, bytes: 0 });
    expect(file()).toBe('[ncaas] The analysis container wrote nothing to its log.\n');
    // No token at all in the answer ends the stream too.
    logs.reset();
    logs.on(GetLogEventsCommand).resolves({ $metadata: {}, events: [{ message: 'only' }] });
    expect(await copy()).toMatchObject({ kind: 'copied', lines: 1 });
    expect(logs.commandCalls(GetLogEventsCommand)).toHaveLength(1);
  });

  test('odd events: no message skipped, trailing newlines dropped, a time out of range left out, text kept as is', async () => {
    logs.on(GetLogEventsCommand).resolvesOnce({
      $metadata: {},
      events: [
        { timestamp: T0 },
        { timestamp: T0, message: 'windows line\r\n' },
        { timestamp: 9e18, message: 'time out of range' },
        { message: 'no time' },
        { timestamp: T0, message: '' },
        { timestamp: T0, message: 'multi\nline' },
        { timestamp: T0, message: 'üñíçødé ✓ $(rm -rf /) `x`' },
      ],
      nextForwardToken: 'f/1',
    });
    logs.on(GetLogEventsCommand, { nextToken: 'f/1' }).resolves(page([], 'f/1'));
    await copy();
    expect(file()).toBe(
      [
        '2026-11-21T12:00:00.000Z  windows line',
        'time out of range',
        'no time',
        '2026-11-21T12:00:00.000Z  ',
        '2026-11-21T12:00:00.000Z  multi\nline',
        '2026-11-21T12:00:00.000Z  üñíçødé ✓ $(rm -rf /) `x`',
        '',
      ].join('\n'),
    );
  });
});

describe('the cap: a Lambda has finite memory and time', () => {
  test('the default cap is 8 MiB and 20 s of reading', () => {
    expect(CONTAINER_LOG_LIMITS).toEqual({ maxBytes: 8 * 1024 * 1024, maxMilliseconds: 20_000 });
  });

  test('a stream over 8 MiB: the first 8 MiB of whole lines, a note saying where the rest is, no more requests', async () => {
    // 1 MB pages, as GetLogEvents answers: 10,000 events of 99 characters (100 bytes a line with the newline).
    const line = 'x'.repeat(99);
    const lines = Array.from({ length: 10_000 }, () => line);
    for (let n = 0; n < 20; n += 1) {
      logs.on(GetLogEventsCommand, n === 0 ? {} : { nextToken: `f/${n}` }).resolves({
        $metadata: {},
        events: lines.map((message) => ({ message })),
        nextForwardToken: `f/${n + 1}`,
      });
    }
    const result = await copy();
    const maxBytes = 8 * 1024 * 1024;
    const kept = Math.floor(maxBytes / 100);
    expect(result).toEqual({ kind: 'cut', lines: kept, bytes: kept * 100, because: 'size', where: WHERE });
    expect(requests()).toHaveLength(Math.ceil(kept / 10_000));
    const text = file();
    expect(text.startsWith(`${line}\n`)).toBe(true);
    expect(
      text.endsWith(
        `${line}\n[ncaas] The copy stops here: it is limited to 8 MiB. The whole log is in ${WHERE}.\n`,
      ),
    ).toBe(true);
    expect(Buffer.byteLength(text)).toBeLessThan(maxBytes + 300);
    expect(describeCopy(result, 'logs/x_analysis-log.txt')).toBe(
      `the first ${kept} lines of the analysis container's log were copied to logs/x_analysis-log.txt, cut at 8 MiB; the whole log is in ${WHERE}`,
    );
  });

  test('the size counts bytes, not characters; a line that would cross the cap is left out whole', async () => {
    logs.on(GetLogEventsCommand).resolves({
      $metadata: {},
      events: [{ message: 'ééééé' }, { message: 'ééééé' }, { message: 'fits?' }],
      nextForwardToken: 'f/1',
    });
    // 'ééééé\n' is 11 bytes: two lines are 22, a third line (6 bytes) would make 28.
    expect(await copy({ maxBytes: 27, maxMilliseconds: 20_000 })).toMatchObject({
      kind: 'cut',
      lines: 2,
      bytes: 22,
      because: 'size',
    });
    expect(file()).toBe(
      `ééééé\nééééé\n[ncaas] The copy stops here: it is limited to 27 bytes. The whole log is in ${WHERE}.\n`,
    );
  });

  test('reading past the time limit: what was read is written, with a note, and reading stops', async () => {
    let n = 0;
    logs.on(GetLogEventsCommand).callsFake(async () => {
      n += 1;
      await new Promise((r) => setTimeout(r, 40));
      return page([`line ${n}`], `f/${n}`);
    });
    const result = await copy({ maxBytes: 1024 * 1024, maxMilliseconds: 150 });
    expect(result).toMatchObject({ kind: 'cut', because: 'time', where: WHERE });
    const calls = n;
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(calls).toBeLessThan(8);
    expect(file()).toMatch(
      /^(2026-11-21T12:00:00\.000Z {2}line \d+\n)+\[ncaas\] The copy stops here: reading the log took longer than 150 ms\. The whole log is in /,
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(n).toBe(calls);
  });
});

describe('a stream that does not exist, throttling and refusals', () => {
  test('no such stream (the container never started): the file says so, the copy does not fail', async () => {
    logs.on(GetLogEventsCommand).rejects(
      new ResourceNotFoundException({
        message: 'The specified log stream does not exist.',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const result = await copy();
    expect(result).toEqual({ kind: 'missing', where: WHERE });
    expect(requests()).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(file()).toBe(
      `[ncaas] There is no log: ${WHERE} does not exist (the analysis container never started, or its log has been deleted since).\n`,
    );
    expect(describeCopy(result, 'logs/f.txt')).toBe(
      `the analysis container left no log: ${WHERE} does not exist (logs/f.txt says so)`,
    );
  });

  test('throttled twice: waits that grow, then the whole stream', async () => {
    logs
      .on(GetLogEventsCommand)
      .rejectsOnce(throttled())
      .rejectsOnce(throttled())
      .resolvesOnce(page(['a', 'b'], 'f/2'))
      .resolves(page([], 'f/2'));
    expect(await copy()).toMatchObject({ kind: 'copied', lines: 2 });
    expect(requests()).toHaveLength(4);
    expect(requests()[2]).toEqual(requests()[0]);
    // Jittered: between half and all of 250 ms, then of 500 ms.
    expect(sleeps).toHaveLength(2);
    expect(sleeps[0]).toBeGreaterThanOrEqual(125);
    expect(sleeps[0]).toBeLessThanOrEqual(250);
    expect(sleeps[1]).toBeGreaterThanOrEqual(250);
    expect(sleeps[1]).toBeLessThanOrEqual(500);
  });

  test('the service unavailable or failing (5xx) is retried like throttling', async () => {
    logs
      .on(GetLogEventsCommand)
      .rejectsOnce(
        new ServiceUnavailableException({ message: 'try later', $metadata: { httpStatusCode: 503 } }),
      )
      .rejectsOnce(
        Object.assign(new Error('We encountered an internal error'), {
          name: 'InternalFailure',
          $metadata: { httpStatusCode: 500 },
        }),
      )
      // Node's own error for a dropped connection: the code says it, the name is Error.
      .rejectsOnce(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))
      .resolvesOnce(page(['ok'], 'f/1'))
      .resolves(page([], 'f/1'));
    expect(await copy()).toMatchObject({ kind: 'copied', lines: 1 });
    expect(sleeps).toHaveLength(3);
  });

  test('throttled on every attempt of a later page: the lines read so far, and why it stopped', async () => {
    logs
      .on(GetLogEventsCommand)
      .resolvesOnce(page(['kept'], 'f/1'))
      .rejects(throttled());
    const result = await copy(undefined, source({ maxAttempts: 4 }));
    expect(result).toEqual({
      kind: 'failed',
      lines: 1,
      bytes: Buffer.byteLength('2026-11-21T12:00:00.000Z  kept\n'),
      error: 'ThrottlingException: Rate exceeded',
      where: WHERE,
    });
    expect(requests()).toHaveLength(1 + 4);
    expect(sleeps).toHaveLength(3);
    // The waits double, capped at 5 s.
    expect(Math.max(...sleeps)).toBeLessThanOrEqual(5_000);
    expect(file()).toBe(
      `2026-11-21T12:00:00.000Z  kept\n[ncaas] The copy stopped after 1 line: ThrottlingException: Rate exceeded. The whole log is in ${WHERE}.\n`,
    );
  });

  test.each([
    [
      'access denied',
      new AccessDeniedException({ message: 'not authorized', $metadata: metadata.$metadata }),
    ],
    [
      'an invalid parameter',
      new InvalidParameterException({ message: 'bad token', $metadata: metadata.$metadata }),
    ],
    [
      'a 403 without a name',
      Object.assign(new Error('Forbidden'), { name: 'Unknown', $metadata: { httpStatusCode: 403 } }),
    ],
  ])('%s is not retried: one request, the file says why', async (_what, error) => {
    logs.on(GetLogEventsCommand).rejects(error);
    const result = await copy();
    expect(result).toMatchObject({ kind: 'failed', lines: 0 });
    expect(requests()).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(file()).toContain(`[ncaas] The copy stopped after 0 lines: ${error.name}: ${error.message}.`);
  });
});

test('the copy is written even when there is no stream to read, without a request', async () => {
  const result = await copyContainerLog({
    source: source(),
    stream: undefined,
    noStreamBecause: 'the analysis container never started (Batch: Dependent Job failed)',
    key: KEY,
    objects: { write: async (key, body) => void written.set(key, body) },
  });
  expect(result).toEqual({
    kind: 'no-stream',
    why: 'the analysis container never started (Batch: Dependent Job failed)',
  });
  expect(requests()).toEqual([]);
  expect(file()).toBe(
    '[ncaas] There is no log: the analysis container never started (Batch: Dependent Job failed).\n',
  );
});

test('a file that cannot be written is the one error the copy throws', async () => {
  logs.on(GetLogEventsCommand).resolves(page(['a'], 'f/0'));
  await expect(
    copyContainerLog({
      source: source(),
      stream: STREAM,
      key: KEY,
      objects: {
        write: async () => {
          throw new Error('Access Denied');
        },
      },
    }),
  ).rejects.toThrow('Access Denied');
});
