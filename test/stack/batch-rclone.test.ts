/**
 * RemoteSources in the template: a fetch job definition only for each group with an rclone
 * configuration, on RemoteSources.Image, with the group's job role and access point, and the group's
 * secret injected by Batch (`Secrets`, valueFrom the secret's ARN: its value is nowhere in the
 * template); the fetch's execution role of that group alone may read that secret (policy
 * simulator), and the handlers may submit only the fetch definitions that exist.
 */
import { BatchEnvironment } from '../../lib/constructs/batch-environment';
import { ControlPlane } from '../../lib/constructs/control-plane';
import { AnalysisFileSystem } from '../../lib/constructs/file-system';
import { batchJobDefinitionName, FETCH_BOOTSTRAP, STAGE_ENV } from '../../lib/launch/batch-stages';
import { childOf, FAKE, logicalIdOf, PolicyModel } from '../support/policy-simulation';
import { configFrom, neurocaasBlueprint, synthesize } from '../support/synth';

type Json = Record<string, unknown>;

const FETCH_IMAGE = '123456789012.dkr.ecr.us-east-1.amazonaws.com/rclone-sh:1.69';
const LAB2_SECRET = `arn:aws:secretsmanager:us-east-1:${FAKE.account}:secret:rclone/lab2-AbC123`;
const ANALYSIS = 'test-analysis';

const { stack, template, nagFindings } = synthesize(
  configFrom(
    neurocaasBlueprint({
      Runtime: 'batch',
      Container: { Image: 'public.ecr.aws/docker/library/python:3.12' },
      UXData: {
        Affiliates: [
          { AffiliateName: 'lab', UserNames: [], UserInput: true },
          { AffiliateName: 'lab2', UserNames: [], UserInput: true },
          { AffiliateName: 'lab3', UserNames: [], UserInput: true },
        ],
      },
      RemoteSources: {
        Image: FETCH_IMAGE,
        Groups: {
          lab: { RcloneConfigSecret: 'ncaas/rclone/lab' },
          lab2: { RcloneConfigSecret: LAB2_SECRET },
        },
      },
    }),
  ),
);
const environment = childOf(stack, 'Batch', BatchEnvironment);
const files = childOf(stack, 'FileSystem', AnalysisFileSystem);
const controlPlane = childOf(stack, 'ControlPlane', ControlPlane);
const iam = PolicyModel.fromTemplate(template);
const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: Json }>;
const jobDefinitions = Object.values(resources).filter((r) => r.Type === 'AWS::Batch::JobDefinition');
const secretArn = (name: string) => `arn:aws:secretsmanager:${FAKE.region}:${FAKE.account}:secret:${name}`;

const fetchProps = (group: string): Json => {
  const definition = environment.jobDefinitions.get(group)?.fetch;
  if (!definition) throw new Error(`no fetch definition for ${group}`);
  return resources[logicalIdOf(definition)].Properties;
};
const resolved = (value: unknown): unknown =>
  JSON.parse(
    JSON.stringify(value).replace(/\{"Ref":"AWS::(Partition|AccountId)"\}/g, (_m, p) =>
      JSON.stringify(p === 'Partition' ? 'aws' : FAKE.account),
    ),
  );
const joined = (value: unknown): unknown => {
  const v = resolved(value) as { 'Fn::Join'?: [string, unknown[]] };
  return v && typeof v === 'object' && v['Fn::Join'] ? v['Fn::Join'][1].join(v['Fn::Join'][0]) : v;
};

test('no unacknowledged cdk-nag finding', () => {
  expect(nagFindings).toEqual([]);
});

test.each([
  ['lab', secretArn('ncaas/rclone/lab')],
  ['lab2', LAB2_SECRET],
])(
  "group %s: the fetch definition, on RemoteSources.Image with the group's job role and access point",
  (group, arn) => {
    const props = fetchProps(group);
    expect(props.JobDefinitionName).toBe(batchJobDefinitionName(ANALYSIS, group, 'fetch'));
    const container = props.ContainerProperties as Json;
    expect(container.Image).toBe(FETCH_IMAGE);
    expect(container.Command).toEqual(['sh', '-c', FETCH_BOOTSTRAP]);
    expect(container.JobRoleArn).toEqual({
      'Fn::GetAtt': [logicalIdOf(environment.jobRoles.get(group)), 'Arn'],
    });
    expect(container.ExecutionRoleArn).toEqual({
      'Fn::GetAtt': [logicalIdOf(environment.fetchExecutionRoles.get(group)), 'Arn'],
    });
    expect(container.Volumes).toEqual([
      {
        Name: 'analysis-efs',
        EfsVolumeConfiguration: {
          FileSystemId: { Ref: logicalIdOf(files.fileSystem) },
          TransitEncryption: 'ENABLED',
          AuthorizationConfig: {
            AccessPointId: { Ref: logicalIdOf(files.accessPoints.get(group)) },
            Iam: 'ENABLED',
          },
        },
      },
    ]);
    // The secret: injected by Batch into this one variable, from the group's own secret.
    const secrets = container.Secrets as { Name: string; ValueFrom: unknown }[];
    expect(secrets.map((s) => [s.Name, joined(s.ValueFrom)])).toEqual([[STAGE_ENV.rcloneConfig, arn]]);
    expect(container.Environment).toEqual([{ Name: 'NCAAS_EFS_ROOT', Value: '/mnt/efs' }]);
  },
);

