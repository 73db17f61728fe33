import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import {
  datasetItemKey,
  headerItemKey,
  queueItemKey,
  queuePartitionKey,
  livePartitionKey,
} from '../../lib/job/job-keys';
import { queueEntryItem, submissionItem } from '../../lib/job/job-items';
import { datasetTransitionCondition, mayTransition, statesBelow } from '../../lib/job/job-rank';
import { JOB_STATES, LIVE_STATES, stateRank, userVisibleState } from '../../lib/job/job-state';
import { type Job, JobStore, type RecordOutcome, type SubmissionInput } from '../../lib/job/job-store';
import { createJobTableInput, JOB_TABLE } from '../../lib/job/job-table-schema';
import { type DynamoDbEmulator, startDynamoDbEmulator } from '../support/dynamodb-emulator';

let db: DynamoDbEmulator;

beforeAll(async () => {
  db = await startDynamoDbEmulator();
});

afterAll(async () => {
  await db.stop();
});

const store = (analysis = 'mock', client: DynamoDBDocumentClient = db.documentClient): JobStore =>
  new JobStore({ client, tableName: db.tableName, analysis });

/** A store whose clock the test sets. */
const clockedStore = (analysis: string, start: string): { jobs: JobStore; setNow: (iso: string) => void } => {
  let now = new Date(start);
  return {
    jobs: new JobStore({ client: db.documentClient, tableName: db.tableName, analysis, now: () => now }),
    setNow: (iso: string) => {
      now = new Date(iso);
    },
  };
};

interface SubmissionOptions {
  readonly name?: string;
  readonly versionId?: string;
  readonly datasets?: number;
  readonly submittedAt?: string;
}

const submission = (group: string, jobId: string, options: SubmissionOptions = {}): SubmissionInput => ({
  bucket: 'ncaas-mock-data',
  submissionKey: `${group}/submissions/${options.name ?? jobId}submit.json`,
  versionId: options.versionId ?? 'v1',
  etag: '"0123456789abcdef"',
  jobId,
  submittedAt: options.submittedAt ?? '2026-11-21T10:00:00.000Z',
  configKey: `${group}/configs/config.yaml`,
  instanceType: 'm5.xlarge',
  datasets: Array.from({ length: options.datasets ?? 3 }, (_, i) => ({
    datasetKey: `${group}/inputs/data${i}.zip`,
    estimatedCostUsd: 0.25,
  })),
});

const jobKeyOf = (input: SubmissionInput): { group: string; jobId: string } => ({
  group: input.submissionKey.split('/')[0],
  jobId: input.jobId,
});

const partition = async (pk: string): Promise<Record<string, unknown>[]> => {
  const result = await db.documentClient.send(
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': pk },
      ConsistentRead: true,
    }),
  );
  return result.Items ?? [];
};

const entriesOf = async (pk: string, jobId: string): Promise<number> =>
  (await partition(pk)).filter((item) => item.jobId === jobId).length;

const created = (outcome: RecordOutcome): Job => {
  if (outcome.kind !== 'created') throw new Error(`expected created, got ${outcome.kind}`);
  return outcome.job;
};

/** A document client whose calls fail from the (after+1)-th on: a process that dies midway. */
const crashingClient = (after: number): DynamoDBDocumentClient => {
  const client = db.newDocumentClient();
  let calls = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      calls += 1;
      if (calls > after) throw new Error('simulated crash');
      return next(args);
    },
    { step: 'initialize', name: 'simulatedCrash' },
  );
  return client;
};

describe('job table schema', () => {
  test('the emulator table has the schema keys and both sparse indexes', async () => {
    const input = createJobTableInput('t');
    expect(input.AttributeDefinitions?.map((a) => a.AttributeName)).toEqual([
      'pk',
      'sk',
      'groupName',
      'submittedAt',
      'launcherId',
    ]);
    const described = await db.client.send(new DescribeTableCommand({ TableName: db.tableName }));
    expect(described.Table?.KeySchema).toEqual([
      { AttributeName: JOB_TABLE.partitionKey.name, KeyType: 'HASH' },
      { AttributeName: JOB_TABLE.sortKey.name, KeyType: 'RANGE' },
    ]);
    expect(described.Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName).sort()).toEqual([
      'byGroup',
      'byLauncher',
    ]);
  });
});

