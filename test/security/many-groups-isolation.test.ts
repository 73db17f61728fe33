/**
 * Group isolation as test/security/group-isolation.test.ts and roles.test.ts prove it for a few groups,
 * sampled at 200 groups (their resources spread over nested stacks): a member (its group's member
 * role) and a worker (its group's role) reach their own group's prefix and nothing of another sampled
 * group, `lab` never matching `lab2`, `l` or `lab-2`; the launcher passes the sampled worker roles to
 * EC2 and no member role.
 */
import { ControlPlane } from '../../lib/constructs/control-plane';
import { DataBucket } from '../../lib/constructs/data-bucket';
import { GroupAccess } from '../../lib/constructs/group-access';
import { WorkerFleet } from '../../lib/constructs/worker-fleet';
import { childOf, logicalIdOf, PolicyModel, type Principal } from '../support/policy-simulation';
import { nestedStacksOf } from '../support/merged-template';
import { configFrom, neurocaasBlueprint, synthesize } from '../support/synth';
import { Template } from 'aws-cdk-lib/assertions';

const TRICKY = ['lab', 'lab2', 'l', 'lab-2'];
const GROUPS = [...TRICKY, ...Array.from({ length: 196 }, (_, i) => `g${String(i).padStart(3, '0')}`)];
const SAMPLED = [...TRICKY, 'g000', 'g097', 'g195'];

const { stack, template } = synthesize(
  configFrom(
    neurocaasBlueprint({
      UXData: {
        Affiliates: GROUPS.map((group) => ({
          AffiliateName: group,
          UserNames: Array.from({ length: 5 }, (_, u) => `${group}-user${u}`),
          UserInput: true,
        })),
      },
    }),
  ),
);
const iam = PolicyModel.fromTemplate(template);
const bucketId = logicalIdOf(childOf(stack, 'DataBucket', DataBucket).bucket);
const bucketArn = iam.arnOf(bucketId);
const object = (key: string) => iam.objectArn(bucketId, key);
const access = childOf(stack, 'GroupAccess', GroupAccess);
const workers = childOf(stack, 'Workers', WorkerFleet);
const member = (group: string): Principal => iam.roleSession(logicalIdOf(access.memberRoles.get(group)));
const worker = (group: string): Principal => iam.roleSession(logicalIdOf(workers.roles.get(group)));

/** What a principal of another group could try on `group`'s data. */
const probes = (group: string): [string, string, Record<string, string>?][] => [
  ['s3:GetObject', object(`${group}/inputs/session1.zip`)],
  ['s3:GetObject', object(`${group}/results/job__test-analysis_t1/logs/certificate.txt`)],
  ['s3:PutObject', object(`${group}/inputs/session1.zip`)],
  ['s3:PutObject', object(`${group}/submissions/xsubmit.json`)],
  ['s3:PutObject', object(`${group}/results/job__test-analysis_t1/process_results/out.txt`)],
  ['s3:DeleteObject', object(`${group}/configs/config.yaml`)],
  ['s3:ListBucket', bucketArn, { 's3:prefix': `${group}/` }],
  ['s3:ListBucket', bucketArn, { 's3:prefix': group }],
];

const reached = async (who: Principal, group: string): Promise<string[]> => {
  const found: string[] = [];
  for (const [action, resource, context] of probes(group)) {
    if (await iam.allows(who, action, resource, context))
      found.push(`${action} ${resource} ${JSON.stringify(context ?? {})}`);
  }
  return found;
};

test('the 200 groups are spread over nested stacks, none of their resources in the analysis template', () => {
  expect(access.memberRoles.size).toBe(GROUPS.length);
  expect(workers.roles.size).toBe(GROUPS.length);
  expect(nestedStacksOf(stack).length).toBeGreaterThan(20);
  const own = Template.fromStack(stack);
  // The analysis template keeps only the roles and the profile of the analysis as a whole.
  expect(Object.keys(own.findResources('AWS::IAM::Role')).length).toBeLessThan(20);
  expect(Object.keys(own.findResources('AWS::IAM::InstanceProfile')).length).toBeLessThanOrEqual(1);
  for (const type of ['AWS::EFS::AccessPoint', 'AWS::IAM::ManagedPolicy', 'AWS::Cognito::UserPoolGroup']) {
    own.resourceCountIs(type, 0);
    expect(Object.keys(template.findResources(type)).length).toBeGreaterThanOrEqual(GROUPS.length);
  }
});

test.each(SAMPLED)(
  'a member of %s reaches its own prefix and nothing of another sampled group',
  async (group) => {
    expect(await iam.allows(member(group), 's3:PutObject', object(`${group}/inputs/a.zip`))).toBe(true);
    expect(await iam.allows(member(group), 's3:ListBucket', bucketArn, { 's3:prefix': `${group}/` })).toBe(
      true,
    );
    expect(await iam.allows(member(group), 's3:PutObject', object(`${group}/results/x`))).toBe(false);
    for (const other of SAMPLED.filter((g) => g !== group)) {
      expect({ other, reached: await reached(member(group), other) }).toEqual({ other, reached: [] });
    }
  },
);

test.each(SAMPLED)(
  'the worker of %s writes its own results and nothing of another sampled group',
  async (group) => {
    expect(await iam.allows(worker(group), 's3:GetObject', object(`${group}/inputs/a.zip`))).toBe(true);
    expect(await iam.allows(worker(group), 's3:PutObject', object(`${group}/results/job__x_1/out.txt`))).toBe(
      true,
    );
    for (const other of SAMPLED.filter((g) => g !== group)) {
      expect({ other, reached: await reached(worker(group), other) }).toEqual({ other, reached: [] });
    }
  },
);

test('the launcher passes the sampled worker roles to EC2, and no member role', async () => {
  const launcher = iam.roleSession(logicalIdOf(childOf(stack, 'ControlPlane', ControlPlane).launcher.role));
  const passTo = { 'iam:PassedToService': 'ec2.amazonaws.com' };
  for (const group of SAMPLED) {
    expect(
      await iam.allows(launcher, 'iam:PassRole', iam.arnOf(logicalIdOf(workers.roles.get(group))), passTo),
    ).toBe(true);
    expect(
      await iam.allows(
        launcher,
        'iam:PassRole',
        iam.arnOf(logicalIdOf(access.memberRoles.get(group))),
        passTo,
      ),
    ).toBe(false);
  }
});
