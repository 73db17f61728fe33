#!/usr/bin/env node
/**
 * The CDK app: `npx cdk synth|deploy AnalysisStack [-c blueprint=<name|path>]` (default `mock`).
 * Offline by default: no lookups, no credentials, no Docker.
 */
import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import * as path from 'node:path';
import { AnalysisStack } from '../lib/analysis-stack';
import { FEATURE_FLAGS } from '../lib/feature-flags';
import {
  BlueprintError,
  blueprintNotice,
  DEFAULT_BLUEPRINT,
  loadBlueprintFile,
  resolveBlueprintPath,
} from '../lib/blueprint/load-blueprint';
import { blueprintProvenance } from '../lib/blueprint/provenance';
import { checkAssemblyLimits, hasBrokenLimits } from '../lib/limits/check-assembly-limits';
import { formatExceededLimits } from '../lib/limits/format-limits';
import { buildConsole } from '../web/build';

const app = new App({ context: FEATURE_FLAGS });
const requested = app.node.tryGetContext('blueprint') as string | undefined;
const file = resolveBlueprintPath(requested ?? DEFAULT_BLUEPRINT, path.join(__dirname, '..', 'blueprints'));
// Which file this synth or deploy uses, before anything can fail (stderr: stdout is cdk's).
console.error(blueprintNotice(requested, file));

const main = async (): Promise<void> => {
  // The blueprint's git commit goes with the config: every job's certificate names it.
  const config = { ...loadBlueprintFile(file), provenance: blueprintProvenance(file) };
  // The web console the stack serves (with sign-in on): built now, the same files as `npm run build:web`.
  const consoleSite = config.signIn.enabled
    ? await buildConsole(path.join(__dirname, '..', 'web', 'dist'))
    : undefined;
  new AnalysisStack(app, 'AnalysisStack', {
    config,
    ...(consoleSite !== undefined ? { consoleSiteDir: consoleSite.dir } : {}),
    env: { region: config.region, account: process.env.CDK_DEFAULT_ACCOUNT },
    description: `ncaas analysis ${config.name} (blueprint ${path.basename(file)})`,
  });
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  // AWS's hard limits on the synthesized templates, with realistic names (lib/limits/): a stack over
  // one would fail at deploy or at a worker's launch, so say now which, by how much and what to change.
  const limits = checkAssemblyLimits(app.synth(), 'AnalysisStack', { config });
  for (const line of formatExceededLimits(limits)) console.error(line);
  if (hasBrokenLimits(limits)) process.exit(1);
};

main().catch((err: unknown) => {
  if (err instanceof BlueprintError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
});
