/**
 * The dev instance's side of the stack: a role that lets the SSM agent in (sessions, Run Command) and
 * reaches only what a dev run needs (groups' inputs and configs, dev runs' own job folders),
 * a security group with no inbound rule, an output the CLI reads; the watchdog may stop (and tag)
 * this analysis's dev instances and no other; cdk-nag clean.
 */
import * as path from 'node:path';
import { PolicyModel } from '../support/policy-simulation';
import { PROJECT_ROOT, synthesizeFile } from '../support/synth';

type Json = Record<string, unknown>;
interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource?: unknown;
  readonly Condition?: Json;
}

const { template, nagFindings } = synthesizeFile(path.join(PROJECT_ROOT, 'blueprints', 'mock.json'));
const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: Json }>;

const devRoleId = (): string => {
  const ids = Object.keys(template.findResources('AWS::IAM::Role')).filter((id) =>
    id.startsWith('DevInstanceAccessRole'),
  );
  expect(ids).toHaveLength(1);
  return ids[0];
};

test("the dev role: the SSM agent's Session Manager and Run Command actions, dev runs' S3 access, no managed policy", () => {
  const role = resources[devRoleId()].Properties;
  expect(role.ManagedPolicyArns).toBeUndefined();
  const statements = Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify((p as { Properties: Json }).Properties.Roles).includes(devRoleId()))
    .flatMap(
      (p) =>
        (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument
          .Statement,
    );
  // CDK merges statements with the same resources: the agent's actions come as one, on '*'.
  expect(statements.map((s) => [s.Effect, s.Action, s.Resource === '*' ? '*' : 'bucket'])).toEqual([
    [
      'Allow',
      [
        'ec2messages:AcknowledgeMessage',
        'ec2messages:DeleteMessage',
        'ec2messages:FailMessage',
        'ec2messages:GetEndpoint',
        'ec2messages:GetMessages',
        'ec2messages:SendReply',
        'ssm:UpdateInstanceInformation',
        'ssmmessages:CreateControlChannel',
        'ssmmessages:CreateDataChannel',
        'ssmmessages:OpenControlChannel',
        'ssmmessages:OpenDataChannel',
      ],
      '*',
    ],
    ['Allow', 's3:ListBucket', 'bucket'],
    ['Allow', 's3:GetObject', 'bucket'],
    ['Deny', 's3:GetObject', 'bucket'],
    ['Allow', ['s3:AbortMultipartUpload', 's3:PutObject'], 'bucket'],
    ['Deny', ['s3:AbortMultipartUpload', 's3:PutObject'], 'bucket'],
  ]);
  // No DynamoDB, no delete, nothing of the control plane's.
  expect(JSON.stringify(statements)).not.toMatch(/dynamodb|DeleteObject|sqs:|iam:|ec2:/);
});