describe('recordSubmission', () => {
  test('50 concurrent deliveries of one submission make exactly one job', async () => {
    const jobs = store();
    const input = submission('lab', '16:52:06.836494condition_2_3');
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => jobs.recordSubmission(input)));

    expect(outcomes.filter((o) => o.kind === 'created')).toHaveLength(1);
    expect(outcomes.filter((o) => o.kind === 'duplicate-delivery')).toHaveLength(49);
    const items = await partition(headerItemKey('mock', jobKeyOf(input)).pk);
    expect(items.filter((i) => i.sk === 'JOB')).toHaveLength(1);
    expect(items.filter((i) => String(i.sk).startsWith('DATASET#'))).toHaveLength(3);
    // Not admitted yet: live, but not in the launch queue.
    expect(await entriesOf(queuePartitionKey('mock'), input.jobId)).toBe(0);
    expect(await entriesOf(livePartitionKey('mock'), input.jobId)).toBe(3);

    const job = created(outcomes.find((o) => o.kind === 'created') ?? outcomes[0]);
    expect(job.header).toMatchObject({
      group: 'lab',
      jobId: input.jobId,
      datasetCount: 3,
      state: 'SUBMITTED',
      complete: true,
      estimatedCostUsd: 0.75,
      resultFolder: 'lab/results/job__mock_16:52:06.836494condition_2_3',
      submissionId: 'v1',
    });
    expect(job.header.createdAt).toBeDefined();
    expect(job.datasets.map((d) => [d.datasetIndex, d.state, d.datasetLabel, d.queuedAt])).toEqual([
      [0, 'SUBMITTED', 'data0.zip', undefined],
      [1, 'SUBMITTED', 'data1.zip', undefined],
      [2, 'SUBMITTED', 'data2.zip', undefined],
    ]);
  });

  test('another submission object with the same group and timestamp is refused, nothing overwritten', async () => {
    const jobs = store();
    created(await jobs.recordSubmission(submission('lab', 'taken-1', { name: 'first' })));

    const reupload = await jobs.recordSubmission(
      submission('lab', 'taken-1', { name: 'first', versionId: 'v2' }),
    );
    const otherFile = await jobs.recordSubmission(
      submission('lab', 'taken-1', { name: 'second', datasets: 1 }),
    );
    for (const outcome of [reupload, otherFile]) {
      expect(outcome).toEqual({
        kind: 'timestamp-taken',
        existingSubmissionKey: 'lab/submissions/firstsubmit.json',
        existingSubmittedAt: '2026-11-21T10:00:00.000Z',
      });
    }
    // Redelivery of a refused object is refused again, the same way.
    expect(
      (await jobs.recordSubmission(submission('lab', 'taken-1', { name: 'second', datasets: 1 }))).kind,
    ).toBe('timestamp-taken');
    const job = await jobs.getJob({ group: 'lab', jobId: 'taken-1' });
    expect(job?.header.submissionId).toBe('v1');
    expect(job?.datasets).toHaveLength(3);
  });

  test('the same timestamp in two groups makes two jobs', async () => {
    const jobs = store();
    created(await jobs.recordSubmission(submission('lab-a', 'shared-ts')));
    created(await jobs.recordSubmission(submission('lab-b', 'shared-ts')));
    expect((await jobs.getJob({ group: 'lab-a', jobId: 'shared-ts' }))?.datasets).toHaveLength(3);
    expect((await jobs.getJob({ group: 'lab-b', jobId: 'shared-ts' }))?.datasets).toHaveLength(3);
  });

  test('a crash after the dedupe item: the next delivery completes the job', async () => {
    const jobs = store();
    const input = submission('lab', 'crashed-early');
    // What a handler that died right after its first write leaves behind.
    await db.documentClient.send(
      new PutCommand({
        TableName: db.tableName,
        Item: submissionItem(
          {
            group: 'lab',
            jobId: input.jobId,
            submissionBucket: input.bucket,
            submissionKey: input.submissionKey,
            submissionId: 'v1',
            submissionEtag: input.etag,
            submittedAt: input.submittedAt,
            configKey: input.configKey,
            estimates: {},
            instanceType: input.instanceType,
            resultFolder: 'unused',
            datasets: [],
          },
          '2026-11-21T10:00:01.000Z',
        ),
      }),
    );
    expect(await jobs.getJob({ group: 'lab', jobId: input.jobId })).toBeUndefined();

    const job = created(await jobs.recordSubmission(input));
    expect(job.header.complete).toBe(true);
    expect(job.datasets).toHaveLength(3);
    expect((await jobs.recordSubmission(input)).kind).toBe('duplicate-delivery');
  });

  test('a crash after any number of writes loses nothing and duplicates nothing', async () => {
    // 3 datasets: 1 dedupe, 2 header, 3-5 datasets, 6-8 live entries, 9 claim, 10 getJob.
    for (let after = 0; after <= 9; after++) {
      const input = submission('crash', `after-${after}`);
      await expect(store('mock', crashingClient(after)).recordSubmission(input)).rejects.toThrow(
        'simulated crash',
      );

      const retry = await store().recordSubmission(input);
      expect(['created', 'duplicate-delivery']).toContain(retry.kind);
      if (retry.kind === 'timestamp-taken') throw new Error('unexpected');
      expect(retry.job.header.complete).toBe(true);
      expect(retry.job.datasets.map((d) => d.state)).toEqual(['SUBMITTED', 'SUBMITTED', 'SUBMITTED']);
      expect(await entriesOf(queuePartitionKey('mock'), input.jobId)).toBe(0);
      expect(await entriesOf(livePartitionKey('mock'), input.jobId)).toBe(3);
      // Only a crash after the claim leaves no one to be told "created".
      expect(retry.kind).toBe(after <= 8 ? 'created' : 'duplicate-delivery');
      expect(await store().admit(jobKeyOf(input))).toEqual({ admitted: 3 });
      expect(await entriesOf(queuePartitionKey('mock'), input.jobId)).toBe(3);
    }
  });
});

