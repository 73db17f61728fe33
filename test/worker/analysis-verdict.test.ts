/**
 * The NeuroCAAS side of the worker contract (worker/README.md "The outcome", "The COMMAND and the
 * environment"): the analysis's own verdict in its status file, the status file shared with the
 * analysis's tools, NeuroCAAS's variables, WORKING_DIRECTORY, and several datasets' outputs.
 * The analyses here change the status file as NeuroCAAS's errorlog_* functions do: download, jq, upload.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { processResultsPrefix, statusKey } from '../../lib/layout';
import {
  BUCKET,
  finalStatus,
  getStatus,
  getText,
  harnessState,
  labelOf,
  listKeys,
  LOCAL_BIN,
  runWorker,
  setupWorkerHarness,
  workerTest,
  type WorkerRun,
} from '../support/worker-harness';

setupWorkerHarness();

/** Writes `status` $S (and a reason, its own stdout and a key of its own) into the shared status file, then exits $E. */
const WRITES_OWN_STATUS = [
  'key="s3://$bucketname/$groupdir/$resultdir/logs/DATASET_NAME:${dataname}_STATUS.txt"',
  'f=$(mktemp)',
  'aws s3 cp "$key" "$f" --only-show-errors',
  'jq --arg s "$S" \'.status = $s | .reason = ["script step 2"] | .stdout = {"0": "own output\\n"} | .extra = "kept"\' "$f" >"$f.new"',
  // Options after the two paths (with a value), as scripts write them: still recorded.
  'aws s3 cp "$f.new" "$key" --only-show-errors --region "$AWS_DEFAULT_REGION"',
  'echo "last words" >&2',
  'exit "$E"',
].join('; ');

const statusFile = (run: WorkerRun) => getStatus(statusKey(run.job.resultFolder, labelOf(run.job)));

describe('the outcome: COMMAND exit code and the status the analysis wrote', () => {
  const CASES: readonly (readonly [string, string, number, string, RegExp])[] = [
    [
      'wrote FAILED, exit 0 (cleanup)',
      'FAILED',
      0,
      'FAILED',
      /^the analysis reported FAILED in its status file \(script step 2\) \(COMMAND exited 0\): last words$/,
    ],
    ["wrote docker's failed, exit 0", 'failed', 0, 'FAILED', /^the analysis reported FAILED/],
    ['wrote SUCCESS, exit 0', 'SUCCESS', 0, 'SUCCESS', /^the analysis finished and reported SUCCESS$/],
    ['wrote IN PROGRESS only, exit 0', 'IN PROGRESS', 0, 'SUCCESS', /^the analysis finished$/],
    ['wrote SUCCESS, exit 3', 'SUCCESS', 3, 'FAILED', /^the analysis exited with code 3: last words$/],
    [
      'wrote FAILED, exit 3',
      'FAILED',
      3,
      'FAILED',
      /^the analysis exited with code 3; the analysis reported FAILED \(script step 2\): last words$/,
    ],
  ];
  for (const [name, written, exit, outcome, reason] of CASES) {
    workerTest(`${name}: ${outcome}`, async () => {
      const run = await runWorker({ command: WRITES_OWN_STATUS, env: { S: written, E: String(exit) } });
      const report = await finalStatus(run);
      expect(report).toMatchObject({ status: outcome, exit_code: exit });
      expect(report.reason).toMatch(reason);
      expect(run.record).toContain(`poweroff ${outcome}`);

      // The status file: the worker's outcome merged into the analysis's version.
      const status = await statusFile(run);
      expect(status).toMatchObject({ status: outcome, reason: [report.reason], extra: 'kept' });
      expect(status.stdout).toEqual({ '0': 'own output\n' });
      expect(status.std.stderr).toBe('last words');
    });
  }

  workerTest(
    "a status file the analysis broke is replaced by the worker's, and the exit code decides",
    async () => {
      const run = await runWorker({
        command:
          'printf "{not json" | aws s3 cp - "s3://$bucketname/$groupdir/$resultdir/logs/DATASET_NAME:${dataname}_STATUS.txt" --only-show-errors',
      });
      expect((await finalStatus(run)).status).toBe('SUCCESS');
      const status = await statusFile(run);
      expect(status).toMatchObject({ status: 'SUCCESS', reason: ['the analysis finished'] });
    },
  );
});

workerTest("the status file is valid JSON in NeuroCAAS's layout before COMMAND starts", async () => {
  const run = await runWorker({
    command:
      'aws s3 cp "s3://$bucketname/$groupdir/$resultdir/logs/DATASET_NAME:${dataname}_STATUS.txt" - | ' +
      'jq -c \'[.status, (.reason | type), (.cpu_usage | type), (.stdout | type), (.stderr | type), .input]\' >"$NCAAS_OUTPUT_DIR/seen.json"',
  });
  expect(JSON.parse(await getText(`${processResultsPrefix(run.job.resultFolder)}seen.json`))).toEqual([
    'IN PROGRESS',
    'array',
    'array',
    'object',
    'object',
    run.job.datasetKey,
  ]);
});

