/**
 * Measures a synthesized stack against AWS's documented hard limits (./aws-limits.ts), on resolved
 * values with realistic names (./intrinsic-resolver.ts), in the stack's template and every nested
 * stack's. With the blueprint, also the user data its EC2 workers receive at run time.
 *
 * ```ts
 * const report = checkAssemblyLimits(app.synth(), 'AnalysisStack', { config });
 * for (const line of formatExceededLimits(report)) console.error(line);
 * ```
 */
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import type { AnalysisConfig } from '../blueprint/analysis-config';
import { loadStackTemplates, openAssembly } from './assembly-templates';
import { measureBucketNotifications } from './bucket-notification-measure';
import {
  measureManagedPolicies,
  measureRoleInlinePolicies,
  measureTrustPolicies,
} from './iam-policy-measures';
import { measureLambdaEnvironments } from './lambda-environment-measure';
import { measureTemplateUserData } from './launch-template-user-data-measure';
import { isExceeded, type LimitMeasurement } from './limit-measurement';
import { generatedName, NAME_RULES } from './physical-names';
import { ResolutionNotes } from './resolution-notes';
import { measureS3Policies } from './s3-policy-measures';
import { measureSnsFilterPolicies } from './sns-filter-policy-measures';
import { allStackTemplates, type StackTemplate } from './stack-templates';
import { measureTemplates } from './template-measures';
import { measureWorkerUserData } from './worker-user-data-measure';

export interface LimitsReport {
  /** The stack measured (its display name, `AnalysisStack`). */
  readonly stack: string;
  /** Every measurement, within its limit or not. */
  readonly measurements: readonly LimitMeasurement[];
  /** What the resolver assumed (./resolution-notes.ts) and what was not measured. */
  readonly notes: readonly string[];
}

export interface CheckLimitsOptions {
  /** The stack's blueprint: its EC2 workers' user data (built at run time) is measured too. */
  readonly config?: AnalysisConfig;
}

/** Every template measurement of a stack and its nested stacks. */
export const measureStackTemplates = (root: StackTemplate): LimitMeasurement[] => {
  const stacks = allStackTemplates(root);
  return [
    ...measureTemplates(stacks),
    ...measureS3Policies(stacks),
    ...measureManagedPolicies(stacks),
    ...measureRoleInlinePolicies(stacks),
    ...measureTrustPolicies(stacks),
    ...measureLambdaEnvironments(stacks),
    ...measureBucketNotifications(stacks),
    ...measureSnsFilterPolicies(stacks),
    ...measureTemplateUserData(stacks),
  ];
};

/** The data bucket's name as deployed: the stack's `BucketName` output, resolved. */
const dataBucketName = (root: StackTemplate, notes: ResolutionNotes): string => {
  const output = root.template.Outputs?.BucketName;
  if (output) return root.resolver.resolveText(output.Value, 'Outputs.BucketName');
  notes.add(
    `${root.where}: no BucketName output; the workers' bucket is assumed a generated name of 63 characters`,
  );
  // A logical id long enough that the generated name reaches the maximum length.
  return generatedName(
    root.stackName,
    'DataBucket'.padEnd(NAME_RULES.bucket.maxLength, '0'),
    NAME_RULES.bucket,
  );
};

export const checkAssemblyLimits = (
  assembly: string | CloudAssembly,
  stackName: string,
  options: CheckLimitsOptions = {},
): LimitsReport => {
  const notes = new ResolutionNotes();
  const root = loadStackTemplates(openAssembly(assembly), stackName, notes);
  const measurements = measureStackTemplates(root);
  if (options.config) {
    const workers = measureWorkerUserData(options.config, dataBucketName(root, notes));
    measurements.push(...workers.measurements);
    for (const note of workers.notes) notes.add(note);
  }
  return { stack: root.where, measurements, notes: notes.list };
};

/** The measurements over their limit. */
export const exceededLimits = (report: LimitsReport): LimitMeasurement[] =>
  report.measurements.filter(isExceeded);

/** True when a limit whose excess fails the deploy is exceeded (warnings aside). */
export const hasBrokenLimits = (report: LimitsReport): boolean =>
  exceededLimits(report).some((m) => m.severity === 'error');
