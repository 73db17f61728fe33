/**
 * The limits check of one blueprint without deploying anything (`ncaas validate`): the analysis
 * stack synthesized in-process without Lambda bundling (bundles change no measured value) into a
 * temporary folder, measured, and the folder removed.
 */
import { App } from 'aws-cdk-lib';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AnalysisStack } from '../analysis-stack';
import type { AnalysisConfig } from '../blueprint/analysis-config';
import { FEATURE_FLAGS } from '../feature-flags';
import { checkAssemblyLimits, hasBrokenLimits, type LimitsReport } from './check-assembly-limits';
import { formatExceededLimits, formatLargest } from './format-limits';

/** The construct id of the analysis stack (`npx cdk deploy AnalysisStack`). */
export const ANALYSIS_STACK_ID = 'AnalysisStack';

/** The analysis stack of `config`, synthesized into `outdir` as `cdk synth` would, minus Lambda bundling. */
export const synthesizeWithoutBundling = (config: AnalysisConfig, outdir: string): CloudAssembly => {
  const app = new App({ outdir, context: { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [] } });
  new AnalysisStack(app, ANALYSIS_STACK_ID, { config, env: { region: config.region } });
  return app.synth();
};

export const checkBlueprintLimits = (config: AnalysisConfig): LimitsReport => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-limits-'));
  try {
    return checkAssemblyLimits(synthesizeWithoutBundling(config, outdir), ANALYSIS_STACK_ID, { config });
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
};

export interface BlueprintLimitsSummary {
  /** A limit whose excess fails the deploy or a launch is exceeded. */
  readonly broken: boolean;
  /** One line per exceeded limit; when none fails, last `limits: ok (largest: ...)`. */
  readonly lines: readonly string[];
}

/** What `ncaas validate` prints about the limits of the blueprint's stack. */
export const summarizeBlueprintLimits = (config: AnalysisConfig): BlueprintLimitsSummary => {
  const report = checkBlueprintLimits(config);
  const exceeded = formatExceededLimits(report);
  const broken = hasBrokenLimits(report);
  return {
    broken,
    lines: broken ? exceeded : [...exceeded, `limits: ok (largest: ${formatLargest(report)})`],
  };
};
