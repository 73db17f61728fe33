/**
 * `ncaas dev` against a mock of EC2's real request and response shapes (aws-sdk-client-mock): the
 * dev instance is launched with no key pair, no inbound rule, IMDSv2 and the dev profile, tagged with
 * its owner and expiry (and never with the workers' tag the watchdog terminates by); extend, stop,
 * start, save-ami and terminate send what they should, and terminate keeps work that was not saved.
 */
import 'aws-sdk-client-mock-jest';
import {
  CreateImageCommand,
  CreateTagsCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import {
  chooseImage,
  parseHours,
  runDevExtend,
  runDevLaunch,
  runDevSaveAmi,
  runDevStart,
  runDevStatus,
  runDevStop,
  runDevTerminate,
  type DevTarget,
  type LaunchDevOptions,
} from '../../lib/cli/dev-instance';
import { CliError, EXIT } from '../../lib/cli/errors';
import { DEV_TAGS } from '../../lib/launch/dev-instance-tags';
import { loadBlueprint } from '../../lib/cli/validate-command';
import { WORKER_TAGS } from '../../lib/launch/worker-tags';
import { analysisConfig } from '../support/control-harness';
import { captureOutput as capture } from '../support/captured-output';

const ec2Mock = mockClient(EC2Client);
const mock = loadBlueprint('mock');
const NOW = new Date('2026-11-21T12:00:00Z');
const SG = 'sg-0123456789abcdef0';
const PROFILE = 'mock-DevInstanceProfile-ABC';
const INSTANCE = 'i-0123456789abcdef0';

let ec2: EC2Client;
let target: DevTarget;
let clock: Date;

beforeEach(() => {
  ec2Mock.reset();
  ec2 = new EC2Client({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
  clock = NOW;
  target = { ec2, analysis: 'mock', owner: 'ada', now: () => clock, sleep: async () => undefined };
});
afterEach(() => ec2.destroy());

const devInstance = (tags: Record<string, string>, state = 'running'): Instance => ({
  InstanceId: INSTANCE,
  InstanceType: 't3.micro',
  ImageId: 'ami-0aaaaaaaaaaaaaaaa',
  State: { Name: state as 'running' },
  LaunchTime: new Date('2026-11-21T10:00:00Z'),
  Tags: [
    { Key: DEV_TAGS.analysis, Value: 'mock' },
    { Key: DEV_TAGS.owner, Value: 'ada' },
    ...Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
  ],
});

/** The owner's one dev instance, as DescribeInstances returns it. */
const hasInstance = (tags: Record<string, string> = {}, state = 'running'): void => {
  ec2Mock
    .on(DescribeInstancesCommand)
    .resolves({ Reservations: [{ Instances: [devInstance(tags, state)] }] });
};

const launchOptions = (extra: Partial<LaunchDevOptions> = {}): LaunchDevOptions => ({
  config: mock,
  instanceProfile: PROFILE,
  securityGroup: SG,
  hours: 6,
  ...extra,
});

const noIngressGroup = () =>
  ec2Mock.on(DescribeSecurityGroupsCommand).resolves({
    SecurityGroups: [{ GroupId: SG, IpPermissions: [], IpPermissionsEgress: [{ IpProtocol: '-1' }] }],
  });

describe('launch', () => {
  test('RunInstances: IMDSv2, no key pair, the dev profile, a group with no inbound rule, encrypted root, owner and expiry tags', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    noIngressGroup();
    ec2Mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: INSTANCE }] });
    const io = capture();

    const code = await runDevLaunch(target, launchOptions({ subnet: 'subnet-0aaaaaaaaaaaaaaaa' }), io.output);

    expect(code).toBe(EXIT.ok);
    expect(io.stdout()).toBe(`${INSTANCE}\n`);
    expect(io.stderr()).toContain(`aws ssm start-session --target ${INSTANCE}`);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeSecurityGroupsCommand, { GroupIds: [SG] });
    const input = ec2Mock.commandCalls(RunInstancesCommand)[0].args[0].input as RunInstancesCommandInput;
    expect(input).toMatchObject({
      // The blueprint's AMI (an SSM alias EC2 resolves at launch) and instance type.
      ImageId: 'resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      IamInstanceProfile: { Name: PROFILE },
      SecurityGroupIds: [SG],
      SubnetId: 'subnet-0aaaaaaaaaaaaaaaa',
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
      InstanceInitiatedShutdownBehavior: 'stop',
      BlockDeviceMappings: [
        {
          DeviceName: '/dev/xvda',
          Ebs: { VolumeSize: 30, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true },
        },
      ],
    });
    expect(input.KeyName).toBeUndefined();
    expect(input.NetworkInterfaces).toBeUndefined();
    expect(input.UserData).toBeUndefined();
    expect(input.ClientToken).toMatch(/^[0-9a-f-]{36}$/);
    for (const spec of input.TagSpecifications ?? []) {
      expect(spec.Tags).toEqual(
        expect.arrayContaining([
          { Key: DEV_TAGS.analysis, Value: 'mock' },
          { Key: DEV_TAGS.owner, Value: 'ada' },
          { Key: DEV_TAGS.expires, Value: '2026-11-21T18:00:00.000Z' },
        ]),
      );
      // The watchdog terminates instances with the workers' tag and no job: a dev instance never has it.
      expect(spec.Tags?.some((t) => t.Key === WORKER_TAGS.analysis)).toBe(false);
    }
    expect(input.TagSpecifications?.map((s) => s.ResourceType)).toEqual(['instance', 'volume']);
  });

  test('an AMI id: its root device and snapshot size come from DescribeImages', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    noIngressGroup();
    ec2Mock.on(DescribeImagesCommand).resolves({
      Images: [
        {
          ImageId: 'ami-0bbbbbbbbbbbbbbbb',
          RootDeviceName: '/dev/sda1',
          BlockDeviceMappings: [{ DeviceName: '/dev/sda1', Ebs: { VolumeSize: 80 } }],
        },
      ],
    });
    ec2Mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: INSTANCE }] });
    await runDevLaunch(
      target,
      launchOptions({ ami: 'ami-0bbbbbbbbbbbbbbbb', instanceType: 'g4dn.xlarge' }),
      capture().output,
    );
    expect(ec2Mock).toHaveReceivedCommandWith(RunInstancesCommand, {
      ImageId: 'ami-0bbbbbbbbbbbbbbbb',
      InstanceType: 'g4dn.xlarge',
      BlockDeviceMappings: [
        {
          DeviceName: '/dev/sda1',
          Ebs: { VolumeSize: 80, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true },
        },
      ],
    });
  });

  test('refuses a security group with an inbound rule, and launches nothing', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    ec2Mock.on(DescribeSecurityGroupsCommand).resolves({
      SecurityGroups: [
        {
          GroupId: SG,
          IpPermissions: [
            { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
          ],
        },
      ],
    });
    await expect(runDevLaunch(target, launchOptions(), capture().output)).rejects.toThrow(
      /allows inbound traffic/,
    );
    expect(ec2Mock).not.toHaveReceivedCommand(RunInstancesCommand);
  });

  test('refuses a second dev instance of the same owner and analysis', async () => {
    hasInstance({ [DEV_TAGS.expires]: '2026-11-21T16:00:00Z' });
    await expect(runDevLaunch(target, launchOptions(), capture().output)).rejects.toThrow(
      /already has a dev instance/,
    );
    expect(ec2Mock).not.toHaveReceivedCommand(RunInstancesCommand);
  });

  test('base images by alias; anything else is refused', () => {
    expect(chooseImage('ubuntu-24.04', mock)).toEqual({
      imageId:
        'resolve:ssm:/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id',
      rootDevice: '/dev/sda1',
      source: 'base image ubuntu-24.04',
    });
    expect(chooseImage(undefined, analysisConfig('x')).imageId).toBe('ami-0123456789abcdef0');
    expect(() => chooseImage('windows', mock)).toThrow(CliError);
    expect(parseHours(undefined)).toBe(4);
    expect(parseHours('1.5')).toBe(1.5);
    expect(() => parseHours('0')).toThrow(CliError);
    expect(() => parseHours('100')).toThrow(/at most|0 to 72/);
  });
});

