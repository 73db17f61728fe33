import 'aws-sdk-client-mock-jest';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import {
  DescribeImagesCommand,
  type DescribeImagesCommandOutput,
  EC2Client,
  EC2ServiceException,
  type InstanceMarketOptionsRequest,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { encodeWorkerJob, type WorkerJob } from '../../lib/job/worker-job';
import { Ec2Launcher, type Ec2LauncherProps } from '../../lib/launch/ec2-launcher';
import type { LaunchRequest } from '../../lib/launch/launcher';

const ec2 = mockClient(EC2Client);

const AMI = 'ami-0123456789abcdef0';
const TEMPLATE = 'lt-0123456789abcdef0';
const PROFILE_A = 'ncaas-dlc2-web.labA';
const SUBNETS = ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'];

const job: WorkerJob = {
  analysis: 'dlc2-web',
  region: 'us-east-1',
  bucket: 'ncaas-dlc2-web-data',
  group: 'labA',
  jobId: '04_29_20',
  datasetIndex: 2,
  datasetKey: 'labA/inputs/mouse 12.mp4',
  datasetLabel: 'mouse 12.mp4',
  configKey: 'labA/configs/config.yaml',
  resultFolder: 'labA/results/job__dlc2-web_04_29_20',
  command: 'cd /home/ubuntu; run.sh "{}" "{}" "{}" "{}"; cleanup',
  deadlineEpochSeconds: 1767225600,
  launcher: 'ec2',
};

const request: LaunchRequest = { job, attempt: 1, instanceType: 'p3.2xlarge', datasetSizeGiB: 25 };

/** What the injected builder returns: the tests check the launcher, not the worker script. */
const userDataFor = (r: LaunchRequest): string => `#!/bin/sh\necho job ${r.job.jobId} attempt ${r.attempt}\n`;

let sleeps: number[];

beforeEach(() => {
  ec2.reset();
  sleeps = [];
});

const launcher = (overrides: Partial<Ec2LauncherProps> = {}): Ec2Launcher =>
  new Ec2Launcher({
    ec2: new EC2Client({ region: 'us-east-1' }),
    analysis: 'dlc2-web',
    launchTemplateId: TEMPLATE,
    subnetIds: SUBNETS,
    instanceProfiles: {
      labA: PROFILE_A,
      labB: 'ncaas-dlc2-web.labB',
    },
    ami: AMI,
    securityGroupIds: ['sg-0123456789abcdef0'],
    userData: userDataFor,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...overrides,
  });

const ebsImage = (rootDevice: string, snapshotGiB: number): DescribeImagesCommandOutput => ({
  $metadata: {},
  Images: [
    {
      ImageId: AMI,
      State: 'available',
      RootDeviceType: 'ebs',
      RootDeviceName: rootDevice,
      BlockDeviceMappings: [
        { DeviceName: '/dev/sdb', VirtualName: 'ephemeral0' },
        {
          DeviceName: rootDevice,
          Ebs: { SnapshotId: 'snap-0123', VolumeSize: snapshotGiB, VolumeType: 'gp2' },
        },
      ],
    },
  ],
});

const awsError = (code: string, message: string, status = 400): EC2ServiceException =>
  new EC2ServiceException({
    name: code,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    message,
  });

const capacityError = (): EC2ServiceException =>
  awsError(
    'InsufficientInstanceCapacity',
    'We currently do not have sufficient p3.2xlarge capacity in the Availability Zone you requested (us-east-1a).',
    500,
  );

const runInputs = (): RunInstancesCommandInput[] =>
  ec2.commandCalls(RunInstancesCommand).map((call) => call.args[0].input);

describe('a launch', () => {
  test('sends RunInstances from the template with the security settings repeated, the root sized from the AMI, tags and the group profile', async () => {
    ec2.on(DescribeImagesCommand).resolves(ebsImage('/dev/sda1', 80));
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0123456789abcdef0' }] });

    const outcome = await launcher().launch(request);

    expect(outcome).toEqual({ kind: 'launched', launcherId: 'i-0123456789abcdef0', rootVolumeGiB: 105 });
    expect(ec2).toHaveReceivedCommandWith(DescribeImagesCommand, { ImageIds: [AMI] });
    const tags = [
      { Key: 'Name', Value: 'ncaas dlc2-web labA 04_29_20 #2' },
      { Key: 'ncaas:analysis', Value: 'dlc2-web' },
      { Key: 'ncaas:group', Value: 'labA' },
      { Key: 'ncaas:job', Value: '04_29_20' },
      { Key: 'ncaas:dataset', Value: '2' },
    ];
    expect(ec2).toHaveReceivedCommandTimes(RunInstancesCommand, 1);
    expect(ec2).toHaveReceivedCommandWith(RunInstancesCommand, {
      LaunchTemplate: { LaunchTemplateId: TEMPLATE, Version: '$Latest' },
      ImageId: AMI,
      InstanceType: 'p3.2xlarge',
      MinCount: 1,
      MaxCount: 1,
      IamInstanceProfile: { Name: PROFILE_A },
      SubnetId: SUBNETS[0],
      SecurityGroupIds: ['sg-0123456789abcdef0'],
      ClientToken: expect.stringMatching(/^[\x21-\x7e]{1,64}$/),
      UserData: expect.any(String),
      TagSpecifications: [
        { ResourceType: 'instance', Tags: tags },
        { ResourceType: 'volume', Tags: tags },
      ],
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 2 },
      InstanceInitiatedShutdownBehavior: 'terminate',
      BlockDeviceMappings: [
        {
          DeviceName: '/dev/sda1',
          // The AMI's 80 GiB snapshot is larger than the template's 30: 80 + 25 for the dataset.
          Ebs: { VolumeSize: 105, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true },
        },
      ],
    });
  });

  test('the root volume is at least the template size (30 GiB) plus the dataset size', async () => {
    ec2.on(DescribeImagesCommand).resolves(ebsImage('/dev/xvda', 8));
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-1' }] });

    await launcher().launch({ ...request, datasetSizeGiB: 12 });

    expect(runInputs()[0]?.BlockDeviceMappings).toEqual([
      {
        DeviceName: '/dev/xvda',
        Ebs: { VolumeSize: 42, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true },
      },
    ]);
  });

  test('user data is the builder output, gzip-compressed for cloud-init and base64-encoded', async () => {
    ec2.on(DescribeImagesCommand).resolves(ebsImage('/dev/xvda', 8));
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-1' }] });

    await launcher().launch(request);

    const sent = Buffer.from(runInputs()[0]?.UserData ?? '', 'base64');
    expect(gunzipSync(sent).toString('utf8')).toBe(userDataFor(request));
  });

  test('without an injected builder the user data carries the worker script and the job file', async () => {
    ec2.on(DescribeImagesCommand).resolves(ebsImage('/dev/xvda', 8));
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-1' }] });

    await launcher({ userData: undefined }).launch(request);

    const script = gunzipSync(Buffer.from(runInputs()[0]?.UserData ?? '', 'base64')).toString('utf8');
    expect(script).toContain("<<'NCAAS_WORKER'\n#!/bin/sh\n");
    expect(script).toContain(`<<'NCAAS_JOB'\n${encodeWorkerJob(job)}NCAAS_JOB\n`);
  });

  test('user data over 16 KB after compression fails before anything is launched', async () => {
    const incompressible = randomBytes(20000).toString('base64');

    const outcome = await launcher({ userData: () => incompressible }).launch(request);

    expect(outcome.kind).toBe('failed');
    expect(outcome).toMatchObject({ reason: expect.stringMatching(/over EC2's limit of 16384/) });
    expect(ec2).not.toHaveReceivedCommand(RunInstancesCommand);
  });
});

describe('the client token', () => {
  const tokenOf = async (r: LaunchRequest, props: Partial<Ec2LauncherProps> = {}): Promise<string> => {
    ec2.reset();
    ec2.on(DescribeImagesCommand).resolves(ebsImage('/dev/xvda', 8));
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-1' }] });
    await launcher(props).launch(r);
    return runInputs()[0]?.ClientToken ?? '';
  };

  test('is the same when the same attempt is launched again in the same subnet (a retried Lambda)', async () => {
    const first = await tokenOf(request);
    const again = await tokenOf(request);
    expect(first.length).toBeLessThanOrEqual(64);
    expect(first).toMatch(/^[\x21-\x7e]+$/);
    expect(again).toBe(first);
  });

  test('differs for another attempt, dataset, job, group or subnet', async () => {
    const first = await tokenOf(request);
    const others = [
      await tokenOf({ ...request, attempt: 2 }),
      await tokenOf({ ...request, job: { ...job, datasetIndex: 3 } }),
      await tokenOf({ ...request, job: { ...job, jobId: '04_29_21' } }),
      await tokenOf({ ...request, job: { ...job, group: 'labB' } }),
      await tokenOf(request, { subnetIds: [SUBNETS[1] ?? ''] }),
    ];
    expect(new Set([first, ...others]).size).toBe(6);
  });
});

describe('capacity', () => {
  beforeEach(() => {
    ec2.on(DescribeImagesCommand).resolves(ebsImage('/dev/xvda', 8));
  });

  test('no capacity in the first subnet: the second is tried and its instance is the launch', async () => {
    ec2
      .on(RunInstancesCommand, { SubnetId: SUBNETS[0] })
      .rejects(capacityError())
      .on(RunInstancesCommand, { SubnetId: SUBNETS[1] })
      .resolves({ Instances: [{ InstanceId: 'i-0bbbbbbbbbbbbbbbb' }] });

    const outcome = await launcher().launch(request);

    expect(outcome).toEqual({ kind: 'launched', launcherId: 'i-0bbbbbbbbbbbbbbbb', rootVolumeGiB: 55 });
    expect(ec2).toHaveReceivedCommandTimes(RunInstancesCommand, 2);
    expect(ec2).toHaveReceivedNthSpecificCommandWith(1, RunInstancesCommand, { SubnetId: SUBNETS[0] });
    expect(ec2).toHaveReceivedNthSpecificCommandWith(2, RunInstancesCommand, { SubnetId: SUBNETS[1] });
    const [first, second] = runInputs();
    expect(first?.ClientToken).not.toBe(second?.ClientToken);
    expect(sleeps).toEqual([]);
  });

  test('no capacity (or no free address) in any subnet: retry later, naming the instance type', async () => {
    ec2
      .on(RunInstancesCommand, { SubnetId: SUBNETS[0] })
      .rejects(capacityError())
      .on(RunInstancesCommand, { SubnetId: SUBNETS[1] })
      .rejects(
        awsError('InsufficientFreeAddressesInSubnet', 'There are not enough free addresses in subnet'),
      );

    const outcome = await launcher().launch(request);

    expect(outcome.kind).toBe('retry');
    expect(outcome).toMatchObject({
      reason: expect.stringContaining('no capacity for instance type p3.2xlarge'),
    });
    expect(ec2).toHaveReceivedCommandTimes(RunInstancesCommand, 2);
  });

  test('an instance type offered in no subnet zone fails: waiting will not help', async () => {
    ec2
      .on(RunInstancesCommand)
      .rejects(
        awsError(
          'Unsupported',
          'Your requested instance type (p3.2xlarge) is not supported in your requested Availability Zone (us-east-1e).',
        ),
      );

    const outcome = await launcher().launch(request);

    expect(outcome.kind).toBe('failed');
    expect(outcome).toMatchObject({
      reason: expect.stringContaining('instance type p3.2xlarge is not offered in the Availability Zones'),
    });
    expect(ec2).toHaveReceivedCommandTimes(RunInstancesCommand, 2);
  });
});

describe('throttling', () => {
  beforeEach(() => {
    ec2.on(DescribeImagesCommand).resolves(ebsImage('/dev/xvda', 8));
  });

  test('is retried with growing, jittered waits, resending the same request', async () => {
    ec2
      .on(RunInstancesCommand)
      .rejectsOnce(awsError('RequestLimitExceeded', 'Request limit exceeded.', 503))
      .rejectsOnce(awsError('RequestLimitExceeded', 'Request limit exceeded.', 503))
      .resolves({ Instances: [{ InstanceId: 'i-3' }] });

    const outcome = await launcher().launch(request);

    expect(outcome).toEqual({ kind: 'launched', launcherId: 'i-3', rootVolumeGiB: 55 });
    // 500 ms doubling, jitter in the upper half of each step (random() = 0.5 here).
    expect(sleeps).toEqual([375, 750]);
    const inputs = runInputs();
    expect(inputs).toHaveLength(3);
    expect(new Set(inputs.map((i) => `${i.SubnetId} ${i.ClientToken}`)).size).toBe(1);
  });

  test('that does not stop is a retry later, without trying other subnets', async () => {
    ec2.on(RunInstancesCommand).rejects(awsError('Throttling', 'Rate exceeded', 400));

    const outcome = await launcher().launch(request);

    expect(outcome.kind).toBe('retry');
    expect(outcome).toMatchObject({ reason: expect.stringContaining('Throttling') });
    expect(ec2).toHaveReceivedCommandTimes(RunInstancesCommand, 5);
    expect(sleeps).toHaveLength(4);
    expect(sleeps.every((ms, i) => i === 0 || ms > (sleeps[i - 1] ?? 0))).toBe(true);
    expect(runInputs().every((i) => i.SubnetId === SUBNETS[0])).toBe(true);
  });

  test('a bare 503 is treated like throttling', async () => {
    ec2
      .on(RunInstancesCommand)
      .rejectsOnce(awsError('ServiceUnavailable', 'Service Unavailable', 503))
      .resolves({ Instances: [{ InstanceId: 'i-4' }] });

    expect(await launcher().launch(request)).toEqual({
      kind: 'launched',
      launcherId: 'i-4',
      rootVolumeGiB: 55,
    });
    expect(sleeps).toHaveLength(1);
  });
});

describe('failures that trying again cannot fix', () => {
  beforeEach(() => {
    ec2.on(DescribeImagesCommand).resolves(ebsImage('/dev/xvda', 8));
  });

  test.each(['VcpuLimitExceeded', 'InstanceLimitExceeded'])(
    '%s: the vCPU quota, the instance type and what an operator must do',
    async (code) => {
      ec2
        .on(RunInstancesCommand)
        .rejects(
          awsError(
            code,
            'You have requested more vCPU capacity than your current vCPU limit of 8 allows for the instance bucket that the specified instance type belongs to.',
          ),
        );

      const outcome = await launcher().launch(request);

      expect(outcome.kind).toBe('failed');
      const reason = outcome.kind === 'failed' ? outcome.reason : '';
      expect(reason).toContain('vCPU quota for the instance family of p3.2xlarge is reached in us-east-1');
      expect(reason).toContain('Service Quotas');
      expect(reason).toContain(code);
      expect(ec2).toHaveReceivedCommandTimes(RunInstancesCommand, 1);
    },
  );

  test.each([
    ['InvalidParameterValue', 'Value (p3.2xlarge) for parameter instanceType is invalid.'],
    ['InvalidParameterCombination', 'The architecture of the AMI does not match the instance type.'],
    ['SomethingNew', 'A new error code.'],
  ])('%s: failed, quoting AWS', async (code, message) => {
    ec2.on(RunInstancesCommand).rejects(awsError(code, message));

    const outcome = await launcher().launch(request);

    expect(outcome).toEqual({
      kind: 'failed',
      reason: `EC2 refused to launch p3.2xlarge in ${SUBNETS[0]}: ${code}: ${JSON.stringify(message)}`,
    });
    expect(ec2).toHaveReceivedCommandTimes(RunInstancesCommand, 1);
  });

  test('UnauthorizedOperation: says what was denied, without the encoded message', async () => {
    ec2
      .on(RunInstancesCommand)
      .rejects(
        awsError(
          'UnauthorizedOperation',
          'You are not authorized to perform this operation. User: arn:aws:sts::123456789012:assumed-role/launch/fn is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/worker. Encoded authorization failure message: AbCdEf0123456789xyz',
          403,
        ),
      );

    const outcome = await launcher().launch(request);

    expect(outcome.kind).toBe('failed');
    const reason = outcome.kind === 'failed' ? outcome.reason : '';
    expect(reason).toContain('UnauthorizedOperation');
    expect(reason).toContain('is not authorized to perform: iam:PassRole');
    expect(reason).not.toContain('Encoded');
    expect(reason).not.toContain('AbCdEf0123456789xyz');
  });

  test('IdempotentParameterMismatch: failed, explaining what changed between two tries', async () => {
    ec2.on(RunInstancesCommand).rejects(awsError('IdempotentParameterMismatch', 'Arguments differ.'));

    const outcome = await launcher().launch(request);

    expect(outcome.kind).toBe('failed');
    expect(outcome).toMatchObject({
      reason: expect.stringMatching(/IdempotentParameterMismatch.*already used with other parameters/),
    });
  });

  test('a group without an instance profile fails before any EC2 call', async () => {
    const outcome = await launcher().launch({ ...request, job: { ...job, group: 'labZ' } });

    expect(outcome).toEqual({
      kind: 'failed',
      reason:
        'group "labZ" has no worker instance profile in this stack (groups with one: labA, labB): add the group to the blueprint and redeploy',
    });
    expect(ec2).not.toHaveReceivedAnyCommand();
  });

  test('a job of another analysis is refused', async () => {
    const outcome = await launcher().launch({ ...request, job: { ...job, analysis: 'other' } });

    expect(outcome.kind).toBe('failed');
    expect(ec2).not.toHaveReceivedAnyCommand();
  });
});

describe('the AMI', () => {
  const expectAmiFailure = (reason: string): void => {
    expect(reason).toContain(`the blueprint's AMI ${AMI} is not available in this account in us-east-1`);
    expect(reason).toContain('the analysis developer must build the image in this account and region');
    expect(reason).toContain("put its id in the blueprint's LambdaConfig.AMI");
  };

  test.each([
    ['InvalidAMIID.NotFound', `The image id '[${AMI}]' does not exist`],
    ['InvalidAMIID.Malformed', 'Invalid id: "ami-nope"'],
  ])(
    '%s: failed, saying the AMI must be built or shared and the blueprint updated',
    async (code, message) => {
      ec2.on(DescribeImagesCommand).rejects(awsError(code, message));

      const outcome = await launcher().launch(request);

      expect(outcome.kind).toBe('failed');
      expectAmiFailure(outcome.kind === 'failed' ? outcome.reason : '');
      expect(ec2).not.toHaveReceivedCommand(RunInstancesCommand);
    },
  );

  test('not visible to this account (empty answer, e.g. a NeuroCAAS AMI in its own account): the same', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });

    const outcome = await launcher().launch(request);

    expect(outcome.kind).toBe('failed');
    expectAmiFailure(outcome.kind === 'failed' ? outcome.reason : '');
    expect(ec2).not.toHaveReceivedCommand(RunInstancesCommand);
  });

  test('a resolve:ssm alias goes to RunInstances as is, with the template root device and size', async () => {
    const alias = 'resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-5' }] });

    const outcome = await launcher({ ami: alias }).launch({ ...request, datasetSizeGiB: 5 });

    expect(outcome).toEqual({ kind: 'launched', launcherId: 'i-5', rootVolumeGiB: 35 });
    expect(ec2).not.toHaveReceivedCommand(DescribeImagesCommand);
    expect(ec2).toHaveReceivedCommandWith(RunInstancesCommand, {
      ImageId: alias,
      BlockDeviceMappings: [
        {
          DeviceName: '/dev/xvda',
          Ebs: { VolumeSize: 35, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true },
        },
      ],
    });
  });
});

