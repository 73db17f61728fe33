/**
 * Each measurement on small hand-written templates, at its limit (not exceeded) and one unit over
 * (exceeded). The expected sizes come from the resolved documents written out here by hand, so a
 * measurement that resolves or counts differently lands off the boundary and fails.
 */
import { awsEnvironmentFor } from '../../lib/limits/aws-environment';
import { AWS_LIMITS } from '../../lib/limits/aws-limits';
import type { CfnTemplate } from '../../lib/limits/cfn-template';
import { templateFileBytes } from '../../lib/limits/cfn-template';
import { measureBucketNotifications } from '../../lib/limits/bucket-notification-measure';
import { measureStackTemplates } from '../../lib/limits/check-assembly-limits';
import { formatExceeded, formatExceededLimits } from '../../lib/limits/format-limits';
import { filterPolicyCombinations } from '../../lib/limits/sns-filter-policy-measures';
import { type AwsLimit, isExceeded } from '../../lib/limits/limit-measurement';
import { ResolutionNotes } from '../../lib/limits/resolution-notes';
import { stackTemplatesFromTrees, type TemplateTree } from '../../lib/limits/stack-templates';

const measureTree = (tree: TemplateTree) => {
  const notes = new ResolutionNotes();
  const root = stackTemplatesFromTrees(tree, {
    stackName: 'mock',
    where: 'Stack',
    env: awsEnvironmentFor('us-east-1'),
    notes,
  });
  return { measurements: measureStackTemplates(root), notes: notes.list };
};

/** The padding that brings `size(build(pad))` to exactly `target`. */
const padFor = <T>(target: number, build: (pad: string) => T, size: (value: T) => number): string => {
  const missing = target - size(build(''));
  if (missing < 0) throw new Error(`the document is already ${-missing} over ${target}`);
  return 'x'.repeat(missing);
};

const bytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), 'utf8');
const iamCharacters = (value: unknown): number => [...JSON.stringify(value).replace(/\s/g, '')].length;

const BUCKET = { Type: 'AWS::S3::Bucket', Properties: { BucketName: 'ncaas-data' } };

