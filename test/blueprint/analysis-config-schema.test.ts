/**
 * The analysis config as the deployed handlers parse it at cold start (lib/blueprint/analysis-config-schema.ts):
 * every config the loader makes reads back unchanged, and a wrong one fails naming its fields.
 */
import * as path from 'node:path';
import type {
  AdoptedResources,
  AnalysisConfig,
  BatchRuntimeConfig,
  Ec2RuntimeConfig,
  ExistingVpcConfig,
  GroupConfig,
} from '../../lib/blueprint/analysis-config';
import { parseAnalysisConfig } from '../../lib/blueprint/analysis-config-schema';
import type { BlueprintProvenance } from '../../lib/blueprint/provenance';
import { loadBlueprintFile } from '../../lib/blueprint/load-blueprint';
import { handlerConfig } from '../../lib/constructs/control-plane';

const blueprint = (name: string): AnalysisConfig =>
  loadBlueprintFile(path.join(__dirname, '..', '..', 'blueprints', name));

const group: Required<GroupConfig> = {
  name: 'labA',
  userNames: ['alice-us-east-1'],
  userEmails: ['alice@lab.example'],
  userInput: true,
  contactEmail: 'pi@lab.example',
  rcloneConfigSecret: 'ncaas/labA/rclone',
};

// `Required<…>`: a member added to the config's types without a value here fails to compile, and one
// the schema does not know fails the first test (strict objects).
const everything: Required<AnalysisConfig> = {
  ...blueprint('mock.json'),
  ec2: {
    ami: 'ami-0123456789abcdef0',
    instanceType: 'm5.xlarge',
    spot: true,
  } satisfies Required<Ec2RuntimeConfig>,
  batch: {
    image: 'public.ecr.aws/x/y:1',
    vcpus: 2,
    memoryMiB: 4096,
    gpus: 1,
    stagingImage: 'public.ecr.aws/x/stage:1',
    spot: true,
  } satisfies Required<BatchRuntimeConfig>,
  remoteSources: { image: 'rclone/rclone:1.68' },
  provenance: {
    file: 'blueprints/mock.json',
    commit: '0123456789abcdef0123456789abcdef01234567',
    uncommittedEdits: false,
  } satisfies Required<BlueprintProvenance>,
  workingDirectory: '/home/ubuntu/analysis',
  groups: [group],
  existingVpc: {
    vpcId: 'vpc-0123456789abcdef0',
    availabilityZones: ['us-east-1a'],
    subnetIds: ['subnet-0123456789abcdef0'],
  } satisfies Required<ExistingVpcConfig>,
  notifications: {
    emails: ['ops@lab.example'],
    events: ['BEGIN', 'END', 'FAIL', 'RETRY'],
    groups: [{ group: 'labA', events: ['FAIL'], emails: ['pi@lab.example'] }],
  },
  adopt: {
    bucketName: 'old-bucket',
    tableName: 'old-table',
    fileSystemId: 'fs-0123456789abcdef0',
  } satisfies Required<AdoptedResources>,
  ignoredKeys: ['$.LambdaConfig.REGION'],
  warnings: ['SHUTDOWN_BEHAVIOR "stop" replaced by terminate'],
};

test.each([
  ['the EC2 mock blueprint', blueprint('mock.json')],
  ['the Batch mock blueprint', blueprint('mock-batch.json')],
  ['a config with every optional member', everything],
])('%s reads back unchanged, as loaded and as the handlers get it', (_what, config) => {
  expect(parseAnalysisConfig(JSON.stringify(config), 'test')).toEqual(config);
  const forHandlers = handlerConfig(config);
  expect(parseAnalysisConfig(JSON.stringify(forHandlers), 'test')).toEqual(forHandlers);
});

const broken = (change: (config: Record<string, unknown>) => void): string => {
  const config = JSON.parse(JSON.stringify(everything)) as Record<string, unknown>;
  change(config);
  return JSON.stringify(config);
};

test.each([
  ['not JSON', '{"name": ', /analysis-config\.json is not JSON .*deploy the stack again/],
  ['an array', '[]', /the whole file \(invalid type\)/],
  [
    'a runtime it does not know',
    broken((c) => (c.runtime = 'kubernetes')),
    /: runtime \(invalid value\)\. It is written when the stack is synthesized/,
  ],
  [
    "a group's name as a number",
    broken((c) => ((c.groups as Record<string, unknown>[])[0].name = 7)),
    /groups\[0\]\.name \(invalid type\)/,
  ],
  ['a member of another version', broken((c) => (c.launchRetries = 5)), /unknown member launchRetries/],
  [
    'markup and shell text where a number belongs',
    broken((c) => (c.deployLimit = '<script>$(reboot)</script>')),
    /deployLimit \(invalid type\)/,
  ],
  [
    'a missing member, among others',
    broken((c) => {
      delete c.limits;
      c.monitor = 'yes';
    }),
    /monitor \(invalid type\); limits \(invalid type\)|limits \(invalid type\); monitor \(invalid type\)/,
  ],
])('%s: the error names the field', (_what, json, says) => {
  expect(() => parseAnalysisConfig(json, 'analysis-config.json')).toThrow(says);
});

test('a huge config with a thousand bad groups names at most five fields', () => {
  const json = broken((c) => (c.groups = Array.from({ length: 1000 }, () => ({ name: 1 }))));
  let message = '';
  try {
    parseAnalysisConfig(json, 'analysis-config.json');
  } catch (error) {
    message = (error as Error).message;
  }
  expect(message.match(/groups\[\d+\]/g)).toHaveLength(5);
  expect(message.length).toBeLessThan(600);
});
