/**
 * A Python analysis on the local runtime reaches the emulators and never real AWS, whatever its
 * boto3: Debian 12's python3-boto3 (botocore 1.29) ignores AWS_ENDPOINT_URL, so the local worker puts
 * local/python/sitecustomize.py on PYTHONPATH; a botocore that reads the variables itself (from
 * 1.31.57, e.g. the pyenv `python3` on PATH here) must work the same with it. Each interpreter runs
 * with exactly the environment a local worker gets (localWorkerEnvironment).
 */
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { EMULATOR_CREDENTIALS, EMULATOR_REGION, startEmulators, type Emulators } from '../../local/emulators';
import { localWorkerEnvironment, PYTHON_HOOK_DIR } from '../../local/local-launcher';

const run = promisify(execFile);

const BUCKET = 'python-local';
const TABLE = 'python-jobs';
const DEBIAN_PYTHON = '/usr/bin/python3';

/** The first botocore that reads AWS_ENDPOINT_URL(_<SERVICE>) itself. */
const CONFIGURED_ENDPOINTS_SINCE = [1, 31, 57];
const readsEndpointVariables = (version: string): boolean => {
  const parts = version.split('.').map(Number);
  for (let i = 0; i < 3; i += 1) {
    if (parts[i] !== CONFIGURED_ENDPOINTS_SINCE[i]) return parts[i] > CONFIGURED_ENDPOINTS_SINCE[i];
  }
  return true;
};

/** What the analysis below does with boto3, as a NeuroCAAS-style Python analysis would. */
const ANALYSIS = `
import json, sys, boto3, botocore
bucket, prefix = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3")
s3.put_object(Bucket=bucket, Key=prefix + "/client.txt", Body=b"put by client")
boto3.resource("s3").Object(bucket, prefix + "/resource.txt").put(Body=b"put by resource")
print(json.dumps({
    "botocore": botocore.__version__,
    "read": s3.get_object(Bucket=bucket, Key=prefix + "/from-test.txt")["Body"].read().decode(),
    "tables": boto3.client("dynamodb").list_tables()["TableNames"],
    "explicit": boto3.client("s3", endpoint_url="http://127.0.0.1:9").meta.endpoint_url,
}))
`;

/** Only where the clients would send their requests: no request is made. */
const ENDPOINTS = `
import sys
at_start = "botocore" in sys.modules
import json, boto3, botocore
print(json.dumps({
    "botocore": botocore.__version__,
    "botocoreAtStart": at_start,
    "s3": boto3.client("s3").meta.endpoint_url,
    "dynamodb": boto3.client("dynamodb").meta.endpoint_url,
}))
`;

let emulators: Emulators;
let dir: string;
let workerEnv: Record<string, string>;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-python-'));
  emulators = await startEmulators({ dir, bucket: BUCKET, table: TABLE });
  // What the local runtime gives its workers (local/local-runtime.ts), through the launcher's own
  // environment (the wrapper on PATH, the hook on PYTHONPATH, no shared config, no metadata).
  workerEnv = localWorkerEnvironment(
    {
      AWS_ENDPOINT_URL: emulators.s3Endpoint,
      AWS_ENDPOINT_URL_S3: emulators.s3Endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamoDbEndpoint,
      AWS_ACCESS_KEY_ID: EMULATOR_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey,
      AWS_REGION: EMULATOR_REGION,
      AWS_DEFAULT_REGION: EMULATOR_REGION,
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    },
    dir,
  );
});

