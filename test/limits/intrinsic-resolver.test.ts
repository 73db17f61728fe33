import { awsEnvironmentFor } from '../../lib/limits/aws-environment';
import type { CfnTemplate } from '../../lib/limits/cfn-template';
import { IntrinsicResolver, nestedStackName } from '../../lib/limits/intrinsic-resolver';
import { ResolutionNotes, UNRESOLVED_LENGTH } from '../../lib/limits/resolution-notes';
import { stackTemplatesFromTrees } from '../../lib/limits/stack-templates';

const resolverOf = (
  template: CfnTemplate,
  options: { stackName?: string; region?: string; importedValue?: (name: string) => unknown } = {},
) => {
  const notes = new ResolutionNotes();
  const resolver = new IntrinsicResolver({
    where: 'Stack',
    template,
    stackName: options.stackName ?? 'my-analysis',
    env: awsEnvironmentFor(options.region),
    notes,
    ...(options.importedValue ? { importedValue: options.importedValue } : {}),
  });
  return { resolver, notes };
};

const TEMPLATE: CfnTemplate = {
  Resources: {
    DataBucketDataB8C13C3A: { Type: 'AWS::S3::Bucket' },
    Named: { Type: 'AWS::S3::Bucket', Properties: { BucketName: 'my-own-bucket' } },
    WorkerRoleLabA1234ABCD: { Type: 'AWS::IAM::Role', Properties: { Path: '/ncaas/' } },
    LaunchQueue13845332: { Type: 'AWS::SQS::Queue' },
    Fifo: { Type: 'AWS::SQS::Queue', Properties: { FifoQueue: true } },
    Table: { Type: 'AWS::DynamoDB::GlobalTable' },
    Vpc: { Type: 'AWS::EC2::VPC', Properties: { CidrBlock: '10.0.0.0/16' } },
    Custom: { Type: 'Custom::Thing' },
  },
  Parameters: {
    Size: { Type: 'String', Default: 'large' },
    Zones: { Type: 'CommaDelimitedList', Default: 'a,b' },
    BootstrapVersion: { Type: 'AWS::SSM::Parameter::Value<String>', Default: '/cdk-bootstrap/version' },
  },
  Mappings: { Sizes: { large: { Gib: '100' } } },
};

describe('names and ARNs at their real lengths', () => {
  test('a generated bucket name is {stack}-{logical id, lowercase}-{13 random}, at most 63 characters', () => {
    const { resolver } = resolverOf(TEMPLATE);
    expect(resolver.ref('DataBucketDataB8C13C3A')).toMatch(
      /^my-analysis-databucketdatab8c13c3a-[a-z0-9]{13}$/,
    );
    expect(resolver.attribute('DataBucketDataB8C13C3A', 'Arn')).toBe(
      `arn:aws:s3:::${String(resolver.ref('DataBucketDataB8C13C3A'))}`,
    );
    const long = resolverOf(TEMPLATE, { stackName: 'a-very-long-analysis-name-for-many-labs' }).resolver;
    const name = String(long.ref('DataBucketDataB8C13C3A'));
    expect(name).toHaveLength(63);
    expect(name).toMatch(/^a-very-long-analysis-na.*-databucketdata.*-[a-z0-9]{13}$/);
  });

  test('a generated role name is {stack}-{logical id}-{12 random}, at most 64; its ARN has its path', () => {
    const { resolver } = resolverOf(TEMPLATE, { stackName: 'an-analysis-with-a-rather-long-name-indeed' });
    const name = String(resolver.ref('WorkerRoleLabA1234ABCD'));
    expect(name).toHaveLength(64);
    expect(name).toMatch(/^an-analysis-with-a-rather.*-WorkerRole.*-[A-Z0-9]{12}$/);
    expect(resolver.attribute('WorkerRoleLabA1234ABCD', 'Arn')).toBe(
      `arn:aws:iam::123456789012:role/ncaas/${name}`,
    );
  });

  test('a name the template sets is used as is', () => {
    const { resolver } = resolverOf(TEMPLATE);
    expect(resolver.ref('Named')).toBe('my-own-bucket');
  });

  test("the stack's region and the partition go into ARNs and URLs; a FIFO queue's name ends in .fifo", () => {
    const { resolver } = resolverOf(TEMPLATE, { region: 'eu-west-1' });
    const queue = String(resolver.attribute('LaunchQueue13845332', 'QueueName'));
    expect(resolver.ref('LaunchQueue13845332')).toBe(
      `https://sqs.eu-west-1.amazonaws.com/123456789012/${queue}`,
    );
    expect(resolver.attribute('Table', 'Arn')).toMatch(
      /^arn:aws:dynamodb:eu-west-1:123456789012:table\/my-analysis-Table-/,
    );
    expect(String(resolver.ref('Fifo'))).toMatch(/\.fifo$/);
    expect(resolver.ref('Vpc')).toMatch(/^vpc-[0-9a-f]{17}$/);
    expect(resolver.attribute('Vpc', 'CidrBlock')).toBe('10.0.0.0/16');
    expect(resolverOf(TEMPLATE, { region: 'cn-north-1' }).resolver.attribute('Named', 'Arn')).toBe(
      'arn:aws-cn:s3:::my-own-bucket',
    );
  });

  test('without a region (CDK unknown-region) the stack is measured in us-east-1', () => {
    expect(awsEnvironmentFor('unknown-region').region).toBe('us-east-1');
    expect(awsEnvironmentFor(undefined)).toEqual({
      account: '123456789012',
      region: 'us-east-1',
      partition: 'aws',
      urlSuffix: 'amazonaws.com',
    });
  });
});

