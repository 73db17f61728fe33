/**
 * Workers and the launch role, evaluated by a policy simulator over the synthesized policies
 * (docs/DESIGN.md "Who may do what"): a worker role per group reaches only its group's prefix in this
 * analysis's bucket (read, write results/), no other group, no other bucket, no job table; the launch
 * role passes only the worker roles, only to EC2; terminations are limited to this analysis's tag.
 */
import { BatchEnvironment } from '../../lib/constructs/batch-environment';
import { ControlPlane } from '../../lib/constructs/control-plane';
import { DataBucket } from '../../lib/constructs/data-bucket';
import { AnalysisFileSystem } from '../../lib/constructs/file-system';
import { JobTable } from '../../lib/constructs/job-table';
import { WorkerFleet } from '../../lib/constructs/worker-fleet';
import type { AnalysisStack } from '../../lib/analysis-stack';
import {
  childOf,
  type ContextValues,
  FAKE,
  logicalIdOf,
  PolicyModel,
  type Principal,
} from '../support/policy-simulation';
import { configFrom, neurocaasBlueprint, synthesize } from '../support/synth';

const ANALYSIS = 'test-analysis';
const EC2_GROUPS = ['lab', 'lab2', 'l', 'lab-2'];

/** What a test needs of one synthesized analysis. */
const analysisOf = (stack: AnalysisStack, iam: PolicyModel) => {
  const data = childOf(stack, 'DataBucket', DataBucket);
  const bucketId = logicalIdOf(data.bucket);
  const controlPlane = childOf(stack, 'ControlPlane', ControlPlane);
  const handlers = {
    submit: controlPlane.submitHandler,
    launcher: controlPlane.launcher,
    reconcile: controlPlane.reconcileHandler,
    watchdog: controlPlane.watchdog,
  };
  return {
    bucketArn: iam.arnOf(bucketId),
    object: (key: string) => iam.objectArn(bucketId, key),
    logBucketArn: iam.arnOf(logicalIdOf(data.logBucket)),
    tableArn: iam.arnOf(logicalIdOf(childOf(stack, 'JobTable', JobTable).table)),
    launchQueueArn: iam.arnOf(logicalIdOf(controlPlane.launchQueue.queue)),
    workers: childOf(stack, 'Workers', WorkerFleet),
    handlerRoleIds: Object.fromEntries(
      Object.entries(handlers).map(([name, fn]) => [name, logicalIdOf(fn.role)]),
    ) as Record<keyof typeof handlers, string>,
  };
};

const ec2 = (() => {
  const { stack, template } = synthesize(
    configFrom(
      neurocaasBlueprint({
        UXData: {
          Affiliates: EC2_GROUPS.map((g) => ({
            AffiliateName: g,
            UserNames: [`${g}-user`],
            UserInput: true,
          })),
        },
      }),
    ),
  );
  const iam = PolicyModel.fromTemplate(template);
  return { stack, iam, ...analysisOf(stack, iam) };
})();

const batch = (() => {
  const { stack, template } = synthesize(
    configFrom(
      neurocaasBlueprint({
        Runtime: 'batch',
        Container: { Image: 'public.ecr.aws/docker/library/python:3.12', Vcpus: 2, MemoryMiB: 4096 },
        Efs: { MountOnEc2Workers: true },
      }),
    ),
  );
  const iam = PolicyModel.fromTemplate(template);
  return {
    stack,
    iam,
    ...analysisOf(stack, iam),
    environment: childOf(stack, 'Batch', BatchEnvironment),
    files: childOf(stack, 'FileSystem', AnalysisFileSystem),
  };
})();

interface Probe {
  readonly action: string;
  readonly resource: string;
  readonly context?: ContextValues;
}

const describeProbe = (p: Probe) =>
  `${p.action} ${p.resource}${p.context ? ` ${JSON.stringify(p.context)}` : ''}`;

/** The probes whose answer is not `want`, described. */
const unexpected = async (
  iam: PolicyModel,
  who: Principal,
  probes: readonly Probe[],
  want: boolean,
): Promise<string[]> => {
  const found: string[] = [];
  for (const p of probes) {
    if ((await iam.allows(who, p.action, p.resource, p.context)) !== want) found.push(describeProbe(p));
  }
  return found;
};

