/**
 * Lab members, evaluated by a policy simulator over the synthesized policies: a member reaches their
 * own group's prefix as docs/DESIGN.md "Who may do what" says, and nothing of any other group. Groups are
 * named so that a prefix without its trailing slash would leak (`l`, `lab`, `lab2`, `lab-2`).
 *
 * Membership is tested both ways the stack offers it: as an IAM user named in the blueprint (who
 * assumes the group's member role; the bucket policy names no one) and as any principal holding the
 * group's member policy (identity policy).
 */
import { DataBucket } from '../../lib/constructs/data-bucket';
import { GroupAccess } from '../../lib/constructs/group-access';
import { SignIn } from '../../lib/constructs/sign-in';
import { GROUP_FOLDERS } from '../../lib/layout';
import { memberRolePath } from '../../lib/member-identity';
import {
  childOf,
  type ContextValues,
  logicalIdOf,
  PolicyModel,
  type Principal,
} from '../support/policy-simulation';
import { configFrom, neurocaasBlueprint, synthesize } from '../support/synth';

const MEMBERS: Readonly<Record<string, readonly string[]>> = {
  lab: ['alice', 'bob'],
  lab2: ['carol', 'dave'],
  l: ['erin'],
  'lab-2': ['frank', 'grace'],
};
const GROUPS = Object.keys(MEMBERS);