describe('intrinsic functions', () => {
  const { resolver, notes } = resolverOf(TEMPLATE);
  const bucket = String(resolver.ref('DataBucketDataB8C13C3A'));

  test('Ref of pseudo parameters and parameters (default, list)', () => {
    expect(
      resolver.resolve(
        [
          'AWS::AccountId',
          'AWS::Region',
          'AWS::Partition',
          'AWS::URLSuffix',
          'AWS::StackName',
          'Size',
          'Zones',
        ].map((name) => ({ Ref: name })),
        'x',
      ),
    ).toEqual(['123456789012', 'us-east-1', 'aws', 'amazonaws.com', 'my-analysis', 'large', ['a', 'b']]);
    expect(resolver.ref('AWS::StackId')).toMatch(
      /^arn:aws:cloudformation:us-east-1:123456789012:stack\/my-analysis\/[0-9a-f-]{36}$/,
    );
  });

  test('Fn::Join, Fn::Sub (variables, ${!literal}, ${X.Attr}), Fn::Select, Fn::Split, Fn::GetAZs, Fn::FindInMap', () => {
    expect(
      resolver.resolve({ 'Fn::Join': ['/', [{ Ref: 'DataBucketDataB8C13C3A' }, 'labA', '*']] }, 'x'),
    ).toBe(`${bucket}/labA/*`);
    expect(
      resolver.resolve(
        {
          'Fn::Sub': ['${DataBucketDataB8C13C3A.Arn}/${Group}/${!Literal}:${AWS::Region}', { Group: 'labB' }],
        },
        'x',
      ),
    ).toBe(`arn:aws:s3:::${bucket}/labB/\${Literal}:us-east-1`);
    expect(resolver.resolve({ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::${DataBucketDataB8C13C3A}' }, 'x')).toBe(
      `arn:aws:s3:::${bucket}`,
    );
    expect(resolver.resolve({ 'Fn::Select': [1, { 'Fn::Split': [',', 'a,bb,ccc'] }] }, 'x')).toBe('bb');
    expect(resolver.resolve({ 'Fn::Select': [0, { 'Fn::GetAZs': '' }] }, 'x')).toBe('us-east-1a');
    expect(resolver.resolve({ 'Fn::FindInMap': ['Sizes', { Ref: 'Size' }, 'Gib'] }, 'x')).toBe('100');
    expect(resolver.resolve({ 'Fn::Base64': 'hi' }, 'x')).toBe('aGk=');
  });

  test('Fn::If is measured by its larger branch; AWS::NoValue removes the value', () => {
    expect(
      resolver.resolve({ 'Fn::If': ['C', 'short', { 'Fn::Join': ['', ['a', 'much longer one']] }] }, 'x'),
    ).toBe('amuch longer one');
    expect(resolver.resolve({ 'Fn::If': ['C', { Ref: 'AWS::NoValue' }, 'kept'] }, 'x')).toBe('kept');
    expect(resolver.resolve({ A: { Ref: 'AWS::NoValue' }, B: [1, { Ref: 'AWS::NoValue' }, 2] }, 'x')).toEqual(
      {
        B: [1, 2],
      },
    );
  });

  test('Fn::ImportValue: the exporting stack of the assembly, or a stand-in and a note', () => {
    const imports = resolverOf(TEMPLATE, {
      importedValue: (name) => (name === 'Shared:Vpc' ? 'vpc-0123' : undefined),
    });
    expect(imports.resolver.resolve({ 'Fn::ImportValue': 'Shared:Vpc' }, 'x')).toBe('vpc-0123');
    expect(String(imports.resolver.resolve({ 'Fn::ImportValue': 'Other' }, 'Res'))).toHaveLength(
      UNRESOLVED_LENGTH,
    );
    expect(imports.notes.list).toEqual([
      expect.stringMatching(/^Stack\/Res: Fn::ImportValue Other cannot be resolved/),
    ]);
  });

  test('an unknown intrinsic, a custom resource attribute or an SSM parameter: a 128-character stand-in and a note, never a throw', () => {
    const value = resolver.resolve(
      {
        a: { 'Fn::Transform': { Name: 'X' } },
        b: { 'Fn::GetAtt': ['Custom', 'Token'] },
        c: { Ref: 'BootstrapVersion' },
        d: { Ref: 'Nowhere' },
      },
      'Res',
    ) as Record<string, string>;
    for (const key of ['a', 'b', 'c', 'd']) expect(value[key]).toHaveLength(UNRESOLVED_LENGTH);
    expect(notes.list).toEqual(
      expect.arrayContaining([
        expect.stringContaining('Stack/Res: Fn::Transform cannot be resolved'),
        expect.stringContaining('Fn::GetAtt Custom.Token (set by the Custom::Thing provider)'),
        expect.stringContaining("parameter BootstrapVersion (an SSM parameter's value)"),
        expect.stringContaining('Ref Nowhere (not in the template)'),
      ]),
    );
  });
});

describe('nested stacks', () => {
  const parent: CfnTemplate = {
    Resources: {
      DataBucketDataB8C13C3A: { Type: 'AWS::S3::Bucket' },
      GroupsNestedStackResource: {
        Type: 'AWS::CloudFormation::Stack',
        Properties: {
          Parameters: { referencetoBucketArn: { 'Fn::GetAtt': ['DataBucketDataB8C13C3A', 'Arn'] } },
          TemplateURL: 'https://example/groups.json',
        },
      },
    },
    Outputs: { WorkerRole: { Value: { 'Fn::GetAtt': ['GroupsNestedStackResource', 'Outputs.RoleArn'] } } },
  };
  const child: CfnTemplate = {
    Parameters: { referencetoBucketArn: { Type: 'String' }, Unused: { Type: 'String', Default: 'dflt' } },
    Resources: { WorkerRole: { Type: 'AWS::IAM::Role' } },
    Outputs: { RoleArn: { Value: { 'Fn::GetAtt': ['WorkerRole', 'Arn'] } } },
  };
  const notes = new ResolutionNotes();
  const root = stackTemplatesFromTrees(
    { template: parent, nested: { GroupsNestedStackResource: { template: child } } },
    { stackName: 'mock', where: 'AnalysisStack', env: awsEnvironmentFor('us-east-1'), notes },
  );
  const nested = root.nested.get('GroupsNestedStackResource');

  test("a nested stack's parameter is the value its parent passes, resolved in the parent", () => {
    expect(nested?.where).toBe('AnalysisStack/GroupsNestedStackResource');
    expect(nested?.resolver.ref('referencetoBucketArn')).toBe(
      root.resolver.attribute('DataBucketDataB8C13C3A', 'Arn'),
    );
    expect(nested?.resolver.ref('Unused')).toBe('dflt');
  });

  test("a nested stack is named {parent}-{logical id}-{13 random}; its resources' names start with it", () => {
    expect(nested?.stackName).toBe(nestedStackName('mock', 'GroupsNestedStackResource'));
    expect(nested?.stackName).toMatch(/^mock-GroupsNestedStackResource-[A-Z0-9]{13}$/);
    expect(String(nested?.resolver.ref('WorkerRole'))).toMatch(
      /^mock-GroupsNestedStackResource-[A-Z0-9]+-WorkerRole-[A-Z0-9]{12}$/,
    );
    expect(String(nested?.resolver.ref('WorkerRole'))).toHaveLength(64);
  });

  test("Fn::GetAtt [Stack, Outputs.X] in the parent is the nested stack's output", () => {
    expect(root.resolver.resolve(parent.Outputs?.WorkerRole.Value, 'WorkerRole')).toBe(
      nested?.resolver.attribute('WorkerRole', 'Arn'),
    );
    expect(notes.list).toEqual([]);
  });
});
