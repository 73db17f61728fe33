/**
 * The launcher finds a group's EFS access point by its root directory, asking EFS once per handler
 * instance (every page), instead of reading a map from an environment that would grow with the groups.
 */
import { DescribeAccessPointsCommand, EFSClient } from '@aws-sdk/client-efs';
import { mockClient } from 'aws-sdk-client-mock';
import { efsAccessPointLookup } from '../../lib/launch/efs-access-points';

const efs = mockClient(EFSClient);
const FILE_SYSTEM = 'fs-0123456789abcdef0';
const accessPoint = (id: string, path: string, state = 'available') => ({
  AccessPointId: id,
  FileSystemId: FILE_SYSTEM,
  RootDirectory: { Path: path },
  LifeCycleState: state as 'available',
});

beforeEach(() => efs.reset());

test('maps each group to the access point rooted at /{group}, over every page, asking once', async () => {
  efs
    .on(DescribeAccessPointsCommand, { FileSystemId: FILE_SYSTEM, NextToken: undefined })
    .resolves({ AccessPoints: [accessPoint('fsap-0aaa', '/lab')], NextToken: 'page2' })
    .on(DescribeAccessPointsCommand, { FileSystemId: FILE_SYSTEM, NextToken: 'page2' })
    .resolves({
      AccessPoints: [accessPoint('fsap-0bbb', '/lab2'), accessPoint('fsap-0ccc', '/old', 'deleting')],
    });
  const lookup = efsAccessPointLookup(new EFSClient({ region: 'us-east-1' }), FILE_SYSTEM);
  expect(await lookup('lab')).toBe('fsap-0aaa');
  expect(await lookup('lab2')).toBe('fsap-0bbb');
  expect(await lookup('lab')).toBe('fsap-0aaa');
  expect(efs.commandCalls(DescribeAccessPointsCommand)).toHaveLength(2);
  // `lab` never matches `lab2`'s directory, and an access point being deleted is no one's.
  expect(await lookup('old')).toBeUndefined();
});

test('a failed lookup is tried again by the next launch', async () => {
  efs
    .on(DescribeAccessPointsCommand)
    .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
    .resolves({ AccessPoints: [accessPoint('fsap-0aaa', '/lab')] });
  const lookup = efsAccessPointLookup(new EFSClient({ region: 'us-east-1' }), FILE_SYSTEM);
  await expect(lookup('lab')).rejects.toThrow('Rate exceeded');
  expect(await lookup('lab')).toBe('fsap-0aaa');
});