const { stack, template } = synthesize(
  configFrom(
    neurocaasBlueprint({
      UXData: {
        Affiliates: GROUPS.map((group) => ({
          AffiliateName: group,
          UserNames: MEMBERS[group],
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
const memberPolicyId = (group: string) => logicalIdOf(access.memberPolicies.get(group));
const memberRoleId = (group: string) => logicalIdOf(access.memberRoles.get(group));

/** The two ways to be a member of a group. */
const WAYS: readonly [string, (group: string) => Principal[]][] = [
  ['named in the blueprint (member role)', (group) => [iam.roleSession(memberRoleId(group))]],
  [
    'holding the group member policy (identity policy)',
    (group) => [iam.user(`sso-member-of-${group}`, [memberPolicyId(group)])],
  ],
];

interface Probe {
  readonly action: string;
  readonly resource: string;
  readonly context?: ContextValues;
}

const OBJECT_ACTIONS = [
  's3:GetObject',
  's3:PutObject',
  's3:DeleteObject',
  's3:AbortMultipartUpload',
  's3:ListMultipartUploadParts',
];

/** A key a group really has in each folder. */
const SAMPLE_KEYS: Readonly<Record<(typeof GROUP_FOLDERS)[number], string>> = {
  inputs: 'inputs/session1.zip',
  configs: 'configs/config.yaml',
  submissions: 'submissions/xsubmit.json',
  results: 'results/job__test-analysis_t1/logs/certificate.txt',
};

const list = (prefix: string): Probe => ({
  action: 's3:ListBucket',
  resource: bucketArn,
  context: { 's3:prefix': prefix },
});

/** Everything a member could try on another group's data. */
const probesOf = (other: string): Probe[] => [
  ...GROUP_FOLDERS.flatMap((folder) =>
    OBJECT_ACTIONS.map((action) => ({ action, resource: object(`${other}/${SAMPLE_KEYS[folder]}`) })),
  ),
  ...OBJECT_ACTIONS.map((action) => ({ action, resource: object(other) })),
  list(`${other}/`),
  ...GROUP_FOLDERS.map((folder) => list(`${other}/${folder}/`)),
  // The bare prefix (no slash) lists every group whose name starts with it.
  list(other),
];

const describeProbe = (who: Principal, p: Probe) =>
  `${who.arn.split(':').pop()} ${p.action} ${p.resource.replace(bucketArn, '<bucket>')}${
    p.context ? ` ${JSON.stringify(p.context)}` : ''
  }`;

/** The probes the simulator allows (or, with `want: false`, does not allow), described. */
const allowedOf = async (who: Principal, probes: readonly Probe[], want = true): Promise<string[]> => {
  const found: string[] = [];
  for (const p of probes) {
    if ((await iam.allows(who, p.action, p.resource, p.context)) === want) found.push(describeProbe(who, p));
  }
  return found;
};

describe.each(WAYS)('a member %s', (_way, membersOf) => {
  test.each(GROUPS)('of %s reaches nothing of any other group', async (group) => {
    for (const member of membersOf(group)) {
      // Not vacuous: the same principal does reach its own group.
      expect(await iam.allows(member, 's3:GetObject', object(`${group}/${SAMPLE_KEYS.inputs}`))).toBe(true);
      const others = GROUPS.filter((g) => g !== group);
      expect(await allowedOf(member, others.flatMap(probesOf))).toEqual([]);
    }
  });

  test.each(GROUPS)(
    'of %s uploads inputs, configs and submissions, reads and lists its own prefix',
    async (group) => {
      const allowed: Probe[] = [
        ...[
          'inputs/a.zip',
          'inputs/session 1/data.bin',
          'configs/c.yaml',
          'submissions/xsubmit.json',
          // A cancel is a request they upload, not an EC2 call.
          'submissions/16:52:06.836494condition_2_3.cancel.json',
        ].flatMap((key) =>
          ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'].map((action) => ({
            action,
            resource: object(`${group}/${key}`),
          })),
        ),
        ...['inputs/a.zip', 'configs/c.yaml'].map((key) => ({
          action: 's3:DeleteObject',
          resource: object(`${group}/${key}`),
        })),
        ...[
          ...Object.values(SAMPLE_KEYS),
          'submissions/xsubmit.error.txt',
          'results/job__test-analysis_t1/logs/DATASET_NAME:session1.zip_STATUS.txt',
          'results/job__test-analysis_t1/process_results/end.txt',
        ].map((key) => ({ action: 's3:GetObject', resource: object(`${group}/${key}`) })),
        list(`${group}/`),
        list(`${group}/results/`),
        list(`${group}/results/job__test-analysis_t1/logs/`),
      ];
      for (const member of membersOf(group)) {
        expect(await allowedOf(member, allowed, false)).toEqual([]);
      }
    },
  );

  test.each(GROUPS)('of %s never writes results/ and cannot list the bucket root', async (group) => {
    const folder = `${group}/results/job__test-analysis_t1`;
    const denied: Probe[] = [
      ...[
        `${folder}/logs/certificate.txt`,
        `${folder}/logs/DATASET_NAME:session1.zip_STATUS.txt`,
        `${folder}/logs/DATASET_NAME:session1.zip_STATUS.final.json`,
        `${folder}/process_results/end.txt`,
        `${group}/results/forged.txt`,
      ].flatMap((key) =>
        ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'].map((action) => ({
          action,
          resource: object(key),
        })),
      ),
      list(''),
      list('/'),
      { action: 's3:ListBucket', resource: bucketArn },
    ];
    for (const member of membersOf(group)) {
      expect(await allowedOf(member, denied)).toEqual([]);
    }
  });
});

describe('outside the groups', () => {
  test('an IAM user named in no group reaches nothing', async () => {
    const stranger = iam.user('mallory');
    expect(await allowedOf(stranger, GROUPS.flatMap(probesOf))).toEqual([]);
  });

  test('a user named in the blueprint reaches nothing as themselves: the bucket policy names no one', async () => {
    for (const user of Object.values(MEMBERS).flat()) {
      expect(await allowedOf(iam.user(user), GROUPS.flatMap(probesOf))).toEqual([]);
    }
    const bucketPolicy = JSON.stringify(
      template.findResources('AWS::S3::BucketPolicy', { Properties: { Bucket: { Ref: bucketId } } }),
    );
    expect(bucketPolicy).toContain('aws:SecureTransport');
    expect(bucketPolicy).not.toContain(':user/');
    expect(bucketPolicy).not.toContain('"Allow"');
  });

  test("each group's member role trusts exactly its users named in the blueprint and this analysis's signed-in identities", () => {
    const identityPool = logicalIdOf(childOf(stack, 'SignIn', SignIn).identityPool);
    for (const group of GROUPS) {
      const role = template.toJSON().Resources[memberRoleId(group)] as {
        Properties: { AssumeRolePolicyDocument: { Statement: Record<string, unknown>[] }; Path: string };
      };
      const statements = role.Properties.AssumeRolePolicyDocument.Statement;
      expect(statements.map((st) => [st.Effect, st.Action])).toEqual([
        ['Allow', 'sts:AssumeRole'],
        ['Allow', 'sts:AssumeRoleWithWebIdentity'],
      ]);
      const [users, identities] = statements;
      const principals = iam.resolve((users.Principal as { AWS: unknown }).AWS) as string | string[];
      expect([principals].flat().sort()).toEqual(
        MEMBERS[group].map((user) => `arn:aws:iam::123456789012:user/${user}`).sort(),
      );
      expect(users.Condition).toBeUndefined();
      // Only identities of this analysis's identity pool, and only signed-in ones (never guests).
      expect(identities.Principal).toEqual({ Federated: 'cognito-identity.amazonaws.com' });
      expect(identities.Condition).toEqual({
        StringEquals: { 'cognito-identity.amazonaws.com:aud': { Ref: identityPool } },
        'ForAnyValue:StringLike': { 'cognito-identity.amazonaws.com:amr': 'authenticated' },
      });
      expect(role.Properties.Path).toBe(memberRolePath('test-analysis', 'us-east-1'));
    }
  });

  test("each affiliate is a Cognito group of this pool whose role is that group's member role; guests get nothing", () => {
    const signIn = childOf(stack, 'SignIn', SignIn);
    for (const group of GROUPS) {
      template.hasResourceProperties('AWS::Cognito::UserPoolGroup', {
        GroupName: group,
        UserPoolId: { Ref: logicalIdOf(signIn.userPool) },
        RoleArn: { 'Fn::GetAtt': [memberRoleId(group), 'Arn'] },
      });
    }
    template.hasResourceProperties('AWS::Cognito::IdentityPool', { AllowUnauthenticatedIdentities: false });
    const [attachment] = Object.values(
      template.findResources('AWS::Cognito::IdentityPoolRoleAttachment'),
    ) as {
      Properties: {
        Roles?: unknown;
        RoleMappings: Record<string, { Type: string; AmbiguousRoleResolution: string }>;
      };
    }[];
    // No default role: a person in no group (or whose token names no role) gets no credentials.
    expect(attachment.Properties.Roles).toBeUndefined();
    expect(Object.values(attachment.Properties.RoleMappings)).toEqual([
      expect.objectContaining({ Type: 'Token', AmbiguousRoleResolution: 'Deny' }),
    ]);
  });

  test('a member of one group holding another group policy too reaches both (policies add, never leak)', async () => {
    const both = iam.user('carol', [memberPolicyId('lab'), memberPolicyId('lab2')]);
    expect(await iam.allows(both, 's3:GetObject', object('lab2/inputs/x'))).toBe(true);
    expect(await iam.allows(both, 's3:GetObject', object('lab/inputs/x'))).toBe(true);
    expect(await iam.allows(both, 's3:GetObject', object('lab-2/inputs/x'))).toBe(false);
    expect(await iam.allows(both, 's3:GetObject', object('l/inputs/x'))).toBe(false);
  });

  test('plain HTTP is refused explicitly, even on the own prefix', async () => {
    for (const member of [
      iam.roleSession(memberRoleId('lab')),
      iam.user('sso-member', [memberPolicyId('lab')]),
    ]) {
      expect(
        await iam.decide(member, 's3:GetObject', object('lab/inputs/a.zip'), {
          'aws:SecureTransport': 'false',
        }),
      ).toBe('ExplicitlyDenied');
    }
  });
});