describe('terminate', () => {
  test('terminates the instance', async () => {
    ec2.on(TerminateInstancesCommand).resolves({});

    await launcher().terminate('i-0123456789abcdef0');

    expect(ec2).toHaveReceivedCommandWith(TerminateInstancesCommand, {
      InstanceIds: ['i-0123456789abcdef0'],
    });
  });

  test('an instance that is already gone is not an error', async () => {
    ec2
      .on(TerminateInstancesCommand)
      .rejects(awsError('InvalidInstanceID.NotFound', "The instance ID 'i-0dead' does not exist"));

    await expect(launcher().terminate('i-0dead')).resolves.toBeUndefined();
  });

  test('any other error is thrown, so the caller tries again', async () => {
    ec2
      .on(TerminateInstancesCommand)
      .rejects(awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.', 403));

    await expect(launcher().terminate('i-1')).rejects.toThrow(
      /could not terminate worker i-1: UnauthorizedOperation/,
    );
  });
});

describe('Spot (Ec2.Spot)', () => {
  beforeEach(() => {
    ec2.on(DescribeImagesCommand).resolves(ebsImage('/dev/xvda', 8));
  });

  const SPOT_OPTIONS: InstanceMarketOptionsRequest = {
    MarketType: 'spot',
    SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' },
  };

  test('asks for a one-time Spot instance that terminates when reclaimed', async () => {
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0spot' }] });
    const outcome = await launcher({ spot: true }).launch(request);
    expect(outcome).toEqual({ kind: 'launched', launcherId: 'i-0spot', rootVolumeGiB: 55, spot: true });
    expect(runInputs()).toEqual([expect.objectContaining({ InstanceMarketOptions: SPOT_OPTIONS })]);
  });

  test.each([
    ['no Spot capacity', capacityError()],
    ['a Spot price too low', awsError('SpotMaxPriceTooLow', 'Your Spot request price of 0.1 is lower')],
    ['Spot refused this request', awsError('UnauthorizedOperation', 'not allowed to request Spot', 403)],
  ])('%s: on-demand in the same subnet at once, with its own client token', async (_what, error) => {
    // The more specific behaviour last: the mock answers with the last one a call matches.
    ec2
      .on(RunInstancesCommand, { SubnetId: SUBNETS[0] })
      .resolves({ Instances: [{ InstanceId: 'i-0ondemand' }] })
      .on(RunInstancesCommand, { InstanceMarketOptions: SPOT_OPTIONS })
      .rejects(error);
    const outcome = await launcher({ spot: true }).launch(request);
    expect(outcome).toEqual({
      kind: 'launched',
      launcherId: 'i-0ondemand',
      rootVolumeGiB: 55,
      note: expect.stringMatching(/^no Spot capacity \(subnet-0a+: \w+.*\): launched on on-demand capacity$/),
    });
    const [spot, onDemand] = runInputs();
    expect(spot).toMatchObject({ SubnetId: SUBNETS[0], InstanceMarketOptions: SPOT_OPTIONS });
    expect(onDemand?.SubnetId).toBe(SUBNETS[0]);
    expect(onDemand?.InstanceMarketOptions).toBeUndefined();
    expect(onDemand?.ClientToken).not.toBe(spot?.ClientToken);
    expect(sleeps).toEqual([]);
  });

  test('the on-demand token of a Spot-first launch is the one a launch without Spot sends', async () => {
    ec2.on(RunInstancesCommand, { SubnetId: SUBNETS[0] }).resolves({ Instances: [{ InstanceId: 'i-1' }] });
    ec2.on(RunInstancesCommand, { InstanceMarketOptions: SPOT_OPTIONS }).rejects(capacityError());
    await launcher({ spot: true }).launch(request);
    const withSpot = runInputs()[1]?.ClientToken;
    ec2.resetHistory();
    await launcher().launch(request);
    expect(runInputs()[0]?.ClientToken).toBe(withSpot);
  });

  test('a relaunch after a reclaim asks for on-demand capacity only', async () => {
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0relaunch' }] });
    const outcome = await launcher({ spot: true }).launch({ ...request, capacity: 'on-demand' });
    expect(outcome).toEqual({ kind: 'launched', launcherId: 'i-0relaunch', rootVolumeGiB: 55 });
    expect(runInputs()).toHaveLength(1);
    expect(runInputs()[0]?.InstanceMarketOptions).toBeUndefined();
  });

  test('throttled through every retry: the launch is tried again later, not moved to on-demand', async () => {
    ec2.on(RunInstancesCommand).rejects(awsError('RequestLimitExceeded', 'Request limit exceeded.', 503));
    const outcome = await launcher({ spot: true, maxThrottleRetries: 1 }).launch(request);
    expect(outcome.kind).toBe('retry');
    expect(runInputs().every((i) => i.InstanceMarketOptions !== undefined)).toBe(true);
  });
});