describe("the dev role, simulated: what a dev run's worker does, and nothing more", () => {
  const iam = PolicyModel.fromTemplate(template);
  const dev = iam.roleSession(devRoleId());
  const bucketIds = Object.keys(template.findResources('AWS::S3::Bucket')).filter((id) =>
    id.startsWith('DataBucketData'),
  );
  const object = (key: string) => iam.objectArn(bucketIds[0], key);
  const bucketArn = iam.arnOf(bucketIds[0]);
  const devFolder = 'labA/results/job__mock_dev-2026-11-21T12-00-00Z-k3f9';

  test('the bucket is found', () => expect(bucketIds).toHaveLength(1));

  test.each([
    ['s3:GetObject', 'labA/inputs/session1.csv'],
    ['s3:GetObject', 'labB/inputs/folder/part 1.bin'],
    ['s3:GetObject', 'labA/configs/config.json'],
    // One pattern per folder whatever the number of groups (a role policy's size is limited), so the
    // inputs of a top-level folder that is not a group are readable too: it holds no one's data.
    ['s3:GetObject', 'labA2/inputs/session1.csv'],
    ['s3:PutObject', `${devFolder}/process_results/out.txt`],
    ['s3:PutObject', `${devFolder}/logs/DATASET_NAME:a.csv_STATUS.final.json`],
    ['s3:AbortMultipartUpload', `${devFolder}/process_results/big.bin`],
  ])('allowed: %s %s', async (action, key) => {
    expect(await iam.allows(dev, action, object(key))).toBe(true);
  });

  test.each([
    ['s3:PutObject', 'labA/results/job__mock_t1/process_results/out.txt'],
    ['s3:PutObject', 'labA/results/job__mock_t1/logs/DATASET_NAME:a.csv_STATUS.final.json'],
    ['s3:PutObject', 'labA/results/job__other_dev-x/logs/x.txt'],
    ['s3:PutObject', 'labA/results/dev-x/logs/x.txt'],
    ['s3:PutObject', 'labA/submissions/xsubmit.json'],
    ['s3:PutObject', 'labA/inputs/session1.csv'],
    ['s3:PutObject', 'labA/configs/config.json'],
    ['s3:GetObject', 'labA/submissions/xsubmit.json'],
    ['s3:GetObject', 'labA/results/job__mock_t1/process_results/out.txt'],
    ['s3:DeleteObject', `${devFolder}/process_results/out.txt`],
    // The patterns are one for every group (S3's `*` matches `/` too): a dev-named folder anywhere but
    // second is denied, so no submission in a group's name and nothing inside inputs/ or a real job.
    ['s3:PutObject', 'labA/submissions/results/job__mock_dev-1/submit.json'],
    ['s3:PutObject', 'labA/inputs/results/job__mock_dev-1/evil.zip'],
    ['s3:PutObject', 'labA/configs/results/job__mock_dev-1/config.json'],
    ['s3:PutObject', 'labA/results/job__mock_t1/results/job__mock_dev-1/logs/x.final.json'],
    ['s3:GetObject', 'labA/results/job__mock_t1/process_results/inputs/secret.txt'],
    ['s3:DeleteObject', 'labA/inputs/session1.csv'],
  ])('denied: %s %s', async (action, key) => {
    expect(await iam.allows(dev, action, object(key))).toBe(false);
  });

  test('lists only inputs and its own job folders', async () => {
    const list = (prefix?: string) =>
      iam.allows(dev, 's3:ListBucket', bucketArn, prefix === undefined ? undefined : { 's3:prefix': prefix });
    expect(await list('labA/inputs/folder/')).toBe(true);
    expect(await list(`${devFolder}/process_results/`)).toBe(true);
    expect(await list('labA/results/job__mock_t1/')).toBe(false);
    expect(await list('labA/')).toBe(false);
    expect(await list('labA/submissions/')).toBe(false);
    expect(await list('')).toBe(false);
    expect(await list()).toBe(false);
  });

  test('no other bucket, no job table', async () => {
    expect(await iam.allows(dev, 's3:GetObject', 'arn:aws:s3:::another-bucket/labA/inputs/x')).toBe(false);
    const tables = Object.keys(template.findResources('AWS::DynamoDB::Table'));
    for (const table of tables) {
      for (const action of ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query']) {
        expect(await iam.allows(dev, action, iam.arnOf(table))).toBe(false);
      }
    }
  });
});

test('no handler may pass the dev role (it is never a worker role)', () => {
  const passRole = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) =>
    (
      p as { Properties: { PolicyDocument: { Statement: Statement[] } } }
    ).Properties.PolicyDocument.Statement.filter((s) => JSON.stringify(s.Action).includes('iam:PassRole')),
  );
  expect(passRole.length).toBeGreaterThan(0);
  for (const s of passRole) expect(JSON.stringify(s.Resource)).not.toContain(devRoleId());
});

test('the dev security group has no inbound rule; the output names profile, group and subnet', () => {
  const groups = Object.entries(template.findResources('AWS::EC2::SecurityGroup')).filter(([id]) =>
    id.startsWith('DevInstanceAccessSecurityGroup'),
  );
  expect(groups).toHaveLength(1);
  expect((groups[0][1] as { Properties: Json }).Properties.SecurityGroupIngress).toBeUndefined();
  // No rule elsewhere lets anything into it (the stack's one ingress rule is the EFS mount from workers).
  const devGroup = groups[0][0];
  for (const ingress of Object.values(template.findResources('AWS::EC2::SecurityGroupIngress'))) {
    expect(JSON.stringify((ingress as { Properties: Json }).Properties.GroupId)).not.toContain(devGroup);
  }
  const output = JSON.stringify(template.toJSON().Outputs.DevInstance);
  for (const field of ['instanceProfile', 'securityGroup', 'subnet']) expect(output).toContain(field);
});

test("the watchdog may stop and tag only this analysis's dev instances", () => {
  const statements = Object.entries(template.findResources('AWS::IAM::Policy')).flatMap(([id, p]) =>
    (
      p as { Properties: { PolicyDocument: { Statement: Statement[] } } }
    ).Properties.PolicyDocument.Statement.filter((s) =>
      JSON.stringify(s.Action).includes('ec2:StopInstances'),
    ).map((s) => ({ id, s })),
  );
  expect(statements).toHaveLength(1);
  expect(statements[0].id).toMatch(/^ControlPlaneWatchdog/);
  expect(statements[0].s.Condition).toEqual({
    StringEquals: { 'aws:ResourceTag/ncaas:dev-analysis': 'mock' },
  });
  expect([...(statements[0].s.Action as string[])].sort()).toEqual(['ec2:CreateTags', 'ec2:StopInstances']);
});

test('has no unacknowledged cdk-nag AwsSolutions finding', () => {
  expect(nagFindings).toEqual([]);
});
