/**
 * `ncaas dev run` against mocks of EC2's and SSM's real request and response shapes
 * (aws-sdk-client-mock) and the S3 emulator. The commands sent are also executed here with sh, as
 * the SSM agent would, so the worker really runs the job into its job folder, and never powers off.
 */
import 'aws-sdk-client-mock-jest';
import { DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  GetCommandInvocationCommand,
  SendCommandCommand,
  SSMClient,
  type GetCommandInvocationCommandOutput,
  type SendCommandCommandInput,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AnalysisConfig } from '../../lib/blueprint/analysis-config';
import { DEV_TAGS } from '../../lib/launch/dev-instance-tags';
import {
  DELIVERY_TIMEOUT_SECONDS,
  devJobId,
  devRunCommand,
  devRunTimeout,
  EXECUTION_MARGIN_SECONDS,
  MAX_EXECUTION_SECONDS,
  OUTPUT_LIMIT_CHARS,
  PARAMETERS_LIMIT_BYTES,
  parseTimeoutMinutes,
  RUN_DOCUMENT,
  runDevRun,
  type DevRunOptions,
  type DevRunTarget,
} from '../../lib/cli/dev-run';
import { CliError, EXIT } from '../../lib/cli/errors';
import { jobRef } from '../../lib/cli/job-folders';
import { readJob } from '../../lib/cli/job-status';
import { targetFromClient, type S3Target } from '../../lib/cli/s3-target';
import { loadBlueprint } from '../../lib/cli/validate-command';
import { buildWorkerJob, type WorkerJob } from '../../lib/job/worker-job';
import { readEc2WorkerScript } from '../../lib/launch/user-data';
import { finalReportKey, jobResultFolder, statusKey } from '../../lib/layout';
import { startS3Emulator, type S3Emulator } from '../support/s3-emulator';
import { captureOutput as capture } from '../support/captured-output';

const ROOT = path.join(__dirname, '..', '..');
const LOCAL_BIN = path.join(ROOT, 'local', 'bin');
const BUCKET = 'cli-dev-run';
const INSTANCE = 'i-0123456789abcdef0';
const mock = loadBlueprint('mock');
const WORKER_SCRIPT = readEc2WorkerScript();
const ec2Mock = mockClient(EC2Client);
const ssmMock = mockClient(SSMClient);

let s3: S3Emulator;
let s3Target: S3Target;
let dir: string;

beforeAll(async () => {
  s3 = await startS3Emulator([BUCKET]);
  s3Target = targetFromClient(s3.client, BUCKET, 'mock');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-dev-run-'));
  await put('labA/inputs/a.csv', 'a,b\n1,2\n');
  await put('labA/inputs/b.csv', 'c\n3\n');
  await put('labA/configs/config.json', '{"__duration__": 5}\n');
  await put('labA/configs/long.json', '{"__duration__": 600}\n');
  await put('labB/inputs/theirs.csv', 'secret\n');
  await put('labB/configs/config.json', '{}\n');
});
afterAll(async () => {
  await s3.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

let ec2: EC2Client;
let ssm: SSMClient;
beforeEach(() => {
  ec2Mock.reset();
  ssmMock.reset();
  ec2 = new EC2Client({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
  ssm = new SSMClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
});
afterEach(() => {
  ec2.destroy();
  ssm.destroy();
});

async function put(key: string, body: string): Promise<void> {
  await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
}

const keysUnder = async (prefix: string): Promise<string[]> =>
  ((await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? []).map(
    (o) => o.Key ?? '',
  );

const devInstance = (state = 'running', extra: Partial<Instance> = {}): Instance => ({
  InstanceId: INSTANCE,
  InstanceType: 't3.micro',
  State: { Name: state as 'running' },
  LaunchTime: new Date(),
  Tags: [
    { Key: DEV_TAGS.analysis, Value: 'mock' },
    { Key: DEV_TAGS.owner, Value: 'ada' },
    { Key: DEV_TAGS.expires, Value: new Date(Date.now() + 4 * 3_600_000).toISOString() },
  ],
  ...extra,
});

const withInstances = (...instances: Instance[]): void => {
  ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: instances }] });
};

const devTarget = (overrides: Partial<DevRunTarget> = {}): DevRunTarget => ({
  ec2,
  ssm,
  s3: s3Target,
  analysis: 'mock',
  owner: 'ada',
  runsDir: dir,
  sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 50))),
  ...overrides,
});

