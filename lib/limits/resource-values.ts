/**
 * What `Ref` and `Fn::GetAtt` return for each resource type, in the format and at the length AWS
 * returns them (the CloudFormation resource reference's "Return values"). Names come from the
 * resource's name property or, when it sets none, from CloudFormation's generated-name rule.
 */
import type { AwsEnvironment } from './aws-environment';
import {
  awsResourceId,
  type GeneratedNameRule,
  iamUniqueId,
  NAME_RULES,
  seededText,
  seededUuid,
} from './physical-names';

/** One resource as the value functions see it. */
export interface ResourceView {
  readonly logicalId: string;
  readonly type: string;
  readonly env: AwsEnvironment;
  /** The physical name: the name property resolved, or the name CloudFormation generates. */
  name(): string;
  /** A property, resolved; undefined when the template does not set it. */
  property(name: string): unknown;
}

type Value = (resource: ResourceView) => unknown;

export interface ResourceFacts {
  /** The property that names the resource, and the rule CloudFormation follows when it is absent. */
  readonly name?: {
    readonly property: string;
    readonly rule: GeneratedNameRule;
    /** The property that makes it FIFO (the name then ends in `.fifo`). */
    readonly fifoProperty?: string;
  };
  readonly ref: Value;
  /** `Fn::GetAtt` attributes; `Arn` where the type has one. */
  readonly attributes: Readonly<Record<string, Value>>;
}

const seedOf = (r: ResourceView): string => `${r.type}/${r.logicalId}`;
const regional = (r: ResourceView, service: string, resource: string): string =>
  `arn:${r.env.partition}:${service}:${r.env.region}:${r.env.account}:${resource}`;
const iamArn = (r: ResourceView, kind: string): string => {
  const path = r.property('Path');
  return `arn:${r.env.partition}:iam::${r.env.account}:${kind}${typeof path === 'string' ? path : '/'}${r.name()}`;
};
const ec2Id =
  (prefix: string): Value =>
  (r) =>
    awsResourceId(prefix, seedOf(r));
const nameOf: Value = (r) => r.name();

const bucketArn: Value = (r) => `arn:${r.env.partition}:s3:::${r.name()}`;
const queueUrl: Value = (r) => `https://sqs.${r.env.region}.${r.env.urlSuffix}/${r.env.account}/${r.name()}`;
const tableArn: Value = (r) => regional(r, 'dynamodb', `table/${r.name()}`);
const lambdaArn: Value = (r) => regional(r, 'lambda', `function:${r.name()}`);
const topicArn: Value = (r) => regional(r, 'sns', r.name());
const fileSystemId = ec2Id('fs');
const accessPointId = ec2Id('fsap');
const kmsKeyId: Value = (r) => seededUuid(seedOf(r));
const batchArn =
  (kind: string, version = ''): Value =>
  (r) =>
    regional(r, 'batch', `${kind}/${r.name()}${version}`);

const dynamoDbFacts: ResourceFacts = {
  name: { property: 'TableName', rule: NAME_RULES.table },
  ref: nameOf,
  attributes: {
    Arn: tableArn,
    StreamArn: (r) => `${String(tableArn(r))}/stream/2024-01-01T00:00:00.000`,
    TableId: (r) => seededUuid(seedOf(r)),
  },
};

