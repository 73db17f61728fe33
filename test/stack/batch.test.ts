/**
 * The batch runtime in the template: a compute environment that scales to zero, a queue that
 * cancels jobs stuck RUNNABLE, three job definitions per group (stage-in, analysis, stage-out)
 * mounting the analysis EFS through that group's access point over TLS with that group's job role,
 * and handler permissions to submit, stop and describe only this analysis's jobs.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { CONTAINER_LOG_LIMITS } from '../../lib/control/container-log';
import { BatchEnvironment } from '../../lib/constructs/batch-environment';
import { ControlPlane } from '../../lib/constructs/control-plane';
import { AnalysisFileSystem } from '../../lib/constructs/file-system';
import { ANALYSIS_BOOTSTRAP, batchJobDefinitionName, STAGING_BOOTSTRAP } from '../../lib/launch/batch-stages';
import { childOf, FAKE, logicalIdOf, PolicyModel } from '../support/policy-simulation';
import { configFrom, neurocaasBlueprint, synthesize } from '../support/synth';

type Json = Record<string, unknown>;

const IMAGE = 'public.ecr.aws/docker/library/python:3.12';
const STAGING = 'public.ecr.aws/sam/build-python3.12:latest';

const { stack, template, nagFindings } = synthesize(
  configFrom(
    neurocaasBlueprint({
      Runtime: 'batch',
      Container: { Image: IMAGE, Vcpus: 4, MemoryMiB: 8192, Gpus: 1, StagingImage: STAGING, Spot: true },
    }),
  ),
);
const environment = childOf(stack, 'Batch', BatchEnvironment);
const files = childOf(stack, 'FileSystem', AnalysisFileSystem);
const controlPlane = childOf(stack, 'ControlPlane', ControlPlane);
const iam = PolicyModel.fromTemplate(template);
const ANALYSIS = 'test-analysis';

const definitionProps = (group: string, stage: 'StageIn' | 'Analysis' | 'StageOut'): Json => {
  const definitions = environment.jobDefinitions.get(group);
  if (!definitions) throw new Error(`no job definitions for ${group}`);
  const construct = {
    StageIn: definitions.stageIn,
    Analysis: definitions.analysis,
    StageOut: definitions.stageOut,
  }[stage];
  const resource = template.toJSON().Resources[logicalIdOf(construct)] as { Properties: Json };
  return resource.Properties;
};

test('no unacknowledged cdk-nag finding', () => {
  expect(nagFindings).toEqual([]);
});

test('Spot: a Spot and an on-demand compute environment, both scaling to zero, at most DEPLOY_LIMIT jobs', () => {
  const environments = template.findResources('AWS::Batch::ComputeEnvironment');
  const resources = Object.values(environments).map(
    (r) => (r as { Properties: { ComputeResources: Json } }).Properties.ComputeResources,
  );
  expect(resources).toHaveLength(2);
  expect(resources).toEqual(
    expect.arrayContaining([
      expect.objectContaining({
        Type: 'SPOT',
        AllocationStrategy: 'SPOT_PRICE_CAPACITY_OPTIMIZED',
        MinvCpus: 0,
        MaxvCpus: 100 * 4,
      }),
      expect.objectContaining({ Type: 'EC2', MinvCpus: 0, MaxvCpus: 100 * 4 }),
    ]),
  );
});

test("containers cannot reach the instance's role: both compute environments launch with IMDSv2 required and a hop limit of 1", () => {
  const templates = template.findResources('AWS::EC2::LaunchTemplate');
  const environments = Object.values(template.findResources('AWS::Batch::ComputeEnvironment')).map(
    (r) =>
      (r as { Properties: { ComputeResources: { LaunchTemplate?: { LaunchTemplateId?: Json } } } })
        .Properties,
  );
  expect(environments).toHaveLength(2);
  for (const environment of environments) {
    const ref = environment.ComputeResources.LaunchTemplate?.LaunchTemplateId as { Ref?: string } | undefined;
    expect(ref?.Ref).toBeDefined();
    const launchTemplate = templates[ref?.Ref ?? ''] as { Properties: { LaunchTemplateData: Json } };
    expect(launchTemplate.Properties.LaunchTemplateData).toMatchObject({
      MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 },
    });
  }
});

test('Spot: analysis jobs go to a Spot-first queue (on-demand behind it); an on-demand queue for the fallback', () => {
  const jobQueue = template.toJSON().Resources[logicalIdOf(environment.jobQueue)] as { Properties: Json };
  const onDemandQueue = template.toJSON().Resources[logicalIdOf(environment.onDemandJobQueue)] as {
    Properties: Json;
  };
  const environmentIds = Object.keys(template.findResources('AWS::Batch::ComputeEnvironment'));
  const spotId = environmentIds.find((id) => id.includes('SpotCompute'));
  const onDemandId = environmentIds.find((id) => !id.includes('SpotCompute'));
  const ref = (id: string | undefined) => ({ 'Fn::GetAtt': [id, 'ComputeEnvironmentArn'] });
  expect(jobQueue.Properties.ComputeEnvironmentOrder).toEqual([
    { ComputeEnvironment: ref(spotId), Order: 1 },
    { ComputeEnvironment: ref(onDemandId), Order: 2 },
  ]);
  expect(onDemandQueue.Properties.ComputeEnvironmentOrder).toEqual([
    { ComputeEnvironment: ref(onDemandId), Order: 1 },
  ]);
});

test('the queues cancel jobs stuck RUNNABLE for capacity or resources, after EXECUTION_TIMEOUT (at least 10 min)', () => {
  for (const queue of [environment.jobQueue, environment.onDemandJobQueue]) {
    const resource = template.toJSON().Resources[logicalIdOf(queue)] as { Properties: Json };
    expect(resource.Properties.JobStateTimeLimitActions).toEqual(
      [
        'CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY',
        'MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE',
        'MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT',
      ].map((reason) => ({ Action: 'CANCEL', MaxTimeSeconds: 600, Reason: reason, State: 'RUNNABLE' })),
    );
  }
});

describe('without Spot', () => {
  const onDemandOnly = synthesize(
    configFrom(
      neurocaasBlueprint({
        Runtime: 'batch',
        Container: { Image: IMAGE },
        Lambda: { LambdaConfig: { COMMAND: 'run {} {} {} {}', EXECUTION_TIMEOUT: 7200 } },
      }),
    ),
  );

  test('one on-demand compute environment and one queue; no second queue in the handlers', () => {
    onDemandOnly.template.resourceCountIs('AWS::Batch::ComputeEnvironment', 1);
    onDemandOnly.template.hasResourceProperties('AWS::Batch::ComputeEnvironment', {
      ComputeResources: Match.objectLike({ Type: 'EC2', MinvCpus: 0 }),
    });
    onDemandOnly.template.resourceCountIs('AWS::Batch::JobQueue', 1);
    onDemandOnly.template.hasResourceProperties('AWS::Batch::JobQueue', {
      JobStateTimeLimitActions: Match.arrayWith([Match.objectLike({ MaxTimeSeconds: 7200 })]),
    });
    const functions = onDemandOnly.template.findResources('AWS::Lambda::Function');
    for (const fn of Object.values(functions)) {
      const variables = (fn as { Properties: { Environment?: { Variables?: Json } } }).Properties.Environment
        ?.Variables;
      expect(variables?.NCAAS_BATCH_ON_DEMAND_JOB_QUEUE).toBeUndefined();
    }
  });
});

describe.each(['lab', 'lab2'])('the job definitions of group %s', (group) => {
  const accessPoint = logicalIdOf(files.accessPoints.get(group));
  const jobRole = logicalIdOf(environment.jobRoles.get(group));

  test.each([
    ['StageIn', 'in', STAGING, STAGING_BOOTSTRAP],
    ['Analysis', 'run', IMAGE, ANALYSIS_BOOTSTRAP],
    ['StageOut', 'out', STAGING, STAGING_BOOTSTRAP],
  ] as const)(
    '%s: its fixed name, image and command; EFS at /mnt/efs through the access point, over TLS',
    (id, stage, image, bootstrap) => {
      const props = definitionProps(group, id);
      expect(props.JobDefinitionName).toBe(batchJobDefinitionName(ANALYSIS, group, stage));
      const container = props.ContainerProperties as Json;
      expect(container.Image).toBe(image);
      expect(container.Command).toEqual(['sh', '-c', bootstrap]);
      expect(container.JobRoleArn).toEqual({ 'Fn::GetAtt': [jobRole, 'Arn'] });
      expect(container.ExecutionRoleArn).toEqual({
        'Fn::GetAtt': [logicalIdOf(environment.executionRole), 'Arn'],
      });
      expect(container.MountPoints).toEqual([{ ContainerPath: '/mnt/efs', SourceVolume: 'analysis-efs' }]);
      expect(container.Volumes).toEqual([
        {
          Name: 'analysis-efs',
          EfsVolumeConfiguration: {
            FileSystemId: { Ref: logicalIdOf(files.fileSystem) },
            TransitEncryption: 'ENABLED',
            AuthorizationConfig: { AccessPointId: { Ref: accessPoint }, Iam: 'ENABLED' },
          },
        },
      ]);
      expect(container.Environment).toEqual(
        expect.arrayContaining([{ Name: 'NCAAS_EFS_ROOT', Value: '/mnt/efs' }]),
      );
    },
  );

  test('the analysis has the blueprint size and GPUs; the staging stages a small fixed size', () => {
    const resources = (id: 'StageIn' | 'Analysis') =>
      ((definitionProps(group, id).ContainerProperties as Json).ResourceRequirements as Json[]).map(
        (r) => `${String(r.Type)}=${String(r.Value)}`,
      );
    expect(resources('Analysis').sort()).toEqual(['GPU=1', 'MEMORY=8192', 'VCPU=4']);
    expect(resources('StageIn').sort()).toEqual(['MEMORY=2048', 'VCPU=1']);
  });

  test('the stage-out is retried (its last attempt removes the job folder whatever happened)', () => {
    const props = definitionProps(group, 'StageOut');
    expect(props.RetryStrategy).toEqual({ Attempts: 3 });
    expect(props.ContainerProperties).toMatchObject({
      Environment: expect.arrayContaining([{ Name: 'NCAAS_STAGE_OUT_ATTEMPTS', Value: '3' }]),
    });
  });
});

test('Batch job state changes of both queues go to the reconcile handler, which knows the queues', () => {
  const queueArn = { 'Fn::GetAtt': [logicalIdOf(environment.jobQueue), 'JobQueueArn'] };
  const onDemandArn = { 'Fn::GetAtt': [logicalIdOf(environment.onDemandJobQueue), 'JobQueueArn'] };
  template.hasResourceProperties('AWS::Events::Rule', {
    EventPattern: {
      source: ['aws.batch'],
      'detail-type': ['Batch Job State Change'],
      detail: { jobQueue: [queueArn, onDemandArn] },
    },
    Targets: [
      Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalIdOf(controlPlane.reconcileHandler), 'Arn'] } }),
    ],
  });
  for (const fn of [controlPlane.launcher, controlPlane.reconcileHandler, controlPlane.submitHandler]) {
    const resource = template.toJSON().Resources[logicalIdOf(fn)] as {
      Properties: { Environment: { Variables: Json } };
    };
    expect(resource.Properties.Environment.Variables.NCAAS_BATCH_JOB_QUEUE).toEqual(queueArn);
    expect(resource.Properties.Environment.Variables.NCAAS_BATCH_ON_DEMAND_JOB_QUEUE).toEqual(onDemandArn);
  }
});

test('the reconcile handler has time for the analysis log copy and, after it, the stage-out', () => {
  const resource = template.toJSON().Resources[logicalIdOf(controlPlane.reconcileHandler)] as {
    Properties: { Timeout: number };
  };
  // At most half its time for the copy: a claimed stage-out must still be submitted.
  expect(resource.Properties.Timeout * 1000).toBeGreaterThanOrEqual(2 * CONTAINER_LOG_LIMITS.maxMilliseconds);
});

describe('handler permissions on Batch (policy simulator)', () => {
  const role = (fn: { role?: unknown }) => iam.roleSession(logicalIdOf(fn.role as never));
  const arn = (resource: string) => `arn:${FAKE.partition}:batch:${FAKE.region}:${FAKE.account}:${resource}`;
  const queue = iam.arnOf(logicalIdOf(environment.jobQueue));
  const onDemandQueue = iam.arnOf(logicalIdOf(environment.onDemandJobQueue));
  const ours = { 'aws:ResourceTag/ncaas:analysis': ANALYSIS };
  const theirs = { 'aws:ResourceTag/ncaas:analysis': 'another-analysis' };

  // The watchdog submits clean-up jobs for job folders left on EFS (lib/control/efs-folders.ts).
  test.each(['launcher', 'reconcileHandler', 'watchdog'] as const)(
    'the %s submits into this queue with this analysis job definitions (any revision) only',
    async (name) => {
      const who = role(controlPlane[name]);
      expect(await iam.allows(who, 'batch:SubmitJob', queue)).toBe(true);
      expect(await iam.allows(who, 'batch:SubmitJob', onDemandQueue)).toBe(true);
      expect(await iam.allows(who, 'batch:SubmitJob', arn('job/4c7599ae-0a82-49aa-ba5a-4727fcce14a8'))).toBe(
        true,
      );
      for (const stage of ['in', 'run', 'out'] as const) {
        const name = batchJobDefinitionName(ANALYSIS, 'lab2', stage);
        expect(await iam.allows(who, 'batch:SubmitJob', arn(`job-definition/${name}:7`))).toBe(true);
      }
      expect(await iam.allows(who, 'batch:SubmitJob', arn('job-definition/ncaas-other_lab-in:1'))).toBe(
        false,
      );
      expect(await iam.allows(who, 'batch:SubmitJob', arn('job-queue/another-queue'))).toBe(false);
      expect(
        await iam.allows(who, 'batch:TagResource', arn('job/x'), {
          'aws:RequestTag/ncaas:analysis': ANALYSIS,
        }),
      ).toBe(true);
      expect(
        await iam.allows(who, 'batch:TagResource', arn('job/x'), {
          'aws:RequestTag/ncaas:analysis': 'another-analysis',
        }),
      ).toBe(false);
    },
  );

  test.each(['submitHandler', 'launcher', 'reconcileHandler', 'watchdog'] as const)(
    'the %s stops only jobs tagged with this analysis, and may describe jobs',
    async (name) => {
      const who = role(controlPlane[name]);
      expect(await iam.allows(who, 'batch:TerminateJob', arn('job/x'), ours)).toBe(true);
      expect(await iam.allows(who, 'batch:TerminateJob', arn('job/x'), theirs)).toBe(false);
      expect(await iam.allows(who, 'batch:DescribeJobs', '*')).toBe(true);
    },
  );

  test.each(['submitHandler'] as const)('the %s submits nothing', async (name) => {
    expect(await iam.allows(role(controlPlane[name]), 'batch:SubmitJob', queue)).toBe(false);
  });
});