const submitFile = (name: string, body: unknown): string => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, typeof body === 'string' ? body : JSON.stringify(body));
  return file;
};

const options = (file: string, extra: Partial<DevRunOptions> = {}): DevRunOptions => ({
  config: mock,
  submitFile: file,
  intervalMs: 100,
  ...extra,
});

// ---- the request ------------------------------------------------------------------------------------

const sampleJob = (overrides: Partial<WorkerJob> = {}): WorkerJob => ({
  ...buildWorkerJob({
    config: mock,
    bucket: BUCKET,
    dataset: {
      group: 'labA',
      jobId: 'dev-$(reboot)`halt`',
      datasetIndex: 0,
      datasetKey: "labA/inputs/it's $(rm -rf ~) `x`.csv",
      datasetLabel: "it's $(rm -rf ~) `x`.csv",
    },
    configKey: 'labA/configs/config.json',
    datasetCount: 1,
    deadline: new Date(Date.now() + 3_600_000),
    launcher: 'ec2',
  }),
  ...overrides,
});

describe('the SendCommand request', () => {
  test('AWS-RunShellScript on the one instance: commands, executionTimeout past the deadline, a delivery timeout', () => {
    const input = devRunCommand({
      instanceId: INSTANCE,
      job: sampleJob(),
      workerScript: WORKER_SCRIPT,
      runDir: '/var/lib/ncaas/dev-runs/1-0-abcd',
      secondsToDeadline: 3600,
    });
    expect(Object.keys(input).sort()).toEqual(
      ['Comment', 'DocumentName', 'InstanceIds', 'Parameters', 'TimeoutSeconds'].sort(),
    );
    expect(input.DocumentName).toBe(RUN_DOCUMENT);
    expect(RUN_DOCUMENT).toBe('AWS-RunShellScript');
    expect(input.InstanceIds).toEqual([INSTANCE]);
    expect(input.TimeoutSeconds).toBe(DELIVERY_TIMEOUT_SECONDS);
    expect(input.Comment!.length).toBeLessThanOrEqual(100);
    expect(Object.keys(input.Parameters ?? {}).sort()).toEqual(['commands', 'executionTimeout']);
    expect(input.Parameters?.executionTimeout).toEqual([String(3600 + EXECUTION_MARGIN_SECONDS)]);
    const commands = input.Parameters?.commands ?? [];
    expect(commands.every((c) => typeof c === 'string' && !c.includes('\n'))).toBe(true);
    // No user string is shell text: keys and job id travel only inside the compressed payload.
    const script = commands.join('\n');
    for (const userText of ['$(reboot)', '$(rm -rf', "it's", '`x`', 'labA/inputs']) {
      expect(script).not.toContain(userText);
    }
    expect(script).toContain("run='/var/lib/ncaas/dev-runs/1-0-abcd'");
    expect(script).toMatch(/^base64 -d >"\$run\/bootstrap\.sh\.gz" <<'NCAAS_PAYLOAD'$/m);
    expect(script).toMatch(/^exec sh "\$run\/bootstrap\.sh"$/m);
    // SSM would read {{ ... }} as a parameter reference.
    expect(script).not.toContain('{{');
    expect(Buffer.byteLength(JSON.stringify(input.Parameters))).toBeLessThan(PARAMETERS_LIMIT_BYTES);
  });

  test("executionTimeout stays within Run Command's 48 h and a deadline too close still gets a minute", () => {
    const at = (secondsToDeadline: number) =>
      devRunCommand({
        instanceId: INSTANCE,
        job: sampleJob(),
        workerScript: WORKER_SCRIPT,
        runDir: '/var/lib/ncaas/dev-runs/x',
        secondsToDeadline,
      }).Parameters?.executionTimeout?.[0];
    expect(at(1)).toBe(String(60 + EXECUTION_MARGIN_SECONDS));
    expect(at(MAX_EXECUTION_SECONDS)).toBe(String(MAX_EXECUTION_SECONDS));
  });

  test('a run directory a shell could misread is refused before anything is sent', () => {
    for (const runDir of ["/tmp/x'; reboot; '", 'relative/dir', '/tmp/$(id)']) {
      expect(() =>
        devRunCommand({
          instanceId: INSTANCE,
          job: sampleJob(),
          workerScript: WORKER_SCRIPT,
          runDir,
          secondsToDeadline: 60,
        }),
      ).toThrow(/absolute path/);
    }
  });

  test('a worker script that would make the parameters too large is refused with the size', () => {
    const big = `#!/bin/sh\n${Array.from({ length: 4000 }, (_, i) => `echo ${i.toString(36)}${Math.random()}`).join('\n')}\n`;
    expect(() =>
      devRunCommand({
        instanceId: INSTANCE,
        job: sampleJob(),
        workerScript: big,
        runDir: '/tmp/x',
        secondsToDeadline: 60,
      }),
    ).toThrow(/Run Command parameters would be \d+ bytes/);
  });
});

