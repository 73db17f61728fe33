/** Each SNS subscription's filter policy: its size, and how many value combinations it makes. */
import { AWS_LIMITS } from './aws-limits';
import { isRecord, resourcesOfType } from './cfn-template';
import { type LimitMeasurement, measured } from './limit-measurement';
import { minifiedJsonBytes } from './policy-size';
import type { StackTemplate } from './stack-templates';

/**
 * SNS's count: the product of the number of values in each array (nested keys multiply too); the
 * alternatives of an `$or` add up.
 */
export const filterPolicyCombinations = (policy: unknown): number => {
  if (!isRecord(policy)) return 1;
  let total = 1;
  for (const [key, value] of Object.entries(policy)) {
    if (key === '$or' && Array.isArray(value)) {
      total *= value.reduce((sum: number, alternative) => sum + filterPolicyCombinations(alternative), 0);
    } else if (Array.isArray(value)) total *= Math.max(1, value.length);
    else if (isRecord(value)) total *= filterPolicyCombinations(value);
  }
  return total;
};

export const measureSnsFilterPolicies = (stacks: readonly StackTemplate[]): LimitMeasurement[] =>
  stacks.flatMap(({ where, template, resolver }) =>
    resourcesOfType(template, 'AWS::SNS::Subscription')
      .filter(([, subscription]) => subscription.Properties?.FilterPolicy !== undefined)
      .flatMap(([id, subscription]) => {
        const resolved = resolver.resolve(subscription.Properties?.FilterPolicy, id);
        const policy: unknown = typeof resolved === 'string' ? safeJson(resolved) : resolved;
        return [
          measured(AWS_LIMITS.snsFilterPolicySize, `${where}/${id}`, minifiedJsonBytes(resolved)),
          measured(
            AWS_LIMITS.snsFilterPolicyCombinations,
            `${where}/${id}`,
            filterPolicyCombinations(policy),
          ),
        ];
      }),
  );

const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};
