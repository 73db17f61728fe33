/**
 * The watchdog and developers' dev instances: one past its expiry is stopped (never terminated) and
 * says so (log, tag); one within its time, or with no readable expiry, is left alone. The EC2 side
 * is checked against a mock of the real request shapes.
 */
import 'aws-sdk-client-mock-jest';
import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  EC2Client,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { devInstanceSource } from '../../lib/control/aws-workers';
import type { DevInstanceSource, DevInstanceState } from '../../lib/control/dev-expiry';
import { runWatchdog } from '../../lib/control/watchdog';
import { DEV_TAGS } from '../../lib/launch/dev-instance-tags';
import { type ControlEmulators, newControl, startControlEmulators } from '../support/control-harness';

let emulators: ControlEmulators;
beforeAll(async () => {
  emulators = await startControlEmulators();
});
afterAll(() => emulators.stop());

class FakeDevInstances implements DevInstanceSource {
  readonly stopped: { instanceId: string; note: string }[] = [];
  constructor(private readonly instances: DevInstanceState[]) {}
  async list(): Promise<DevInstanceState[]> {
    return this.instances;
  }
  async stop(instanceId: string, note: string): Promise<void> {
    if (instanceId === 'i-broken') throw new Error('UnauthorizedOperation');
    this.stopped.push({ instanceId, note });
  }
}

test('the watchdog stops dev instances past their expiry, and only those, and says so', async () => {
  const h = await newControl(emulators, 'dev-expiry');
  const now = h.clock.now().getTime();
  const iso = (ms: number) => new Date(now + ms).toISOString();
  const dev = new FakeDevInstances([
    { instanceId: 'i-expired', owner: 'ada', expires: iso(-60_000) },
    { instanceId: 'i-fresh', owner: 'bob', expires: iso(3_600_000) },
    { instanceId: 'i-untagged', owner: 'cy' },
    { instanceId: 'i-garbled', expires: 'tomorrow' },
    { instanceId: 'i-broken', expires: iso(-1) },
  ]);

  const found = await runWatchdog(h.ctx, { devInstances: dev });

  expect(found.devInstancesStopped).toBe(1);
  expect(dev.stopped).toEqual([
    {
      instanceId: 'i-expired',
      note: `expired at ${iso(-60_000)}; stopped by the watchdog at ${h.clock.now().toISOString()}`,
    },
  ]);
  expect(h.log.entries.filter((e) => e.message === 'stopped an expired dev instance')).toEqual([
    {
      level: 'warn',
      message: 'stopped an expired dev instance',
      details: { instanceId: 'i-expired', owner: 'ada', expires: iso(-60_000) },
    },
  ]);
  // One that cannot be stopped is logged; the sweep goes on.
  expect(h.log.entries.some((e) => e.level === 'error' && e.details?.instanceId === 'i-broken')).toBe(true);
  // Without the source (the local runtime), nothing about dev instances is reported.
  expect((await runWatchdog(h.ctx, {})).devInstancesStopped).toBeUndefined();
});

test('on EC2: running dev instances of this analysis by tag; stop, then a tag saying why; never terminate', async () => {
  const ec2Mock = mockClient(EC2Client);
  const ec2 = new EC2Client({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
  try {
    ec2Mock.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            {
              InstanceId: 'i-0aaaaaaaaaaaaaaa0',
              Tags: [
                { Key: DEV_TAGS.owner, Value: 'ada' },
                { Key: DEV_TAGS.expires, Value: '2026-11-21T10:00:00.000Z' },
              ],
            },
          ],
        },
      ],
    });
    const source = devInstanceSource(ec2, 'mock');
    expect(await source.list()).toEqual([
      { instanceId: 'i-0aaaaaaaaaaaaaaa0', owner: 'ada', expires: '2026-11-21T10:00:00.000Z' },
    ]);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: [
        { Name: `tag:${DEV_TAGS.analysis}`, Values: ['mock'] },
        { Name: 'instance-state-name', Values: ['pending', 'running'] },
      ],
    });
    await source.stop('i-0aaaaaaaaaaaaaaa0', 'expired at X; stopped by the watchdog at Y');
    expect(ec2Mock).toHaveReceivedCommandWith(StopInstancesCommand, { InstanceIds: ['i-0aaaaaaaaaaaaaaa0'] });
    expect(ec2Mock).toHaveReceivedCommandWith(CreateTagsCommand, {
      Resources: ['i-0aaaaaaaaaaaaaaa0'],
      Tags: [{ Key: DEV_TAGS.stoppedByWatchdog, Value: 'expired at X; stopped by the watchdog at Y' }],
    });
    expect(ec2Mock).not.toHaveReceivedCommand(TerminateInstancesCommand);
  } finally {
    ec2.destroy();
    ec2Mock.restore();
  }
});
