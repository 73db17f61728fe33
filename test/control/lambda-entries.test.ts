/**
 * The Lambda entries (lambda/*.ts) as the runtime loads them: each builds its context from the
 * handler environment at load and answers an event; the submit handler's launcher loads on first use
 * (lib/control/aws-context.ts) and then stops workers through EC2's real request.
 */
import { EC2Client, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import * as path from 'node:path';
import { loadBlueprintFile } from '../../lib/blueprint/load-blueprint';
import { awsControlContext } from '../../lib/control/aws-context';
import { consoleLog } from '../../lib/control/control-context';
import { handlerConfig } from '../../lib/constructs/control-plane';
import type { HandlerEnvironment } from '../../lib/handler-environment';

const config = loadBlueprintFile(path.join(__dirname, '..', '..', 'blueprints', 'mock.json'));
const env: HandlerEnvironment = {
  NCAAS_ANALYSIS: config.name,
  NCAAS_BUCKET: 'entries-bucket',
  NCAAS_TABLE: 'entries-table',
  NCAAS_LAUNCH_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/launch',
  NCAAS_ANALYSIS_CONFIG: JSON.stringify(handlerConfig(config)),
  NCAAS_RUNTIME: 'ec2',
  NCAAS_LAUNCH_TEMPLATE_ID: 'lt-0123456789abcdef0',
  NCAAS_SUBNET_IDS: '["subnet-0123456789abcdef0"]',
};

const saved = { ...process.env };
beforeAll(() => {
  Object.assign(process.env, env, { AWS_REGION: 'us-east-1', POWERTOOLS_SERVICE_NAME: 'entries-test' });
});
afterAll(() => {
  process.env = saved;
});

type Handler = (event: unknown, context?: Partial<Context>) => Promise<unknown>;
const entry = (name: string): Handler => {
  let handler: Handler | undefined;
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    handler = (require(path.join('..', '..', 'lambda', name)) as { handler: Handler }).handler;
  });
  if (handler === undefined) throw new Error(`lambda/${name}.ts has no handler`);
  return handler;
};

const objectCreated = (key: string) => ({
  Records: [
    {
      eventName: 'ObjectCreated:Put',
      eventTime: '2026-12-07T12:00:00.000Z',
      s3: { bucket: { name: env.NCAAS_BUCKET }, object: { key, eTag: '"e"' } },
    },
  ],
});

test('submit: a key that is neither a submission nor a cancel request is ignored without a call to AWS', async () => {
  await expect(entry('submit')(objectCreated('labA/inputs/recording.bin'))).resolves.toBeUndefined();
});

test('launch: a message that is not a launch message is dropped, not retried', async () => {
  await expect(entry('launch')({ Records: [{ messageId: 'm1', body: 'not json' }] })).resolves.toEqual({
    batchItemFailures: [],
  });
});

test("each log line carries the invocation's Lambda context and the details as top-level keys", async () => {
  // Powertools writes JSON lines to stdout, and errors to stderr.
  const lines: string[] = [];
  const capture = (chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  };
  const out = jest.spyOn(process.stdout, 'write').mockImplementation(capture);
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(capture);
  try {
    await entry('launch')(
      { Records: [{ messageId: 'm1', body: 'not json' }] },
      {
        functionName: 'entries-launch',
        functionVersion: '$LATEST',
        invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:entries-launch',
        memoryLimitInMB: '256',
        awsRequestId: 'request-1',
      },
    );
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  const dropped = lines
    .flatMap((line) => line.split('\n'))
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .find((line) => line.message === 'dropped a launch message that is not one');
  expect(dropped).toMatchObject({
    level: 'ERROR',
    service: 'entries-test',
    function_request_id: 'request-1',
    function_name: 'entries-launch',
    cold_start: expect.any(Boolean) as boolean,
    body: 'not json',
  });
});

test('reconcile: an event of an unknown kind is logged and ignored', async () => {
  await expect(entry('reconcile')({ 'detail-type': 'Something else' })).resolves.toBeUndefined();
});

test('watchdog: loads with its workers built', () => {
  expect(typeof entry('watchdog')).toBe('function');
});

test("the submit handler's launcher loads on first use and stops a worker with EC2's TerminateInstances", async () => {
  const ec2 = mockClient(EC2Client);
  ec2.on(TerminateInstancesCommand).resolves({});
  try {
    const { ctx, workers } = awsControlContext(env, consoleLog);
    expect(workers).toBeUndefined();
    expect(ctx.launcher?.kind).toBe('ec2');
    expect(ec2.calls()).toHaveLength(0);
    await ctx.launcher?.terminate('i-0123456789abcdef0');
    expect(ec2.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input)).toEqual([
      { InstanceIds: ['i-0123456789abcdef0'] },
    ]);
  } finally {
    ec2.restore();
  }
});