const DYNAMODB_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:Query',
  'dynamodb:Scan',
  'dynamodb:BatchGetItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DescribeTable',
  'dynamodb:DeleteTable',
  'dynamodb:UpdateTable',
];

type Analysis = typeof ec2 | typeof batch;

/** What the worker of `group` does (docs/DESIGN.md "Worker contract"). */
const workerAllowed = (a: Analysis, group: string): Probe[] => {
  const folder = `${group}/results/job__${ANALYSIS}_t1`;
  return [
    { action: 's3:GetObject', resource: a.object(`${group}/inputs/session1.zip`) },
    { action: 's3:GetObject', resource: a.object(`${group}/inputs/folder/part-1.bin`) },
    { action: 's3:GetObject', resource: a.object(`${group}/configs/config.yaml`) },
    // `aws s3 sync` of a folder dataset, and of the outputs (it lists the destination first).
    { action: 's3:ListBucket', resource: a.bucketArn, context: { 's3:prefix': `${group}/inputs/folder/` } },
    {
      action: 's3:ListBucket',
      resource: a.bucketArn,
      context: { 's3:prefix': `${folder}/process_results/` },
    },
    ...[
      `${folder}/process_results/out.txt`,
      // With several datasets, each one's outputs (an end.txt of the analysis's included) in its folder.
      `${folder}/process_results/session1.zip/end.txt`,
      `${folder}/logs/DATASET_NAME:session1.zip_STATUS.txt`,
      `${folder}/logs/DATASET_NAME:session1.zip_STATUS.final.json`,
      `${folder}/logs/stdout.txt`,
    ].flatMap((key) =>
      ['s3:PutObject', 's3:AbortMultipartUpload'].map((action) => ({ action, resource: a.object(key) })),
    ),
  ];
};

/** What the worker of `group` must never do. */
const workerDenied = (a: Analysis, group: string, otherGroups: readonly string[]): Probe[] => {
  const own = (key: string) => a.object(`${group}/${key}`);
  const elsewhere = `arn:${FAKE.partition}:s3:::another-bucket`;
  return [
    // Its own group: never the users' folders, never a delete (the bucket is versioned, but still).
    ...[
      'inputs/session1.zip',
      'configs/config.yaml',
      'submissions/xsubmit.json',
      'submissions/j.cancel.json',
    ].map((key) => ({ action: 's3:PutObject', resource: own(key) })),
    ...['inputs/session1.zip', `results/job__${ANALYSIS}_t1/logs/certificate.txt`].map((key) => ({
      action: 's3:DeleteObject',
      resource: own(key),
    })),
    // end.txt is the control plane's (a job's end), in any job folder of its group.
    ...[
      `results/job__${ANALYSIS}_t1/process_results/end.txt`,
      `results/job__${ANALYSIS}_other/process_results/end.txt`,
    ].map((key) => ({ action: 's3:PutObject', resource: own(key) })),
    { action: 's3:ListBucket', resource: a.bucketArn, context: { 's3:prefix': '' } },
    { action: 's3:ListBucket', resource: a.bucketArn },
    // Other groups.
    ...otherGroups.flatMap((other) => [
      ...['inputs/session1.zip', 'configs/config.yaml', 'submissions/xsubmit.json'].map((key) => ({
        action: 's3:GetObject',
        resource: a.object(`${other}/${key}`),
      })),
      ...[`results/job__${ANALYSIS}_t1/process_results/out.txt`, 'inputs/x.bin'].flatMap((key) =>
        ['s3:GetObject', 's3:PutObject'].map((action) => ({ action, resource: a.object(`${other}/${key}`) })),
      ),
      { action: 's3:ListBucket', resource: a.bucketArn, context: { 's3:prefix': `${other}/` } },
      { action: 's3:ListBucket', resource: a.bucketArn, context: { 's3:prefix': other } },
    ]),
    // Other buckets: another one, and this analysis's access-log bucket.
    ...[elsewhere, a.logBucketArn].flatMap((bucket) => [
      { action: 's3:GetObject', resource: `${bucket}/${group}/inputs/session1.zip` },
      { action: 's3:PutObject', resource: `${bucket}/${group}/results/x.txt` },
      { action: 's3:ListBucket', resource: bucket, context: { 's3:prefix': `${group}/` } },
    ]),
    // The job table (and its indexes): the control plane is its only writer.
    ...DYNAMODB_ACTIONS.map((action) => ({ action, resource: a.tableArn })),
    ...['dynamodb:Query', 'dynamodb:Scan'].flatMap((action) =>
      ['byGroup', 'byLauncher'].map((index) => ({ action, resource: `${a.tableArn}/index/${index}` })),
    ),
    // Nothing of the control plane's.
    { action: 'sqs:SendMessage', resource: a.launchQueueArn },
    {
      action: 'ec2:RunInstances',
      resource: `arn:${FAKE.partition}:ec2:${FAKE.region}:${FAKE.account}:instance/i-0123456789abcdef0`,
    },
    {
      action: 'ec2:TerminateInstances',
      resource: `arn:${FAKE.partition}:ec2:${FAKE.region}:${FAKE.account}:instance/i-0123456789abcdef0`,
      context: { 'aws:ResourceTag/ncaas:analysis': ANALYSIS },
    },
  ];
};

