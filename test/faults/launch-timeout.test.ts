/**
 * The launcher Lambda dying mid-launch, and a crash after admission before the launch message is
 * sent, against s3rver and dynalite. The EC2 side is the real Ec2Launcher (and the real tag lookups
 * of lib/control/aws-context.ts) over aws-sdk-client-mock, with a small EC2 that keeps its instances
 * and honours RunInstances' ClientToken as EC2 does: the same token with the same parameters returns
 * the instance it already started, with other parameters fails with IdempotentParameterMismatch.
 */
import {
  DescribeImagesCommand,
  type DescribeInstancesCommandInput,
  type DescribeInstancesCommandOutput,
  DescribeInstancesCommand,
  EC2Client,
  EC2ServiceException,
  type RunInstancesCommandInput,
  type RunInstancesCommandOutput,
  RunInstancesCommand,
  type Tag,
  TerminateInstancesCommand,
  type TerminateInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { identifyInstance, listWorkerInstances } from '../../lib/control/aws-workers';
import type { ControlContext } from '../../lib/control/control-context';
import { launchDataset } from '../../lib/control/launch-service';
import { onWorkerState } from '../../lib/control/reconcile';
import { processSubmission } from '../../lib/control/submission-intake';
import { runWatchdog, WATCHDOG_TIMING, type WatchdogSources } from '../../lib/control/watchdog';
import { JobStore } from '../../lib/job/job-store';
import { Ec2Launcher } from '../../lib/launch/ec2-launcher';
import type { LaunchMessage } from '../../lib/launch/launcher';
import {
  type ControlEmulators,
  type ControlHarness,
  type FakeClock,
  newControl,
  newInstanceId,
  startControlEmulators,
  submitJson,
} from '../support/control-harness';

const ec2Mock = mockClient(EC2Client);
let emulators: ControlEmulators;

beforeAll(async () => {
  emulators = await startControlEmulators();
});

afterAll(async () => {
  ec2Mock.restore();
  await emulators.stop();
});

const SUBNETS = ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'];
const LAUNCH_TEMPLATE = 'lt-0123456789abcdef0';
const PROFILE = 'ncaas-test.lab';
/** The launch queue's visibility timeout: six times the launcher's 2-minute timeout. */
const VISIBILITY_TIMEOUT_MS = 12 * 60 * 1000;

interface Instance {
  readonly id: string;
  readonly token: string;
  /** The request that started it, to compare a repeat of its token with. */
  readonly request: string;
  readonly tags: Tag[];
  readonly launchTime: Date;
  state: 'pending' | 'running' | 'terminated';
}

const ec2Error = (name: string, message: string): EC2ServiceException =>
  new EC2ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: 400 }, message });

/** Just enough of EC2 for a launch, its tags, the watchdog's listing and terminations. */
class FakeEc2 {
  readonly instances = new Map<string, Instance>();
  readonly runInputs: RunInstancesCommandInput[] = [];
  readonly describeInputs: DescribeInstancesCommandInput[] = [];
  readonly terminated: string[] = [];

  constructor(private readonly clock: FakeClock) {}

  /** The next RunInstances starts its instance, then its answer is lost (a connection reset). */
  loseNextAnswer = false;

  run(input: RunInstancesCommandInput): RunInstancesCommandOutput {
    this.runInputs.push(input);
    const request = JSON.stringify(input);
    const token = input.ClientToken ?? '';
    const again = [...this.instances.values()].find((i) => token !== '' && i.token === token);
    if (again && again.request !== request) {
      throw ec2Error('IdempotentParameterMismatch', 'Arguments on this idempotent request are inconsistent');
    }
    const instance = again ?? {
      id: newInstanceId(),
      token,
      request,
      // EC2 adds aws:ec2launchtemplate:id itself to an instance launched from a template.
      tags: [
        ...(input.TagSpecifications?.find((t) => t.ResourceType === 'instance')?.Tags ?? []),
        ...(input.LaunchTemplate?.LaunchTemplateId
          ? [{ Key: 'aws:ec2launchtemplate:id', Value: input.LaunchTemplate.LaunchTemplateId }]
          : []),
      ],
      launchTime: this.clock.now(),
      state: 'pending' as const,
    };
    this.instances.set(instance.id, instance);
    if (this.loseNextAnswer) {
      this.loseNextAnswer = false;
      throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    }
    return { $metadata: {}, Instances: [{ InstanceId: instance.id }] };
  }

