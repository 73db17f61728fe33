/**
 * One delivery of the launch queue (lib/control/launch-batch.ts, the launch handler's work): a
 * message that fails goes back to the queue alone; the others of its batch are launched once.
 */
import { launchBatch, type LaunchRecord } from '../../lib/control/launch-batch';
import {
  newControl,
  startControlEmulators,
  submitJson,
  type ControlEmulators,
} from '../support/control-harness';

let emulators: ControlEmulators;
beforeAll(async () => {
  emulators = await startControlEmulators();
});
afterAll(async () => {
  await emulators.stop();
});

test('a batch of five where one launch throws: only that one is reported failed, the four others launch', async () => {
  const h = await newControl(emulators, 'batch', { deployLimit: 10 });
  await h.put('lab/configs/config.yaml', '__duration__: 20\n');
  const names = ['a', 'b', 'c', 'd', 'e'];
  for (const name of names) {
    await h.put(`lab/inputs/${name}.bin`);
    expect((await h.submit('lab', name, submitJson('lab', name, `lab/inputs/${name}.bin`))).kind).toBe(
      'accepted',
    );
  }
  const messages = h.queue.pending.splice(0).map((entry) => entry.message);
  expect(messages.map((m) => m.jobId)).toEqual(names);
  // The launcher fails hard (an unexpected error, not a launch outcome) for job c only.
  const launch = h.launcher.launch.bind(h.launcher);
  h.launcher.launch = async (request) => {
    if (request.job.jobId === 'c') throw new Error('DynamoDB throttled');
    return launch(request);
  };
  const records: LaunchRecord[] = messages.map((message, i) => ({
    messageId: `m${i}`,
    body: JSON.stringify(message),
    attributes: { ApproximateReceiveCount: '1' },
  }));

  expect(await launchBatch(h.ctx, records)).toEqual({ batchItemFailures: [{ itemIdentifier: 'm2' }] });
  expect(h.launcher.launches.map((l) => l.job.jobId)).toEqual(['a', 'b', 'd', 'e']);
  expect(h.log.entries).toContainEqual(
    expect.objectContaining({ level: 'error', message: 'launch failed; the message goes back to the queue' }),
  );
  // The failed one, delivered again, launches; the others are not launched twice.
  h.launcher.launch = launch;
  expect(
    await launchBatch(h.ctx, [
      { ...records[2], attributes: { ApproximateReceiveCount: '2' } } as LaunchRecord,
    ]),
  ).toEqual({
    batchItemFailures: [],
  });
  expect(h.launcher.launches.map((l) => l.job.jobId)).toEqual(['a', 'b', 'd', 'e', 'c']);
});

test('a batch where every launch is to be retried: each is reported, none thrown; a stray body is dropped', async () => {
  const h = await newControl(emulators, 'batch-retry', { deployLimit: 10 });
  await h.put('lab/configs/config.yaml', '__duration__: 20\n');
  for (const name of ['a', 'b']) {
    await h.put(`lab/inputs/${name}.bin`);
    await h.submit('lab', name, submitJson('lab', name, `lab/inputs/${name}.bin`));
  }
  const messages = h.queue.pending.splice(0).map((entry) => entry.message);
  h.launcher.script(
    { kind: 'retry', reason: 'InsufficientInstanceCapacity' },
    { kind: 'retry', reason: 'InsufficientInstanceCapacity' },
  );
  const records: LaunchRecord[] = [
    ...messages.map((message, i) => ({
      messageId: `m${i}`,
      body: JSON.stringify(message),
      attributes: { ApproximateReceiveCount: '1' },
    })),
    { messageId: 'stray', body: '<not a launch message>', attributes: { ApproximateReceiveCount: '1' } },
  ];

  expect(await launchBatch(h.ctx, records)).toEqual({
    batchItemFailures: [{ itemIdentifier: 'm0' }, { itemIdentifier: 'm1' }],
  });
  expect(h.log.entries).toContainEqual(
    expect.objectContaining({ level: 'error', message: 'dropped a launch message that is not one' }),
  );
  expect(await h.states('lab', 'a')).toEqual(['INITIALIZING']);
});