describe('EC2 worker roles', () => {
  test.each(EC2_GROUPS)('the worker of %s reads its prefix and writes its results', async (group) => {
    const worker = ec2.iam.roleSession(logicalIdOf(ec2.workers.roles.get(group)));
    expect(await unexpected(ec2.iam, worker, workerAllowed(ec2, group), true)).toEqual([]);
  });

  test.each(EC2_GROUPS)(
    'the worker of %s reaches no other group, no other bucket, no job table',
    async (group) => {
      const worker = ec2.iam.roleSession(logicalIdOf(ec2.workers.roles.get(group)));
      const others = EC2_GROUPS.filter((g) => g !== group);
      expect(await unexpected(ec2.iam, worker, workerDenied(ec2, group, others), false)).toEqual([]);
    },
  );

  test('each worker role may be passed to no one by itself', async () => {
    for (const group of EC2_GROUPS) {
      const worker = ec2.iam.roleSession(logicalIdOf(ec2.workers.roles.get(group)));
      for (const target of ec2.workers.roles.values()) {
        expect(
          await ec2.iam.allows(worker, 'iam:PassRole', ec2.iam.arnOf(logicalIdOf(target)), {
            'iam:PassedToService': 'ec2.amazonaws.com',
          }),
        ).toBe(false);
      }
    }
  });
});