workerTest(
  "NeuroCAAS's variables: the result folder relative to the group, as its scripts expect",
  async () => {
    const run = await runWorker({
      command:
        'for v in bucketname groupdir resultdir processdir dataname inputpath inputdir configname configpath ' +
        'NCAAS_ARG_BUCKET NCAAS_ARG_DATASET NCAAS_ARG_RESULTDIR NCAAS_ARG_CONFIG; do eval "printf \'%s=%s\\n\' $v \\"\\$$v\\""; done >"$NCAAS_OUTPUT_DIR/vars.txt"; ' +
        'echo written >"$NCAAS_OUTPUT_DIR/own.txt"; aws s3 cp "$NCAAS_OUTPUT_DIR/own.txt" "s3://$bucketname/$groupdir/$processdir/own.txt" --only-show-errors',
    });
    const resultdir = `results/job__mock_${run.job.jobId}`;
    expect(await getText(`${processResultsPrefix(run.job.resultFolder)}vars.txt`)).toBe(
      [
        `bucketname=${BUCKET}`,
        'groupdir=lab',
        `resultdir=${resultdir}`,
        `processdir=${resultdir}/process_results`,
        'dataname=recording.txt',
        'inputpath=lab/inputs/recording.txt',
        'inputdir=lab/inputs',
        'configname=config.yaml',
        'configpath=lab/configs/config.yaml',
        `NCAAS_ARG_BUCKET=${BUCKET}`,
        'NCAAS_ARG_DATASET=lab/inputs/recording.txt',
        `NCAAS_ARG_RESULTDIR=${resultdir}`,
        'NCAAS_ARG_CONFIG=lab/configs/config.yaml',
        '',
      ].join('\n'),
    );
    // Written by the script itself to s3://$bucketname/$groupdir/$processdir/: the job's own folder.
    expect(await getText(`${processResultsPrefix(run.job.resultFolder)}own.txt`)).toBe('written\n');
    expect(await listKeys('lab/lab/')).toEqual([]);
  },
);

describe('WORKING_DIRECTORY', () => {
  workerTest('COMMAND runs there when the worker has it', async () => {
    const dir = fs.mkdtempSync(path.join(harnessState().tmp, 'workdir-'));
    const run = await runWorker({ workingDirectory: dir, command: 'pwd >"$NCAAS_OUTPUT_DIR/pwd.txt"' });
    expect(await getText(`${processResultsPrefix(run.job.resultFolder)}pwd.txt`)).toBe(
      `${fs.realpathSync(dir)}\n`,
    );
  });

  workerTest("~ is the worker's home", async () => {
    const home = fs.mkdtempSync(path.join(harnessState().tmp, 'home-'));
    fs.mkdirSync(path.join(home, 'bin'));
    const run = await runWorker({
      workingDirectory: '~/bin',
      env: { HOME: home },
      command: 'pwd >"$NCAAS_OUTPUT_DIR/pwd.txt"',
    });
    expect(await getText(`${processResultsPrefix(run.job.resultFolder)}pwd.txt`)).toBe(
      `${fs.realpathSync(path.join(home, 'bin'))}\n`,
    );
  });

  workerTest(
    'a folder the worker lacks (NeuroCAAS blueprints name ~/bin): COMMAND runs in its scratch dir, and says so',
    async () => {
      const run = await runWorker({
        workingDirectory: '/nonexistent/ncaas-working-dir',
        command: 'pwd >"$NCAAS_OUTPUT_DIR/pwd.txt"',
      });
      const report = await finalStatus(run);
      expect(report.status).toBe('SUCCESS');
      expect(await getText(`${processResultsPrefix(run.job.resultFolder)}pwd.txt`)).toBe(
        `${path.join(run.workDir, 'run')}\n`,
      );
      expect(report.std.stderr).toContain(
        'WORKING_DIRECTORY /nonexistent/ncaas-working-dir does not exist on this worker',
      );
    },
  );
});

workerTest("a job of several datasets: this dataset's outputs in a folder of its own", async () => {
  const run = await runWorker({ datasetCount: 2, command: 'echo one >"$NCAAS_OUTPUT_DIR/result.txt"' });
  const own = `${processResultsPrefix(run.job.resultFolder)}${labelOf(run.job)}/`;
  expect(await getText(`${own}result.txt`)).toBe('one\n');
  expect(await getText(`${own}config.yaml`)).toBe('threshold: 3\n');
  expect(await listKeys(`${processResultsPrefix(run.job.resultFolder)}result.txt`)).toEqual([]);
});

workerTest(
  "an end.txt the analysis writes is not uploaded: process_results/end.txt is the control plane's",
  async () => {
    const run = await runWorker({
      command: 'echo "mine" >"$NCAAS_OUTPUT_DIR/end.txt"; echo "result" >"$NCAAS_OUTPUT_DIR/result.txt"',
    });
    const results = processResultsPrefix(run.job.resultFolder);
    expect((await finalStatus(run)).status).toBe('SUCCESS');
    expect(await getText(`${results}result.txt`)).toBe('result\n');
    expect(await listKeys(`${results}end.txt`)).toEqual([]);
  },
);

workerTest(
  "the analysis's verdict survives a live upload that overwrote it in S3 (the aws shim keeps what it uploaded)",
  async () => {
    // The analysis uploads FAILED with `aws s3 cp` (as errorlog_final does); then, as a live upload of
    // the worker landing just after it would, the object is overwritten with an IN PROGRESS version.
    const run = await runWorker({
      env: { S: 'FAILED', REAL_AWS: `${LOCAL_BIN}/aws` },
      command: [
        'key="s3://$bucketname/$groupdir/$resultdir/logs/DATASET_NAME:${dataname}_STATUS.txt"',
        'f=$(mktemp)',
        'aws s3 cp "$key" "$f" --only-show-errors',
        'cp "$f" "$f.before"',
        'jq --arg s "$S" \'.status = $s | .reason = ["script step 2"]\' "$f" >"$f.new"',
        'aws s3 cp "$f.new" "$key" --only-show-errors',
        // The worker's own upload does not pass through the analysis's PATH (its shims come first).
        'PATH="${PATH#*:}" "$REAL_AWS" s3 cp "$f.before" "$key" --only-show-errors',
      ].join('; '),
    });
    const report = await finalStatus(run);
    expect(report.status).toBe('FAILED');
    expect(report.reason).toMatch(/^the analysis reported FAILED in its status file \(script step 2\)/);
  },
);
