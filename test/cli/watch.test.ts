/**
 * `watch` follows a job whose status files change between polls: the fake sleep plays the control
 * plane and the worker, writing the next status into the emulator, and the clock moves with it.
 */
import { S3Objects } from '../../lib/control/s3-objects';
import { EXIT } from '../../lib/cli/errors';
import { jobRef, type JobRef } from '../../lib/cli/job-folders';
import { targetFromClient, type S3Target } from '../../lib/cli/s3-target';
import { newTailLines, runWatch, watchJob } from '../../lib/cli/watch';
import { endMarkerKey, statusKey } from '../../lib/layout';
import { startS3Emulator, type S3Emulator } from '../support/s3-emulator';
import { captureOutput } from '../support/captured-output';

const BUCKET = 'cli-watch';
let s3: S3Emulator;
let target: S3Target;

beforeAll(async () => {
  s3 = await startS3Emulator([BUCKET]);
  target = targetFromClient(s3.client, BUCKET, 'mock');
});
afterAll(() => s3.stop());

const capture = (tty = false) => captureOutput({ tty, columns: 100 });

const status = (
  s: string,
  reason: string,
  input: string,
  std: { stdout?: string; stderr?: string } = {},
  exit?: number,
) =>
  JSON.stringify({
    status: s,
    reason,
    input,
    exit_code: exit ?? null,
    std: { stdout: std.stdout ?? '', stderr: std.stderr ?? '' },
  });

/** A fake sleep that runs the next step (writes into the bucket) and advances the clock. */
const script = (steps: Array<() => Promise<void>>) => {
  let clock = Date.now();
  const sleeps: number[] = [];
  return {
    now: () => clock,
    sleeps,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      clock += ms;
      const step = steps.shift();
      if (!step) throw new Error('watch polled after the script ended');
      await step();
    },
  };
};

describe('newTailLines', () => {
  test('the tail is a sliding window: only lines past the overlap are new', () => {
    expect(newTailLines([], ['a', 'b'])).toEqual(['a', 'b']);
    expect(newTailLines(['a', 'b'], ['a', 'b'])).toEqual([]);
    expect(newTailLines(['a', 'b', 'c'], ['b', 'c', 'd', 'e'])).toEqual(['d', 'e']);
    expect(newTailLines(['a', 'b'], ['x', 'y'])).toEqual(['x', 'y']);
  });
});