describe('Batch job roles', () => {
  const groups = [...batch.environment.jobRoles.keys()];
  const efsArn = batch.iam.arnOf(logicalIdOf(batch.files.fileSystem));
  const accessPointArn = (group: string) =>
    String(
      batch.iam.resolve({
        'Fn::Join': [
          '',
          [
            `arn:${FAKE.partition}:elasticfilesystem:${FAKE.region}:${FAKE.account}:access-point/`,
            { Ref: logicalIdOf(batch.files.accessPoints.get(group)) },
          ],
        ],
      }),
    );

  test.each(['lab', 'lab2'])(
    'with EFS on EC2 workers, the EC2 worker of %s mounts its own access point only, over TLS',
    async (group) => {
      const worker = batch.iam.roleSession(logicalIdOf(batch.workers.roles.get(group)));
      const through = (g: string) => ({ 'elasticfilesystem:AccessPointArn': accessPointArn(g) });
      for (const action of ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite']) {
        expect(await batch.iam.allows(worker, action, efsArn, through(group))).toBe(true);
        for (const other of groups.filter((g) => g !== group)) {
          expect(await batch.iam.allows(worker, action, efsArn, through(other))).toBe(false);
        }
        expect(
          await batch.iam.decide(worker, action, efsArn, {
            ...through(group),
            'aws:SecureTransport': 'false',
          }),
        ).toBe('ExplicitlyDenied');
      }
      expect(
        await batch.iam.allows(worker, 'elasticfilesystem:ClientRootAccess', efsArn, through(group)),
      ).toBe(false);
    },
  );

  test('there is one per group', () => {
    expect(groups.sort()).toEqual(['lab', 'lab2']);
  });

  test.each(['lab', 'lab2'])(
    'the job role of %s reads its prefix, writes its results, mounts its own access point only',
    async (group) => {
      const job = batch.iam.roleSession(logicalIdOf(batch.environment.jobRoles.get(group)));
      const others = groups.filter((g) => g !== group);
      expect(await unexpected(batch.iam, job, workerAllowed(batch, group), true)).toEqual([]);
      expect(await unexpected(batch.iam, job, workerDenied(batch, group, others), false)).toEqual([]);
      for (const action of ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite']) {
        const through = (g: string) => ({ 'elasticfilesystem:AccessPointArn': accessPointArn(g) });
        expect(await batch.iam.allows(job, action, efsArn, through(group))).toBe(true);
        for (const other of others)
          expect(await batch.iam.allows(job, action, efsArn, through(other))).toBe(false);
        expect(await batch.iam.allows(job, action, efsArn)).toBe(false);
        expect(
          await batch.iam.decide(job, action, efsArn, { ...through(group), 'aws:SecureTransport': 'false' }),
        ).toBe('ExplicitlyDenied');
      }
    },
  );

  test('no other role of the Batch runtime reaches the bucket or the table', async () => {
    const jobRoleIds = new Set([...batch.environment.jobRoles.values()].map((r) => logicalIdOf(r)));
    const controlPlaneIds = new Set(Object.values(batch.handlerRoleIds));
    const workerIds = new Set([...batch.workers.roles.values()].map((r) => logicalIdOf(r)));
    const others = batch.iam
      .idsOfType('AWS::IAM::Role')
      .filter(
        (id) =>
          id.startsWith('Batch') && !jobRoleIds.has(id) && !controlPlaneIds.has(id) && !workerIds.has(id),
      );
    // The compute environment's instance role and the containers' execution role.
    expect(others.length).toBeGreaterThanOrEqual(2);
    for (const id of others) {
      const role = batch.iam.roleSession(id);
      const reached = await unexpected(
        batch.iam,
        role,
        [
          { action: 's3:GetObject', resource: batch.object('lab/inputs/session1.zip') },
          { action: 's3:PutObject', resource: batch.object('lab/results/x.txt') },
          { action: 'dynamodb:PutItem', resource: batch.tableArn },
          {
            action: 'iam:PassRole',
            resource: batch.iam.arnOf(id),
            context: { 'iam:PassedToService': 'ec2.amazonaws.com' },
          },
        ],
        false,
      );
      expect({ role: id, reached }).toEqual({ role: id, reached: [] });
    }
  });
});

