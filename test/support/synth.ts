import { App, Aspects } from 'aws-cdk-lib';
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AnalysisStack } from '../../lib/analysis-stack';
import type { AnalysisConfig } from '../../lib/blueprint/analysis-config';
import { loadBlueprintFile, parseBlueprint } from '../../lib/blueprint/load-blueprint';
import { FEATURE_FLAGS } from '../../lib/feature-flags';
import { mergedTemplate } from './merged-template';

export const PROJECT_ROOT = path.join(__dirname, '..', '..');
export const FIXTURE_BLUEPRINTS = path.join(PROJECT_ROOT, 'test', 'fixtures', 'neurocaas', 'blueprints');

export interface Synthesized {
  readonly stack: AnalysisStack;
  readonly template: Template;
  /** cdk-nag AwsSolutions findings that were not acknowledged. */
  readonly nagFindings: string[];
}

/** Synthesizes one analysis as `cdk synth` would, minus Lambda bundling (slow, tested by bench/synth). */
export const synthesize = (
  config: AnalysisConfig,
  options: { readonly consoleSiteDir?: string } = {},
): Synthesized => {
  const app = new App({ context: { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [] } });
  const stack = new AnalysisStack(app, 'AnalysisStack', {
    config,
    env: { region: config.region },
    ...(options.consoleSiteDir !== undefined ? { consoleSiteDir: options.consoleSiteDir } : {}),
  });
  Aspects.of(stack).add(new AwsSolutionsChecks());
  // The per-group resources live in nested stacks: tests see one template, as the stack means it.
  const template = mergedTemplate(stack);
  const annotations = Annotations.fromStack(stack);
  const nagFindings = [
    ...annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
    ...annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
  ].map((m) => `${m.id}: ${String(m.entry.data).split('\n')[0]}`);
  return { stack, template, nagFindings };
};

/**
 * A stand-in for the built web console (web/build.ts): its real index.html and an empty app.js, so a
 * stack test needs no bundling. Made once per process.
 */
let standIn: string | undefined;
export const consoleSiteStandIn = (): string => {
  if (standIn === undefined) {
    standIn = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-console-site-'));
    fs.copyFileSync(path.join(PROJECT_ROOT, 'web', 'index.html'), path.join(standIn, 'index.html'));
    fs.writeFileSync(path.join(standIn, 'app.js'), '');
  }
  return standIn;
};

export const synthesizeFile = (file: string): Synthesized => synthesize(loadBlueprintFile(file));

/** A valid blueprint in NeuroCAAS form, for tests to vary. */
export const neurocaasBlueprint = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  PipelineName: 'test-analysis',
  REGION: 'us-east-1',
  STAGE: 'websubstack',
  Lambda: {
    CodeUri: '../../protocols',
    Handler: 'submit_start.handler_develop',
    LambdaConfig: {
      AMI: 'ami-0123456789abcdef0',
      INSTANCE_TYPE: 'm5.xlarge',
      COMMAND: 'cd /home/ubuntu; neurocaas_remote/run_main.sh "{}" "{}" "{}" "{}"; cleanup',
      EXECUTION_TIMEOUT: 180,
      SSM_TIMEOUT: 172000,
      DEPLOY_LIMIT: 100,
      MAXCOST: '300',
      MONITOR: true,
      KEY_NAME: 'testkeystack-custom-dev-key-pair',
    },
  },
  UXData: {
    Affiliates: [
      { AffiliateName: 'lab', UserNames: ['alice', 'bob'], UserInput: true, ContactEmail: 'lab@example.org' },
      {
        AffiliateName: 'lab2',
        UserNames: ['carol'],
        UserInput: true,
        ContactEmail: 'The email we should notify',
      },
    ],
  },
  ...overrides,
});

export const configFrom = (blueprint: Record<string, unknown>, file = 'test.json'): AnalysisConfig => {
  const result = parseBlueprint(blueprint, file);
  if (!result.ok) throw new Error(JSON.stringify(result.problems, null, 2));
  return result.config;
};