/** A policy as written in the template (intrinsics), and as AWS receives it. */
const policy = (pad: string) => {
  const statement = (resource: unknown, principal: unknown) => ({
    Sid: `Allow${pad}`,
    Effect: 'Allow',
    Principal: { AWS: principal },
    Action: ['s3:GetObject', 's3:ListBucket'],
    Resource: resource,
    Condition: { StringLike: { 's3:prefix': ['labé/ my data/*'] } },
  });
  return {
    template: {
      Version: '2012-10-17',
      Statement: [
        statement(
          { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Bucket', 'Arn'] }, '/labA/*']] },
          { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:user/alice' },
        ),
      ],
    },
    resolved: {
      Version: '2012-10-17',
      Statement: [statement('arn:aws:s3:::ncaas-data/labA/*', 'arn:aws:iam::123456789012:user/alice')],
    },
  };
};

interface BoundaryCase {
  readonly limit: AwsLimit;
  readonly where: string;
  /** A template whose measurement is `size`. */
  readonly build: (size: number) => TemplateTree;
}

const many = <T>(count: number, item: (i: number) => T): Record<string, T> =>
  Object.fromEntries(Array.from({ length: count }, (_, i) => [`Item${i}`, item(i)]));

const policyCase = (
  limit: AwsLimit,
  size: (v: unknown) => number,
  place: (doc: unknown) => TemplateTree,
) => ({
  limit,
  where: 'Stack/Subject',
  build: (target: number) => {
    const pad = padFor(target, (p) => policy(p).resolved, size);
    return place(policy(pad).template);
  },
});

const CASES: BoundaryCase[] = [
  {
    limit: AWS_LIMITS.templateSize,
    where: 'Stack',
    build: (size) => {
      const template = (pad: string): CfnTemplate => ({
        Description: pad,
        Resources: { Topic: { Type: 'AWS::SNS::Topic' } },
      });
      return { template: template(padFor(size, template, templateFileBytes)) };
    },
  },
  {
    limit: AWS_LIMITS.resources,
    where: 'Stack',
    build: (size) => ({ template: { Resources: many(size, () => ({ Type: 'AWS::SNS::Topic' })) } }),
  },
  {
    limit: AWS_LIMITS.outputs,
    where: 'Stack',
    build: (size) => ({ template: { Outputs: many(size, (i) => ({ Value: `v${i}` })) } }),
  },
  {
    limit: AWS_LIMITS.parameters,
    where: 'Stack',
    build: (size) => ({ template: { Parameters: many(size, () => ({ Type: 'String' })) } }),
  },
  {
    limit: AWS_LIMITS.mappings,
    where: 'Stack',
    build: (size) => ({ template: { Mappings: many(size, () => ({ a: { b: 'c' } })) } }),
  },
  policyCase(AWS_LIMITS.bucketPolicy, bytes, (doc) => ({
    template: {
      Resources: {
        Bucket: BUCKET,
        Subject: {
          Type: 'AWS::S3::BucketPolicy',
          Properties: { Bucket: { Ref: 'Bucket' }, PolicyDocument: doc },
        },
      },
    },
  })),
  policyCase(AWS_LIMITS.accessPointPolicy, bytes, (doc) => ({
    template: {
      Resources: {
        Bucket: BUCKET,
        Subject: { Type: 'AWS::S3::AccessPoint', Properties: { Bucket: { Ref: 'Bucket' }, Policy: doc } },
      },
    },
  })),
  policyCase(AWS_LIMITS.managedPolicy, iamCharacters, (doc) => ({
    template: {
      Resources: {
        Bucket: BUCKET,
        Subject: { Type: 'AWS::IAM::ManagedPolicy', Properties: { PolicyDocument: doc } },
      },
    },
  })),
  policyCase(AWS_LIMITS.trustPolicyDefault, iamCharacters, (doc) => ({
    template: {
      Resources: {
        Bucket: BUCKET,
        Subject: { Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: doc } },
      },
    },
  })),
  policyCase(AWS_LIMITS.trustPolicyMaximum, iamCharacters, (doc) => ({
    template: {
      Resources: {
        Bucket: BUCKET,
        Subject: { Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: doc } },
      },
    },
  })),
  {
    // The role's own Policies, an AWS::IAM::Policy naming it, and one in a nested stack naming it
    // through a parameter: one total.
    limit: AWS_LIMITS.roleInlinePolicies,
    where: 'Stack/Subject',
    build: (size) => {
      const own = policy('Own');
      const nested = policy('Nested');
      const fixed = iamCharacters(own.resolved) + iamCharacters(nested.resolved);
      const attached = policy(padFor(size - fixed, (p) => policy(p).resolved, iamCharacters));
      return {
        template: {
          Resources: {
            Bucket: BUCKET,
            Subject: {
              Type: 'AWS::IAM::Role',
              Properties: {
                AssumeRolePolicyDocument: {},
                Policies: [{ PolicyName: 'own', PolicyDocument: own.template }],
              },
            },
            Attached: {
              Type: 'AWS::IAM::Policy',
              Properties: { Roles: [{ Ref: 'Subject' }], PolicyDocument: attached.template },
            },
            Groups: {
              Type: 'AWS::CloudFormation::Stack',
              Properties: {
                Parameters: { RoleName: { Ref: 'Subject' }, BucketArn: { 'Fn::GetAtt': ['Bucket', 'Arn'] } },
              },
            },
          },
        },
        nested: {
          Groups: {
            template: {
              Parameters: { RoleName: { Type: 'String' }, BucketArn: { Type: 'String' } },
              Resources: {
                Bucket: BUCKET,
                InNested: {
                  Type: 'AWS::IAM::Policy',
                  Properties: { Roles: [{ Ref: 'RoleName' }], PolicyDocument: nested.template },
                },
              },
            },
          },
        },
      };
    },
  },
  {
    limit: AWS_LIMITS.lambdaEnvironment,
    where: 'Stack/Subject',
    build: (size) => {
      const resolved = (pad: string) => ({ BUCKET: 'ncaas-data', ÉTÉ: 'é', PAD: pad });
      const variableBytes = (v: Record<string, string>) =>
        Object.entries(v).reduce((sum, [k, x]) => sum + Buffer.byteLength(k) + Buffer.byteLength(x), 0);
      const pad = padFor(size, resolved, variableBytes);
      return {
        template: {
          Resources: {
            Bucket: BUCKET,
            Subject: {
              Type: 'AWS::Lambda::Function',
              Properties: { Environment: { Variables: { ...resolved(pad), BUCKET: { Ref: 'Bucket' } } } },
            },
          },
        },
      };
    },
  },
  {
    limit: AWS_LIMITS.bucketNotifications,
    where: 'Stack/Subject',
    build: (size) => ({
      template: {
        Resources: {
          Subject: {
            Type: 'AWS::S3::Bucket',
            Properties: {
              NotificationConfiguration: { QueueConfigurations: [{ Event: 's3:ObjectCreated:*' }] },
            },
          },
          Notifications: {
            Type: 'Custom::S3BucketNotifications',
            Properties: {
              BucketName: { Ref: 'Subject' },
              NotificationConfiguration: {
                LambdaFunctionConfigurations: Array.from({ length: size - 2 }, () => ({
                  Events: ['s3:ObjectCreated:*'],
                })),
                TopicConfigurations: [{ Events: ['s3:ObjectRemoved:*'] }],
              },
            },
          },
        },
      },
    }),
  },
  {
    limit: AWS_LIMITS.snsFilterPolicySize,
    where: 'Stack/Subject',
    build: (size) => {
      const filter = (pad: string) => ({ event: [pad] });
      return {
        template: {
          Resources: {
            Subject: {
              Type: 'AWS::SNS::Subscription',
              Properties: { FilterPolicy: filter(padFor(size, filter, bytes)) },
            },
          },
        },
      };
    },
  },
  {
    limit: AWS_LIMITS.snsFilterPolicyCombinations,
    where: 'Stack/Subject',
    build: (size) => ({
      template: {
        Resources: {
          Subject: {
            Type: 'AWS::SNS::Subscription',
            Properties: { FilterPolicy: { event: Array.from({ length: size }, (_, i) => `e${i}`) } },
          },
        },
      },
    }),
  },
  {
    limit: AWS_LIMITS.userData,
    where: 'Stack/Subject',
    build: (size) => ({
      template: {
        Resources: {
          Bucket: BUCKET,
          Subject: {
            Type: 'AWS::EC2::LaunchTemplate',
            Properties: {
              LaunchTemplateData: {
                UserData: {
                  'Fn::Base64': {
                    'Fn::Join': [
                      '',
                      [
                        '#!/bin/sh\necho ',
                        { Ref: 'Bucket' },
                        '\n#',
                        'é'.repeat(5), // 15 + 10 + 2 + 10 bytes before the padding.
                        'x'.repeat(size - 37),
                      ],
                    ],
                  },
                },
              },
            },
          },
        },
      },
    }),
  },
];

describe.each(CASES.map((c) => [c.limit.name, c] as const))('%s', (_name, { limit, where, build }) => {
  test.each([
    ['at the limit: within', limit.maximum],
    ['one over: exceeded', limit.maximum + 1],
  ])('%s', (_label, size) => {
    const { measurements, notes } = measureTree(build(size));
    const found = measurements.filter((m) => m.name === limit.name && m.where === where);
    expect(found.map((m) => m.value)).toEqual([size]);
    expect(isExceeded(found[0])).toBe(size > limit.maximum);
    expect(notes).toEqual([]);
  });
});

test('SNS filter policy combinations: nested keys multiply, $or alternatives add up', () => {
  expect(
    filterPolicyCombinations({
      a: ['1', '2', '3'],
      b: { c: [1, 2, 3, 4, 5] },
      $or: [{ d: [1, 2] }, { e: [1, 2, 3, 4] }],
    }),
  ).toBe(90);
});

test('notifications are counted per bucket, by its resolved name, across resources', () => {
  const found = measureBucketNotifications(
    [
      measureTreeStacks({
        Resources: {
          Data: { Type: 'AWS::S3::Bucket' },
          Other: { Type: 'AWS::S3::Bucket' },
          A: notifications('Data', 3),
          B: notifications('Data', 2),
          C: notifications('Other', 1),
        },
      }),
    ].flat(),
  );
  expect(found.map((m) => [m.where, m.value])).toEqual([
    ['Stack/Data', 5],
    ['Stack/Other', 1],
  ]);
});

const notifications = (bucket: string, count: number) => ({
  Type: 'Custom::S3BucketNotifications',
  Properties: {
    BucketName: { Ref: bucket },
    NotificationConfiguration: { QueueConfigurations: Array.from({ length: count }, () => ({})) },
  },
});

const measureTreeStacks = (template: CfnTemplate) =>
  stackTemplatesFromTrees(
    { template },
    { stackName: 'mock', where: 'Stack', env: awsEnvironmentFor('us-east-1'), notes: new ResolutionNotes() },
  );

describe('format', () => {
  const over = measureTree(CASES[5].build(AWS_LIMITS.bucketPolicy.maximum + 1));
  test('one line per broken limit: the limit, where, the value, the maximum and the fix', () => {
    const [line] = formatExceededLimits({ stack: 'Stack', measurements: over.measurements, notes: [] });
    expect(line).toBe(
      `limit exceeded: S3 bucket policy size in Stack/Subject: 20481 > 20480 bytes (${AWS_LIMITS.bucketPolicy.fix})`,
    );
    expect(AWS_LIMITS.bucketPolicy.fix).toContain('UXData.Affiliates[].UserNames');
  });

  test('a limit the account can raise is a warning, listed after the errors', () => {
    const trust = measureTree(CASES[8].build(AWS_LIMITS.trustPolicyDefault.maximum + 1));
    const lines = formatExceededLimits({
      stack: 'Stack',
      measurements: [...trust.measurements, ...over.measurements],
      notes: [],
    });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^limit exceeded: S3 bucket policy size/);
    expect(lines[1]).toMatch(
      /^limit warning: IAM role trust policy length \(default quota\) in Stack\/Subject: 2049 > 2048 characters \(ask for the IAM quota "Role trust policy length"/,
    );
    expect(
      formatExceeded(trust.measurements.find((m) => m.name === AWS_LIMITS.trustPolicyMaximum.name)!),
    ).toMatch(/^limit exceeded: IAM role trust policy length in Stack\/Subject: 2049 > 4096/);
  });
});
