/**
 * The launcher finds a group's EFS access point by its tags (this analysis, this group) and root
 * directory, asking EFS page by page and trusting an answer for a few minutes, instead of reading a
 * map from an environment that would grow with the groups.
 */
import { DescribeAccessPointsCommand, EFSClient, type LifeCycleState } from '@aws-sdk/client-efs';
import { mockClient } from 'aws-sdk-client-mock';
import { efsAccessPointLookup } from '../../lib/launch/efs-access-points';

const efs = mockClient(EFSClient);
const FILE_SYSTEM = 'fs-0123456789abcdef0';
const accessPoint = (
  id: string,
  group: string,
  options: { state?: LifeCycleState; analysis?: string; path?: string } = {},
) => ({
  AccessPointId: id,
  FileSystemId: FILE_SYSTEM,
  RootDirectory: { Path: options.path ?? `/${group}` },
  LifeCycleState: options.state ?? 'available',
  Tags: [
    { Key: 'ncaas:analysis', Value: options.analysis ?? 'mock' },
    { Key: 'ncaas:group', Value: group },
  ],
});
const lookup = (now: () => number = Date.now) =>
  efsAccessPointLookup(new EFSClient({ region: 'us-east-1' }), FILE_SYSTEM, 'mock', now);

beforeEach(() => efs.reset());

test("maps each group to its access point over every page, asking once; another analysis's, a deleted one or an untagged one is no one's", async () => {
  efs
    .on(DescribeAccessPointsCommand, { FileSystemId: FILE_SYSTEM, NextToken: undefined })
    .resolves({
      AccessPoints: [accessPoint('fsap-0aaa', 'lab'), accessPoint('fsap-0ddd', 'lab', { analysis: 'other' })],
      NextToken: 'page2',
    })
    .on(DescribeAccessPointsCommand, { FileSystemId: FILE_SYSTEM, NextToken: 'page2' })
    .resolves({
      AccessPoints: [
        accessPoint('fsap-0bbb', 'lab2'),
        accessPoint('fsap-0ccc', 'old', { state: 'deleting' }),
        { AccessPointId: 'fsap-0eee', RootDirectory: { Path: '/lab3' }, LifeCycleState: 'available' },
      ],
    });
  const of = lookup();
  expect(await of('lab')).toBe('fsap-0aaa');
  expect(await of('lab2')).toBe('fsap-0bbb');
  expect(await of('lab')).toBe('fsap-0aaa');
  expect(efs.commandCalls(DescribeAccessPointsCommand)).toHaveLength(2);
  expect(await of('old')).toBeUndefined();
  expect(await of('lab3')).toBeUndefined();
});

test('an answer is trusted for five minutes: a redeploy that replaced the access point is seen after', async () => {
  let clock = 0;
  efs
    .on(DescribeAccessPointsCommand)
    .resolvesOnce({ AccessPoints: [accessPoint('fsap-0old', 'lab')] })
    .resolves({ AccessPoints: [accessPoint('fsap-0new', 'lab')] });
  const of = lookup(() => clock);
  expect(await of('lab')).toBe('fsap-0old');
  clock = 4 * 60 * 1000;
  expect(await of('lab')).toBe('fsap-0old');
  clock = 6 * 60 * 1000;
  expect(await of('lab')).toBe('fsap-0new');
});

test('a failed lookup is tried again by the next launch', async () => {
  efs
    .on(DescribeAccessPointsCommand)
    .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
    .resolves({ AccessPoints: [accessPoint('fsap-0aaa', 'lab')] });
  const of = lookup();
  await expect(of('lab')).rejects.toThrow('Rate exceeded');
  expect(await of('lab')).toBe('fsap-0aaa');
});