/** By resource type. A type not here gets generic values (see `genericFacts`) and a note. */
export const RESOURCE_FACTS: Readonly<Record<string, ResourceFacts>> = {
  'AWS::S3::Bucket': {
    name: { property: 'BucketName', rule: NAME_RULES.bucket },
    ref: nameOf,
    attributes: {
      Arn: bucketArn,
      DomainName: (r) => `${r.name()}.s3.${r.env.urlSuffix}`,
      RegionalDomainName: (r) => `${r.name()}.s3.${r.env.region}.${r.env.urlSuffix}`,
      DualStackDomainName: (r) => `${r.name()}.s3.dualstack.${r.env.region}.${r.env.urlSuffix}`,
      WebsiteURL: (r) => `http://${r.name()}.s3-website-${r.env.region}.${r.env.urlSuffix}`,
    },
  },
  'AWS::S3::AccessPoint': {
    name: { property: 'Name', rule: { maxLength: 50, suffixLength: 12, lowercase: true } },
    ref: nameOf,
    attributes: {
      Arn: (r) => regional(r, 's3', `accesspoint/${r.name()}`),
      Alias: (r) =>
        `${r.name().slice(0, 20)}-${seededText(seedOf(r), 34, 'abcdefghijklmnopqrstuvwxyz0123456789')}-s3alias`,
      Name: nameOf,
    },
  },
  'AWS::IAM::Role': {
    name: { property: 'RoleName', rule: NAME_RULES.iamRole },
    ref: nameOf,
    attributes: { Arn: (r) => iamArn(r, 'role'), RoleId: (r) => iamUniqueId('AROA', seedOf(r)) },
  },
  'AWS::IAM::User': {
    name: { property: 'UserName', rule: NAME_RULES.iamUser },
    ref: nameOf,
    attributes: { Arn: (r) => iamArn(r, 'user') },
  },
  'AWS::IAM::Group': {
    name: { property: 'GroupName', rule: NAME_RULES.iamLong },
    ref: nameOf,
    attributes: { Arn: (r) => iamArn(r, 'group') },
  },
  'AWS::IAM::ManagedPolicy': {
    name: { property: 'ManagedPolicyName', rule: NAME_RULES.iamLong },
    ref: (r) => iamArn(r, 'policy'),
    attributes: { PolicyArn: (r) => iamArn(r, 'policy'), PolicyId: (r) => iamUniqueId('ANPA', seedOf(r)) },
  },
  'AWS::IAM::InstanceProfile': {
    name: { property: 'InstanceProfileName', rule: NAME_RULES.iamLong },
    ref: nameOf,
    attributes: { Arn: (r) => iamArn(r, 'instance-profile') },
  },
  'AWS::IAM::Policy': {
    name: { property: 'PolicyName', rule: NAME_RULES.iamLong },
    ref: nameOf,
    attributes: { Id: nameOf },
  },
  'AWS::Lambda::Function': {
    name: { property: 'FunctionName', rule: NAME_RULES.lambdaFunction },
    ref: nameOf,
    attributes: { Arn: lambdaArn },
  },
  'AWS::Lambda::Version': {
    ref: (r) => `${String(lambdaArnOfProperty(r))}:1`,
    attributes: { Version: () => '1', FunctionArn: (r) => `${String(lambdaArnOfProperty(r))}:1` },
  },
  'AWS::Lambda::Alias': {
    ref: (r) => `${String(lambdaArnOfProperty(r))}:${String(r.property('Name') ?? 'live')}`,
    attributes: {},
  },
  'AWS::Lambda::EventSourceMapping': {
    ref: (r) => seededUuid(seedOf(r)),
    attributes: { Id: (r) => seededUuid(seedOf(r)) },
  },
  'AWS::Lambda::Permission': { ref: nameOf, attributes: {} },
  'AWS::SQS::Queue': {
    name: { property: 'QueueName', rule: NAME_RULES.queue, fifoProperty: 'FifoQueue' },
    ref: queueUrl,
    attributes: { Arn: (r) => regional(r, 'sqs', r.name()), QueueName: nameOf, QueueUrl: queueUrl },
  },
  'AWS::SNS::Topic': {
    name: { property: 'TopicName', rule: NAME_RULES.topic, fifoProperty: 'FifoTopic' },
    ref: topicArn,
    attributes: { TopicArn: topicArn, TopicName: nameOf },
  },
  'AWS::SNS::Subscription': {
    ref: (r) => `${String(r.property('TopicArn') ?? topicArn(r))}:${seededUuid(seedOf(r))}`,
    attributes: {},
  },
  'AWS::DynamoDB::Table': dynamoDbFacts,
  'AWS::DynamoDB::GlobalTable': dynamoDbFacts,
  'AWS::Logs::LogGroup': {
    name: { property: 'LogGroupName', rule: NAME_RULES.logGroup },
    ref: nameOf,
    attributes: { Arn: (r) => regional(r, 'logs', `log-group:${r.name()}:*`) },
  },
  'AWS::Events::Rule': {
    name: { property: 'Name', rule: NAME_RULES.eventRule },
    ref: nameOf,
    attributes: { Arn: (r) => regional(r, 'events', `rule/${r.name()}`) },
  },
  'AWS::Events::EventBus': {
    name: { property: 'Name', rule: NAME_RULES.other },
    ref: nameOf,
    attributes: { Arn: (r) => regional(r, 'events', `event-bus/${r.name()}`), Name: nameOf },
  },
  'AWS::EC2::VPC': {
    ref: ec2Id('vpc'),
    attributes: {
      VpcId: ec2Id('vpc'),
      CidrBlock: (r) => r.property('CidrBlock') ?? '10.255.255.0/24',
      DefaultSecurityGroup: (r) => awsResourceId('sg', `${seedOf(r)}/default`),
      DefaultNetworkAcl: (r) => awsResourceId('acl', `${seedOf(r)}/default`),
      CidrBlockAssociations: (r) => [`${awsResourceId('vpc-cidr-assoc', seedOf(r))}`],
      Ipv6CidrBlocks: () => ['2600:1f18:ffff:ff00::/56'],
    },
  },
  'AWS::EC2::Subnet': {
    ref: ec2Id('subnet'),
    attributes: {
      SubnetId: ec2Id('subnet'),
      AvailabilityZone: (r) => r.property('AvailabilityZone') ?? `${r.env.region}a`,
      AvailabilityZoneId: (r) => `${r.env.region.replace(/-/g, '').slice(0, 4)}-az1`,
      CidrBlock: (r) => r.property('CidrBlock') ?? '10.255.255.0/24',
      VpcId: (r) => r.property('VpcId') ?? awsResourceId('vpc', seedOf(r)),
      NetworkAclAssociationId: ec2Id('aclassoc'),
      Ipv6CidrBlocks: () => ['2600:1f18:ffff:ff00::/64'],
    },
  },
  'AWS::EC2::SecurityGroup': {
    ref: ec2Id('sg'),
    attributes: {
      GroupId: ec2Id('sg'),
      VpcId: (r) => r.property('VpcId') ?? awsResourceId('vpc', seedOf(r)),
    },
  },
  'AWS::EC2::SecurityGroupIngress': { ref: ec2Id('sgr'), attributes: { Id: ec2Id('sgr') } },
  'AWS::EC2::SecurityGroupEgress': { ref: ec2Id('sgr'), attributes: { Id: ec2Id('sgr') } },
  'AWS::EC2::RouteTable': { ref: ec2Id('rtb'), attributes: { RouteTableId: ec2Id('rtb') } },
  'AWS::EC2::InternetGateway': { ref: ec2Id('igw'), attributes: { InternetGatewayId: ec2Id('igw') } },
  'AWS::EC2::NatGateway': { ref: ec2Id('nat'), attributes: { NatGatewayId: ec2Id('nat') } },
  'AWS::EC2::VPCEndpoint': {
    ref: ec2Id('vpce'),
    attributes: {
      Id: ec2Id('vpce'),
      DnsEntries: (r) => [`${String(ec2Id('vpce')(r))}.s3.${r.env.region}.vpce.${r.env.urlSuffix}`],
      NetworkInterfaceIds: (r) => [awsResourceId('eni', seedOf(r))],
    },
  },
  'AWS::EC2::FlowLog': { ref: ec2Id('fl'), attributes: { Id: ec2Id('fl') } },
  'AWS::EC2::NetworkAcl': { ref: ec2Id('acl'), attributes: { Id: ec2Id('acl') } },
  'AWS::EC2::EIP': {
    ref: () => '203.0.113.255',
    attributes: { AllocationId: ec2Id('eipalloc'), PublicIp: () => '203.0.113.255' },
  },
  'AWS::EC2::Instance': {
    ref: ec2Id('i'),
    attributes: {
      InstanceId: ec2Id('i'),
      PrivateIp: () => '10.255.255.255',
      PublicIp: () => '203.0.113.255',
      PrivateDnsName: (r) => `ip-10-255-255-255.${r.env.region}.compute.internal`,
      AvailabilityZone: (r) => `${r.env.region}a`,
    },
  },
  'AWS::EC2::LaunchTemplate': {
    ref: ec2Id('lt'),
    attributes: {
      LaunchTemplateId: ec2Id('lt'),
      LatestVersionNumber: () => '1',
      DefaultVersionNumber: () => '1',
    },
  },
  'AWS::EFS::FileSystem': {
    ref: fileSystemId,
    attributes: {
      FileSystemId: fileSystemId,
      Arn: (r) => regional(r, 'elasticfilesystem', `file-system/${String(fileSystemId(r))}`),
    },
  },
  'AWS::EFS::AccessPoint': {
    ref: accessPointId,
    attributes: {
      AccessPointId: accessPointId,
      Arn: (r) => regional(r, 'elasticfilesystem', `access-point/${String(accessPointId(r))}`),
    },
  },
  'AWS::EFS::MountTarget': {
    ref: ec2Id('fsmt'),
    attributes: { IpAddress: () => '10.255.255.255' },
  },
  'AWS::Batch::ComputeEnvironment': {
    name: { property: 'ComputeEnvironmentName', rule: NAME_RULES.other },
    ref: batchArn('compute-environment'),
    attributes: { ComputeEnvironmentArn: batchArn('compute-environment') },
  },
  'AWS::Batch::JobQueue': {
    name: { property: 'JobQueueName', rule: NAME_RULES.other },
    ref: batchArn('job-queue'),
    attributes: { JobQueueArn: batchArn('job-queue') },
  },
  'AWS::Batch::JobDefinition': {
    name: { property: 'JobDefinitionName', rule: NAME_RULES.other },
    ref: batchArn('job-definition', ':1'),
    attributes: {},
  },
  'AWS::Batch::SchedulingPolicy': {
    name: { property: 'Name', rule: NAME_RULES.other },
    ref: batchArn('scheduling-policy'),
    attributes: { Arn: batchArn('scheduling-policy') },
  },
  'AWS::KMS::Key': {
    ref: kmsKeyId,
    attributes: { Arn: (r) => regional(r, 'kms', `key/${String(kmsKeyId(r))}`), KeyId: kmsKeyId },
  },
  'AWS::KMS::Alias': { ref: (r) => r.property('AliasName') ?? `alias/${r.name()}`, attributes: {} },
  'AWS::SecretsManager::Secret': {
    name: { property: 'Name', rule: NAME_RULES.other },
    ref: (r) =>
      regional(r, 'secretsmanager', `secret:${r.name()}-${seededText(seedOf(r), 6, 'abcdefABCDEF0123')}`),
    attributes: {},
  },
  'AWS::SSM::Parameter': {
    name: { property: 'Name', rule: NAME_RULES.other },
    ref: nameOf,
    attributes: { Type: (r) => r.property('Type') ?? 'String', Value: (r) => r.property('Value') ?? '' },
  },
  'AWS::ECR::Repository': {
    name: { property: 'RepositoryName', rule: { maxLength: 256, suffixLength: 12, lowercase: true } },
    ref: nameOf,
    attributes: {
      Arn: (r) => regional(r, 'ecr', `repository/${r.name()}`),
      RepositoryUri: (r) => `${r.env.account}.dkr.ecr.${r.env.region}.${r.env.urlSuffix}/${r.name()}`,
    },
  },
  'AWS::StepFunctions::StateMachine': {
    name: { property: 'StateMachineName', rule: { maxLength: 80, suffixLength: 12 } },
    ref: (r) => regional(r, 'states', `stateMachine:${r.name()}`),
    attributes: { Arn: (r) => regional(r, 'states', `stateMachine:${r.name()}`), Name: nameOf },
  },
  'AWS::CloudWatch::Alarm': {
    name: { property: 'AlarmName', rule: { maxLength: 255, suffixLength: 12 } },
    ref: nameOf,
    attributes: { Arn: (r) => regional(r, 'cloudwatch', `alarm:${r.name()}`) },
  },
};