describe('watch', () => {
  test('follows a job from submission to SUCCESS, printing changes and new log lines; exit 0', async () => {
    const ref: JobRef = jobRef('labA', 'mock', 'w1');
    const write = (key: string, body: string) => target.objects.write(key, body);
    const key = statusKey(ref.resultFolder, 'data.bin');
    const input = 'labA/inputs/data.bin';
    await write('labA/submissions/w1submit.json', '{"timestamp": "w1"}');
    const fake = script([
      () => write(key, status('QUEUED', 'waiting for a worker', input)),
      () => write(key, status('INITIALIZING', 'a worker is being launched', input)),
      () => write(key, status('IN PROGRESS', 'running the analysis', input, { stdout: 'step 1\nstep 2\n' })),
      () =>
        write(key, status('IN PROGRESS', 'running the analysis', input, { stdout: 'step 2\nstep 3\npart' })),
      // A late control-plane write of an earlier state must not move the job backwards.
      () =>
        write(
          key,
          status('INITIALIZING', 'a worker is being launched', input, { stdout: 'step 2\nstep 3\npart' }),
        ),
      async () => {
        await write(
          key,
          status(
            'SUCCESS',
            'the analysis exited with code 0',
            input,
            { stdout: 'step 3\npartial done\n', stderr: 'warn x\n' },
            0,
          ),
        );
        await write(endMarkerKey(ref.resultFolder), 'job w1 finished: 1 SUCCESS\n');
      },
    ]);
    const io = capture();

    const code = await watchJob({ target, ref, output: io.output, now: fake.now, sleep: fake.sleep });

    expect(code).toBe(EXIT.ok);
    expect(fake.sleeps).toEqual([2000, 2000, 2000, 2000, 2000, 2000]);
    const lines = io
      .stdout()
      .trimEnd()
      .split('\n')
      .map((l) => l.replace(/^\+\d+:\d\d:\d\d {2}/, ''));
    expect(lines).toEqual([
      'w1  QUEUED  submitted: waiting for the analysis to accept it',
      'data.bin  QUEUED  waiting for a worker',
      'data.bin  INITIALIZING  a worker is being launched',
      'data.bin  IN PROGRESS  running the analysis',
      'out | step 1',
      'out | step 2',
      'out | step 3',
      'data.bin  SUCCESS  the analysis exited with code 0',
      'out | partial done',
      'err | warn x',
      expect.stringMatching(
        /^SUCCESS after 0:00:\d\d\. Results: s3:\/\/cli-watch\/labA\/results\/job__mock_w1\/process_results\/ \(download: ncaas results w1 --download DIR\)$/,
      ),
    ]);
    expect(io.stdout()).not.toContain('\r');
  });

  test('two datasets, one FAILED: exit 1 with the reason', async () => {
    const ref = jobRef('labA', 'mock', 'w2');
    const a = statusKey(ref.resultFolder, 'a.bin');
    const b = statusKey(ref.resultFolder, 'b.bin');
    await target.objects.write(a, status('IN PROGRESS', 'running the analysis', 'labA/inputs/a.bin'));
    await target.objects.write(b, status('IN PROGRESS', 'running the analysis', 'labA/inputs/b.bin'));
    const fake = script([
      () => target.objects.write(a, status('SUCCESS', 'exited with code 0', 'labA/inputs/a.bin', {}, 0)),
      () =>
        target.objects.write(
          b,
          status(
            'FAILED',
            'the analysis exited with code 2: no spikes',
            'labA/inputs/b.bin',
            { stderr: 'no spikes\n' },
            2,
          ),
        ),
    ]);
    const io = capture();
    const code = await watchJob({
      target,
      ref,
      output: io.output,
      now: fake.now,
      sleep: fake.sleep,
      intervalMs: 500,
    });
    expect(code).toBe(EXIT.failed);
    expect(fake.sleeps).toEqual([500, 500]);
    const text = io.stdout();
    expect(text).toContain('b.bin err | no spikes');
    expect(text).toMatch(
      /FAILED after 0:00:\d\d: 1 SUCCESS, 1 FAILED; b\.bin: the analysis exited with code 2: no spikes/,
    );
  });

  test.each([
    ['TIMED_OUT', EXIT.failed],
    ['CANCELLED', EXIT.failed],
    ['INTERRUPTED', EXIT.failed],
  ])('a job ending %s exits %i', async (final, exitCode) => {
    const ref = jobRef('labA', 'mock', `w-${final}`);
    await target.objects.write(statusKey(ref.resultFolder, 'd'), status(final, 'stopped', 'labA/inputs/d'));
    const io = capture();
    expect(
      await watchJob({ target, ref, output: io.output, sleep: () => Promise.reject(new Error('no poll')) }),
    ).toBe(exitCode);
  });

  test('a submission refused beside it: the refusal is shown, exit 1', async () => {
    await target.objects.write('labB/submissions/rsubmit.json', '{"timestamp": "r"}');
    await target.objects.write(
      'labB/submissions/rsubmit.error.txt',
      'Your submission was not accepted.\n\n- configname is missing\n',
    );
    const io = capture();
    const code = await runWatch(target, { group: 'labB', job: 'r' }, io.output);
    expect(code).toBe(EXIT.failed);
    expect(io.stdout()).toContain('- configname is missing');
  });

  test('a job that does not exist: exit 2', async () => {
    const io = capture();
    await expect(runWatch(target, { group: 'labA', job: 'ghost' }, io.output)).rejects.toMatchObject({
      exitCode: EXIT.usage,
    });
  });

  test('on a terminal: a live line with spinner and elapsed time, redrawn in place', async () => {
    const ref = jobRef('labA', 'mock', 'w3');
    const key = statusKey(ref.resultFolder, 'x');
    await target.objects.write(key, status('IN PROGRESS', 'running the analysis', 'labA/inputs/x'));
    let ticks = 0;
    const fake = script(
      Array.from({ length: 8 }, (_, i) => async () => {
        ticks += 1;
        if (i === 7) await target.objects.write(key, status('SUCCESS', 'done', 'labA/inputs/x', {}, 0));
      }),
    );
    const io = capture(true);
    const code = await watchJob({ target, ref, output: io.output, now: fake.now, sleep: fake.sleep });
    expect(code).toBe(EXIT.ok);
    expect(ticks).toBe(8); // one 2 s poll = 8 redraws of 250 ms
    const text = io.stdout();
    expect(text).toMatch(
      /\r\u001b\[2K\u001b\[36m⠋\u001b\[39m \u001b\[33mIN PROGRESS\u001b\[39m {2}\d:\d\d:\d\d/,
    );
    expect(text).toContain('\u001b[32mSUCCESS\u001b[39m after');
  });

  test('a failing read is retried, then given up after maxErrors', async () => {
    const ref = jobRef('labA', 'mock', 'w4');
    await target.objects.write(
      statusKey(ref.resultFolder, 'x'),
      status('SUCCESS', 'done', 'labA/inputs/x', {}, 0),
    );
    let failures = 2;
    const flaky = new S3Objects(s3.client, BUCKET);
    const realRead = flaky.readText.bind(flaky);
    flaky.readText = async (key: string) => {
      if (failures > 0) {
        failures -= 1;
        throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      }
      return realRead(key);
    };
    const flakyTarget: S3Target = { ...target, objects: flaky };
    const io = capture();
    const code = await watchJob({
      target: flakyTarget,
      ref,
      output: io.output,
      sleep: async () => undefined,
    });
    expect(code).toBe(EXIT.ok);
    expect(io.stderr()).toContain('cannot reach S3: ECONNRESET');

    failures = 10;
    await expect(
      watchJob({
        target: flakyTarget,
        ref,
        output: capture().output,
        sleep: async () => undefined,
        maxErrors: 3,
      }),
    ).rejects.toMatchObject({ code: 'ECONNRESET' });
  });
});
