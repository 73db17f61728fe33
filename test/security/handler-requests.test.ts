/**
 * Every AWS request the control-plane handlers make (read from lib/control, lib/job/job-store.ts,
 * lib/launch/ec2-launcher.ts and the control tests) is allowed by that handler's own role, and a few
 * requests each must never make are not. Evaluated by a policy simulator over the synthesized
 * policies, so a handler that gains a request without its permission fails here, not in production.
 * A Batch analysis adds one request of its own: the reconcile handler reads the analysis
 * containers' CloudWatch log streams (lib/control/cloudwatch-log-source.ts), and no other stream.
 */
import { ControlPlane } from '../../lib/constructs/control-plane';
import { DataBucket } from '../../lib/constructs/data-bucket';
import { JobTable } from '../../lib/constructs/job-table';
import { JobNotifications } from '../../lib/constructs/notifications';
import { WorkerFleet } from '../../lib/constructs/worker-fleet';
import {
  certificateKey,
  endMarkerKey,
  finalReportKey,
  jobResultFolder,
  REFUSAL_LABEL,
  statusKey,
  submissionMessageKey,
} from '../../lib/layout';
import { BY_GROUP_INDEX, BY_LAUNCHER_INDEX } from '../../lib/job/job-table-schema';
import {
  analysisLogStreamPrefix,
  BATCH_LOG_GROUP,
  batchJobDefinitionName,
} from '../../lib/launch/batch-stages';
import {
  childOf,
  type ContextValues,
  type DecideOptions,
  FAKE,
  logicalIdOf,
  PolicyModel,
} from '../support/policy-simulation';
import { configFrom, neurocaasBlueprint, synthesize } from '../support/synth';

const { stack, template } = synthesize(configFrom(neurocaasBlueprint()));
const iam = PolicyModel.fromTemplate(template);
const analysis = stack.stackName;

const bucketId = logicalIdOf(childOf(stack, 'DataBucket', DataBucket).bucket);
const bucket = iam.arnOf(bucketId);
const object = (key: string) => iam.objectArn(bucketId, key);
const table = iam.arnOf(logicalIdOf(childOf(stack, 'JobTable', JobTable).table));
const controlPlane = childOf(stack, 'ControlPlane', ControlPlane);
const launchQueue = iam.arnOf(logicalIdOf(controlPlane.launchQueue.queue));
const deadLetters = iam.arnOf(logicalIdOf(controlPlane.launchQueue.deadLetterQueue));
const workers = childOf(stack, 'Workers', WorkerFleet);
/** The analysis's notification topic, when the blueprint asks for notifications. */
const topics = stack.node
  .findAll()
  .filter((c): c is JobNotifications => c instanceof JobNotifications)
  .flatMap((n) => (n.topic ? [iam.arnOf(logicalIdOf(n.topic))] : []));

const HANDLERS = {
  submit: controlPlane.submitHandler,
  launcher: controlPlane.launcher,
  reconcile: controlPlane.reconcileHandler,
  watchdog: controlPlane.watchdog,
} as const;
type Handler = keyof typeof HANDLERS;
const sessions = Object.fromEntries(
  Object.entries(HANDLERS).map(([name, fn]) => [name, iam.roleSession(logicalIdOf(fn.role))]),
) as Record<Handler, ReturnType<PolicyModel['roleSession']>>;

// A job as the control tests make them: a NeuroCAAS timestamp with ':' and '.'.
const submission = 'lab/submissions/xsubmit.json';
const cancel = 'lab/submissions/16:52:06.836494condition_2_3.cancel.json';
const folder = jobResultFolder('lab', analysis, '16:52:06.836494condition_2_3');
const status = statusKey(folder, 'session1.zip');
const ec2Arn = (resource: string) => `arn:${FAKE.partition}:ec2:${FAKE.region}:${FAKE.account}:${resource}`;
const instance = ec2Arn('instance/i-0123456789abcdef0');
const ourTag = { 'aws:ResourceTag/ncaas:analysis': analysis };
/** A Batch container's log stream as Batch names it: `{job definition}/default/{task id}`. */
const logStream = (jobDefinition: string, taskId: string, group = BATCH_LOG_GROUP) =>
  `arn:${FAKE.partition}:logs:${FAKE.region}:${FAKE.account}:log-group:${group}:log-stream:${jobDefinition}/default/${taskId}`;

