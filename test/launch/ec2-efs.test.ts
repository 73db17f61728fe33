/**
 * EFS on EC2 workers, launcher side: the job in the user data names the analysis file system and the
 * worker's own group's access point, and a group without one is refused.
 */
import { EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import type { WorkerJob } from '../../lib/job/worker-job';
import { Ec2Launcher } from '../../lib/launch/ec2-launcher';
import type { LaunchRequest } from '../../lib/launch/launcher';

const ec2 = mockClient(EC2Client);

const job: WorkerJob = {
  analysis: 'dlc2-web',
  region: 'us-east-1',
  bucket: 'ncaas-dlc2-web-data',
  group: 'labA',
  jobId: '04_29_20',
  datasetIndex: 0,
  datasetKey: 'labA/inputs/a.mp4',
  datasetLabel: 'a.mp4',
  configKey: 'labA/configs/config.yaml',
  resultFolder: 'labA/results/job__dlc2-web_04_29_20',
  command: 'run.sh "{}" "{}" "{}" "{}"',
  deadlineEpochSeconds: 1767225600,
  launcher: 'ec2',
};

const launcher = (seen: LaunchRequest[]) =>
  new Ec2Launcher({
    ec2: new EC2Client({ region: 'us-east-1' }),
    analysis: 'dlc2-web',
    launchTemplateId: 'lt-0123456789abcdef0',
    subnetIds: ['subnet-0aaaaaaaaaaaaaaaa'],
    instanceProfiles: {
      labA: 'arn:aws:iam::123456789012:instance-profile/a',
      labB: 'arn:aws:iam::123456789012:instance-profile/b',
    },
    ami: 'resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
    efs: {
      fileSystemId: 'fs-0123456789abcdef0',
      accessPointOf: async (group) => ({ labA: 'fsap-0aaaaaaaaaaaaaaaa' })[group],
    },
    userData: (request) => {
      seen.push(request);
      return '#!/bin/sh\n';
    },
  });

beforeEach(() => ec2.reset());

test("the worker's job carries the file system and its group's access point", async () => {
  ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0123456789abcdef0' }] });
  const seen: LaunchRequest[] = [];
  const outcome = await launcher(seen).launch({ job, attempt: 1, instanceType: 'm5.large' });
  expect(outcome).toEqual({ kind: 'launched', launcherId: 'i-0123456789abcdef0', rootVolumeGiB: 30 });
  expect(seen[0].job).toEqual({
    ...job,
    efsFileSystemId: 'fs-0123456789abcdef0',
    efsAccessPointId: 'fsap-0aaaaaaaaaaaaaaaa',
  });
});

test('a group without an access point is not launched', async () => {
  const seen: LaunchRequest[] = [];
  const outcome = await launcher(seen).launch({
    job: { ...job, group: 'labB' },
    attempt: 1,
    instanceType: 'm5.large',
  });
  expect(outcome).toMatchObject({ kind: 'failed', reason: expect.stringContaining('no EFS access point') });
  expect(ec2.commandCalls(RunInstancesCommand)).toHaveLength(0);
});