describe('the options', () => {
  test('--timeout: minutes > 0; at most SSM_TIMEOUT (3600 s for mock) and 48 h less the margin', () => {
    expect(parseTimeoutMinutes(undefined)).toBeUndefined();
    expect(parseTimeoutMinutes('1.5')).toBe(90);
    for (const bad of ['0', '-5', 'abc', '', '1e3', '10m', ' ']) {
      expect(() => parseTimeoutMinutes(bad)).toThrow(CliError);
    }
    expect(devRunTimeout(mock, undefined)).toBe(3600);
    expect(devRunTimeout(mock, 600)).toBe(600);
    expect(() => devRunTimeout(mock, 3660)).toThrow(/SSM_TIMEOUT.*at most 60 minutes/);
    const long = { ...mock, workerTimeoutSeconds: 10 * 86_400 };
    expect(devRunTimeout(long, undefined)).toBe(MAX_EXECUTION_SECONDS - EXECUTION_MARGIN_SECONDS);
    expect(() => devRunTimeout(long, MAX_EXECUTION_SECONDS)).toThrow(/48 h/);
  });

  test('job ids start with dev- (the dev role writes only those folders) and follow the timestamp rules', () => {
    const now = new Date('2026-11-21T12:00:00Z');
    expect(devJobId(undefined, now)).toMatch(/^dev-2026-11-21T12-00-00Z-[0-9a-z]{4}$/);
    expect(devJobId('try1', now)).toBe('dev-try1');
    expect(devJobId('dev-try2', now)).toBe('dev-try2');
    for (const bad of ['a/b', 'x\\y', 'tab\there', 'x'.repeat(200), 'trailing ']) {
      expect(() => devJobId(bad, now)).toThrow(/--timestamp: timestamp/);
    }
  });
});

// ---- errors before anything is sent ---------------------------------------------------------------

