/** Per template: its size as CDK wrote it, and how many resources, outputs, parameters and mappings it declares. */
import { AWS_LIMITS } from './aws-limits';
import { type LimitMeasurement, measured } from './limit-measurement';
import type { StackTemplate } from './stack-templates';

const countOf = (section: Readonly<Record<string, unknown>> | undefined): number =>
  Object.keys(section ?? {}).length;

export const measureTemplates = (stacks: readonly StackTemplate[]): LimitMeasurement[] =>
  stacks.flatMap(({ where, template, templateBytes }) => [
    measured(AWS_LIMITS.templateSize, where, templateBytes),
    measured(AWS_LIMITS.resources, where, countOf(template.Resources)),
    measured(AWS_LIMITS.outputs, where, countOf(template.Outputs)),
    measured(AWS_LIMITS.parameters, where, countOf(template.Parameters)),
    measured(AWS_LIMITS.mappings, where, countOf(template.Mappings)),
  ]);