interface Request {
  readonly action: string;
  readonly resource: string;
  readonly context?: ContextValues;
  readonly options?: DecideOptions;
  /** Where the handler makes it. */
  readonly why: string;
}

const get = (key: string, why: string): Request => ({ action: 's3:GetObject', resource: object(key), why });
const put = (key: string, why: string): Request => ({ action: 's3:PutObject', resource: object(key), why });
const list = (prefix: string, why: string): Request => ({
  action: 's3:ListBucket',
  resource: bucket,
  context: { 's3:prefix': prefix },
  why,
});
const db = (action: string, why: string, resource = table): Request => ({ action, resource, why });

/** What every handler does when a dataset moves (JobReport, finishDataset, drainQueue, JobStore). */
const jobBookkeeping: Request[] = [
  get(certificateKey(folder), 'JobReport.certify reads the certificate to append (HeadObject/GetObject)'),
  put(certificateKey(folder), 'JobReport.certify'),
  get(status, 'JobReport.setStatus merges into the status file the worker writes'),
  put(status, 'JobReport.setStatus'),
  put(endMarkerKey(folder), 'finishDataset: end.txt once every dataset is done'),
  {
    action: 's3:ListBucket',
    resource: bucket,
    context: { 's3:prefix': certificateKey(folder) },
    why: 'a missing object answers 404, not 403, only with ListBucket',
  },
  db('dynamodb:GetItem', 'JobStore.get (consistent reads)'),
  db('dynamodb:PutItem', 'JobStore.put / putIfAbsent (conditional)'),
  db('dynamodb:UpdateItem', 'JobStore.transition, slots, budgets (conditional)'),
  db('dynamodb:DeleteItem', 'JobStore.delete of stale queue and live entries'),
  db('dynamodb:Query', 'JobStore.getJob, listQueued, listLive'),
  db('dynamodb:BatchGetItem', 'JobStore.batchGet of dataset items'),
  { action: 'sqs:SendMessage', resource: launchQueue, why: 'drainQueue: one launch message per dataset' },
];

const pricing: Request = {
  action: 'pricing:GetProducts',
  resource: '*',
  why: 'PricingApiPriceBook: estimates (MAXCOST) and settleCost when a dataset ends',
};
const terminate: Request = {
  action: 'ec2:TerminateInstances',
  resource: instance,
  context: ourTag,
  why: 'Ec2Launcher.terminate (cancel, lost worker, deadline, orphan)',
};
const describeInstances: Request = {
  action: 'ec2:DescribeInstances',
  resource: '*',
  why: 'identifyInstance / listWorkerInstances: the worker from its tags',
};

/** What each handler's intake of a submission reads and writes (processSubmission, processCancel). */
const intake: Request[] = [
  get(submission, 'processSubmission: HeadObject then GetObject of submit.json'),
  get('lab/configs/config.yaml', 'processSubmission: HeadObject then GetObject of the config'),
  get('lab/inputs/session1.zip', 'processSubmission: HeadObject of each dataset'),
  list('lab/inputs/session-folder/', 'processSubmission: a folder dataset must not be empty (ListObjects)'),
  put(submissionMessageKey(submission), 'a refusal beside a submission with no usable timestamp'),
  get(cancel, 'processCancel: the job id inside the cancel request'),
  put(submissionMessageKey(cancel), 'processCancel: a refusal beside the cancel request'),
  get(statusKey(folder, REFUSAL_LABEL), 'admitJob: HeadObject of an earlier refusal'),
  {
    action: 's3:DeleteObject',
    resource: object(statusKey(folder, REFUSAL_LABEL)),
    why: 'admitJob: an accepted job replaces the refusal status of an earlier submission',
  },
];

const notify: Request[] = topics.map((topic) => ({
  action: 'sns:Publish',
  resource: topic,
  why: "sendNotification: a job's news to its group's topic",
}));

