/**
 * One synth of a blueprint with N groups of USERS IAM users, for bench/synth-groups.ts (a fresh
 * process each, as `cdk synth` is): `tsx bench/_synth-groups-app.ts <blueprint.json> <N> <outdir>`.
 * As bin/app.ts (feature flags, cdk-nag) minus Lambda bundling, whose cost does not depend on the
 * groups. Prints one JSON line: synth and check times, each template's size and resources, and the
 * limits report.
 */
import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import * as fs from 'node:fs';
import { AnalysisStack } from '../lib/analysis-stack';
import { parseBlueprint } from '../lib/blueprint/load-blueprint';
import { FEATURE_FLAGS } from '../lib/feature-flags';
import { loadStackTemplates } from '../lib/limits/assembly-templates';
import { checkAssemblyLimits } from '../lib/limits/check-assembly-limits';
import { ResolutionNotes } from '../lib/limits/resolution-notes';
import { allStackTemplates } from '../lib/limits/stack-templates';

export const USERS_PER_GROUP = 5;

const [file, groupsArg, outdir] = process.argv.slice(2);
const groups = Number(groupsArg);
const blueprint = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
blueprint.UXData = {
  Affiliates: Array.from({ length: groups }, (_, g) => ({
    AffiliateName: `lab${String(g + 1).padStart(3, '0')}`,
    UserNames: Array.from({ length: USERS_PER_GROUP }, (__, u) => `researcher-${g + 1}-${u + 1}`),
    UserInput: true,
    ContactEmail: 'NOTE: placeholder',
  })),
};
const parsed = parseBlueprint(blueprint, file);
if (!parsed.ok) throw new Error(`${file}: ${JSON.stringify(parsed.problems)}`);
const config = parsed.config;

const started = process.hrtime.bigint();
const app = new App({ outdir, context: { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [] } });
new AnalysisStack(app, 'AnalysisStack', { config, env: { region: config.region } });
Aspects.of(app).add(new AwsSolutionsChecks());
const assembly = app.synth();
const synthMs = Number(process.hrtime.bigint() - started) / 1e6;

const checked = process.hrtime.bigint();
const report = checkAssemblyLimits(assembly, 'AnalysisStack', { config });
const checkMs = Number(process.hrtime.bigint() - checked) / 1e6;

const templates = allStackTemplates(loadStackTemplates(assembly, 'AnalysisStack', new ResolutionNotes())).map(
  (s) => ({
    where: s.where,
    bytes: s.templateBytes,
    resources: Object.keys(s.template.Resources ?? {}).length,
  }),
);
process.stdout.write(`${JSON.stringify({ synthMs, checkMs, templates, report })}\n`);
