/**
 * What bills by the hour while no job runs, read from synthesized templates (mock, a batch analysis,
 * every NeuroCAAS fixture): resources with an hourly charge are counted and priced; the sum must be
 * $0/hour. Hourly list prices (us-east-1) are only for the report: any count above zero is the finding.
 *   npx tsx bench/idle-cost.ts
 */
import { App } from 'aws-cdk-lib';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AnalysisStack } from '../lib/analysis-stack';
import { loadBlueprintFile, parseBlueprint } from '../lib/blueprint/load-blueprint';
import type { AnalysisConfig } from '../lib/blueprint/analysis-config';
import { FEATURE_FLAGS } from '../lib/feature-flags';

type Resource = { Type: string; Properties?: Record<string, unknown> };

/** What makes a resource bill while idle, and its hourly list price (us-east-1, for the report). */
const IDLE_CHARGES: { what: string; usdPerHour: number; matches: (r: Resource) => boolean }[] = [
  { what: 'NAT gateway', usdPerHour: 0.045, matches: (r) => r.Type === 'AWS::EC2::NatGateway' },
  {
    what: 'interface VPC endpoint (per AZ)',
    usdPerHour: 0.01,
    matches: (r) => r.Type === 'AWS::EC2::VPCEndpoint' && r.Properties?.VpcEndpointType === 'Interface',
  },
  {
    what: 'load balancer',
    usdPerHour: 0.0225,
    matches: (r) => r.Type.startsWith('AWS::ElasticLoadBalancing'),
  },
  { what: 'EC2 instance', usdPerHour: 0.0104, matches: (r) => r.Type === 'AWS::EC2::Instance' },
  { what: 'Elastic IP', usdPerHour: 0.005, matches: (r) => r.Type === 'AWS::EC2::EIP' },
  { what: 'customer-managed KMS key', usdPerHour: 1 / 730, matches: (r) => r.Type === 'AWS::KMS::Key' },
  {
    what: 'Secrets Manager secret',
    usdPerHour: 0.4 / 730,
    matches: (r) => r.Type === 'AWS::SecretsManager::Secret',
  },
  {
    what: 'provisioned DynamoDB capacity',
    usdPerHour: 0.00065,
    matches: (r) =>
      (r.Type === 'AWS::DynamoDB::Table' || r.Type === 'AWS::DynamoDB::GlobalTable') &&
      r.Properties?.BillingMode !== 'PAY_PER_REQUEST',
  },
  {
    what: 'provisioned EFS throughput',
    usdPerHour: 6 / 730,
    matches: (r) => r.Type === 'AWS::EFS::FileSystem' && r.Properties?.ThroughputMode === 'provisioned',
  },
  {
    what: 'Batch compute environment with min vCPUs > 0',
    usdPerHour: 0.0416,
    matches: (r) =>
      r.Type === 'AWS::Batch::ComputeEnvironment' &&
      Number((r.Properties?.ComputeResources as { MinvCpus?: number } | undefined)?.MinvCpus ?? 0) > 0,
  },
  {
    what: 'RDS / ElastiCache / OpenSearch',
    usdPerHour: 0.017,
    matches: (r) => /^AWS::(RDS|ElastiCache|OpenSearchService|Elasticsearch)::/.test(r.Type),
  },
];

const synthesize = (config: AnalysisConfig): Record<string, Resource> => {
  const app = new App({ context: { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [] } });
  const stack = new AnalysisStack(app, 'AnalysisStack', { config, env: { region: config.region } });
  const template = app.synth().getStackByName(stack.stackName).template as {
    Resources: Record<string, Resource>;
  };
  return template.Resources;
};

const fixtures = path.join(__dirname, '..', 'test', 'fixtures', 'neurocaas', 'blueprints');
const mockFile = path.join(__dirname, '..', 'blueprints', 'mock.json');
const mock = JSON.parse(fs.readFileSync(mockFile, 'utf8'));
const batch = parseBlueprint(
  {
    ...mock,
    PipelineName: 'mock-batch-idle',
    Runtime: 'batch',
    Container: { Image: 'public.ecr.aws/docker/library/busybox:1.36', Spot: true },
  },
  'batch variant of mock.json',
);
if (!batch.ok) throw new Error(JSON.stringify(batch.problems));
const analyses: [string, AnalysisConfig][] = [
  ['mock.json', loadBlueprintFile(mockFile)],
  ['mock.json as batch', batch.config],
  ...fs
    .readdirSync(fixtures)
    .map((f): [string, AnalysisConfig] => [f, loadBlueprintFile(path.join(fixtures, f))]),
];

console.log('idle cost by the hour, from each synthesized template:');
let worst = 0;
for (const [name, config] of analyses) {
  const resources = Object.values(synthesize(config));
  const found = IDLE_CHARGES.map((c) => ({ ...c, count: resources.filter(c.matches).length })).filter(
    (c) => c.count > 0,
  );
  const usd = found.reduce((sum, c) => sum + c.count * c.usdPerHour, 0);
  worst = Math.max(worst, usd);
  const detail =
    found.length === 0
      ? 'nothing that bills by the hour'
      : found.map((c) => `${c.count} ${c.what}`).join(', ');
  console.log(
    `  ${name.padEnd(28)} ${String(resources.length).padStart(4)} resources  $${usd.toFixed(4)}/hour  (${detail})`,
  );
}
console.log(`  largest idle cost: $${worst.toFixed(4)}/hour across ${analyses.length} analyses (target: $0)`);
if (worst > 0) process.exitCode = 1;
