/**
 * Where the CLI points (flags and environment), how failures read (one line, an exit code), output on
 * and off a terminal, `validate`, and `local` with a stand-in runtime.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CliError, describeError, EXIT } from '../../lib/cli/errors';
import { parsePort, parseSecretFlags, runLocal } from '../../lib/cli/local-command';
import { formatDuration } from '../../lib/cli/output';
import { requireGroup, resolveTarget } from '../../lib/cli/s3-target';
import { CliSession } from '../../lib/cli/session';
import { runValidate } from '../../lib/cli/validate-command';
import type { LocalRuntime, LocalRuntimeOptions } from '../../local/local-runtime-api';
import { loadBlueprint } from '../../lib/cli/validate-command';
import { captureOutput } from '../support/captured-output';

const capture = (tty = false, env: Record<string, string> = {}) => captureOutput({ tty, env });

describe('resolveTarget', () => {
  test('the local runtime: env.sh alone is enough; path style and checksums only when required', async () => {
    const target = resolveTarget(
      {},
      {
        AWS_ENDPOINT_URL: 'http://127.0.0.1:1234',
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        AWS_REGION: 'us-east-1',
        NCAAS_BUCKET: 'mock-local',
        NCAAS_ANALYSIS: 'mock',
      },
    );
    expect(target.bucket).toBe('mock-local');
    expect(target.analysis).toBe('mock');
    expect(target.endpoint).toBe('http://127.0.0.1:1234');
    const config = target.client.config;
    expect(config.forcePathStyle).toBe(true);
    expect(await config.requestChecksumCalculation()).toBe('WHEN_REQUIRED');
    expect(await config.responseChecksumValidation()).toBe('WHEN_REQUIRED');
    expect(await config.credentials()).toMatchObject({ accessKeyId: 'S3RVER' });
    const endpoint = await config.endpoint?.();
    expect(endpoint?.hostname).toBe('127.0.0.1');
    target.client.destroy();
  });

  test('flags win over the environment; AWS_ENDPOINT_URL_S3 wins over AWS_ENDPOINT_URL', () => {
    const target = resolveTarget(
      { bucket: 'flag-bucket', analysis: 'other' },
      {
        NCAAS_BUCKET: 'env-bucket',
        NCAAS_ANALYSIS: 'mock',
        AWS_ENDPOINT_URL: 'http://a:1',
        AWS_ENDPOINT_URL_S3: 'http://b:2',
      },
    );
    expect([target.bucket, target.analysis, target.endpoint]).toEqual(['flag-bucket', 'other', 'http://b:2']);
    target.client.destroy();
  });

  test('a deployed analysis: no endpoint, no path style', () => {
    const target = resolveTarget({ bucket: 'real-bucket', region: 'eu-west-1' }, {});
    expect(target.endpoint).toBeUndefined();
    expect(target.client.config.forcePathStyle).toBeFalsy();
    target.client.destroy();
  });

  test('no bucket: one line, exit 2', () => {
    let thrown: unknown;
    try {
      resolveTarget({}, {});
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(CliError);
    expect(thrown).toMatchObject({
      message:
        'no bucket given: pass --bucket NAME or set NCAAS_BUCKET (for the local runtime: source <dir>/env.sh)',
      exitCode: EXIT.usage,
    });
    expect(() => resolveTarget({ bucket: 'b', analysis: 'Bad_Name' }, {})).toThrow(/not an analysis name/);
  });

  test('the group: --group, else NCAAS_GROUP; a path is refused', () => {
    expect(requireGroup('labA', { NCAAS_GROUP: 'labB' })).toBe('labA');
    expect(requireGroup(undefined, { NCAAS_GROUP: 'labB' })).toBe('labB');
    expect(() => requireGroup(undefined, {})).toThrow(/no group given/);
    expect(() => requireGroup('labA/inputs', {})).toThrow(/not a path/);
  });
});

describe('errors are one line and an exit code', () => {
  test.each([
    [
      'no such bucket',
      { name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } },
      EXIT.usage,
      /bucket "b" does not exist/,
    ],
    [
      'access denied',
      { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } },
      EXIT.failed,
      /access denied by S3 to "b"/,
    ],
    [
      'no credentials',
      { name: 'CredentialsProviderError', message: 'Could not load credentials' },
      EXIT.usage,
      /no AWS credentials/,
    ],
    ['no region', { name: 'Error', message: 'Region is missing' }, EXIT.usage, /no AWS region configured/],
    [
      'emulator not running',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
      EXIT.failed,
      /cannot reach S3 at http:\/\/127\.0\.0\.1:9: ECONNREFUSED \(is `ncaas local` running/,
    ],
    [
      'anything else: its first line only',
      new Error('first line\n    at stack (file.ts:1:1)'),
      EXIT.failed,
      /^first line$/,
    ],
  ])('%s', (_name, error, exitCode, message) => {
    const report = describeError(error, { bucket: 'b', endpoint: 'http://127.0.0.1:9' });
    expect(report.exitCode).toBe(exitCode);
    expect(report.message).toMatch(message);
    expect(report.message).not.toContain('\n');
  });

  test('a session prints `ncaas: <message>` and returns the code', async () => {
    const io = capture();
    const session = new CliSession(io.output, {});
    expect(await session.run(() => session.s3({}) && 0)).toBe(EXIT.usage);
    expect(io.stderr()).toBe(
      'ncaas: no bucket given: pass --bucket NAME or set NCAAS_BUCKET (for the local runtime: source <dir>/env.sh)\n',
    );
  });
});

describe('output', () => {
  test('plain when not a terminal: no colour, no live line', () => {
    const io = capture(false);
    io.output.live('working');
    io.output.out(io.output.paint.state('FAILED'));
    expect(io.stdout()).toBe('FAILED\n');
  });

  test('a terminal gets colour and a live line; NO_COLOR keeps the live line but drops colour', () => {
    const tty = capture(true);
    tty.output.live('working');
    tty.output.out(tty.output.paint.state('SUCCESS'));
    expect(tty.stdout()).toBe(
      '\r\u001b[2K\u001b[36m⠋\u001b[39m working\r\u001b[2K\u001b[32mSUCCESS\u001b[39m\n',
    );
    const noColour = capture(true, { NO_COLOR: '1' });
    noColour.output.live('working');
    noColour.output.out(noColour.output.paint.state('SUCCESS'));
    expect(noColour.stdout()).toBe('\r\u001b[2K⠋ working\r\u001b[2KSUCCESS\n');
  });

  test('durations', () => {
    expect(formatDuration(3_725_000)).toBe('1:02:05');
    expect(formatDuration(-5)).toBe('0:00:00');
  });
});

describe('validate', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-cli-validate-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('the mock blueprint is valid', () => {
    const io = capture();
    expect(runValidate('mock', io.output)).toBe(EXIT.ok);
    expect(io.stdout()).toMatch(
      /^valid: .*mock\.json: analysis mock, runtime ec2, 2 groups \(labA, labB\)\nCOMMAND as run: sh -c '.*' mock "\$\{NCAAS_ARG_BUCKET\}" "\$\{NCAAS_ARG_DATASET\}" "\$\{NCAAS_ARG_RESULTDIR\}" "\$\{NCAAS_ARG_CONFIG\}"\n$/,
    );
  });

  test('a bad blueprint: every problem listed with file and field, exit 1', () => {
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        PipelineName: 'Bad_Name',
        REGION: 'us-east-1',
        Lambda: {
          LambdaConfig: { COMMAND: 'run {}', INSTANCE_TYPE: 't3.micro', AMI: 'ami-1', MAXCOST: 'lots' },
        },
        UXData: { Affiliates: [] },
      }),
    );
    const io = capture();
    expect(runValidate(file, io.output)).toBe(EXIT.failed);
    const lines = io.stderr().trimEnd().split('\n');
    expect(lines[0]).toMatch(/bad\.json: \d+ problems in this blueprint:$/);
    const problems = lines.slice(1);
    expect(problems.length).toBeGreaterThanOrEqual(3);
    expect(problems.join('\n')).toContain('PipelineName');
    expect(problems.join('\n')).toContain('Lambda.LambdaConfig.MAXCOST');
    for (const line of problems) expect(line).toMatch(/^ {2}- .*bad\.json: /);
  });

  test('a missing file', () => {
    const io = capture();
    expect(runValidate(path.join(dir, 'nope.json'), io.output)).toBe(EXIT.failed);
    expect(io.stderr()).toContain('cannot read the blueprint: no such file');
  });
});

describe('local', () => {
  const fakeRuntime = (stopped: string[]): LocalRuntime => ({
    config: loadBlueprint('mock'),
    bucket: 'mock-local',
    table: 'mock-jobs',
    s3Endpoint: 'http://127.0.0.1:4569',
    dynamoDbEndpoint: 'http://127.0.0.1:4570',
    clientEnv: {
      AWS_ENDPOINT_URL: 'http://127.0.0.1:4569',
      NCAAS_BUCKET: 'mock-local',
      NCAAS_ANALYSIS: 'mock',
    },
    envFile: '/tmp/x/.ncaas-local/env.sh',
    consoleUrl: 'http://127.0.0.1:4570/',
    idle: async () => undefined,
    stop: async () => {
      stopped.push('stop');
    },
  });

  test('starts the runtime, prints env.sh and the exports, stops on the signal, exit 0', async () => {
    const stopped: string[] = [];
    const started: LocalRuntimeOptions[] = [];
    const io = capture();
    const code = await runLocal(
      { blueprint: 'mock', port: 4569, dir: '/tmp/x/.ncaas-local' },
      io.output,
      async (options) => {
        started.push(options);
        return fakeRuntime(stopped);
      },
      async () => 'SIGTERM',
    );
    expect(code).toBe(EXIT.ok);
    expect(started).toMatchObject([
      { blueprint: 'mock', port: 4569, dir: '/tmp/x/.ncaas-local', console: true },
    ]);
    expect(stopped).toEqual(['stop']);
    const text = io.stdout();
    expect(text).toContain("source '/tmp/x/.ncaas-local/env.sh'");
    expect(text).toContain("export NCAAS_BUCKET='mock-local'");
    expect(text).toContain("export AWS_ENDPOINT_URL='http://127.0.0.1:4569'");
    expect(text).toContain('Web console: http://127.0.0.1:4570/');
    expect(io.stderr()).toContain('SIGTERM: stopping the local runtime');
  });

  test('--secret NAME=FILE: the name as the blueprint writes it, the file made absolute; passed to the runtime', async () => {
    expect(parseSecretFlags(undefined)).toEqual({});
    expect(
      parseSecretFlags([
        'ncaas/rclone/labA=./labA.conf',
        'arn:aws:secretsmanager:us-east-1:1:secret:x-AbC123=/etc/x=y',
      ]),
    ).toEqual({
      'ncaas/rclone/labA': path.resolve('labA.conf'),
      'arn:aws:secretsmanager:us-east-1:1:secret:x-AbC123': '/etc/x=y',
    });
    for (const bad of ['labA.conf', '=file', 'name=', ' = ', ''])
      expect(() => parseSecretFlags([bad])).toThrow(/is not NAME=FILE/);
    expect(() => parseSecretFlags(['a=1', 'a=2'])).toThrow(/names a twice/);
    const started: LocalRuntimeOptions[] = [];
    await runLocal(
      { blueprint: 'mock', secretFiles: { s: '/tmp/s.conf' } },
      capture().output,
      async (options) => {
        started.push(options);
        return fakeRuntime([]);
      },
      async () => 'SIGINT',
    );
    expect(started[0].secretFiles).toEqual({ s: '/tmp/s.conf' });
  });

  test('--port must be a port', () => {
    expect(parsePort('0')).toBe(0);
    expect(parsePort(undefined)).toBeUndefined();
    for (const bad of ['-1', '70000', 'abc', '1.5'])
      expect(() => parsePort(bad)).toThrow(/not a port number/);
  });
});