const REQUESTS: Readonly<Record<Handler, readonly Request[]>> = {
  submit: [...intake, ...jobBookkeeping, ...notify, pricing, terminate],
  launcher: [
    ...[
      'sqs:ReceiveMessage',
      'sqs:DeleteMessage',
      'sqs:ChangeMessageVisibility',
      'sqs:GetQueueAttributes',
    ].map((action) => ({
      action,
      resource: launchQueue,
      why: 'the launch queue event source (batch item failures)',
    })),
    ...jobBookkeeping,
    ...notify,
    pricing,
    { action: 'ec2:DescribeImages', resource: '*', why: 'Ec2Launcher.rootDevice: the AMI root device' },
    ...[
      'instance/*',
      'volume/*',
      'network-interface/*',
      'subnet/subnet-0123456789abcdef0',
      `security-group/${String(iam.resolve({ 'Fn::GetAtt': [logicalIdOf(workers.securityGroup), 'GroupId'] }))}`,
      `launch-template/${String(iam.resolve({ Ref: logicalIdOf(workers.launchTemplate) }))}`,
    ].map((resource) => ({
      action: 'ec2:RunInstances',
      resource: ec2Arn(resource.replace('*', resource.startsWith('instance') ? 'i-0abc' : 'vol-0abc')),
      why: 'Ec2Launcher.launch: RunInstances from the stack launch template',
    })),
    {
      action: 'ec2:RunInstances',
      resource: `arn:${FAKE.partition}:ec2:${FAKE.region}::image/ami-0123456789abcdef0`,
      why: 'Ec2Launcher.launch: the blueprint AMI (an AWS or shared image: no account in its ARN)',
    },
    ...['instance/i-0123456789abcdef0', 'volume/vol-0123456789abcdef0'].map((resource) => ({
      action: 'ec2:CreateTags',
      resource: ec2Arn(resource),
      context: { 'ec2:CreateAction': 'RunInstances' },
      why: 'Ec2Launcher.launch: job tags on instance and volume at launch',
    })),
    ...[...workers.roles.values()].map((role) => ({
      action: 'iam:PassRole',
      resource: iam.arnOf(logicalIdOf(role)),
      context: { 'iam:PassedToService': 'ec2.amazonaws.com' },
      why: "Ec2Launcher.launch: the group's instance profile",
    })),
    {
      action: 'ssm:GetParameters',
      resource: `arn:${FAKE.partition}:ssm:${FAKE.region}::parameter/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64`,
      options: { unvalidated: true },
      why: 'EC2 resolves a resolve:ssm: AMI alias with the caller permissions (public parameters have no account)',
    },
    { ...terminate, why: 'launchDataset: the dataset ended while its worker was starting' },
  ],
  reconcile: [
    describeInstances,
    db(
      'dynamodb:Query',
      'JobStore.findByLauncher: state events carry only the instance id',
      `${table}/index/${BY_LAUNCHER_INDEX.indexName}`,
    ),
    get(finalReportKey(folder, 'session1.zip'), "onFinalReport: the worker's final report"),
    ...jobBookkeeping,
    ...notify,
    pricing,
    { ...terminate, why: 'onWorkerState: a stopped worker is terminated' },
  ],
  watchdog: [
    list('lab/submissions/', 'sweepSubmissions / sweepCancelRequests: lost S3 events'),
    ...intake,
    ...jobBookkeeping,
    ...notify,
    db(
      'dynamodb:Query',
      'terminateOrphans: JobStore.findByLauncher',
      `${table}/index/${BY_LAUNCHER_INDEX.indexName}`,
    ),
    pricing,
    describeInstances,
    terminate,
    ...['sqs:ReceiveMessage', 'sqs:DeleteMessage'].map((action) => ({
      action,
      resource: deadLetters,
      why: 'deadLetterSource: launches that failed for good',
    })),
  ],
};