describe('transition', () => {
  test('states only move forward; duplicates and late events are no-ops', async () => {
    const jobs = store();
    const job = { group: 'lab', jobId: 'states' };
    created(await jobs.recordSubmission(submission('lab', 'states')));
    // Not admitted: no launch or worker event applies.
    expect(await jobs.transition(job, 0, 'INITIALIZING')).toEqual({ applied: false, previous: 'SUBMITTED' });
    expect(await jobs.transition(job, 0, 'IN PROGRESS')).toEqual({ applied: false, previous: 'SUBMITTED' });
    expect((await jobs.getJob(job))?.header.state).toBe('SUBMITTED');
    expect(await jobs.admit(job)).toEqual({ admitted: 3 });
    expect((await jobs.getJob(job))?.header.state).toBe('QUEUED');

    expect(await jobs.transition(job, 0, 'INITIALIZING')).toEqual({ applied: true, previous: 'QUEUED' });
    expect(await jobs.transition(job, 0, 'INITIALIZING')).toEqual({
      applied: false,
      previous: 'INITIALIZING',
    });
    expect(await jobs.transition(job, 0, 'IN PROGRESS')).toEqual({ applied: true, previous: 'INITIALIZING' });
    expect((await jobs.getJob(job))?.header.state).toBe('IN PROGRESS');
    expect(await jobs.transition(job, 0, 'SUCCESS', { exitCode: 0 })).toEqual({
      applied: true,
      previous: 'IN PROGRESS',
    });
    // IN PROGRESS after SUCCESS, and a second final state, are ignored.
    expect(await jobs.transition(job, 0, 'IN PROGRESS')).toEqual({ applied: false, previous: 'SUCCESS' });
    expect(await jobs.transition(job, 0, 'FAILED', { reason: 'late' })).toEqual({
      applied: false,
      previous: 'SUCCESS',
    });

    // SUCCESS after FAILED is ignored; a skipped state (QUEUED -> FAILED) is fine.
    expect(await jobs.transition(job, 1, 'FAILED', { exitCode: 2, reason: 'exit code 2' })).toEqual({
      applied: true,
      previous: 'QUEUED',
    });
    expect(await jobs.transition(job, 1, 'SUCCESS', { exitCode: 0 })).toEqual({
      applied: false,
      previous: 'FAILED',
    });

    // QUEUED again, SUBMITTED ever, and an unknown dataset are no-ops that leave no entry behind.
    expect(await jobs.transition(job, 2, 'QUEUED')).toEqual({ applied: false, previous: 'QUEUED' });
    expect(await jobs.transition(job, 2, 'SUBMITTED')).toEqual({ applied: false, previous: 'QUEUED' });
    expect(await jobs.transition(job, 9, 'IN PROGRESS')).toEqual({ applied: false, previous: undefined });
    expect(await jobs.transition(job, 9, 'QUEUED')).toEqual({ applied: false, previous: undefined });

    const datasets = (await jobs.getJob(job))?.datasets ?? [];
    expect(datasets[0]).toMatchObject({ state: 'SUCCESS', exitCode: 0 });
    expect(datasets[0].reason).toBeUndefined();
    expect(datasets[0].startedAt).toBeDefined();
    expect(datasets[0].finishedAt).toBeDefined();
    expect(datasets[1]).toMatchObject({ state: 'FAILED', exitCode: 2, reason: 'exit code 2' });
    // Queue entries go when a dataset leaves QUEUED; live entries when it is final.
    expect(await entriesOf(queuePartitionKey('mock'), 'states')).toBe(1);
    expect(await entriesOf(livePartitionKey('mock'), 'states')).toBe(1);
  });

  test('of 20 racing final states exactly one applies', async () => {
    const jobs = store();
    const job = { group: 'lab', jobId: 'race' };
    created(await jobs.recordSubmission(submission('lab', 'race', { datasets: 1 })));
    const finals = ['SUCCESS', 'FAILED', 'TIMED_OUT', 'CANCELLED'] as const;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => jobs.transition(job, 0, finals[i % finals.length])),
    );
    expect(results.filter((r) => r.applied)).toHaveLength(1);
  });
});

describe('running-worker slots', () => {
  test('50 concurrent acquisitions against a limit of 5: exactly 5 succeed', async () => {
    const slots = store('slots');
    const results = await Promise.all(Array.from({ length: 50 }, () => slots.counters.acquireSlot(5)));
    expect(results.filter(Boolean)).toHaveLength(5);
    expect(await slots.counters.runningCount()).toBe(5);
  });

  test('releasing never goes below zero; the watchdog repairs the count', async () => {
    const slots = store('slots-release');
    expect(await slots.counters.acquireSlot(2)).toBe(true);
    expect(await slots.counters.acquireSlot(2)).toBe(true);
    const released = await Promise.all(Array.from({ length: 7 }, () => slots.counters.releaseSlot()));
    expect(released.filter(Boolean)).toHaveLength(2);
    expect(await slots.counters.runningCount()).toBe(0);
    expect(await slots.counters.releaseSlot()).toBe(false);
    expect(await slots.counters.acquireSlot(0)).toBe(false);

    // A difference is repaired only when a second look sees it unchanged (no acquire or release between).
    expect(await slots.counters.repairRunningCount(3)).toBeUndefined();
    expect(await slots.counters.runningCount()).toBe(0);
    expect(await slots.counters.repairRunningCount(3)).toBe(0);
    expect(await slots.counters.runningCount()).toBe(3);
    expect(await slots.counters.repairRunningCount(3)).toBeUndefined();
    expect(await slots.counters.acquireSlot(3)).toBe(false);
  });
});