describe('the launch role', () => {
  const launcher = ec2.iam.roleSession(ec2.handlerRoleIds.launcher);
  const workerRoleArns = [...ec2.workers.roles.values()].map((r) => ec2.iam.arnOf(logicalIdOf(r)));
  const passTo = (service: string) => ({ 'iam:PassedToService': service });

  test('passes every worker role to EC2', async () => {
    expect(workerRoleArns).toHaveLength(EC2_GROUPS.length);
    for (const arn of workerRoleArns) {
      expect(await ec2.iam.decide(launcher, 'iam:PassRole', arn, passTo('ec2.amazonaws.com'))).toBe(
        'Allowed',
      );
    }
  });

  test('passes no worker role to any other service', async () => {
    for (const arn of workerRoleArns) {
      for (const service of ['ecs-tasks.amazonaws.com', 'lambda.amazonaws.com', 'batch.amazonaws.com']) {
        expect(await ec2.iam.allows(launcher, 'iam:PassRole', arn, passTo(service))).toBe(false);
      }
    }
  });

  test('passes no other role of the stack, its own included, even to EC2', async () => {
    for (const a of [ec2, batch]) {
      const workerIds = new Set([...a.workers.roles.values()].map((r) => logicalIdOf(r)));
      const others = a.iam.idsOfType('AWS::IAM::Role').filter((id) => !workerIds.has(id));
      expect(others).toContain(a.handlerRoleIds.launcher);
      const role = a.iam.roleSession(a.handlerRoleIds.launcher);
      for (const id of others) {
        for (const service of ['ec2.amazonaws.com', 'lambda.amazonaws.com', 'ecs-tasks.amazonaws.com']) {
          expect({
            id,
            service,
            allowed: await a.iam.allows(role, 'iam:PassRole', a.iam.arnOf(id), passTo(service)),
          }).toEqual({
            id,
            service,
            allowed: false,
          });
        }
      }
    }
  });

  test('passes no role of another stack or account', async () => {
    for (const arn of [
      `arn:${FAKE.partition}:iam::${FAKE.account}:role/AdminRole`,
      `arn:${FAKE.partition}:iam::210987654321:role/WorkersRolelab488E43F5`,
    ]) {
      expect(await ec2.iam.allows(launcher, 'iam:PassRole', arn, passTo('ec2.amazonaws.com'))).toBe(false);
    }
  });

  test('only the control plane holds iam:PassRole at all', async () => {
    const holders: string[] = [];
    for (const id of ec2.iam.idsOfType('AWS::IAM::Role')) {
      if (
        await ec2.iam.allows(
          ec2.iam.roleSession(id),
          'iam:PassRole',
          workerRoleArns[0],
          passTo('ec2.amazonaws.com'),
        )
      )
        holders.push(id);
    }
    expect(holders).toEqual([ec2.handlerRoleIds.launcher]);
  });
});

describe('terminations', () => {
  const instance = `arn:${FAKE.partition}:ec2:${FAKE.region}:${FAKE.account}:instance/i-0123456789abcdef0`;
  const tagged = (value: string) => ({ 'aws:ResourceTag/ncaas:analysis': value });

  test.each(['submit', 'launcher', 'reconcile', 'watchdog'] as const)(
    'the %s role terminates only instances tagged with this analysis',
    async (handler) => {
      const role = ec2.iam.roleSession(ec2.handlerRoleIds[handler]);
      expect(await ec2.iam.decide(role, 'ec2:TerminateInstances', instance, tagged(ANALYSIS))).toBe(
        'Allowed',
      );
      for (const other of ['another-analysis', `${ANALYSIS}2`, 'test', '']) {
        expect(await ec2.iam.allows(role, 'ec2:TerminateInstances', instance, tagged(other))).toBe(false);
      }
      expect(await ec2.iam.allows(role, 'ec2:TerminateInstances', instance)).toBe(false);
    },
  );

  test('the launch role starts instances only from this stack template and security group', async () => {
    const ec2Arn = (resource: string) =>
      `arn:${FAKE.partition}:ec2:${FAKE.region}:${FAKE.account}:${resource}`;
    const launcher = ec2.iam.roleSession(ec2.handlerRoleIds.launcher);
    const template = String(ec2.iam.resolve({ Ref: logicalIdOf(ec2.workers.launchTemplate) }));
    const group = String(
      ec2.iam.resolve({ 'Fn::GetAtt': [logicalIdOf(ec2.workers.securityGroup), 'GroupId'] }),
    );
    expect(await ec2.iam.allows(launcher, 'ec2:RunInstances', ec2Arn(`launch-template/${template}`))).toBe(
      true,
    );
    expect(await ec2.iam.allows(launcher, 'ec2:RunInstances', ec2Arn(`security-group/${group}`))).toBe(true);
    expect(
      await ec2.iam.allows(launcher, 'ec2:RunInstances', ec2Arn('launch-template/lt-0somebodyelse00')),
    ).toBe(false);
    expect(
      await ec2.iam.allows(launcher, 'ec2:RunInstances', ec2Arn('security-group/sg-0wideopen00000')),
    ).toBe(false);
    // Tags only at launch: an existing instance cannot be re-tagged into (or out of) this analysis.
    expect(
      await ec2.iam.allows(launcher, 'ec2:CreateTags', ec2Arn('instance/i-0123456789abcdef0'), {
        'ec2:CreateAction': 'CreateTags',
      }),
    ).toBe(false);
  });
});