describe('the instance, found by its tags', () => {
  test('status: DescribeInstances filtered by analysis, owner and live states; the lifetime left', async () => {
    hasInstance({ [DEV_TAGS.expires]: '2026-11-21T13:30:00.000Z' });
    const io = capture();
    expect(await runDevStatus(target, {}, io.output)).toBe(EXIT.ok);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: [
        { Name: `tag:${DEV_TAGS.analysis}`, Values: ['mock'] },
        { Name: `tag:${DEV_TAGS.owner}`, Values: ['ada'] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
      ],
    });
    expect(io.stdout()).toContain(
      `${INSTANCE}  running  t3.micro  1:30:00 left (until 2026-11-21 13:30:00Z)`,
    );
    expect(io.stdout()).toContain('saved AMI: none yet');

    const json = capture();
    await runDevStatus(target, { json: true }, json.output);
    expect(JSON.parse(json.stdout())).toMatchObject({
      instanceId: INSTANCE,
      state: 'running',
      leftMs: 5_400_000,
    });
  });

  test('no dev instance, or several: a usage error that says what to do', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    await expect(runDevStatus(target, {}, capture().output)).rejects.toMatchObject({
      exitCode: EXIT.usage,
      message: expect.stringContaining('ncaas dev launch'),
    });
    ec2Mock.on(DescribeInstancesCommand).resolves({
      Reservations: [
        { Instances: [devInstance({}), { ...devInstance({}), InstanceId: 'i-0fffffffffffffff0' }] },
      ],
    });
    await expect(runDevStatus(target, {}, capture().output)).rejects.toThrow(/pass --instance/);
  });

  test('--instance must be a dev instance of this analysis (not a worker)', async () => {
    ec2Mock.on(DescribeInstancesCommand, { InstanceIds: ['i-0eeeeeeeeeeeeeee0'] }).resolves({
      Reservations: [
        {
          Instances: [
            { InstanceId: 'i-0eeeeeeeeeeeeeee0', Tags: [{ Key: WORKER_TAGS.analysis, Value: 'mock' }] },
          ],
        },
      ],
    });
    await expect(runDevStop(target, { instance: 'i-0eeeeeeeeeeeeeee0' }, capture().output)).rejects.toThrow(
      'i-0eeeeeeeeeeeeeee0 is not a dev instance of mock',
    );
    expect(ec2Mock).not.toHaveReceivedCommand(StopInstancesCommand);
  });

  test('extend: CreateTags moves the expiry from the current one (from now once passed), capped', async () => {
    hasInstance({ [DEV_TAGS.expires]: '2026-11-21T14:00:00.000Z' });
    await runDevExtend(target, { hours: 3 }, capture().output);
    expect(ec2Mock).toHaveReceivedCommandWith(CreateTagsCommand, {
      Resources: [INSTANCE],
      Tags: [{ Key: DEV_TAGS.expires, Value: '2026-11-21T17:00:00.000Z' }],
    });

    ec2Mock.reset();
    hasInstance({ [DEV_TAGS.expires]: '2026-11-21T08:00:00.000Z' });
    await runDevExtend(target, { hours: 2 }, capture().output);
    expect(ec2Mock).toHaveReceivedCommandWith(CreateTagsCommand, {
      Tags: [{ Key: DEV_TAGS.expires, Value: '2026-11-21T14:00:00.000Z' }],
    });
  });

  test('stop and start; an expired instance is not started until extended', async () => {
    hasInstance({ [DEV_TAGS.expires]: '2026-11-21T14:00:00.000Z' }, 'stopped');
    await runDevStop(target, {}, capture().output);
    expect(ec2Mock).toHaveReceivedCommandWith(StopInstancesCommand, { InstanceIds: [INSTANCE] });
    await runDevStart(target, {}, capture().output);
    expect(ec2Mock).toHaveReceivedCommandWith(StartInstancesCommand, { InstanceIds: [INSTANCE] });

    ec2Mock.reset();
    hasInstance({ [DEV_TAGS.expires]: '2026-11-21T11:00:00.000Z' }, 'stopped');
    await expect(runDevStart(target, {}, capture().output)).rejects.toThrow(/expired .*ncaas dev extend/);
    expect(ec2Mock).not.toHaveReceivedCommand(StartInstancesCommand);
  });
});