describe('markDatasetFinished', () => {
  test('true exactly once, for the last dataset of a job, even when called concurrently', async () => {
    const jobs = store();
    const job = { group: 'lab', jobId: 'finish' };
    created(await jobs.recordSubmission(submission('lab', 'finish')));
    await jobs.admit(job);

    expect(await jobs.markDatasetFinished(job, 0)).toBe(false); // not final yet: not counted
    await jobs.transition(job, 0, 'SUCCESS');
    await jobs.transition(job, 1, 'SUCCESS');
    const early = await Promise.all([0, 1, 0, 1].map((i) => jobs.markDatasetFinished(job, i)));
    expect(early).toEqual([false, false, false, false]);

    await jobs.transition(job, 2, 'FAILED', { reason: 'exit code 1' });
    const calls = await Promise.all(
      Array.from({ length: 30 }, (_, i) => jobs.markDatasetFinished(job, i % 3)),
    );
    expect(calls.filter(Boolean)).toHaveLength(1);
    expect(await jobs.markDatasetFinished(job, 2)).toBe(false);

    await jobs.markEndWritten(job);
    const header = (await jobs.getJob(job))?.header;
    expect(header).toMatchObject({
      finishedDatasets: 3,
      endClaimed: true,
      endWritten: true,
      state: 'FAILED',
    });
    expect(await jobs.listGroupJobs('lab', { state: 'FAILED' })).toEqual([
      expect.objectContaining({ jobId: 'finish' }),
    ]);
  });
});

describe('queue and live lists', () => {
  test('the queue drains oldest admission first across groups and skips what already left it', async () => {
    const { jobs, setNow } = clockedStore('fifo', '2026-11-21T10:00:00Z');
    const second = { group: 'lab-b', jobId: 'second' };
    const third = { group: 'lab-a', jobId: 'third' };
    const first = { group: 'lab-a', jobId: 'first' };
    // Recorded in one order, admitted in another: the queue follows admission.
    created(await jobs.recordSubmission(submission('lab-b', 'second', { datasets: 2 })));
    created(await jobs.recordSubmission(submission('lab-a', 'third', { datasets: 1 })));
    created(await jobs.recordSubmission(submission('lab-a', 'first', { datasets: 1 })));
    expect(await jobs.listQueued(10)).toEqual([]);
    for (const [job, at] of [
      [first, '2026-11-21T10:01:00Z'],
      [second, '2026-11-21T10:02:00Z'],
      [third, '2026-11-21T10:03:00Z'],
    ] as const) {
      setNow(at);
      await jobs.admit(job);
    }

    const order = (await jobs.listQueued(10)).map((d) => `${d.group}/${d.jobId}#${d.datasetIndex}`);
    expect(order).toEqual(['lab-a/first#0', 'lab-b/second#0', 'lab-b/second#1', 'lab-a/third#0']);
    expect((await jobs.listQueued(2)).map((d) => d.jobId)).toEqual(['first', 'second']);
    expect((await jobs.getDataset(first, 0))?.queuedAt).toBe('2026-11-21T10:01:00.000Z');

    await jobs.transition(first, 0, 'INITIALIZING');
    expect(await entriesOf(queuePartitionKey('fifo'), 'first')).toBe(0);
    // A stale entry (a slow duplicate re-adding it) is skipped and removed.
    await db.documentClient.send(
      new PutCommand({
        TableName: db.tableName,
        Item: queueEntryItem('fifo', first, 0, '2026-11-21T10:01:00.000Z'),
      }),
    );
    // So is an entry of a queued dataset that is not its own (a losing admission's, left behind).
    await db.documentClient.send(
      new PutCommand({
        TableName: db.tableName,
        Item: queueEntryItem('fifo', second, 1, '2026-11-21T09:00:00.000Z'),
      }),
    );
    expect((await jobs.listQueued(1)).map((d) => `${d.jobId}#${d.datasetIndex}`)).toEqual(['second#0']);
    expect(await entriesOf(queuePartitionKey('fifo'), 'first')).toBe(0);
    expect((await jobs.listQueued(10)).map((d) => `${d.jobId}#${d.datasetIndex}`)).toEqual([
      'second#0',
      'second#1',
      'third#0',
    ]);
    expect(await entriesOf(queuePartitionKey('fifo'), 'second')).toBe(2);

    const live = await jobs.listLive();
    expect(live.map((d) => `${d.jobId}#${d.datasetIndex}:${d.state}`).sort()).toEqual([
      'first#0:INITIALIZING',
      'second#0:QUEUED',
      'second#1:QUEUED',
      'third#0:QUEUED',
    ]);
    await jobs.transition(first, 0, 'CANCELLED');
    expect((await jobs.listLive()).map((d) => d.jobId)).not.toContain('first');
  });

  test('an entry of a dataset not admitted yet is skipped, not deleted (its admission may be under way)', async () => {
    const jobs = store('fifo-early');
    const job = { group: 'lab', jobId: 'early' };
    created(await jobs.recordSubmission(submission('lab', 'early', { datasets: 1 })));
    // What an admission writes before its state change.
    await db.documentClient.send(
      new PutCommand({
        TableName: db.tableName,
        Item: queueEntryItem('fifo-early', job, 0, '2026-11-21T10:05:00.000Z'),
      }),
    );
    expect(await jobs.listQueued(10)).toEqual([]);
    expect(await entriesOf(queuePartitionKey('fifo-early'), 'early')).toBe(1);
    // Admission then writes its own entry; the early one can never be valid and goes on the next read.
    expect(await jobs.admit(job)).toEqual({ admitted: 1 });
    expect((await jobs.listQueued(10)).map((d) => d.jobId)).toEqual(['early']);
    expect(await entriesOf(queuePartitionKey('fifo-early'), 'early')).toBe(1);
  });
});