afterAll(async () => {
  await emulators?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const python = async (
  interpreter: string,
  script: string,
  args: string[],
  env: Record<string, string>,
): Promise<Record<string, unknown>> => {
  // Asynchronous: the emulators answer from this process.
  const { stdout } = await run(interpreter, ['-c', script, ...args], { env, cwd: dir, timeout: 60_000 });
  return JSON.parse(stdout) as Record<string, unknown>;
};

const hasBoto3 = (interpreter: string): boolean =>
  spawnSync(interpreter, ['-c', 'import boto3'], { stdio: 'ignore' }).status === 0;

const readBack = async (key: string): Promise<string> => {
  const { Body } = await emulators.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return (await Body?.transformToString()) ?? '';
};

// The `python3` an analysis finds on PATH (here pyenv's, with a current boto3), when it is another one.
const pathPython = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
const pathPythonExecutable = pathPython.status === 0 ? pathPython.stdout.trim() : '';
const interpreters = [
  {
    name: `Debian's ${DEBIAN_PYTHON} (python3-boto3, botocore 1.29)`,
    command: DEBIAN_PYTHON,
    label: 'debian',
  },
  ...(pathPythonExecutable !== '' && fs.realpathSync(pathPythonExecutable) !== fs.realpathSync(DEBIAN_PYTHON)
    ? [{ name: `the python3 on PATH (${pathPythonExecutable})`, command: 'python3', label: 'path' }]
    : []),
];

describe.each(interpreters)('$name', ({ command, label }) => {
  const ready = hasBoto3(command);
  const it = ready ? test : test.skip;
  const missing = ready ? '' : ` (SKIPPED: ${command} has no boto3; apt-get install python3-boto3)`;
  const prefix = `analysis-${label}`;

  it(`its boto3 client and resource land on s3rver and dynalite, an explicit endpoint is kept${missing}`, async () => {
    await emulators.s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/from-test.txt`, Body: 'put by the test' }),
    );
    const result = await python(command, ANALYSIS, [BUCKET, prefix], workerEnv);
    expect(result).toMatchObject({
      read: 'put by the test',
      tables: [TABLE],
      explicit: 'http://127.0.0.1:9',
    });
    expect(await readBack(`${prefix}/client.txt`)).toBe('put by client');
    expect(await readBack(`${prefix}/resource.txt`)).toBe('put by resource');
  });

  it(`botocore is not imported at start, and clients resolve to the emulators${missing}`, async () => {
    const result = await python(command, ENDPOINTS, [], workerEnv);
    expect(result).toMatchObject({
      botocoreAtStart: false,
      s3: emulators.s3Endpoint,
      dynamodb: emulators.dynamoDbEndpoint,
    });
  });
});

describe('the premise', () => {
  const ready = hasBoto3(DEBIAN_PYTHON);
  const it = ready ? test : test.skip;
  const missing = ready ? '' : ` (SKIPPED: ${DEBIAN_PYTHON} has no boto3; apt-get install python3-boto3)`;

  it(`without the hook, Debian's botocore resolves real AWS endpoints despite AWS_ENDPOINT_URL${missing}`, async () => {
    expect(workerEnv.PYTHONPATH.split(path.delimiter)[0]).toBe(PYTHON_HOOK_DIR);
    const withoutHook = { ...workerEnv };
    delete withoutHook.PYTHONPATH;
    const result = await python(DEBIAN_PYTHON, ENDPOINTS, [], withoutHook);
    // If this fails, Debian's botocore reads the variables itself now and the hook is not needed.
    expect(readsEndpointVariables(String(result.botocore))).toBe(false);
    expect(result).toMatchObject({
      s3: 'https://s3.amazonaws.com',
      dynamodb: `https://dynamodb.${EMULATOR_REGION}.amazonaws.com`,
    });
  });
});

describe("the worker's environment", () => {
  test("it reads no shared AWS config or profile of the developer's and never the metadata service", () => {
    const env = localWorkerEnvironment({ AWS_PROFILE: 'developer', AWS_DEFAULT_PROFILE: 'developer' }, dir);
    expect(env).toMatchObject({
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    expect(env).not.toHaveProperty('AWS_PROFILE');
    expect(env).not.toHaveProperty('AWS_DEFAULT_PROFILE');
    expect(localWorkerEnvironment({ PYTHONPATH: '/analysis/lib' }, dir).PYTHONPATH).toBe(
      `${PYTHON_HOOK_DIR}${path.delimiter}/analysis/lib`,
    );
  });
});