describe('save-ami and terminate', () => {
  test('save-ami: CreateImage with reboot and tags, records the AMI on the instance, waits until available', async () => {
    hasInstance({ [DEV_TAGS.expires]: '2026-11-21T14:00:00.000Z' });
    ec2Mock.on(CreateImageCommand).resolves({ ImageId: 'ami-0ccccccccccccccc0' });
    ec2Mock
      .on(DescribeImagesCommand)
      .resolvesOnce({ Images: [{ ImageId: 'ami-0ccccccccccccccc0', State: 'pending' }] })
      .resolvesOnce({ Images: [{ ImageId: 'ami-0ccccccccccccccc0', State: 'pending' }] })
      .resolves({ Images: [{ ImageId: 'ami-0ccccccccccccccc0', State: 'available' }] });
    const io = capture();

    expect(await runDevSaveAmi(target, { name: 'mock worker v2 (cuda 12)' }, io.output)).toBe(EXIT.ok);

    expect(io.stdout()).toBe('ami-0ccccccccccccccc0\n');
    expect(ec2Mock).toHaveReceivedCommandWith(CreateImageCommand, {
      InstanceId: INSTANCE,
      Name: 'mock worker v2 (cuda 12)',
      NoReboot: false,
      TagSpecifications: [
        { ResourceType: 'image', Tags: expect.arrayContaining([{ Key: DEV_TAGS.analysis, Value: 'mock' }]) },
        { ResourceType: 'snapshot', Tags: expect.arrayContaining([{ Key: DEV_TAGS.owner, Value: 'ada' }]) },
      ],
    });
    expect(ec2Mock).toHaveReceivedCommandWith(CreateTagsCommand, {
      Resources: [INSTANCE],
      Tags: [{ Key: DEV_TAGS.savedAmi, Value: 'ami-0ccccccccccccccc0' }],
    });
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeImagesCommand, 3);
    expect(io.stderr()).toContain('ncaas dev use-ami ami-0ccccccccccccccc0');
  });

  test('save-ami: a failed image is an error with its reason; a bad name is refused before anything', async () => {
    hasInstance({});
    ec2Mock.on(CreateImageCommand).resolves({ ImageId: 'ami-0ddddddddddddddd0' });
    ec2Mock.on(DescribeImagesCommand).resolves({
      Images: [
        { ImageId: 'ami-0ddddddddddddddd0', State: 'failed', StateReason: { Message: 'snapshot failed' } },
      ],
    });
    await expect(runDevSaveAmi(target, { name: 'worker-v3' }, capture().output)).rejects.toThrow(
      'image ami-0ddddddddddddddd0 is failed: snapshot failed',
    );
    ec2Mock.resetHistory();
    await expect(runDevSaveAmi(target, { name: 'x' }, capture().output)).rejects.toThrow(
      /cannot name an AMI/,
    );
    expect(ec2Mock).not.toHaveReceivedCommand(CreateImageCommand);
  });

  test('terminate refuses while no AMI was saved, unless forced', async () => {
    hasInstance({});
    await expect(runDevTerminate(target, {}, capture().output)).rejects.toThrow(/no saved AMI.*--force/);
    expect(ec2Mock).not.toHaveReceivedCommand(TerminateInstancesCommand);

    await runDevTerminate(target, { force: true }, capture().output);
    expect(ec2Mock).toHaveReceivedCommandWith(TerminateInstancesCommand, { InstanceIds: [INSTANCE] });

    ec2Mock.reset();
    hasInstance({ [DEV_TAGS.savedAmi]: 'ami-0ccccccccccccccc0' });
    const io = capture();
    await runDevTerminate(target, {}, io.output);
    expect(ec2Mock).toHaveReceivedCommandWith(TerminateInstancesCommand, { InstanceIds: [INSTANCE] });
    expect(io.stdout()).toContain('its last saved AMI: ami-0ccccccccccccccc0');
  });
});