/** The function ARN a Lambda version or alias points to (its `FunctionName` property, resolved). */
const lambdaArnOfProperty = (r: ResourceView): unknown => {
  const fn = r.property('FunctionName');
  if (typeof fn === 'string' && fn.startsWith('arn:')) return fn;
  return regional(r, 'lambda', `function:${typeof fn === 'string' ? fn : r.name()}`);
};

/** `AWS::Service::Type` -> `service`, `type` (lowercase), for generic ARNs. */
const serviceOf = (type: string): { service: string; kind: string } => {
  const [, service = 'unknown', kind = 'resource'] = type.split('::');
  return { service: service.toLowerCase(), kind: kind.toLowerCase() };
};

/**
 * For a type without facts: Ref is a generated name, Arn a regional ARN of the service with that
 * name. Realistic in length for most services; the caller notes that it was assumed.
 */
export const genericFacts = (type: string): ResourceFacts => ({
  name: { property: 'Name', rule: NAME_RULES.other },
  ref: nameOf,
  attributes: {
    Arn: (r) => {
      const { service, kind } = serviceOf(type);
      return regional(r, service, `${kind}/${r.name()}`);
    },
  },
});

/** Custom resources: their physical id and attributes come from their provider. */
export const isCustomResource = (type: string): boolean =>
  type.startsWith('Custom::') || type === 'AWS::CloudFormation::CustomResource';
