/**
 * The dev instance's side of the stack: a role that lets the SSM agent in and reaches no group's data,
 * a security group with no inbound rule, an output the CLI reads; the watchdog may stop (and tag)
 * this analysis's dev instances and no other; cdk-nag clean.
 */
import * as path from 'node:path';
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

test("the dev role: Session Manager's actions and nothing else (no bucket, no table, no managed policy)", () => {
  const role = resources[devRoleId()].Properties;
  expect(role.ManagedPolicyArns).toBeUndefined();
  const statements = Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify((p as { Properties: Json }).Properties.Roles).includes(devRoleId()))
    .flatMap(
      (p) =>
        (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument
          .Statement,
    );
  expect(statements).toEqual([
    {
      Effect: 'Allow',
      Action: [
        'ssm:UpdateInstanceInformation',
        'ssmmessages:CreateControlChannel',
        'ssmmessages:CreateDataChannel',
        'ssmmessages:OpenControlChannel',
        'ssmmessages:OpenDataChannel',
      ],
      Resource: '*',
    },
  ]);
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