const NEVER: Readonly<Record<Handler, readonly Request[]>> = {
  submit: [
    put(submission, 'a submit.json written by the submit handler would trigger it again'),
    put('lab/submissions/other.cancel.json', 'nor may it write a cancel request'),
    put('lab/inputs/session1.zip', "users' data is the users'"),
    put('lab/configs/config.yaml', "users' configs are the users'"),
    { action: 's3:DeleteObject', resource: object('lab/inputs/session1.zip'), why: "users' data" },
    {
      action: 's3:DeleteObject',
      resource: object(certificateKey(folder)),
      why: 'only the refusal status is ever removed',
    },
    { action: 's3:DeleteObject', resource: object(status), why: 'only the refusal status is ever removed' },
    { action: 's3:DeleteObject', resource: object(submission), why: 'submissions stay' },
    db('dynamodb:DeleteTable', 'the table outlives the stack'),
    db(
      'dynamodb:PutItem',
      'another table',
      `arn:${FAKE.partition}:dynamodb:${FAKE.region}:${FAKE.account}:table/other`,
    ),
    {
      action: 'iam:PassRole',
      resource: iam.arnOf(logicalIdOf([...workers.roles.values()][0])),
      context: { 'iam:PassedToService': 'ec2.amazonaws.com' },
      why: 'only the launcher passes worker roles',
    },
    { action: 'ec2:RunInstances', resource: ec2Arn('instance/i-0abc'), why: 'only the launcher launches' },
    {
      ...terminate,
      context: { 'aws:ResourceTag/ncaas:analysis': 'another-analysis' },
      why: "another analysis's worker",
    },
    {
      action: 's3:GetObject',
      resource: `arn:${FAKE.partition}:s3:::another-bucket/lab/inputs/x`,
      why: 'another bucket',
    },
  ],
  launcher: [
    put('lab/inputs/session1.zip', "users' data is the users'"),
    put(submission, 'a launcher never submits'),
    {
      action: 's3:GetObject',
      resource: object('lab/configs/config.yaml'),
      why: "a launch reads the job's estimates from its record, not the config",
    },
    { action: 's3:DeleteObject', resource: object(status), why: 'the launcher deletes nothing' },
    db('dynamodb:DeleteTable', 'the table outlives the stack'),
    {
      action: 'iam:PassRole',
      resource: iam.arnOf(logicalIdOf([...workers.roles.values()][0])),
      context: { 'iam:PassedToService': 'lambda.amazonaws.com' },
      why: 'worker roles go to EC2 only',
    },
    {
      action: 'iam:PassRole',
      resource: iam.arnOf(logicalIdOf(HANDLERS.launcher.role)),
      context: { 'iam:PassedToService': 'ec2.amazonaws.com' },
      why: 'its own role is not a worker role',
    },
    {
      action: 'ssm:GetParameters',
      resource: `arn:${FAKE.partition}:ssm:${FAKE.region}:${FAKE.account}:parameter/lab/secret`,
      why: "the account's own parameters",
    },
  ],
  reconcile: [
    put('lab/inputs/session1.zip', "users' data is the users'"),
    put(submission, 'a reconcile handler never submits'),
    { action: 's3:DeleteObject', resource: object(status), why: 'the reconcile handler deletes nothing' },
    db('dynamodb:DeleteTable', 'the table outlives the stack'),
    { action: 'ec2:RunInstances', resource: ec2Arn('instance/i-0abc'), why: 'only the launcher launches' },
    {
      action: 'logs:GetLogEvents',
      resource: logStream(batchJobDefinitionName(analysis, 'lab', 'run'), '0a1b2c3d'),
      why: 'an EC2 analysis has no Batch container logs to copy',
    },
  ],
  watchdog: [
    put('lab/inputs/session1.zip', "users' data is the users'"),
    put('lab/configs/config.yaml', "users' configs are the users'"),
    put(submission, 'the watchdog reprocesses submissions, never writes one'),
    { action: 's3:DeleteObject', resource: object('lab/inputs/session1.zip'), why: "users' data" },
    {
      action: 's3:DeleteObject',
      resource: object(certificateKey(folder)),
      why: 'only the refusal status is ever removed',
    },
    db('dynamodb:DeleteTable', 'the table outlives the stack'),
    { action: 'sqs:PurgeQueue', resource: deadLetters, why: 'dead letters are handled one by one' },
    { action: 'ec2:RunInstances', resource: ec2Arn('instance/i-0abc'), why: 'only the launcher launches' },
  ],
};

const rows = (table: Readonly<Record<Handler, readonly Request[]>>) =>
  (Object.keys(table) as Handler[]).flatMap((handler) =>
    table[handler].map((r) => ({
      handler,
      ...r,
      name: `${handler}: ${r.action} ${r.resource.replace(bucket, '<bucket>')}${
        r.context ? ` ${JSON.stringify(r.context)}` : ''
      } (${r.why})`,
    })),
  );

describe('requests the handlers make', () => {
  test.each(rows(REQUESTS))('$name', async ({ handler, action, resource, context, options }) => {
    expect(await iam.decide(sessions[handler], action, resource, context, options)).toBe('Allowed');
  });
});

