/**
 * The worker script (worker/run-job.sh) run for real against s3rver (test/support/worker-harness.ts):
 * staging, the analysis, live and final status, uploads, power-off, hostile keys.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as z from 'zod';
import { finalReportKey, processResultsPrefix, statusKey } from '../../lib/layout';
import { finalReportSchema, statusFileSchema } from '../../lib/job/status-file';
import { spawn } from 'node:child_process';
import {
  BUCKET,
  DATASET,
  harnessState,
  LOCAL_BIN,
  type WorkerStatus,
  exists,
  finalStatus,
  getStatus,
  getText,
  labelOf,
  listKeys,
  put,
  runWorker,
  setupWorkerHarness,
  sleep,
  workerTest,
} from '../support/worker-harness';

setupWorkerHarness();

describe('worker/run-job.sh', () => {
  workerTest(
    'a successful analysis: results, config copy, SUCCESS status and final report, then power-off',
    async () => {
      const run = await runWorker({
        command: '"$MOCK_ANALYSIS" "{}" "{}" "{}" "{}"',
        env: {
          // Lists the results at power-off time: proves power-off comes after every upload.
          NCAAS_POWEROFF_COMMAND:
            'printf "poweroff %s\\n" "$1" >>"$FAKE_RECORD"; aws s3 ls --recursive "s3://$FAKE_BUCKET/lab/results/" >>"$FAKE_RECORD"',
        },
      });
      const { resultFolder } = run.job;
      const label = labelOf(run.job);
      expect(run.exitCode).toBe(0);
      expect(await getText(`${processResultsPrefix(resultFolder)}result.txt`)).toBe(
        'config: threshold: 3\ninput: frames 1-100\n',
      );
      expect(await getText(`${processResultsPrefix(resultFolder)}config.yaml`)).toBe('threshold: 3\n');

      const status = await getStatus(statusKey(resultFolder, label));
      expect(status).toMatchObject({
        status: 'SUCCESS',
        input: DATASET,
        instance: 'i-0123456789abcdef0',
        exit_code: 0,
        duration_estimate_exceeded: false,
      });
      expect(status.std.stdout).toContain('analysis done');
      expect(status.job_finish).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      // The final report is the status file's content, with `reason` as one string (the control plane's).
      const { reason, ...rest } = status;
      expect(reason).toEqual(['the analysis finished']);
      const final = await finalStatus(run);
      expect(final).toEqual({ ...rest, reason: 'the analysis finished' });
      // Both files as schema/status.schema.json and final-report.schema.json publish them, every member
      // documented there (strict: a member the worker writes that the schema lacks fails here).
      expect(z.strictObject(statusFileSchema.shape).safeParse(status).error).toBeUndefined();
      expect(z.strictObject(finalReportSchema.shape).safeParse(final).error).toBeUndefined();
      // NeuroCAAS's keys with NeuroCAAS's types, beside ours.
      expect(status.stdout).toEqual({ '0': 'analysis done\n' });
      expect(status.stderr).toEqual({});
      expect(status.cpu_usage).toEqual([expect.stringMatching(/^\d+$/)]);
      expect(await getText(`${resultFolder}/logs/DATASET_NAME:${label}_stdout.txt`)).toBe('analysis done\n');

      expect(run.record[0]).toMatch(/^arm-deadline (9|10)$/);
      const powerOff = run.record.findIndex((line) => line.startsWith('poweroff'));
      expect(run.record[powerOff]).toBe('poweroff SUCCESS');
      const listedAtPowerOff = run.record.slice(powerOff + 1).join('\n');
      expect(listedAtPowerOff).toContain(finalReportKey(resultFolder, label));
      expect(listedAtPowerOff).toContain(`${processResultsPrefix(resultFolder)}result.txt`);
    },
  );

  // The two long, mostly idle cases come early so they overlap the short ones (see MAX_PARALLEL_WORKERS).
  workerTest('an analysis that runs into its deadline is stopped and reported TIMED_OUT', async () => {
    // Room for slow staging on a busy machine: the analysis gets what is left minus a 2 s grace.
    const run = await runWorker({
      deadlineInSeconds: 10,
      env: { NCAAS_UPLOAD_GRACE_SECONDS: '2' },
      command: 'echo "started"; sleep 60; echo "never"',
    });
    const status = await finalStatus(run);
    expect(status.status).toBe('TIMED_OUT');
    expect(status.std.stdout).toBe('started'); // stopped in its sleep, long before the test's timeout
    expect(status.reason).toContain('stopped at its deadline');
    expect(run.record[0]).toBe('arm-deadline 1');
    expect(run.record).toContain('poweroff TIMED_OUT');
  });

  workerTest(
    'while it runs, the status is IN PROGRESS with a stdout tail, and an exceeded estimate is flagged',
    async () => {
      let live: WorkerStatus | undefined;
      const release = path.join(harnessState().tmp, 'release-live');
      const run = await runWorker({
        durationEstimateMinutes: 0.001,
        env: { RELEASE_FILE: release },
        command:
          'i=0; while [ ! -e "$RELEASE_FILE" ] && [ "$i" -lt 600 ]; do echo "tick $i"; i=$((i + 1)); sleep 0.1; done',
        whileRunning: async (job) => {
          const key = statusKey(job.resultFolder, labelOf(job));
          const giveUp = Date.now() + 45_000;
          while (!live && Date.now() < giveUp) {
            await sleep(250);
            // s3rver writes an object in place: a read during an upload can see half of it (S3 cannot).
            const status = (await exists(key)) ? await getStatus(key).catch(() => undefined) : undefined;
            if (status?.status === 'IN PROGRESS' && status.std.stdout.includes('tick')) live = status;
          }
          fs.writeFileSync(release, '');
        },
      });
      expect(live).toBeDefined();
      expect(live?.job_finish).toBeNull();
      expect(live?.duration_estimate_exceeded).toBe(true);
      expect(live?.reason).toEqual([expect.stringContaining('longer than its __duration__ estimate')]);
      const status = await finalStatus(run);
      expect(status.status).toBe('SUCCESS'); // flagged, not killed
      expect(status.duration_estimate_exceeded).toBe(true);
    },
  );

  workerTest(
    "on Spot's two-minute notice it uploads what the analysis wrote so far, while the analysis runs on",
    async () => {
      const tmp = harnessState().tmp;
      const notice = path.join(tmp, `spot-notice-${Date.now()}`);
      const release = path.join(tmp, `release-spot-${Date.now()}`);
      let uploadedWhileRunning = false;
      const run = await runWorker({
        env: { NCAAS_SPOT_NOTICE_FILE: notice, NCAAS_SPOT_POLL_SECONDS: '1', RELEASE_FILE: release },
        command:
          // The notice comes once the analysis has written something (here it plays EC2 itself).
          'echo "frames 1-50" >"$NCAAS_OUTPUT_DIR/partial.txt"; printf \'{"action": "terminate"}\' >"$NCAAS_SPOT_NOTICE_FILE"; i=0; while [ ! -e "$RELEASE_FILE" ] && [ "$i" -lt 600 ]; do i=$((i + 1)); sleep 0.1; done; echo done >"$NCAAS_OUTPUT_DIR/final.txt"',
        whileRunning: async (job) => {
          const key = `${processResultsPrefix(job.resultFolder)}partial.txt`;
          const giveUp = Date.now() + 45_000;
          while (!uploadedWhileRunning && Date.now() < giveUp) {
            await sleep(250);
            uploadedWhileRunning = await exists(key);
          }
          fs.writeFileSync(release, '');
        },
      });
      // Uploaded on the notice: the worker uploads NCAAS_OUTPUT_DIR otherwise only when the analysis ends.
      expect(uploadedWhileRunning).toBe(true);
      expect((await finalStatus(run)).status).toBe('SUCCESS');
      const workerLog = await getText(
        `${run.job.resultFolder}/logs/DATASET_NAME:${labelOf(run.job)}_worker.txt`,
      );
      expect(workerLog).toMatch(/Spot is reclaiming this instance \(\{"action": "terminate"\}\): uploading/);
      expect(await getText(`${processResultsPrefix(run.job.resultFolder)}final.txt`)).toBe('done\n');
    },
  );

  workerTest('a non-zero exit is FAILED with the exit code and the stderr tail', async () => {
    const run = await runWorker({
      command: 'echo "loading frames"; echo "ValueError: frame 17 is empty" >&2; exit 3',
    });
    expect(run.exitCode).toBe(1);
    const status = await finalStatus(run);
    expect(status.status).toBe('FAILED');
    expect(status.exit_code).toBe(3);
    expect(status.reason).toBe('the analysis exited with code 3: ValueError: frame 17 is empty');
    expect(status.std.stderr).toContain('ValueError: frame 17 is empty');
    expect(status.std.stdout).toContain('loading frames');
    expect(run.record).toContain('poweroff FAILED');
  });

  test("NeuroCAAS's cleanup (sudo poweroff, shutdown -h 1) does not cut off the uploads", async () => {
    // EC2 defaults: the worker arms and powers off with the system `shutdown` (a fake one here).
    const { s3, fakeBin } = harnessState();
    const env = s3.childEnv({ PATH: `${LOCAL_BIN}:${fakeBin}:${process.env.PATH ?? ''}` });
    const resolved = await new Promise<string>((resolve) => {
      const probe = spawn('sh', ['-c', 'command -v shutdown'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      probe.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      probe.on('close', () => resolve(out.trim()));
    });
    expect(resolved).toBe(path.join(fakeBin, 'shutdown')); // never the machine's own

    const run = await runWorker({
      launcher: 'ec2',
      command:
        '"$MOCK_ANALYSIS" {} {} {} {}; cleanup () { sudo poweroff; shutdown -h 1; }; cleanup; ' +
        'echo "still running" >"$NCAAS_OUTPUT_DIR/after-cleanup.txt"',
    });
    const processResults = processResultsPrefix(run.job.resultFolder);
    expect((await finalStatus(run)).status).toBe('SUCCESS');
    expect(await getText(`${processResults}after-cleanup.txt`)).toBe('still running\n');
    expect(await exists(`${processResults}result.txt`)).toBe(true);
    // Armed first, re-armed after the analysis, powered off last; the analysis's requests never
    // reached the system.
    expect(run.record).toEqual([
      expect.stringMatching(/^system-shutdown -h \+(9|10)$/),
      expect.stringMatching(/^system-shutdown -h \+(9|10)$/),
      'system-shutdown -h now',
    ]);
    const requests = fs.readFileSync(path.join(run.workDir, 'shutdown-requests.txt'), 'utf8');
    expect(requests).toBe('poweroff \nshutdown -h 1\n');
  });

  const nastyKeys = (tag: string) => {
    const pwned = path.join(os.tmpdir(), `ncaas-pwned-${tag}-${process.pid}`);
    const backtickPwned = `${pwned}-backtick`;
    return {
      pwned: [pwned, backtickPwned],
      datasetKey: `lab/inputs/my "best" 'run' \`touch ${backtickPwned}\` $(touch ${pwned}); echo x.txt`,
      configKey: `lab/configs/conf $(touch ${pwned}) "q" 'q'; \`touch ${backtickPwned}\`.yaml`,
      jobId: `16:52:06.8 $(touch ${pwned}) "q"; 'q'`,
    };
  };

  const placeholderStyles: readonly (readonly [string, string])[] = [
    ['quoted', '"$MOCK_ANALYSIS" "{}" "{}" "{}" "{}"'],
    ['bare', '"$MOCK_ANALYSIS" {} {} {} {}'],
  ];
  for (const [tag, command] of placeholderStyles) {
    workerTest(
      `keys with quotes, backticks, $(...) and ; reach the analysis verbatim (${tag} placeholders)`,
      async () => {
        const nasty = nastyKeys(tag);
        await put(nasty.datasetKey, 'nasty data\n');
        await put(nasty.configKey, 'nasty: config\n');
        const run = await runWorker({ command, ...nasty });
        const output = path.join(run.workDir, 'output');
        expect(fs.readFileSync(path.join(output, 'arg1'), 'utf8')).toBe(BUCKET);
        expect(fs.readFileSync(path.join(output, 'arg2'), 'utf8')).toBe(nasty.datasetKey);
        // NeuroCAAS's third argument: the result folder relative to the group.
        expect(fs.readFileSync(path.join(output, 'arg3'), 'utf8')).toBe(`results/job__mock_${run.job.jobId}`);
        expect(fs.readFileSync(path.join(output, 'arg4'), 'utf8')).toBe(nasty.configKey);
        for (const file of nasty.pwned) expect(fs.existsSync(file)).toBe(false);
        const status = await finalStatus(run);
        expect(status.status).toBe('SUCCESS');
        expect(status.input).toBe(nasty.datasetKey);
        expect(await getText(`${processResultsPrefix(run.job.resultFolder)}result.txt`)).toBe(
          'config: nasty: config\ninput: nasty data\n',
        );
      },
    );
  }

  workerTest('a folder dataset (key ending in /) is staged whole', async () => {
    await put('lab/inputs/session1/a.txt', 'a\n');
    await put('lab/inputs/session1/sub/b.txt', 'b\n');
    await put('lab/inputs/session10/not-this.txt', 'no\n');
    const run = await runWorker({
      datasetKey: 'lab/inputs/session1/',
      command:
        'cd "$NCAAS_INPUT_DIR" && find . -type f | sort >"$NCAAS_OUTPUT_DIR/files.txt"; echo "$dataname"',
    });
    expect(run.job.datasetLabel).toBe('session1');
    expect(await getText(`${processResultsPrefix(run.job.resultFolder)}files.txt`)).toBe(
      './a.txt\n./sub/b.txt\n',
    );
    const status = await finalStatus(run);
    expect(status.status).toBe('SUCCESS');
    expect(status.std.stdout).toBe('session1');
  });

  workerTest(
    'an rclone dataset outside the batch runtime is FAILED, saying only Batch fetches it',
    async () => {
      const run = await runWorker({
        datasetKey: 'rclone:labdrive:day 1/x.nwb',
        command: 'touch "$NCAAS_OUTPUT_DIR/ran"',
      });
      expect(run.exitCode).toBe(1);
      const status = await finalStatus(run);
      expect(status.status).toBe('FAILED');
      expect(status.reason).toMatch(/is on an rclone remote: only the batch runtime fetches such datasets/);
      expect(fs.existsSync(path.join(run.workDir, 'output', 'ran'))).toBe(false);
    },
  );

  workerTest('a missing config is FAILED with a reason naming the config, and still powers off', async () => {
    const run = await runWorker({
      configKey: 'lab/configs/does-not-exist.yaml',
      command: 'touch "$NCAAS_OUTPUT_DIR/ran"',
    });
    expect(run.exitCode).toBe(1);
    const status = await finalStatus(run);
    expect(status.status).toBe('FAILED');
    expect(status.reason).toContain('staging the config');
    expect(status.reason).toContain('lab/configs/does-not-exist.yaml');
    // The CLI's own words, carried out of the background download.
    expect(status.reason).toMatch(/does-not-exist\.yaml failed: \S/);
    expect(fs.existsSync(path.join(run.workDir, 'output', 'ran'))).toBe(false);
    expect(await listKeys(processResultsPrefix(run.job.resultFolder))).toEqual([]);
    expect(run.record).toContain('poweroff FAILED');
  });

  workerTest('the status is valid JSON and UTF-8 whatever the analysis prints', async () => {
    const run = await runWorker({
      command:
        "printf 'q\"uote back\\\\slash\\ttab\\001\\002\\033[31m\\r\\377\\376 caf\\303\\251 \\346\\227\\245\\n'; " +
        "printf 'nul\\000byte\\n'; printf 'err \"x\" \\\\ \\t\\001\\n' >&2",
    });
    const status = await finalStatus(run);
    expect(status.status).toBe('SUCCESS');
    expect(status.std.stdout).toBe(
      'q"uote back\\slash\ttab\u0001\u0002\u001b[31m\r\ufffd\ufffd café 日\nnulbyte',
    );
    expect(status.std.stderr).toBe('err "x" \\ \t\u0001');
  });
});
