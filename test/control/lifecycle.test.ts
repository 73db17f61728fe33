/**
 * A job's life through the control plane, against s3rver and dynalite: submission, launch messages,
 * the launcher, worker events, the final report, end.txt, and the exactly-once rules.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { processSubmission } from '../../lib/control/submission-intake';
import { headerItemKey } from '../../lib/job/job-keys';
import {
  type ControlEmulators,
  newControl,
  startControlEmulators,
  submitJson,
} from '../support/control-harness';

let emulators: ControlEmulators;

beforeAll(async () => {
  emulators = await startControlEmulators();
});

afterAll(async () => {
  await emulators.stop();
});

describe('a rerun (ncaas rerun, or rerun_of written by hand)', () => {
  test("the new job's certificate names the job it reruns, right after its acceptance", async () => {
    const h = await newControl(emulators, 'rerun');
    await h.put('lab/inputs/session1.zip', 'data');
    await h.put('lab/configs/config.yaml', '__duration__: 30\n');
    const outcome = await h.submit(
      'lab',
      'again',
      submitJson('lab', 'again-1', 'lab/inputs/session1.zip', undefined, { rerun_of: 'first-1' }),
    );
    expect(outcome.kind).toBe('accepted');
    const lines = (await h.certificateLines('lab', 'again-1')).map((l) => l.text);
    expect(lines[0]).toMatch(/^submission lab\/submissions\/again_submit\.json accepted/);
    expect(lines).toContain('reruns job first-1');
  });
});

describe("a launch reads the config's estimates from the job's record", () => {
  test('the estimates checked at submission, even when the config changed since', async () => {
    const h = await newControl(emulators, 'estimates');
    await h.put('lab/inputs/session1.zip', 'data');
    await h.put('lab/configs/config.yaml', '__duration__: 30\n__dataset_size__: 8\n');
    const ts = 'estimates-1';
    expect((await h.submit('lab', 'est', submitJson('lab', ts, 'lab/inputs/session1.zip'))).kind).toBe(
      'accepted',
    );
    // Edited after submission to what the checks would refuse: the launch never sees it.
    await h.put('lab/configs/config.yaml', '__duration__: 100000\n__dataset_size__: 5000\n');

    const [launched] = await h.deliverLaunches();
    expect(launched.kind).toBe('launched');
    const [request] = h.launcher.launches;
    expect(request.job.durationEstimateMinutes).toBe(30);
    expect(request.datasetSizeGiB).toBe(8);
  });

  test('a job recorded before the estimates were kept launches without them, and says so', async () => {
    const h = await newControl(emulators, 'no-estimates');
    await h.put('lab/inputs/session1.zip', 'data');
    await h.put('lab/configs/config.yaml', '__duration__: 30\n__dataset_size__: 8\n');
    const ts = 'old-header-1';
    expect((await h.submit('lab', 'old', submitJson('lab', ts, 'lab/inputs/session1.zip'))).kind).toBe(
      'accepted',
    );
    await emulators.db.documentClient.send(
      new UpdateCommand({
        TableName: emulators.db.tableName,
        Key: headerItemKey(h.analysis, { group: 'lab', jobId: ts }),
        UpdateExpression: 'REMOVE estimates',
      }),
    );

    const [launched] = await h.deliverLaunches();
    expect(launched.kind).toBe('launched');
    const [request] = h.launcher.launches;
    expect(request.job.durationEstimateMinutes).toBeUndefined();
    expect(request.datasetSizeGiB).toBeUndefined();
    expect(h.log.entries).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: expect.stringContaining('without its config estimates') as string,
        details: { group: 'lab', jobId: ts },
      }),
    );
  });
});

describe('a single-dataset job from submit.json to end.txt', () => {
  test('runs, reports SUCCESS, writes end.txt once and frees its worker slot', async () => {
    const h = await newControl(emulators, 'happy');
    const ts = '16:52:06.836494condition_2_3';
    await h.put('lab/inputs/session1.zip', 'data');
    await h.put('lab/configs/config.yaml', '__duration__: 30\nthreshold: 3\n');

    const outcome = await h.submit('lab', 'first', submitJson('lab', ts, 'lab/inputs/session1.zip'));
    expect(outcome).toEqual({ kind: 'accepted', group: 'lab', jobId: ts });
    expect(await h.states('lab', ts)).toEqual(['INITIALIZING']);
    expect(h.queue.sent).toEqual([
      { analysis: h.analysis, group: 'lab', jobId: ts, datasetIndex: 0, attempt: 1 },
    ]);
    expect(await h.store.counters.runningCount()).toBe(1);

    h.clock.advanceSeconds(2);
    const [launched] = await h.deliverLaunches();
    expect(launched.kind).toBe('launched');
    const dataset = await h.dataset('lab', ts);
    expect(h.launcher.launches).toHaveLength(1);
    const request = h.launcher.launches[0];
    expect(request.attempt).toBe(1);
    expect(request.instanceType).toBe('m5.xlarge');
    expect(request.job).toEqual({
      analysis: h.analysis,
      region: 'us-east-1',
      bucket: h.bucket,
      group: 'lab',
      jobId: ts,
      datasetIndex: 0,
      datasetKey: 'lab/inputs/session1.zip',
      datasetLabel: 'session1.zip',
      configKey: 'lab/configs/config.yaml',
      resultFolder: `lab/results/job__${h.analysis}_${ts}`,
      // Each placeholder a variable the worker exports: no key is ever shell text.
      command:
        'cd /home/ubuntu && bash run.sh "${NCAAS_ARG_BUCKET}" "${NCAAS_ARG_DATASET}" "${NCAAS_ARG_RESULTDIR}" "${NCAAS_ARG_CONFIG}"; . ncap_utils/workflow.sh; cleanup',
      datasetCount: 1,
      // What the worker carries to its status file and the secret its final report must carry.
      provenance: JSON.stringify({
        blueprint: null,
        blueprint_commit: null,
        blueprint_uncommitted_edits: null,
        image: 'ami-0123456789abcdef0',
      }),
      reportToken: expect.stringMatching(/^[0-9a-f]{32}$/) as string,
      deadlineEpochSeconds: Math.floor(Date.parse(dataset.deadline ?? 'missing') / 1000),
      durationEstimateMinutes: 30,
      launcher: 'ec2',
    });
    expect(dataset.launcherId).toBe(launched.kind === 'launched' ? launched.launcherId : 'none');
    // The deadline the worker arms is the one the watchdog enforces: SSM_TIMEOUT after the launch request.
    expect(Date.parse(dataset.deadline ?? '')).toBe(Date.parse(dataset.submittedAt) + 36_000 * 1000);

    h.clock.advanceSeconds(40);
    const instance = dataset.launcherId ?? '';
    expect(await h.workerState(instance, 'pending')).toBe('ignored state pending');
    expect(await h.workerState(instance, 'running')).toBe('IN PROGRESS');
    expect(await h.states('lab', ts)).toEqual(['IN PROGRESS']);
    expect(await h.end('lab', ts)).toBeUndefined();

    h.clock.advanceSeconds(25 * 60);
    expect(
      await h.finishWorker('lab', ts, 'session1.zip', {
        status: 'SUCCESS',
        reason: 'the analysis exited with code 0',
        exit_code: 0,
        std: { stdout: 'done\n', stderr: '' },
      }),
    ).toBe('SUCCESS');

    const finished = await h.dataset('lab', ts);
    expect(finished).toMatchObject({ state: 'SUCCESS', exitCode: 0 });
    expect((await h.job('lab', ts))?.header).toMatchObject({ state: 'SUCCESS', endWritten: true });
    // The worker's own status file is kept as it wrote it (its std tail included), with what the
    // worker cost added: launch (elapsed 2 s) to end (42 s + 25 min) of m5.xlarge at $0.192/h.
    expect(await h.status('lab', ts, 'session1.zip')).toMatchObject({
      status: 'SUCCESS',
      exit_code: 0,
      std: { stdout: 'done\n', stderr: '' },
      cost_usd: 0.082133,
      cost: { instance_type: 'm5.xlarge', hourly_usd: 0.192, billed_seconds: 40 + 25 * 60, volume_usd: 0 },
    });
    expect(finished.actualCostUsd).toBe(0.082133);
    expect(await h.end('lab', ts)).toMatch(
      new RegExp(`^job ${ts.replace(/\./g, '\\.')} finished at .*: 1 SUCCESS\n$`),
    );
    expect(h.endWrites('lab', ts)).toBe(1);
    expect(await h.store.counters.runningCount()).toBe(0);

    const lines = await h.certificateLines('lab', ts);
    expect(lines.map((l) => l.text)).toEqual([
      `submission lab/submissions/first_submit.json accepted: 1 dataset(s), instance type m5.xlarge, estimated cost $0.10`,
      'reproducibility: blueprint provenance unknown; worker AMI ami-0123456789abcdef0, instance type m5.xlarge; dataset lab/inputs/session1.zip (no S3 version: the bucket keeps none), config lab/configs/config.yaml (no S3 version: the bucket keeps none)',
      'dataset lab/inputs/session1.zip: launch requested',
      `dataset lab/inputs/session1.zip: worker ${instance} launched (m5.xlarge)`,
      `dataset lab/inputs/session1.zip: worker ${instance} is running`,
      'dataset lab/inputs/session1.zip: SUCCESS (the analysis exited with code 0)',
      'job finished: 1 SUCCESS; cost $0.0821',
    ]);
    const elapsed = lines.map((l) => l.elapsedSeconds);
    expect(elapsed).toEqual([0, 0, 0, 2, 42, 42 + 25 * 60, 42 + 25 * 60]);

    // The budget now holds what the run cost (launch to end: 25.7 min of m5.xlarge), not the 30-minute estimate.
    const month = dataset.submittedAt.slice(0, 7);
    expect(await h.store.counters.getBudget('lab', month)).toBe(0.082133);
  });
});

describe('a job with a list of datasets', () => {
  test('launches one worker per dataset and writes end.txt only after the last is final', async () => {
    const h = await newControl(emulators, 'list', { deployLimit: 5 });
    const ts = 'list_1';
    const odd = 'lab/inputs/my data (1) "$(rm -rf ~)" `id`.zip';
    const keys = ['lab/inputs/a/x.zip', 'lab/inputs/b/x.zip', 'lab/inputs/folder/', odd];
    await h.put(odd);
    await h.put('lab/inputs/a/x.zip');
    await h.put('lab/inputs/b/x.zip');
    await h.put('lab/inputs/folder/part1.bin');
    await h.put('lab/inputs/folder/part2.bin');
    await h.put('lab/configs/config.yaml', '__duration__: 10\n');

    expect((await h.submit('lab', 'list', submitJson('lab', ts, keys))).kind).toBe('accepted');
    expect(h.queue.sent.map((m) => m.datasetIndex)).toEqual([0, 1, 2, 3]);
    const labels = (await h.job('lab', ts))?.datasets.map((d) => d.datasetLabel);
    // Two datasets named x.zip: distinct status files.
    expect(labels).toEqual(['x.zip', 'x.zip-2', 'folder', 'my data (1) "$(rm -rf ~)" `id`.zip']);
    for (const label of labels ?? []) {
      expect(await h.status('lab', ts, label)).toMatchObject({ status: 'INITIALIZING' });
    }
    expect((await h.status('lab', ts, 'x.zip'))?.input).toBe('lab/inputs/a/x.zip');
    expect((await h.status('lab', ts, 'x.zip-2'))?.input).toBe('lab/inputs/b/x.zip');

    const results = await h.deliverLaunches();
    expect(results.map((r) => r.kind)).toEqual(['launched', 'launched', 'launched', 'launched']);
    // Keys reach the worker verbatim, as data.
    expect(h.launcher.launches.map((l) => [l.job.datasetKey, l.job.datasetLabel])).toEqual([
      ['lab/inputs/a/x.zip', 'x.zip'],
      ['lab/inputs/b/x.zip', 'x.zip-2'],
      ['lab/inputs/folder/', 'folder'],
      [odd, 'my data (1) "$(rm -rf ~)" `id`.zip'],
    ]);
    const ids = (await h.job('lab', ts))?.datasets.map((d) => d.launcherId ?? '') ?? [];
    for (const id of ids) await h.workerState(id, 'running');

    await h.finishWorker('lab', ts, 'x.zip', { status: 'SUCCESS', exit_code: 0 });
    await h.finishWorker('lab', ts, 'folder', {
      status: 'FAILED',
      exit_code: 3,
      reason: 'the analysis exited with code 3',
    });
    expect(await h.end('lab', ts)).toBeUndefined();
    expect((await h.job('lab', ts))?.header.state).toBe('IN PROGRESS');

    await h.finishWorker('lab', ts, 'my data (1) "$(rm -rf ~)" `id`.zip', {
      status: 'SUCCESS',
      exit_code: 0,
    });
    expect(await h.end('lab', ts)).toBeUndefined();

    await h.finishWorker('lab', ts, 'x.zip-2', { status: 'SUCCESS', exit_code: 0 });
    expect(await h.states('lab', ts)).toEqual(['SUCCESS', 'SUCCESS', 'FAILED', 'SUCCESS']);
    expect(await h.end('lab', ts)).toMatch(/: 3 SUCCESS, 1 FAILED\n$/);
    expect(h.endWrites('lab', ts)).toBe(1);
    expect((await h.job('lab', ts))?.header.state).toBe('FAILED');
    expect(await h.store.counters.runningCount()).toBe(0);
    const last = (await h.certificateLines('lab', ts)).at(-1)?.text;
    // Four workers of m5.xlarge, each billed launch to end (the failed one too).
    expect(last).toBe('job finished: 3 SUCCESS, 1 FAILED; cost $0.0128');
  });
});

describe('exactly once', () => {
  test('50 concurrent deliveries of one submission make one job and one launch per dataset', async () => {
    const h = await newControl(emulators, 'once', { deployLimit: 10 });
    const ts = 'once';
    await h.put('lab/inputs/a.bin');
    await h.put('lab/inputs/b.bin');
    await h.put('lab/configs/config.yaml', '__duration__: 5\n');
    const key = await h.upload(
      'lab',
      'once',
      submitJson('lab', ts, ['lab/inputs/a.bin', 'lab/inputs/b.bin']),
    );
    const ref = await h.refOf(key);

    const outcomes = await Promise.all(Array.from({ length: 50 }, () => processSubmission(h.ctx, ref)));
    const kinds = outcomes.map((o) => o.kind);
    expect(kinds.filter((k) => k === 'accepted')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'duplicate')).toHaveLength(49);

    expect(h.queue.sent).toHaveLength(2);
    expect(h.queue.sent.map((m) => m.datasetIndex).sort()).toEqual([0, 1]);
    expect(await h.states('lab', ts)).toEqual(['INITIALIZING', 'INITIALIZING']);
    expect(await h.store.counters.runningCount()).toBe(2);
    expect(await h.store.listGroupJobs('lab')).toHaveLength(1);
    // One acceptance in the certificate, one budget reservation.
    const accepted = (await h.certificateLines('lab', ts)).filter((l) => l.text.includes('accepted'));
    expect(accepted).toHaveLength(1);
    const month = (await h.dataset('lab', ts)).submittedAt.slice(0, 7);
    expect(await h.store.counters.getBudget('lab', month)).toBeCloseTo(2 * ((0.192 * 5) / 60), 4);

    // A later redelivery (S3 retries) changes nothing either.
    h.clock.advanceSeconds(600);
    expect((await processSubmission(h.ctx, ref)).kind).toBe('duplicate');
    expect(h.queue.sent).toHaveLength(2);
  });
});

describe('a redelivered submission', () => {
  test('finishes the admission of a job whose submit handler died after recording it', async () => {
    const h = await newControl(emulators, 'redelivery');
    await h.put('lab/inputs/a.bin');
    await h.put('lab/configs/config.yaml', '__duration__: 5\n');
    const key = await h.upload('lab', 'crash', submitJson('lab', 'crash', 'lab/inputs/a.bin'));
    const ref = await h.refOf(key);
    // The first delivery recorded the job, then its Lambda timed out.
    expect(
      (
        await h.store.recordSubmission({
          bucket: h.bucket,
          submissionKey: key,
          etag: ref.etag,
          jobId: 'crash',
          submittedAt: ref.eventTime,
          configKey: 'lab/configs/config.yaml',
          instanceType: 'm5.xlarge',
          datasets: [{ datasetKey: 'lab/inputs/a.bin', estimatedCostUsd: 0.016 }],
        })
      ).kind,
    ).toBe('created');

    // A redelivery while the first may still be working leaves it alone...
    expect((await processSubmission(h.ctx, ref)).kind).toBe('duplicate');
    expect(await h.states('lab', 'crash')).toEqual(['SUBMITTED']);
    // ...and one after the handler's time is evidently up finishes the admission.
    h.clock.advanceSeconds(6 * 60);
    expect((await processSubmission(h.ctx, ref)).kind).toBe('duplicate');
    expect(await h.states('lab', 'crash')).toEqual(['INITIALIZING']);
    expect(h.queue.sent).toHaveLength(1);
  });
});

describe('a timestamp is one job', () => {
  test('a second submission reusing a timestamp is refused beside it; the first job is untouched', async () => {
    const h = await newControl(emulators, 'reuse');
    const ts = '04_29_20';
    await h.put('lab/inputs/one.bin');
    await h.put('lab/inputs/two.bin');
    await h.put('lab/configs/config.yaml', '__duration__: 5\n');
    expect((await h.submit('lab', 'first', submitJson('lab', ts, 'lab/inputs/one.bin'))).kind).toBe(
      'accepted',
    );
    await h.deliverLaunches();
    const folder = h.resultFolder('lab', ts);
    const certificateBefore = await h.certificate('lab', ts);
    const statusBefore = await h.read(`${folder}/logs/DATASET_NAME:one.bin_STATUS.txt`);
    const launchesBefore = h.queue.sent.length;

    h.clock.advanceSeconds(30);
    const second = await h.submit('lab', 'second', submitJson('lab', ts, 'lab/inputs/two.bin'));
    expect(second.kind).toBe('refused');
    const secondKey = 'lab/submissions/second_submit.json';
    expect(second.kind === 'refused' && second.messageKey).toBe('lab/submissions/second_submit.error.txt');
    const message = await h.besideMessage(secondKey);
    expect(message).toContain(
      `timestamp "${ts}" is already the id of the job submitted by lab/submissions/first_submit.json`,
    );
    expect(message).toContain('Choose a new timestamp');

    expect(await h.certificate('lab', ts)).toBe(certificateBefore);
    expect(await h.read(`${folder}/logs/DATASET_NAME:one.bin_STATUS.txt`)).toBe(statusBefore);
    expect(await h.read(`${folder}/logs/DATASET_NAME:two.bin_STATUS.txt`)).toBeUndefined();
    expect(await h.read(`${folder}/logs/DATASET_NAME:submission_STATUS.txt`)).toBeUndefined();
    expect(h.queue.sent).toHaveLength(launchesBefore);
    expect((await h.job('lab', ts))?.header.submissionKey).toBe('lab/submissions/first_submit.json');
    expect((await h.job('lab', ts))?.datasets.map((d) => d.datasetKey)).toEqual(['lab/inputs/one.bin']);

    // The same timestamp in another group is another job.
    await h.put('lab2/inputs/one.bin');
    await h.put('lab2/configs/config.yaml', '__duration__: 5\n');
    expect((await h.submit('lab2', 'first', submitJson('lab2', ts, 'lab2/inputs/one.bin'))).kind).toBe(
      'accepted',
    );
  });

  test("a malformed submission reusing a job's timestamp is answered beside it, not in that job's folder", async () => {
    const h = await newControl(emulators, 'reuse-bad');
    await h.put('lab/inputs/one.bin');
    await h.put('lab/configs/config.yaml', '__duration__: 5\n');
    expect((await h.submit('lab', 'good', submitJson('lab', 'taken', 'lab/inputs/one.bin'))).kind).toBe(
      'accepted',
    );
    const certificate = await h.certificate('lab', 'taken');
    const outcome = await h.submit('lab', 'bad', submitJson('lab', 'taken', 'lab/inputs/missing.bin'));
    expect(outcome.kind === 'refused' && outcome.messageKey).toBe('lab/submissions/bad_submit.error.txt');
    expect(await h.besideMessage('lab/submissions/bad_submit.json')).toContain(
      'dataname "lab/inputs/missing.bin" does not exist',
    );
    expect(await h.certificate('lab', 'taken')).toBe(certificate);
    expect(await h.status('lab', 'taken', 'submission')).toBeUndefined();
  });

  test('a refused submission with a usable timestamp does not block the corrected one', async () => {
    const h = await newControl(emulators, 'retry-fix');
    const ts = 'fixme';
    await h.put('lab/configs/config.yaml', '__duration__: 5\n');
    const refused = await h.submit('lab', 'try', submitJson('lab', ts, 'lab/inputs/late.bin'));
    expect(refused.kind).toBe('refused');
    expect(await h.job('lab', ts)).toBeUndefined();

    await h.put('lab/inputs/late.bin');
    h.clock.advanceSeconds(60);
    expect((await h.submit('lab', 'try', submitJson('lab', ts, 'lab/inputs/late.bin'))).kind).toBe(
      'accepted',
    );
    expect(h.queue.sentFor(ts)).toHaveLength(1);
  });
});