describe('admission', () => {
  test('a created job is not in the launch queue until admitted', async () => {
    const jobs = store('admission');
    const job = { group: 'lab', jobId: 'wait' };
    created(await jobs.recordSubmission(submission('lab', 'wait', { datasets: 2 })));
    expect(await jobs.listQueued(10)).toEqual([]);
    expect((await jobs.listLive()).map((d) => `${d.jobId}#${d.datasetIndex}:${d.state}`)).toEqual([
      'wait#0:SUBMITTED',
      'wait#1:SUBMITTED',
    ]);

    expect(await jobs.admit(job)).toEqual({ admitted: 2 });
    const queued = await jobs.listQueued(10);
    expect(queued.map((d) => `${d.jobId}#${d.datasetIndex}:${d.state}`)).toEqual([
      'wait#0:QUEUED',
      'wait#1:QUEUED',
    ]);
    expect(queued.every((d) => d.queuedAt !== undefined)).toBe(true);
    expect((await jobs.getJob(job))?.header.state).toBe('QUEUED');
    // Again: nothing left to admit, nothing written.
    expect(await jobs.admit(job)).toEqual({ admitted: 0 });
    expect(await entriesOf(queuePartitionKey('admission'), 'wait')).toBe(2);
  });

  test('admitting from the job as read earlier: a stale read admits nothing twice', async () => {
    const jobs = store('admission-read');
    const job = { group: 'lab', jobId: 'read' };
    const read = created(await jobs.recordSubmission(submission('lab', 'read', { datasets: 2 })));
    expect(read.datasets.map((d) => d.state)).toEqual(['SUBMITTED', 'SUBMITTED']);
    expect(await jobs.admit(job, read)).toEqual({ admitted: 2 });
    // The same read again says SUBMITTED; the writes are conditional, so nothing is admitted again.
    expect(await jobs.admit(job, read)).toEqual({ admitted: 0 });
    expect(await entriesOf(queuePartitionKey('admission-read'), 'read')).toBe(2);
  });

  test('20 concurrent admissions admit each dataset exactly once, with one queue entry each', async () => {
    const base = Date.parse('2026-11-21T11:00:00Z');
    for (const clocks of ['same instant', 'different instants'] as const) {
      const jobId = `concurrent-${clocks}`;
      const job = { group: 'lab', jobId };
      created(await store('admission-race').recordSubmission(submission('lab', jobId)));
      const callers = Array.from(
        { length: 20 },
        (_, i) =>
          new JobStore({
            client: db.documentClient,
            tableName: db.tableName,
            analysis: 'admission-race',
            now: () => new Date(clocks === 'same instant' ? base : base + i * 1000),
          }),
      );
      const results = await Promise.all(callers.map((caller) => caller.admit(job)));
      expect(results.reduce((sum, r) => sum + r.admitted, 0)).toBe(3);
      expect(await entriesOf(queuePartitionKey('admission-race'), jobId)).toBe(3);
      const datasets = (await store('admission-race').getJob(job))?.datasets ?? [];
      expect(datasets.map((d) => d.state)).toEqual(['QUEUED', 'QUEUED', 'QUEUED']);
      // Each entry is the one its dataset names.
      const entries = (await partition(queuePartitionKey('admission-race'))).filter((e) => e.jobId === jobId);
      expect(entries.map((e) => e.sk).sort()).toEqual(
        datasets.map((d) => queueItemKey('admission-race', job, d.datasetIndex, d.queuedAt ?? '').sk).sort(),
      );
      expect((await store('admission-race').listQueued(10)).filter((d) => d.jobId === jobId)).toHaveLength(3);
    }
  });

  test('a crash anywhere in an admission: the next admission completes it, nothing queued twice', async () => {
    // 1 dataset: 1 getJob, 2 queue entry, 3 state change, 4 header summary.
    for (let after = 0; after <= 4; after++) {
      const jobId = `admit-crash-${after}`;
      const job = { group: 'lab', jobId };
      created(await store('admission-crash').recordSubmission(submission('lab', jobId, { datasets: 1 })));
      await store('admission-crash', crashingClient(after))
        .admit(job)
        .catch(() => undefined);

      await store('admission-crash').admit(job);
      expect((await store('admission-crash').getDataset(job, 0))?.state).toBe('QUEUED');
      const queued = (await store('admission-crash').listQueued(100)).filter((d) => d.jobId === jobId);
      expect(queued).toHaveLength(1);
      expect(await entriesOf(queuePartitionKey('admission-crash'), jobId)).toBe(1);
    }
  });

  test('a job not completely recorded, or unknown, cannot be admitted', async () => {
    const input = submission('lab', 'half-made');
    // Dies after the dataset items: the job has no live entries and is not complete.
    await expect(store('admission-partial', crashingClient(5)).recordSubmission(input)).rejects.toThrow(
      'simulated crash',
    );
    const jobs = store('admission-partial');
    await expect(jobs.admit(jobKeyOf(input))).rejects.toThrow('not completely recorded');
    await expect(jobs.admit({ group: 'lab', jobId: 'never-submitted' })).rejects.toThrow('has no header');
    expect(await entriesOf(queuePartitionKey('admission-partial'), 'half-made')).toBe(0);
  });

  test('refusing a job: FAILED from SUBMITTED, never queued, no entries left', async () => {
    const jobs = store('refusal');
    const job = { group: 'lab', jobId: 'over-budget' };
    created(await jobs.recordSubmission(submission('lab', 'over-budget', { datasets: 2 })));

    for (const i of [0, 1]) {
      expect(await jobs.transition(job, i, 'FAILED', { reason: 'MAXCOST exceeded' })).toEqual({
        applied: true,
        previous: 'SUBMITTED',
      });
    }
    expect(await entriesOf(queuePartitionKey('refusal'), 'over-budget')).toBe(0);
    expect(await entriesOf(livePartitionKey('refusal'), 'over-budget')).toBe(0);
    expect(await jobs.listQueued(10)).toEqual([]);
    expect(await jobs.listLive()).toEqual([]);

    // A late admission (a watchdog that read the job before the refusal) changes nothing.
    expect(await jobs.admit(job)).toEqual({ admitted: 0 });
    expect(await jobs.transition(job, 0, 'QUEUED')).toEqual({ applied: false, previous: 'FAILED' });
    expect(await jobs.transition(job, 1, 'INITIALIZING')).toEqual({ applied: false, previous: 'FAILED' });
    expect(await entriesOf(queuePartitionKey('refusal'), 'over-budget')).toBe(0);
    expect(await jobs.listQueued(10)).toEqual([]);

    const datasets = (await jobs.getJob(job))?.datasets ?? [];
    expect(datasets.map((d) => [d.state, d.reason, d.queuedAt])).toEqual([
      ['FAILED', 'MAXCOST exceeded', undefined],
      ['FAILED', 'MAXCOST exceeded', undefined],
    ]);
    expect(await jobs.markDatasetFinished(job, 0)).toBe(false);
    expect(await jobs.markDatasetFinished(job, 1)).toBe(true);
    expect((await jobs.getJob(job))?.header.state).toBe('FAILED');
  });

  test('listUnadmitted finds complete jobs left SUBMITTED longer than asked, and nothing else', async () => {
    const { jobs, setNow } = clockedStore('unadmitted', '2026-11-21T12:00:00Z');
    const left = { group: 'lab', jobId: 'left' };
    const admitted = { group: 'lab', jobId: 'admitted' };
    const refused = { group: 'lab', jobId: 'refused' };
    created(await jobs.recordSubmission(submission('lab', 'left', { datasets: 2 })));
    created(await jobs.recordSubmission(submission('lab', 'admitted', { datasets: 1 })));
    created(await jobs.recordSubmission(submission('lab', 'refused', { datasets: 1 })));
    setNow('2026-11-21T12:01:00Z');
    await jobs.admit(admitted);
    await jobs.transition(refused, 0, 'FAILED', { reason: 'MAXCOST exceeded' });
    // Created later: too recent (its creator may still be deciding), although submitted long ago.
    setNow('2026-11-21T12:30:00Z');
    created(
      await jobs.recordSubmission(
        submission('lab', 'recent', { submittedAt: '2026-11-20T00:00:00Z', datasets: 1 }),
      ),
    );
    // Never completed: not listed (a redelivery completes it first).
    await expect(
      new JobStore({
        client: crashingClient(4), // 1 dedupe, 2 header, 3 dataset, 4 live entry, 5 claim
        tableName: db.tableName,
        analysis: 'unadmitted',
        now: () => new Date('2026-11-21T12:00:00Z'),
      }).recordSubmission(submission('lab', 'incomplete', { datasets: 1 })),
    ).rejects.toThrow('simulated crash');
    expect((await jobs.getJob({ group: 'lab', jobId: 'incomplete' }))?.header.complete).toBe(false);

    const names = async (olderThan: string): Promise<string[]> =>
      (await jobs.listUnadmitted(new Date(olderThan)))
        .map((d) => `${d.jobId}#${d.datasetIndex}:${d.state}`)
        .sort();
    expect(await names('2026-11-21T12:00:00Z')).toEqual([]);
    expect(await names('2026-11-21T12:15:00Z')).toEqual(['left#0:SUBMITTED', 'left#1:SUBMITTED']);
    expect(await names('2026-11-21T13:00:00Z')).toEqual([
      'left#0:SUBMITTED',
      'left#1:SUBMITTED',
      'recent#0:SUBMITTED',
    ]);
    // The live entries of the admitted job are kept.
    expect(await entriesOf(livePartitionKey('unadmitted'), 'admitted')).toBe(1);

    expect(await jobs.admit(left)).toEqual({ admitted: 2 });
    expect(await names('2026-11-21T13:00:00Z')).toEqual(['recent#0:SUBMITTED']);
  });
});