test('a group without an rclone configuration has no fetch definition', () => {
  expect(environment.jobDefinitions.get('lab3')?.fetch).toBeUndefined();
  expect(environment.fetchExecutionRoles.has('lab3')).toBe(false);
  const names = jobDefinitions.map((d) => d.Properties.JobDefinitionName);
  expect(names.filter((n) => String(n).endsWith('-fetch')).sort()).toEqual([
    batchJobDefinitionName(ANALYSIS, 'lab', 'fetch'),
    batchJobDefinitionName(ANALYSIS, 'lab2', 'fetch'),
  ]);
});

test('no job definition carries the rclone configuration as plaintext; only fetch definitions have secrets', () => {
  for (const definition of jobDefinitions) {
    const container = definition.Properties.ContainerProperties as Json;
    const environmentNames = ((container.Environment as { Name: string }[] | undefined) ?? []).map(
      (e) => e.Name,
    );
    expect(environmentNames).not.toContain(STAGE_ENV.rcloneConfig);
    const isFetch = String(definition.Properties.JobDefinitionName).endsWith('-fetch');
    expect(container.Secrets !== undefined).toBe(isFetch);
  }
});

describe("who may read a group's rclone secret (policy simulator)", () => {
  const session = (role: unknown) => iam.roleSession(logicalIdOf(role as never));
  const LAB_SECRET = `${secretArn('ncaas/rclone/lab')}-Xy12Ab`;

  test("the group's fetch execution role reads its own secret, and no other", async () => {
    const labFetch = session(environment.fetchExecutionRoles.get('lab'));
    expect(await iam.allows(labFetch, 'secretsmanager:GetSecretValue', LAB_SECRET)).toBe(true);
    expect(await iam.allows(labFetch, 'secretsmanager:GetSecretValue', LAB2_SECRET)).toBe(false);
    expect(
      await iam.allows(
        labFetch,
        'secretsmanager:GetSecretValue',
        `${secretArn('ncaas/rclone/lab-other')}-Xy12Ab`,
      ),
    ).toBe(false);
    expect(await iam.allows(labFetch, 'secretsmanager:GetSecretValue', `${secretArn('other')}-Xy12Ab`)).toBe(
      false,
    );
    const lab2Fetch = session(environment.fetchExecutionRoles.get('lab2'));
    expect(await iam.allows(lab2Fetch, 'secretsmanager:GetSecretValue', LAB2_SECRET)).toBe(true);
    expect(await iam.allows(lab2Fetch, 'secretsmanager:GetSecretValue', LAB_SECRET)).toBe(false);
  });

  test('nothing else reads it: the shared execution role, the job roles (containers), the handlers', async () => {
    const others = [
      environment.executionRole,
      ...['lab', 'lab2', 'lab3'].map((g) => environment.jobRoles.get(g)),
      ...[
        controlPlane.submitHandler,
        controlPlane.launcher,
        controlPlane.reconcileHandler,
        controlPlane.watchdog,
      ].map((fn) => fn.role),
    ];
    for (const role of others) {
      for (const arn of [LAB_SECRET, LAB2_SECRET]) {
        expect(await iam.allows(session(role), 'secretsmanager:GetSecretValue', arn)).toBe(false);
      }
    }
  });

  test("the handlers submit this analysis's job definitions (one name prefix, any group), no other analysis's", async () => {
    const launcher = session(controlPlane.launcher.role);
    const definition = (analysis: string, group: string) =>
      `arn:aws:batch:${FAKE.region}:${FAKE.account}:job-definition/${batchJobDefinitionName(analysis, group, 'fetch')}:3`;
    expect(await iam.allows(launcher, 'batch:SubmitJob', definition(ANALYSIS, 'lab'))).toBe(true);
    expect(await iam.allows(launcher, 'batch:SubmitJob', definition(ANALYSIS, 'lab2'))).toBe(true);
    expect(await iam.allows(launcher, 'batch:SubmitJob', definition(`${ANALYSIS}-2`, 'lab'))).toBe(false);
    expect(await iam.allows(launcher, 'batch:SubmitJob', definition('other', 'lab'))).toBe(false);
  });
});