describe('refused before any command is sent', () => {
  const refused = async (
    file: string,
    extra: Partial<DevRunOptions> = {},
    target: DevRunTarget = devTarget(),
  ): Promise<CliError> => {
    const { output } = capture();
    const error = await runDevRun(target, options(file, extra), output, WORKER_SCRIPT).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CliError);
    expect(ssmMock).not.toHaveReceivedCommand(SendCommandCommand);
    return error as CliError;
  };
  const good = { dataname: 'labA/inputs/a.csv', configname: 'labA/configs/config.json', timestamp: 't' };

  test('no dev instance: says how to start one', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    const error = await refused(submitFile('ok.json', good));
    expect(error.message).toMatch(/ada has no dev instance of mock: start one with `ncaas dev launch`/);
    expect(error.exitCode).toBe(EXIT.usage);
  });

  test.each([
    ['stopped', /is stopped: start it with `ncaas dev start`/],
    ['stopping', /is stopping: start it with `ncaas dev start`/],
    ['pending', /is still starting/],
    ['shutting-down', /is shutting-down: a dev run needs a running dev instance/],
  ])('the instance is %s', async (state, message) => {
    withInstances(devInstance(state));
    const error = await refused(submitFile('ok.json', good));
    expect(error.message).toMatch(message);
  });

  test('--instance that is not a dev instance of this analysis', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({
      Reservations: [
        { Instances: [{ ...devInstance(), Tags: [{ Key: DEV_TAGS.analysis, Value: 'other' }] }] },
      ],
    });
    const error = await refused(submitFile('ok.json', good), { instance: INSTANCE });
    expect(error.message).toBe(`${INSTANCE} is not a dev instance of mock`);
  });

  test('neither a local file nor a key in the bucket', async () => {
    withInstances(devInstance());
    const error = await refused(path.join(dir, 'missing.json'));
    expect(error.message).toMatch(/is not a local file and not a key in s3:\/\/cli-dev-run\//);
    const folder = await refused(dir);
    expect(folder.message).toMatch(/is a folder: give a submit\.json file/);
  });

  test('no group to be found: --group is asked for', async () => {
    withInstances(devInstance());
    const error = await refused(submitFile('nogroup.json', '{"dataname": 3}'));
    expect(error.message).toMatch(/cannot tell which group nogroup\.json is for: pass --group G/);
  });

  // Each bad submission, with words from the message the submit handler itself gives.
  const badSubmissions: Array<[string, unknown, RegExp, Partial<DevRunOptions>?]> = [
    ['not JSON', '{"dataname": ', /not valid JSON/, { group: 'labA' }],
    ['empty', '', /submit\.json is empty/, { group: 'labA' }],
    ['an array', '[1, 2]', /must hold one object/, { group: 'labA' }],
    ['no dataname', { configname: 'labA/configs/config.json', timestamp: 't' }, /dataname/],
    ['no configname', { dataname: 'labA/inputs/a.csv', timestamp: 't' }, /configname/, { group: 'labA' }],
    ['no timestamp', { dataname: 'labA/inputs/a.csv', configname: 'labA/configs/config.json' }, /timestamp/],
    ["another group's data", { ...good, dataname: 'labB/inputs/theirs.csv' }, /labB/],
    ['an s3:// url', { ...good, dataname: 's3://other-bucket/labA/inputs/a.csv' }, /s3:\/\//],
    ['..', { ...good, dataname: 'labA/inputs/../../labB/inputs/theirs.csv' }, /"\.\." folder/],
    ['resultpath', { ...good, resultpath: 'labA/results/' }, /resultpath/],
    ['an instance type not offered', { ...good, instance_type: 'p4d.24xlarge' }, /not offered/],
    [
      'too many datasets',
      { ...good, dataname: Array.from({ length: 11 }, (_, i) => `labA/inputs/${i}.csv`) },
      /at most 10/,
    ],
    ['a dataset repeated', { ...good, dataname: ['labA/inputs/a.csv', 'labA/inputs/a.csv'] }, /repeats/],
    ['data not in the bucket', { ...good, dataname: 'labA/inputs/nope.csv' }, /does not exist/],
    ['config not in the bucket', { ...good, configname: 'labA/configs/nope.json' }, /does not exist/],
    ['__duration__ over the cap', { ...good, configname: 'labA/configs/long.json' }, /__duration__/],
    [
      'a group not in the blueprint',
      { ...good, dataname: 'labZ/inputs/a.csv', configname: 'labZ/configs/c.json' },
      /not a group of analysis "mock"/,
    ],
    ['a bad timestamp', { ...good, timestamp: 'a/b' }, /timestamp/],
  ];
  // Every row has all four values: a shorter row would make jest pass a `done` callback instead.
  test.each(badSubmissions.map(([n, b, m, e]) => [n, b, m, e ?? {}] as const))(
    "a submit.json with %s: the handler's message, nothing run",
    async (_name, body, message, extra) => {
      withInstances(devInstance());
      const error = await refused(submitFile('bad.json', body), extra);
      expect(error.message).toMatch(/would be refused \(\d+ problems?\); nothing was run:/);
      expect(error.message).toMatch(message);
      expect(error.exitCode).toBe(EXIT.failed);
    },
  );

  test('--timestamp of a dev run that already has a job folder', async () => {
    withInstances(devInstance());
    await put(`${jobResultFolder('labA', 'mock', 'dev-used')}/logs/certificate.txt`, 'x');
    const error = await refused(submitFile('ok.json', good), { timestamp: 'used' });
    expect(error.message).toMatch(/job "dev-used" already exists/);
  });

  test('--timeout longer than SSM_TIMEOUT', async () => {
    withInstances(devInstance());
    const error = await refused(submitFile('ok.json', good), { timeoutSeconds: 7200 });
    expect(error.message).toMatch(/at most 60 minutes/);
  });
});

