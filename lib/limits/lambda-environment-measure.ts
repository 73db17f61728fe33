/** Each Lambda function's environment: the bytes of every variable's name and resolved value. */
import { AWS_LIMITS } from './aws-limits';
import { isRecord, resourcesOfType } from './cfn-template';
import { type LimitMeasurement, measured } from './limit-measurement';
import type { StackTemplate } from './stack-templates';

/** Bytes of the variables' names and values, as Lambda counts them. */
export const environmentBytes = (variables: unknown): number =>
  Object.entries(isRecord(variables) ? variables : {}).reduce(
    (sum, [name, value]) =>
      sum +
      Buffer.byteLength(name, 'utf8') +
      Buffer.byteLength(typeof value === 'string' ? value : JSON.stringify(value), 'utf8'),
    0,
  );

export const measureLambdaEnvironments = (stacks: readonly StackTemplate[]): LimitMeasurement[] =>
  stacks.flatMap(({ where, template, resolver }) =>
    resourcesOfType(template, 'AWS::Lambda::Function')
      .filter(([, fn]) => isRecord(fn.Properties?.Environment))
      .map(([id, fn]) => {
        const environment = fn.Properties?.Environment;
        const variables = isRecord(environment) ? resolver.resolve(environment.Variables, id) : {};
        return measured(AWS_LIMITS.lambdaEnvironment, `${where}/${id}`, environmentBytes(variables));
      }),
  );
