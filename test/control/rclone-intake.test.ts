/**
 * The submit handler with `rclone:` datasets (against s3rver and dynalite): the bucket cannot tell
 * whether a path exists on a group's remote, so no existence check is made for it (the fetch stage
 * finds out and names it); the config and every S3 key of the submission are still checked; the job
 * row keeps the source verbatim and labels the dataset by the path's last segment.
 */
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import {
  analysisConfig,
  ControlHarness,
  type ControlEmulators,
  startControlEmulators,
  submitJson,
} from '../support/control-harness';

let emulators: ControlEmulators;
let h: ControlHarness;

beforeAll(async () => {
  emulators = await startControlEmulators();
  const base = analysisConfig('t-rclone-intake');
  // As the loader makes it from RemoteSources: lab has an rclone configuration, lab2 none.
  const config = {
    ...base,
    groups: base.groups.map((g) => (g.name === 'lab' ? { ...g, rcloneConfigSecret: 'ncaas/rclone/lab' } : g)),
    remoteSources: { image: 'registry.example.org/rclone-sh:1' },
  };
  const bucket = 'ncaas-t-rclone-intake';
  await emulators.s3.client.send(new CreateBucketCommand({ Bucket: bucket }));
  h = new ControlHarness(emulators, bucket, config, new Date(Math.floor(Date.now() / 1000) * 1000));
  await Promise.all([
    h.put('lab/configs/config.yaml', '__duration__: 30\n'),
    h.put('lab/inputs/here.bin', 'x'),
  ]);
});

afterAll(async () => {
  await emulators.stop();
});

test('accepted although nothing of that name is in the bucket; the row keeps the source, labelled by its file', async () => {
  const source = 'rclone:labdrive:day 1/mouse 12.nwb';
  const outcome = await h.submit('lab', 'remote', submitJson('lab', 'remote-1', source));
  expect(outcome).toEqual({ kind: 'accepted', group: 'lab', jobId: 'remote-1' });
  const dataset = await h.dataset('lab', 'remote-1');
  expect(dataset.datasetKey).toBe(source);
  expect(dataset.datasetLabel).toBe('mouse 12.nwb');
});

test('an rclone dataset beside a missing S3 key: only the key is refused, by its index', async () => {
  const outcome = await h.submit(
    'lab',
    'mixed',
    submitJson('lab', 'remote-2', ['rclone:labdrive:a.nwb', 'lab/inputs/missing.bin', 'lab/inputs/here.bin']),
  );
  expect(outcome.kind).toBe('refused');
  if (outcome.kind !== 'refused') return;
  expect(outcome.problems).toEqual([
    { field: 'dataname[1]', message: expect.stringContaining('"lab/inputs/missing.bin" does not exist') },
  ]);
});

test('the config is still checked', async () => {
  const outcome = await h.submit(
    'lab',
    'noconfig',
    submitJson('lab', 'remote-3', 'rclone:labdrive:a.nwb', 'lab/configs/missing.yaml'),
  );
  expect(outcome.kind).toBe('refused');
  if (outcome.kind !== 'refused') return;
  expect(outcome.problems.map((p) => p.field)).toEqual(['configname']);
});

test('a group without an rclone configuration is refused before anything is recorded', async () => {
  await h.put('lab2/configs/config.yaml', '__duration__: 30\n');
  const outcome = await h.submit('lab2', 'remote', submitJson('lab2', 'remote-4', 'rclone:labdrive:a.nwb'));
  expect(outcome.kind).toBe('refused');
  if (outcome.kind !== 'refused') return;
  expect(outcome.problems).toEqual([
    { field: 'dataname', message: expect.stringMatching(/group "lab2" has no rclone configuration/) },
  ]);
  expect(await h.job('lab2', 'remote-4')).toBeUndefined();
});