// ---- Run Command's states ---------------------------------------------------------------------

const invocation = (
  Status: GetCommandInvocationCommandOutput['Status'],
  extra: Partial<GetCommandInvocationCommandOutput> = {},
): GetCommandInvocationCommandOutput => ({
  $metadata: {},
  CommandId: 'cmd-1',
  InstanceId: INSTANCE,
  DocumentName: RUN_DOCUMENT,
  Status,
  StatusDetails: Status,
  ResponseCode: Status === 'Success' ? 0 : -1,
  StandardOutputContent: '',
  StandardErrorContent: '',
  ...extra,
});

const finalStatus = (jobId: string, status: string, reason: string) => {
  const folder = jobResultFolder('labA', 'mock', jobId);
  const text = JSON.stringify({
    status,
    reason,
    input: 'labA/inputs/a.csv',
    launcher: 'ec2',
    instance: INSTANCE,
    std: { stdout: 'line one\nline two\n', stderr: '' },
  });
  return { folder, text };
};

describe("following Run Command's states", () => {
  const run = async (
    jobId: string,
    states: Array<GetCommandInvocationCommandOutput | 'missing'>,
    report?: { status: string; reason: string },
  ) => {
    withInstances(devInstance());
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    const queue = [...states];
    ssmMock.on(GetCommandInvocationCommand).callsFake(async () => {
      const next = queue.length > 1 ? queue.shift() : queue[0];
      if (next === 'missing') {
        throw Object.assign(new Error('invocation does not exist'), { name: 'InvocationDoesNotExist' });
      }
      // The worker's files appear once Run Command says it finished.
      if (report && next && ['Success', 'Failed'].includes(next.Status ?? '')) {
        const { folder, text } = finalStatus(jobId, report.status, report.reason);
        await put(statusKey(folder, 'a.csv'), text);
        await put(finalReportKey(folder, 'a.csv'), text);
      }
      return next;
    });
    const { output, stdout, stderr } = capture();
    const code = await runDevRun(
      devTarget(),
      options(
        submitFile(`${jobId}.json`, {
          dataname: 'labA/inputs/a.csv',
          configname: 'labA/configs/config.json',
          timestamp: 'x',
        }),
        { timestamp: jobId },
      ),
      output,
      WORKER_SCRIPT,
    );
    return { code, stdout: stdout(), stderr: stderr() };
  };

  test('Pending (not visible yet), InProgress, Success with a SUCCESS report: exit 0, results named', async () => {
    const r = await run(
      'dev-states-ok',
      ['missing', invocation('Pending'), invocation('InProgress'), invocation('Success')],
      { status: 'SUCCESS', reason: 'the analysis finished' },
    );
    expect(r.code).toBe(EXIT.ok);
    expect(r.stderr).toMatch(/Run Command Pending: waiting for the SSM agent/);
    expect(r.stdout).toMatch(/a\.csv {2}SUCCESS {2}the analysis finished/);
    expect(r.stdout).toMatch(/out \| line one\nout \| line two/);
    expect(r.stdout).toMatch(
      /SUCCESS: dev run dev-states-ok\. Results: s3:\/\/cli-dev-run\/labA\/results\/job__mock_dev-states-ok\/process_results\//,
    );
    expect(ssmMock).toHaveReceivedCommandWith(GetCommandInvocationCommand, {
      CommandId: 'cmd-1',
      InstanceId: INSTANCE,
    });
  });

  test('Delayed is said, then followed to the end', async () => {
    const r = await run('dev-states-delayed', [invocation('Delayed'), invocation('Success')], {
      status: 'SUCCESS',
      reason: 'the analysis finished',
    });
    expect(r.code).toBe(EXIT.ok);
    expect(r.stderr).toMatch(/Run Command Delayed: the agent is busy/);
  });

  test("Failed with the worker's FAILED report: exit 1, the reason, and Run Command's output", async () => {
    const r = await run(
      'dev-states-failed',
      [
        invocation('InProgress'),
        invocation('Failed', { ResponseCode: 1, StandardErrorContent: 'worker log line\n' }),
      ],
      { status: 'FAILED', reason: 'the analysis exited with code 3: boom' },
    );
    expect(r.code).toBe(EXIT.failed);
    expect(r.stdout).toMatch(/a\.csv {2}FAILED {2}the analysis exited with code 3: boom/);
    expect(r.stderr).toMatch(/run \| worker log line/);
    expect(r.stdout).toMatch(
      /FAILED: dev run dev-states-failed: a\.csv FAILED\nlogs: ncaas logs dev-states-failed --group labA/,
    );
  });

  test('Failed before the worker reported: FAILED with the exit code; output over 24000 characters is said to be cut', async () => {
    const long = `${'x'.repeat(OUTPUT_LIMIT_CHARS - 10)}\n${'y'.repeat(9)}`;
    const r = await run('dev-states-crash', [
      invocation('Failed', { StatusDetails: 'Failed', ResponseCode: 127, StandardErrorContent: long }),
    ]);
    expect(r.code).toBe(EXIT.failed);
    expect(r.stdout).toMatch(
      /FAILED {2}the worker stopped before it could report \(Run Command: Failed, exit code 127\)/,
    );
    expect(r.stderr).toMatch(
      /Run Command keeps only the first 24000 characters of stderr; the complete logs are in the job folder/,
    );
  });

  test('TimedOut (execution) without a report: TIMED_OUT', async () => {
    const r = await run('dev-states-timeout', [
      invocation('TimedOut', { StatusDetails: 'ExecutionTimedOut' }),
    ]);
    expect(r.code).toBe(EXIT.failed);
    expect(r.stdout).toMatch(/TIMED_OUT {2}Run Command's execution timeout ended the worker/);
  });

  test('DeliveryTimedOut: nothing ran; the agent or the instance is the problem', async () => {
    const r = await run('dev-states-delivery', [
      invocation('Pending'),
      invocation('TimedOut', { StatusDetails: 'DeliveryTimedOut' }),
    ]);
    expect(r.code).toBe(EXIT.failed);
    expect(r.stdout).toMatch(/did not pick the command up within 10 minutes .*nothing ran/);
  });

  test('Cancelled: CANCELLED', async () => {
    const r = await run('dev-states-cancelled', [invocation('InProgress'), invocation('Cancelled')]);
    expect(r.code).toBe(EXIT.failed);
    expect(r.stdout).toMatch(/CANCELLED {2}the command was cancelled/);
  });

  test('a command that never ends is given up once past its timeouts', async () => {
    withInstances(devInstance());
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    ssmMock.on(GetCommandInvocationCommand).resolves(invocation('InProgress'));
    let clock = Date.now();
    const { output } = capture();
    const promise = runDevRun(
      devTarget({
        now: () => new Date(clock),
        sleep: async () => {
          clock += 3_600_000;
        },
      }),
      options(
        submitFile('forever.json', {
          dataname: 'labA/inputs/a.csv',
          configname: 'labA/configs/config.json',
          timestamp: 'x',
        }),
      ),
      output,
      WORKER_SCRIPT,
    );
    await expect(promise).rejects.toThrow(
      /still says InProgress .*aws ssm get-command-invocation --command-id cmd-1/,
    );
  });

  test.each([
    ['InvalidInstanceId', /its SSM agent is not online.*describe-instance-information/],
    [
      'AccessDeniedException',
      /needs ssm:SendCommand on the document AWS-RunShellScript and on the instance, and ssm:GetCommandInvocation/,
    ],
    ['InvalidDocument', /does not know the document AWS-RunShellScript/],
  ])('SendCommand refused (%s): says what to do', async (name, message) => {
    withInstances(devInstance());
    ssmMock.on(SendCommandCommand).rejects(Object.assign(new Error(name), { name }));
    const { output } = capture();
    await expect(
      runDevRun(
        devTarget(),
        options(
          submitFile('refused.json', {
            dataname: 'labA/inputs/a.csv',
            configname: 'labA/configs/config.json',
            timestamp: 'x',
          }),
        ),
        output,
        WORKER_SCRIPT,
      ),
    ).rejects.toThrow(message);
  });
});

// ---- the commands, executed ---------------------------------------------------------------------

/**
 * An SSM agent on this machine: SendCommand runs the commands with sh (the agent writes them to a
 * script, one a line), GetCommandInvocation reports InProgress until it exits, then Success or
 * Failed with its output, at most 24000 characters of each stream.
 */
const localAgent = (extraEnv: Record<string, string>) => {
  const sent: SendCommandCommandInput[] = [];
  const runs = new Map<
    string,
    { child: ChildProcess; code?: number | null; stdout: string; stderr: string }
  >();
  ssmMock.on(SendCommandCommand).callsFake((input: SendCommandCommandInput) => {
    sent.push(input);
    // One command at a time: the next dataset is sent only once the previous one ended.
    expect([...runs.values()].every((r) => r.code !== undefined)).toBe(true);
    const id = `cmd-${sent.length}`;
    const child = spawn('sh', ['-c', (input.Parameters?.commands ?? []).join('\n')], {
      env: s3.childEnv({ PATH: `${LOCAL_BIN}:${extraEnv.FAKE_BIN}:${process.env.PATH ?? ''}`, ...extraEnv }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const run = { child, stdout: '', stderr: '' } as {
      child: ChildProcess;
      code?: number | null;
      stdout: string;
      stderr: string;
    };
    child.stdout?.on('data', (d: Buffer) => (run.stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (run.stderr += d.toString()));
    child.on('close', (code) => (run.code = code));
    runs.set(id, run);
    return Promise.resolve({ Command: { CommandId: id } });
  });
  ssmMock.on(GetCommandInvocationCommand).callsFake((input: { CommandId: string }) => {
    const run = runs.get(input.CommandId);
    if (!run) throw Object.assign(new Error('no'), { name: 'InvocationDoesNotExist' });
    const done = run.code !== undefined;
    return Promise.resolve(
      invocation(done ? (run.code === 0 ? 'Success' : 'Failed') : 'InProgress', {
        CommandId: input.CommandId,
        ResponseCode: done ? (run.code ?? -1) : -1,
        StandardOutputContent: run.stdout.slice(0, OUTPUT_LIMIT_CHARS),
        StandardErrorContent: run.stderr.slice(0, OUTPUT_LIMIT_CHARS),
      }),
    );
  });
  return { sent };
};

/** A `shutdown`, `poweroff` and `halt` that only record that they were called. */
const fakePowerCommands = (): { bin: string; record: string } => {
  const bin = fs.mkdtempSync(path.join(dir, 'bin-'));
  const record = path.join(bin, 'calls.txt');
  for (const name of ['shutdown', 'poweroff', 'halt']) {
    fs.writeFileSync(path.join(bin, name), `#!/bin/sh\necho "${name} $*" >>"${record}"\n`, { mode: 0o755 });
  }
  return { bin, record };
};

describe('the commands sent run the worker (executed here with sh against the S3 emulator)', () => {
  test('two datasets, one after the other: results, logs and status in the job folder; the instance is never powered off', async () => {
    withInstances(devInstance());
    const power = fakePowerCommands();
    const { sent } = localAgent({
      FAKE_BIN: power.bin,
      NCAAS_INSTANCE_ID: INSTANCE,
      NCAAS_STATUS_INTERVAL: '1',
      NCAAS_RETRY_DELAY: '0',
      TMPDIR: dir,
    });
    const { output, stdout, stderr } = capture();
    const file = submitFile('two.json', {
      dataname: ['labA/inputs/a.csv', 'labA/inputs/b.csv'],
      configname: 'labA/configs/config.json',
      timestamp: 'from-the-file',
      comment: 'a web form left this',
    });
    const code = await runDevRun(devTarget(), options(file, { timestamp: 'e2e' }), output, WORKER_SCRIPT);
    expect({ code, err: code === 0 ? '' : stderr() }).toEqual({ code: EXIT.ok, err: '' });
    expect(sent).toHaveLength(2);
    expect(stderr()).toMatch(/warning: submit\.json key "comment" is not used here and was ignored/);
    expect(stderr()).toMatch(
      /dev run dev-e2e on i-0123456789abcdef0: 2 datasets, one after the other, each stopped after 1:00:00/,
    );

    const folder = jobResultFolder('labA', 'mock', 'dev-e2e');
    const keys = await keysUnder(`${folder}/`);
    expect(keys).toEqual(
      expect.arrayContaining([
        // Two datasets: each one's NCAAS_OUTPUT_DIR in a folder of its own, nothing overwritten.
        `${folder}/process_results/a.csv/result.txt`,
        `${folder}/process_results/b.csv/result.txt`,
        `${folder}/process_results/a.csv/sizes.txt`,
        `${folder}/process_results/a.csv/config.json`,
        `${folder}/logs/DATASET_NAME:a.csv_STATUS.txt`,
        `${folder}/logs/DATASET_NAME:a.csv_STATUS.final.json`,
        `${folder}/logs/DATASET_NAME:b.csv_STATUS.final.json`,
        `${folder}/logs/DATASET_NAME:b.csv_stdout.txt`,
        `${folder}/logs/DATASET_NAME:b.csv_worker.txt`,
      ]),
    );
    const report = JSON.parse(
      (await s3Target.objects.readText(finalReportKey(folder, 'a.csv'))) ?? '{}',
    ) as Record<string, unknown>;
    expect(report).toMatchObject({
      status: 'SUCCESS',
      launcher: 'ec2',
      instance: INSTANCE,
      job_id: 'dev-e2e',
      analysis: 'mock',
    });
    // What `ncaas status` reads: the job, final, SUCCESS (no control plane involved).
    const view = await readJob(s3Target, jobRef('labA', 'mock', 'dev-e2e'));
    expect(view?.state).toBe('SUCCESS');
    expect(view?.final).toBe(true);
    // Nothing in submissions/: no submit handler, no job row.
    expect(await keysUnder('labA/submissions/')).toEqual([]);
    // Never powered off, never a shutdown armed.
    expect(fs.existsSync(power.record)).toBe(false);
    expect(stdout()).toMatch(/out \| mock analysis of labA\/inputs\/a\.csv \(bucket cli-dev-run\)/);
    expect(stdout()).toMatch(/SUCCESS: dev run dev-e2e\./);
    // The run's files stay on the instance for a look later; the worker's scratch dir is gone.
    const runDirs = fs.readdirSync(dir).filter((d) => /^\d+-[01]-[0-9a-f]{8}$/.test(d));
    expect(runDirs).toHaveLength(2);
    for (const run of runDirs) {
      expect(fs.readdirSync(path.join(dir, run)).sort()).toEqual([
        'bootstrap.sh',
        'bootstrap.sh.gz',
        'job.env',
        'run-job.sh',
      ]);
    }
  }, 120_000);

  test('the deadline stops the analysis (TIMED_OUT, exit 1) and still nothing powers the instance off', async () => {
    withInstances(devInstance());
    const power = fakePowerCommands();
    localAgent({
      FAKE_BIN: power.bin,
      NCAAS_INSTANCE_ID: INSTANCE,
      NCAAS_STATUS_INTERVAL: '1',
      NCAAS_RETRY_DELAY: '0',
      TMPDIR: dir,
    });
    const sleepy: AnalysisConfig = { ...mock, command: 'sleep 60; : {} {} {} {}' };
    const { output, stdout } = capture();
    const started = Date.now();
    const code = await runDevRun(
      devTarget(),
      {
        ...options(
          submitFile('slow.json', {
            dataname: 'labA/inputs/a.csv',
            configname: 'labA/configs/config.json',
            timestamp: 'x',
          }),
          { timestamp: 'slow' },
        ),
        config: sleepy,
        timeoutSeconds: 6,
      },
      output,
      WORKER_SCRIPT,
    );
    expect(code).toBe(EXIT.failed);
    expect(Date.now() - started).toBeLessThan(45_000);
    expect(stdout()).toMatch(/a\.csv {2}TIMED_OUT {2}the analysis was stopped at its deadline/);
    expect(fs.existsSync(power.record)).toBe(false);
    const view = await readJob(s3Target, jobRef('labA', 'mock', 'dev-slow'));
    expect(view?.state).toBe('TIMED_OUT');
  }, 120_000);
});