describe('job states', () => {
  test('SUBMITTED ranks first; final states tie above every live one; users never see SUBMITTED', () => {
    expect(JOB_STATES[0]).toBe('SUBMITTED');
    expect(LIVE_STATES).toEqual(['SUBMITTED', 'QUEUED', 'INITIALIZING', 'IN PROGRESS']);
    expect(LIVE_STATES.map(stateRank)).toEqual([0, 1, 2, 3]);
    for (const final of ['SUCCESS', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'INTERRUPTED'] as const) {
      expect(stateRank(final)).toBe(4);
    }
    expect(statesBelow('FAILED')).toEqual(LIVE_STATES);
    expect(userVisibleState('SUBMITTED')).toBe('QUEUED');
    expect(userVisibleState('IN PROGRESS')).toBe('IN PROGRESS');
  });

  test('a dataset leaves SUBMITTED only for QUEUED or a final state', () => {
    expect(mayTransition('SUBMITTED', 'QUEUED')).toBe(true);
    expect(mayTransition('SUBMITTED', 'CANCELLED')).toBe(true);
    expect(mayTransition('SUBMITTED', 'INITIALIZING')).toBe(false);
    expect(mayTransition('SUBMITTED', 'IN PROGRESS')).toBe(false);
    expect(mayTransition('QUEUED', 'IN PROGRESS')).toBe(true);
    expect(mayTransition('QUEUED', 'QUEUED')).toBe(false);
    expect(datasetTransitionCondition('SUBMITTED').expression).toBeUndefined();
    expect(Object.values(datasetTransitionCondition('QUEUED').values)).toEqual(['SUBMITTED']);
    expect(Object.values(datasetTransitionCondition('INITIALIZING').values)).toEqual(['QUEUED']);
  });
});