  describe(input: DescribeInstancesCommandInput): DescribeInstancesCommandOutput {
    this.describeInputs.push(input);
    let found = [...this.instances.values()];
    if (input.InstanceIds) {
      found = found.filter((i) => input.InstanceIds?.includes(i.id));
      if (found.length === 0) throw ec2Error('InvalidInstanceID.NotFound', 'The instance ID does not exist');
    }
    for (const filter of input.Filters ?? []) {
      const values = filter.Values ?? [];
      if (filter.Name === 'instance-state-name') found = found.filter((i) => values.includes(i.state));
      else if (filter.Name?.startsWith('tag:')) {
        const key = filter.Name.slice(4);
        found = found.filter((i) => i.tags.some((t) => t.Key === key && values.includes(t.Value ?? '')));
      }
    }
    return {
      $metadata: {},
      Reservations: found.map((i) => ({
        Instances: [{ InstanceId: i.id, Tags: i.tags, LaunchTime: i.launchTime, State: { Name: i.state } }],
      })),
    };
  }

  terminate(input: TerminateInstancesCommandInput): Record<string, never> {
    for (const id of input.InstanceIds ?? []) {
      const instance = this.instances.get(id);
      if (instance) instance.state = 'terminated';
      this.terminated.push(id);
    }
    return {};
  }

  /** The instance booted. */
  setRunning(id: string): void {
    const instance = this.instances.get(id);
    if (instance) instance.state = 'running';
  }

  alive(): Instance[] {
    return [...this.instances.values()].filter((i) => i.state !== 'terminated');
  }
}

/** Setting the launcher id times out once: the Lambda died after RunInstances returned. */
class DiesBeforeRecording extends JobStore {
  died = false;
  override async setLauncher(...args: Parameters<JobStore['setLauncher']>): Promise<boolean> {
    if (!this.died) {
      this.died = true;
      throw new Error('Task timed out after 120.00 seconds');
    }
    return super.setLauncher(...args);
  }
}

interface Ec2Control {
  readonly h: ControlHarness;
  readonly ec2: FakeEc2;
  /** The harness's context with the real EC2 launcher and tag lookup. */
  readonly ctx: ControlContext;
  readonly sources: WatchdogSources;
}

/** A fresh analysis whose launcher is the real Ec2Launcher over the fake EC2, job `j` submitted. */
const submittedOnEc2 = async (label: string, launchTimeout: number): Promise<Ec2Control> => {
  const h = await newControl(emulators, label, { launchTimeout });
  const ec2 = new FakeEc2(h.clock);
  ec2Mock.reset();
  ec2Mock.on(RunInstancesCommand).callsFake((input: RunInstancesCommandInput) => ec2.run(input));
  ec2Mock
    .on(DescribeInstancesCommand)
    .callsFake((input: DescribeInstancesCommandInput) => ec2.describe(input));
  ec2Mock
    .on(TerminateInstancesCommand)
    .callsFake((input: TerminateInstancesCommandInput) => ec2.terminate(input));
  ec2Mock.on(DescribeImagesCommand).resolves({
    Images: [
      {
        ImageId: h.config.ec2?.ami,
        State: 'available',
        RootDeviceType: 'ebs',
        RootDeviceName: '/dev/xvda',
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8 } }],
      },
    ],
  });
  const client = new EC2Client({ region: 'us-east-1' });
  const launcher = new Ec2Launcher({
    ec2: client,
    analysis: h.analysis,
    launchTemplateId: LAUNCH_TEMPLATE,
    subnetIds: SUBNETS,
    instanceProfiles: { lab: PROFILE },
    ami: h.config.ec2?.ami ?? '',
    sleep: async () => undefined,
  });
  const ctx: ControlContext = {
    ...h.ctx,
    launcher,
    identifyWorker: (id) => identifyInstance(client, h.analysis, id),
  };
  await h.put('lab/inputs/a.bin', 'data');
  await h.put('lab/configs/config.yaml', '__duration__: 20\n');
  const key = await h.upload('lab', 'j', submitJson('lab', 'j', 'lab/inputs/a.bin'));
  expect((await processSubmission(ctx, await h.refOf(key))).kind).toBe('accepted');
  return {
    h,
    ec2,
    ctx,
    sources: { listWorkers: () => listWorkerInstances(client, h.analysis, LAUNCH_TEMPLATE) },
  };
};

/** Takes the launch messages off the queue, as the launcher Lambda receives them. */
const receive = (h: ControlHarness): LaunchMessage[] => h.queue.pending.splice(0).map((p) => p.message);