describe('requests the handlers must not be able to make', () => {
  test.each(rows(NEVER))('$name', async ({ handler, action, resource, context, options }) => {
    expect(await iam.decide(sessions[handler], action, resource, context, options)).not.toBe('Allowed');
  });
});

test('the indexes the handlers query are the ones the table has', () => {
  const [tableResource] = Object.values(template.findResources('AWS::DynamoDB::GlobalTable'));
  const indexes = (
    tableResource as { Properties: { GlobalSecondaryIndexes: { IndexName: string }[] } }
  ).Properties.GlobalSecondaryIndexes.map((i) => i.IndexName);
  expect(indexes).toEqual(expect.arrayContaining([BY_GROUP_INDEX.indexName, BY_LAUNCHER_INDEX.indexName]));
});

describe("a Batch analysis: the reconcile handler reads its analysis containers' log streams, and nothing else", () => {
  const batch = synthesize(
    configFrom(
      neurocaasBlueprint({
        Runtime: 'batch',
        Container: { Image: 'public.ecr.aws/docker/library/python:3.12', Vcpus: 2, MemoryMiB: 4096 },
      }),
    ),
  );
  const model = PolicyModel.fromTemplate(batch.template);
  const plane = childOf(batch.stack, 'ControlPlane', ControlPlane);
  const name = batch.stack.stackName;
  const session = (fn: { role?: unknown }) => model.roleSession(logicalIdOf(fn.role as never));
  const TASK = '4c7599ae0a8249aaba5a4727fcce14a8';

  test.each(['lab', 'lab2'])(
    'CloudWatchLogSource: GetLogEvents on a stream of the %s analysis containers',
    async (group) => {
      const stream = `${analysisLogStreamPrefix(name, group)}default/${TASK}`;
      expect(stream).toBe(`${batchJobDefinitionName(name, group, 'run')}/default/${TASK}`);
      expect(
        await model.decide(
          session(plane.reconcileHandler),
          'logs:GetLogEvents',
          logStream(batchJobDefinitionName(name, group, 'run'), TASK),
        ),
      ).toBe('Allowed');
    },
  );

  const never: readonly (readonly [string, string, string])[] = [
    ['logs:GetLogEvents', logStream(batchJobDefinitionName(name, 'lab', 'in'), TASK), 'a stage-in stream'],
    ['logs:GetLogEvents', logStream(batchJobDefinitionName(name, 'lab', 'out'), TASK), 'a stage-out stream'],
    [
      'logs:GetLogEvents',
      logStream(batchJobDefinitionName('other', 'lab', 'run'), TASK),
      "another analysis's stream",
    ],
    [
      'logs:GetLogEvents',
      logStream(batchJobDefinitionName(`${name}-2`, 'lab', 'run'), TASK),
      'an analysis whose name starts with this one',
    ],
    // One ARN covers the analysis-container streams of every group (the policy does not grow with the
    // groups); a job definition of this analysis exists only for its groups, made by the stack.
    [
      'logs:GetLogEvents',
      logStream(batchJobDefinitionName(name, 'lab-run', 'in'), TASK),
      "the stage-in stream of a group named like a stage ('lab-run')",
    ],
    [
      'logs:GetLogEvents',
      logStream(batchJobDefinitionName(name, 'lab', 'run'), TASK, '/aws/lambda/someone-else'),
      'another log group',
    ],
    [
      'logs:FilterLogEvents',
      `arn:${FAKE.partition}:logs:${FAKE.region}:${FAKE.account}:log-group:${BATCH_LOG_GROUP}`,
      'searching the whole Batch log group',
    ],
    ['logs:DeleteLogStream', logStream(batchJobDefinitionName(name, 'lab', 'run'), TASK), 'deleting the log'],
  ];
  test.each(never)('not %s on %s (%s)', async (action, resource) => {
    expect(await model.decide(session(plane.reconcileHandler), action, resource)).not.toBe('Allowed');
  });

  test.each(['submitHandler', 'launcher', 'watchdog'] as const)('the %s reads no log stream', async (fn) => {
    expect(
      await model.decide(
        session(plane[fn]),
        'logs:GetLogEvents',
        logStream(batchJobDefinitionName(name, 'lab', 'run'), TASK),
      ),
    ).not.toBe('Allowed');
  });

  test('no unacknowledged cdk-nag finding', () => {
    expect(batch.nagFindings).toEqual([]);
  });
});
