/**
 * A CDK app with N analyses (bench/synth.ts runs it as a child process, as `cdk synth` would):
 * `tsx bench/synth-app.ts <N> <outdir>`. Lambdas are bundled for real (local esbuild).
 */
import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AnalysisStack } from '../lib/analysis-stack';
import { parseBlueprint } from '../lib/blueprint/load-blueprint';
import { FEATURE_FLAGS } from '../lib/feature-flags';

const count = Number(process.argv[2] ?? '1');
const outdir = process.argv[3] ?? fs.mkdtempSync('/tmp/ncaas-synth-');
const sources = [
  path.join(__dirname, '..', 'blueprints', 'mock.json'),
  ...fs
    .readdirSync(path.join(__dirname, '..', 'test', 'fixtures', 'neurocaas', 'blueprints'))
    .map((f) => path.join(__dirname, '..', 'test', 'fixtures', 'neurocaas', 'blueprints', f)),
];

const app = new App({ outdir, context: FEATURE_FLAGS });
for (let i = 0; i < count; i++) {
  const file = sources[i % sources.length];
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  json.PipelineName = `bench-${i}`;
  const parsed = parseBlueprint(json, file);
  if (!parsed.ok) throw new Error(`${file}: ${JSON.stringify(parsed.problems)}`);
  new AnalysisStack(app, `AnalysisStack${i}`, {
    config: parsed.config,
    env: { region: parsed.config.region },
  });
}
Aspects.of(app).add(new AwsSolutionsChecks());
app.synth();