/** The first delivery: RunInstances succeeds, then the Lambda dies before recording the instance. */
const launchAndDie = async (c: Ec2Control, message: LaunchMessage): Promise<string> => {
  const store = new DiesBeforeRecording({
    client: emulators.db.documentClient,
    tableName: emulators.db.tableName,
    analysis: c.h.analysis,
    now: c.h.clock.now,
  });
  await expect(launchDataset({ ...c.ctx, store }, message, { lastAttempt: false })).rejects.toThrow(
    'Task timed out',
  );
  const [instance] = c.ec2.alive();
  expect(c.ec2.instances.size).toBe(1);
  expect((await c.h.dataset('lab', 'j')).launcherId).toBeUndefined();
  return instance.id;
};

const texts = async (h: ControlHarness): Promise<string[]> =>
  (await h.certificateLines('lab', 'j')).map((l) => l.text);

describe('the launcher Lambda dies after RunInstances, before recording the instance', () => {
  test('SQS redelivers the message: the same ClientToken gives back the same instance, recorded once', async () => {
    const c = await submittedOnEc2('relaunch', 900);
    const [message] = receive(c.h);
    const instance = await launchAndDie(c, message);

    // The message comes back once its visibility timeout has passed.
    c.h.clock.advance(VISIBILITY_TIMEOUT_MS);
    expect(await launchDataset(c.ctx, message, { lastAttempt: false })).toEqual({
      kind: 'launched',
      launcherId: instance,
    });
    const [first, second] = c.ec2.runInputs;
    expect(c.ec2.runInputs).toHaveLength(2);
    expect(second.ClientToken).toBe(first.ClientToken);
    // The whole request is the same (user data with its deadline included): EC2 accepts the repeat.
    expect(second).toEqual(first);
    expect(c.ec2.instances.size).toBe(1);
    expect(await c.h.dataset('lab', 'j')).toMatchObject({
      state: 'INITIALIZING',
      launcherId: instance,
      attempt: 1,
    });

    expect(await onWorkerState(c.ctx, instance, 'running', c.h.clock.now().toISOString())).toBe(
      'IN PROGRESS',
    );
    expect(await c.h.states('lab', 'j')).toEqual(['IN PROGRESS']);
    expect((await texts(c.h)).filter((t) => t.includes(`worker ${instance} launched`))).toHaveLength(1);
    expect(await c.h.store.counters.runningCount()).toBe(1);
    // A later run of the watchdog leaves it alone: its worker is recorded and running.
    c.h.clock.advance(WATCHDOG_TIMING.orphanGraceMs);
    const found = await runWatchdog(c.ctx, c.sources);
    expect([found.launchesResent, found.launchesFailed, found.orphansTerminated]).toEqual([0, 0, 0]);
    expect(c.ec2.terminated).toEqual([]);
  });

  test("the instance's running event comes first: its tags place it, and the redelivery launches nothing", async () => {
    const c = await submittedOnEc2('tags-first', 900);
    const [message] = receive(c.h);
    const instance = await launchAndDie(c, message);

    c.h.clock.advanceSeconds(40);
    expect(await onWorkerState(c.ctx, instance, 'running', c.h.clock.now().toISOString())).toBe(
      'IN PROGRESS',
    );
    expect(c.ec2.describeInputs).toContainEqual({ InstanceIds: [instance] });
    expect(await c.h.dataset('lab', 'j')).toMatchObject({
      state: 'IN PROGRESS',
      launcherId: instance,
      attempt: 1,
    });
    expect(await c.h.store.findByLauncher(instance)).toMatchObject({ jobId: 'j' });

    c.h.clock.advance(VISIBILITY_TIMEOUT_MS);
    expect(await launchDataset(c.ctx, message, { lastAttempt: false })).toEqual({
      kind: 'skipped',
      why: 'dataset is IN PROGRESS',
    });
    expect(c.ec2.runInputs).toHaveLength(1);
    expect(c.ec2.alive().map((i) => i.id)).toEqual([instance]);
    expect((await texts(c.h)).filter((t) => t.endsWith(`worker ${instance} is running`))).toHaveLength(1);
  });

  test('the redelivery never comes: the watchdog resends it once, and EC2 gives back the same instance', async () => {
    const c = await submittedOnEc2('resend', 300);
    const [message] = receive(c.h);
    const instance = await launchAndDie(c, message);

    c.h.clock.advanceSeconds(301);
    expect((await runWatchdog(c.ctx, c.sources)).launchesResent).toBe(1);
    const [resent] = receive(c.h);
    expect(resent).toEqual(message);
    expect(await launchDataset(c.ctx, resent, { lastAttempt: false })).toEqual({
      kind: 'launched',
      launcherId: instance,
    });
    expect(c.ec2.runInputs.map((i) => i.ClientToken)).toEqual([
      c.ec2.runInputs[0].ClientToken,
      c.ec2.runInputs[0].ClientToken,
    ]);
    expect(c.ec2.instances.size).toBe(1);
    c.ec2.setRunning(instance);

    // The running event was lost as well: the watchdog, seeing the instance run, records it.
    c.h.clock.advanceSeconds(301);
    expect((await runWatchdog(c.ctx, c.sources)).launchesResent).toBe(0);
    expect(await c.h.states('lab', 'j')).toEqual(['IN PROGRESS']);
    expect(c.ec2.terminated).toEqual([]);
    expect(c.h.queue.sentFor('j')).toHaveLength(2);
  });

  test('an instance that only carries our tag (not launched from our template) is never terminated', async () => {
    const c = await submittedOnEc2('foreign', 300);
    // Someone tagged their own instance as one of ours: EC2 set no aws:ec2launchtemplate:id on it.
    const foreign = newInstanceId();
    c.ec2.instances.set(foreign, {
      id: foreign,
      token: '',
      request: '{}',
      tags: [{ Key: 'ncaas:analysis', Value: c.h.analysis }],
      launchTime: c.h.clock.now(),
      state: 'running',
    });
    c.h.clock.advance(2 * WATCHDOG_TIMING.orphanGraceMs);
    expect((await runWatchdog(c.ctx, c.sources)).orphansTerminated).toBe(0);
    expect(c.ec2.terminated).toEqual([]);
    const filters = c.ec2.describeInputs.at(-1)?.Filters ?? [];
    expect(filters).toContainEqual({ Name: 'tag:aws:ec2launchtemplate:id', Values: [LAUNCH_TEMPLATE] });
  });

  test('the resent message is lost too: the launch fails after EXECUTION_TIMEOUT, the started instance is terminated', async () => {
    const c = await submittedOnEc2('given-up', 300);
    const [message] = receive(c.h);
    const instance = await launchAndDie(c, message);

    c.h.clock.advanceSeconds(301);
    expect((await runWatchdog(c.ctx, c.sources)).launchesResent).toBe(1);
    receive(c.h); // lost
    c.h.clock.advanceSeconds(2 * 300);
    const found = await runWatchdog(c.ctx, c.sources);
    expect([found.launchesFailed, found.orphansTerminated]).toEqual([1, 1]);
    expect(c.ec2.terminated).toEqual([instance]);
    expect(c.ec2.alive()).toEqual([]);

    const reason = 'the worker could not be launched: no launch was recorded';
    expect(await c.h.dataset('lab', 'j')).toMatchObject({ state: 'FAILED', reason });
    expect(await c.h.status('lab', 'j', 'a.bin')).toMatchObject({ status: 'FAILED', reason: [reason] });
    expect(await c.h.end('lab', 'j')).toMatch(/: 1 FAILED\n$/);
    expect(c.h.endWrites('lab', 'j')).toBe(1);
    expect(await c.h.store.counters.runningCount()).toBe(0);
    expect(c.ec2.runInputs).toHaveLength(1);
    expect((await texts(c.h)).slice(-3)).toEqual([
      `dataset lab/inputs/a.bin: FAILED (${reason})`,
      // An instance ran, but its launch was never recorded: what it cost is unknown, not 0.
      'job finished: 1 FAILED; cost unknown',
      `worker ${instance} was still running after the dataset ended (FAILED): terminated by the watchdog`,
    ]);
    // Its late state change finds the dataset over and changes nothing.
    expect(await onWorkerState(c.ctx, instance, 'terminated', c.h.clock.now().toISOString())).toBe(
      'unchanged (FAILED)',
    );
    expect(c.h.endWrites('lab', 'j')).toBe(1);
  });

  test('with EXECUTION_TIMEOUT past the orphan grace (900 s, the default), the unrecorded instance is not killed as an orphan', async () => {
    const c = await submittedOnEc2('slow-start', 900);
    const [message] = receive(c.h);
    const instance = await launchAndDie(c, message);
    c.ec2.setRunning(instance);

    // The watchdog runs every 5 minutes; the redelivery and the running event are both lost. Past the
    // orphan grace the instance's tags name a live dataset with no worker: it is recorded, not killed.
    c.h.clock.advanceSeconds(300);
    await runWatchdog(c.ctx, c.sources);
    expect((await c.h.dataset('lab', 'j')).launcherId).toBeUndefined();
    c.h.clock.advanceSeconds(300);
    expect((await runWatchdog(c.ctx, c.sources)).orphansTerminated).toBe(0);
    expect(await c.h.dataset('lab', 'j')).toMatchObject({ state: 'INITIALIZING', launcherId: instance });
    // Once EXECUTION_TIMEOUT has passed, the watchdog sees it run and says so.
    for (let minutes = 15; minutes <= 30; minutes += 5) {
      c.h.clock.advanceSeconds(300);
      const found = await runWatchdog(c.ctx, c.sources);
      expect([found.launchesResent, found.launchesFailed, found.orphansTerminated]).toEqual([0, 0, 0]);
    }
    expect(await c.h.states('lab', 'j')).toEqual(['IN PROGRESS']);
    expect(c.ec2.terminated).toEqual([]);
    expect(c.ec2.runInputs).toHaveLength(1);
    expect(c.h.queue.sentFor('j')).toHaveLength(1);
  });
});

