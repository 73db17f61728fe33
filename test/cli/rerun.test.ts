/**
 * `ncaas rerun`: a job's datasets submitted again as a new job, through the normal intake. The job
 * is written here as the worker and the control plane write one; the submit.json the command writes
 * is then read by the submit handler's own parser, which names the rerun for the certificate.
 */
import { runRerun } from '../../lib/cli/rerun-command';
import { CliError, EXIT } from '../../lib/cli/errors';
import { submissionKeyFor } from '../../lib/cli/job-folders';
import { targetFromClient, type S3Target } from '../../lib/cli/s3-target';
import { loadBlueprint } from '../../lib/cli/validate-command';
import { jobResultFolder, statusKey } from '../../lib/layout';
import { parseSubmission } from '../../lib/submission/parse-submission';
import { captureOutput as capture } from '../support/captured-output';
import { startS3Emulator, type S3Emulator } from '../support/s3-emulator';

const BUCKET = 'cli-rerun';
const mock = loadBlueprint('mock');
let s3: S3Emulator;
let target: S3Target;

const write = (key: string, body: string) => target.objects.write(key, body);
const status = (state: string, input: string) =>
  JSON.stringify({ status: state, reason: `the analysis ended ${state}`, input, launcher: 'ec2' });

const DATA = ['labA/inputs/a.bin', 'labA/inputs/b.bin', 'labA/inputs/c.bin', 'labA/inputs/d.bin'];

beforeAll(async () => {
  s3 = await startS3Emulator([BUCKET]);
  target = targetFromClient(s3.client, BUCKET, 'mock');
  for (const key of DATA) await write(key, 'data');
  await write('labA/configs/c.yaml', '__duration__: 10\n');
  // labA/mixed: four datasets, each ending differently.
  await write(
    submissionKeyFor('labA', 'mixed'),
    JSON.stringify({
      dataname: DATA,
      configname: 'labA/configs/c.yaml',
      timestamp: 'mixed',
      instance_type: 't3.small',
    }),
  );
  const mixed = jobResultFolder('labA', 'mock', 'mixed');
  const ends = ['SUCCESS', 'FAILED', 'TIMED_OUT', 'INTERRUPTED'];
  for (const [i, key] of DATA.entries()) {
    await write(statusKey(mixed, key.split('/').pop() ?? ''), status(ends[i], key));
  }
  // labA/fine: one dataset, SUCCESS.
  await write(
    submissionKeyFor('labA', 'fine'),
    JSON.stringify({ dataname: DATA[0], configname: 'labA/configs/c.yaml', timestamp: 'fine' }),
  );
  await write(statusKey(jobResultFolder('labA', 'mock', 'fine'), 'a.bin'), status('SUCCESS', DATA[0]));
});
afterAll(() => s3.stop());

const submitJsonOf = async (jobId: string): Promise<Record<string, unknown>> =>
  JSON.parse((await target.objects.readText(submissionKeyFor('labA', jobId))) ?? '{}') as Record<
    string,
    unknown
  >;

test('--failed runs again exactly the datasets that ended FAILED, TIMED_OUT or INTERRUPTED, naming the job', async () => {
  const io = capture();
  const code = await runRerun(
    target,
    { job: 'mixed', group: 'labA', failedOnly: true, timestamp: 'mixed-again', analysis: mock },
    io.output,
  );
  expect(io.stderr()).toContain('running 3 of 4 datasets of job mixed again as job mixed-again');
  expect(code).toBe(EXIT.ok);
  expect(io.stdout()).toBe('mixed-again\n');
  const written = await submitJsonOf('mixed-again');
  expect(written).toEqual({
    dataname: DATA.slice(1),
    configname: 'labA/configs/c.yaml',
    timestamp: 'mixed-again',
    instance_type: 't3.small',
    rerun_of: 'mixed',
  });
  // What the submit handler reads, it accepts, and it knows which job this reruns.
  const parsed = parseSubmission({
    body: JSON.stringify(written),
    key: submissionKeyFor('labA', 'mixed-again'),
    analysis: mock,
  });
  expect(parsed.ok && parsed.submission.rerunOf).toBe('mixed');
});

test('without --failed every dataset runs again; --instance-type replaces the original one; a dry run writes nothing', async () => {
  const io = capture();
  const code = await runRerun(
    target,
    { job: 'mixed', group: 'labA', timestamp: 'mixed-all', instanceType: 'm5.large', analysis: mock },
    io.output,
    { dryRun: true },
  );
  expect(code).toBe(EXIT.ok);
  expect(JSON.parse(io.stdout())).toMatchObject({
    dataname: DATA,
    instance_type: 'm5.large',
    rerun_of: 'mixed',
  });
  expect(io.stderr()).toContain('dry run: would run 4 of 4 datasets of job mixed again as job mixed-all');
  expect(await target.objects.readText(submissionKeyFor('labA', 'mixed-all'))).toBeUndefined();
});

test('nothing failed: --failed says so and writes nothing', async () => {
  const io = capture();
  await expect(
    runRerun(target, { job: 'fine', group: 'labA', failedOnly: true, analysis: mock }, io.output),
  ).rejects.toThrow(/no dataset of job fine ended FAILED, TIMED_OUT, INTERRUPTED \(a\.bin SUCCESS\)/);
});

test('a timestamp already used is refused as ncaas submit refuses it', async () => {
  const io = capture();
  const code = await runRerun(
    target,
    { job: 'mixed', group: 'labA', failedOnly: true, timestamp: 'fine', analysis: mock },
    io.output,
  );
  expect(code).toBe(EXIT.failed);
  expect(io.stderr()).toContain('job mixed was not run again');
  expect(io.stderr()).toMatch(/timestamp "fine"/);
});

test('an unknown job is a usage error', async () => {
  const io = capture();
  const error: unknown = await runRerun(target, { job: 'nope', group: 'labA' }, io.output).catch(
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CliError);
  expect((error as CliError).exitCode).toBe(EXIT.usage);
});

test('rerun_of is checked as a job id by the handler', () => {
  const parsed = parseSubmission({
    body: JSON.stringify({
      dataname: DATA[0],
      configname: 'labA/configs/c.yaml',
      timestamp: 'x1',
      rerun_of: '../../etc',
    }),
    key: submissionKeyFor('labA', 'x1'),
    analysis: mock,
  });
  expect(parsed.ok).toBe(false);
  if (!parsed.ok) expect(parsed.problems.map((p) => p.field)).toContain('rerun_of');
});