describe('budget', () => {
  test('a reservation over the monthly max is refused with the figures', async () => {
    const budget = store('budget');
    expect(await budget.counters.reserveBudget('lab', '2026-11', 60, 100)).toEqual({
      ok: true,
      committedUsd: 60,
      maxUsd: 100,
    });
    expect(await budget.counters.reserveBudget('lab', '2026-11', 50, 100)).toEqual({
      ok: false,
      committedUsd: 60,
      maxUsd: 100,
      requestedUsd: 50,
    });
    expect(await budget.counters.reserveBudget('lab', '2026-12', 150, 100)).toEqual({
      ok: false,
      committedUsd: 0,
      maxUsd: 100,
      requestedUsd: 150,
    });
    // The estimate of 60 cost 12.5 in the end.
    expect(await budget.counters.settleBudget('lab', '2026-11', 60, 12.5)).toBe(12.5);
    expect((await budget.counters.reserveBudget('lab', '2026-11', 50, 100)).ok).toBe(true);
    // Decimal amounts add up exactly at the boundary.
    expect((await budget.counters.reserveBudget('lab', '2027-01', 0.1, 0.3)).ok).toBe(true);
    expect((await budget.counters.reserveBudget('lab', '2027-01', 0.2, 0.3)).ok).toBe(true);
    expect(await budget.counters.getBudget('lab', '2027-01')).toBe(0.3);
  });

  test('20 concurrent reservations of $10 against $100: exactly 10', async () => {
    const budget = store('budget-race');
    const results = await Promise.all(
      Array.from({ length: 20 }, () => budget.counters.reserveBudget('lab', '2026-11', 10, 100)),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(10);
    expect(results.filter((r) => !r.ok).every((r) => r.committedUsd === 100 && r.maxUsd === 100)).toBe(true);
    expect(await budget.counters.getBudget('lab', '2026-11')).toBe(100);
  });
});

describe('lookups', () => {
  test('findByLauncher finds a dataset through the byLauncher index; an older attempt cannot overwrite', async () => {
    const jobs = store();
    const job = { group: 'lab', jobId: 'launcher' };
    created(await jobs.recordSubmission(submission('lab', 'launcher', { datasets: 2 })));

    expect(await jobs.setLauncher(job, 1, 'i-0abc', 1)).toBe(true);
    expect(await jobs.setLauncher(job, 1, 'i-0old', 0)).toBe(false);
    expect(await jobs.findByLauncher('i-0abc')).toMatchObject({
      jobId: 'launcher',
      datasetIndex: 1,
      attempt: 1,
    });
    expect(await jobs.findByLauncher('i-0old')).toBeUndefined();
    expect(await store('other-analysis').findByLauncher('i-0abc')).toBeUndefined();

    // The header's submittedAt is on the dataset item too: only headers carry groupName.
    const item = await partition(datasetItemKey('mock', job, 1).pk);
    expect(item.filter((i) => i.groupName !== undefined).map((i) => i.sk)).toEqual(['JOB']);
  });

  test('listGroupJobs: one header per job, newest first, only that group and analysis', async () => {
    const jobs = store('listing');
    const times = ['2026-11-02T00:00:00Z', '2026-11-03T00:00:00Z', '2026-11-01T00:00:00Z'];
    for (const [i, submittedAt] of times.entries()) {
      created(await jobs.recordSubmission(submission('lister', `job-${i}`, { submittedAt, name: `r${i}` })));
    }
    created(await jobs.recordSubmission(submission('someone-else', 'job-x')));
    created(await store('listing-other').recordSubmission(submission('lister', 'job-y')));

    expect((await jobs.listGroupJobs('lister')).map((h) => h.jobId)).toEqual(['job-1', 'job-0', 'job-2']);
    expect((await jobs.listGroupJobs('lister', { limit: 2 })).map((h) => h.jobId)).toEqual([
      'job-1',
      'job-0',
    ]);
    expect((await jobs.listGroupJobs('lister', { state: 'SUBMITTED' })).map((h) => h.jobId)).toEqual([
      'job-1',
      'job-0',
      'job-2',
    ]);
    await jobs.admit({ group: 'lister', jobId: 'job-2' });
    await jobs.transition({ group: 'lister', jobId: 'job-2' }, 0, 'INITIALIZING');
    expect((await jobs.listGroupJobs('lister', { state: 'INITIALIZING' })).map((h) => h.jobId)).toEqual([
      'job-2',
    ]);
  });
});

describe('Batch job folders on EFS', () => {
  test('recorded on the dataset and in the sweep list; claims are counted once each and bounded', async () => {
    const jobs = store('efs-folders');
    const input = submission('lab', 'efs-1');
    await jobs.recordSubmission(input);
    const key = jobKeyOf(input);
    await jobs.efsFolders.recordJobFolder(key, 0, 'dir-a');
    await jobs.efsFolders.recordJobFolder(key, 0, 'dir-a'); // idempotent
    await jobs.efsFolders.recordJobFolder(key, 0, 'dir-b');
    expect((await jobs.getDataset(key, 0))?.efsFolders).toEqual(['dir-a', 'dir-b']);
    expect((await jobs.efsFolders.listJobFolders()).map((f) => f.folder.jobDir).sort()).toEqual([
      'dir-a',
      'dir-b',
    ]);

    // Two callers that read the same count: one claim.
    const claims = await Promise.all(
      [0, 1, 2].map(() => jobs.efsFolders.claimFolderCleanup(key, 0, 'dir-a', 0, 2)),
    );
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await jobs.efsFolders.claimFolderCleanup(key, 0, 'dir-a', 0, 2)).toBe(false); // a stale count
    expect(await jobs.efsFolders.claimFolderCleanup(key, 0, 'dir-a', 1, 2)).toBe(true);
    expect(await jobs.efsFolders.claimFolderCleanup(key, 0, 'dir-a', 2, 2)).toBe(false); // the bound
    expect(await jobs.efsFolders.abandonJobFolder(key, 0, 'dir-b')).toBe(true);
    expect(await jobs.efsFolders.abandonJobFolder(key, 0, 'dir-b')).toBe(false);
    expect(await jobs.efsFolders.claimFolderCleanup(key, 0, 'dir-b', 0, 2)).toBe(false); // given up

    await jobs.efsFolders.clearJobFolder(key, 0, 'dir-a');
    expect((await jobs.getDataset(key, 0))?.efsFolders).toEqual(['dir-b']);
    expect(await jobs.efsFolders.getJobFolder(key, 0, 'dir-a')).toBeUndefined();
    // Jobs of a cleared folder do not bring it back.
    await jobs.efsFolders.addJobFolderJobs(key, 0, 'dir-a', ['late-job']);
    expect((await jobs.efsFolders.listJobFolders()).map((f) => f.folder.jobDir)).toEqual(['dir-b']);
  });

  test('a folder of a dataset that does not exist is refused, naming the dataset', async () => {
    const jobs = store('efs-missing');
    await expect(jobs.efsFolders.recordJobFolder({ group: 'lab', jobId: 'nope' }, 3, 'dir')).rejects.toThrow(
      'dataset lab/nope#3 does not exist: no job folder recorded',
    );
    for (const bad of ['', 'a#b']) {
      await expect(jobs.efsFolders.recordJobFolder({ group: 'lab', jobId: 'nope' }, 0, bad)).rejects.toThrow(
        'cannot be part of a job table key',
      );
    }
  });
});

describe('certificate log', () => {
  test('a log the job header cannot hold (over 400 KB) is left to S3, not an error; other refusals throw', async () => {
    const jobs = store('cert-log');
    const input = submission('lab', 'log-1');
    await jobs.recordSubmission(input);
    const key = jobKeyOf(input);
    expect(await jobs.appendLog(key, ['line 1'])).toEqual(['line 1']);
    // The emulator refuses an item over the limit as DynamoDB does (ValidationException).
    expect(await jobs.appendLog(key, ['x'.repeat(400 * 1024)])).toBeUndefined();
    expect(await jobs.appendLog(key, ['line 2'])).toEqual(['line 1', 'line 2']);

    const refusing = db.newDocumentClient();
    refusing.middlewareStack.add(
      () => async () => {
        throw Object.assign(new Error('Invalid UpdateExpression: syntax error'), {
          name: 'ValidationException',
        });
      },
      { step: 'initialize', name: 'refuseEverything' },
    );
    await expect(store('cert-log', refusing).appendLog(key, ['line 3'])).rejects.toThrow(
      'Invalid UpdateExpression',
    );
  });
});