describe('RunInstances started the instance but its answer was lost', () => {
  test("the launcher's own retry, with the same ClientToken, gets the same instance: one worker", async () => {
    const c = await submittedOnEc2('lost-answer', 900);
    const [message] = receive(c.h);
    c.ec2.loseNextAnswer = true;
    const result = await launchDataset(c.ctx, message, { lastAttempt: false });
    const [instance] = [...c.ec2.instances.keys()];
    expect(result).toEqual({ kind: 'launched', launcherId: instance });
    expect(c.ec2.runInputs).toHaveLength(2);
    expect(c.ec2.runInputs[1]).toEqual(c.ec2.runInputs[0]);
    expect(c.ec2.instances.size).toBe(1);
    expect((await c.h.dataset('lab', 'j')).launcherId).toBe(instance);
  });
});

describe('a crash after admission, before the launch message is sent', () => {
  test('the dataset waits INITIALIZING with no message: the watchdog resends it exactly once, one instance', async () => {
    const h = await newControl(emulators, 'unsent', { launchTimeout: 300 });
    await h.put('lab/inputs/a.bin', 'data');
    await h.put('lab/configs/config.yaml', '__duration__: 20\n');
    const key = await h.upload('lab', 'j', submitJson('lab', 'j', 'lab/inputs/a.bin'));
    const ref = await h.refOf(key);
    // SQS refuses the send (the Lambda then dies: its event is retried).
    const failingQueue = {
      send: async (): Promise<void> => {
        throw new Error('SQS SendMessage: ServiceUnavailable');
      },
    };
    await expect(processSubmission({ ...h.ctx, launchQueue: failingQueue }, ref)).rejects.toThrow(
      'ServiceUnavailable',
    );
    expect(await h.states('lab', 'j')).toEqual(['INITIALIZING']);
    expect(h.queue.sent).toEqual([]);
    expect(await h.store.counters.runningCount()).toBe(1);
    expect(await h.status('lab', 'j', 'a.bin')).toMatchObject({ status: 'INITIALIZING' });

    // The retried event finds the job recorded and admitted: nothing to redo, nothing sent twice.
    h.clock.advanceSeconds(60);
    expect((await processSubmission(h.ctx, ref)).kind).toBe('duplicate');
    expect(h.queue.sent).toEqual([]);

    h.clock.advanceSeconds(240);
    expect((await runWatchdog(h.ctx, { listWorkers: h.launcher.listWorkers })).launchesResent).toBe(0);
    h.clock.advanceSeconds(61);
    expect((await runWatchdog(h.ctx, { listWorkers: h.launcher.listWorkers })).launchesResent).toBe(1);
    expect(h.queue.sent).toEqual([
      { analysis: h.analysis, group: 'lab', jobId: 'j', datasetIndex: 0, attempt: 1 },
    ]);
    const [launched] = await h.deliverLaunches();
    expect(launched.kind).toBe('launched');
    const instance = launched.kind === 'launched' ? launched.launcherId : '';
    expect(await h.workerState(instance, 'running')).toBe('IN PROGRESS');

    for (let run = 0; run < 3; run++) {
      h.clock.advanceSeconds(300);
      const found = await runWatchdog(h.ctx, { listWorkers: h.launcher.listWorkers });
      expect([found.launchesResent, found.launchesFailed, found.orphansTerminated]).toEqual([0, 0, 0]);
    }
    expect(h.queue.sent).toHaveLength(1);
    expect(h.launcher.launches).toHaveLength(1);
    expect([...h.launcher.workers.keys()]).toEqual([instance]);
    expect(await h.store.counters.runningCount()).toBe(1);
    const lines = (await h.certificateLines('lab', 'j')).map((l) => l.text);
    expect(lines.filter((t) => t.endsWith('launch requested'))).toHaveLength(1);
    expect(lines.filter((t) => t.includes(`worker ${instance} launched`))).toHaveLength(1);
  });
});
