/** Each S3 bucket policy and access point policy: the minified JSON of the resolved document, in bytes. */
import { AWS_LIMITS } from './aws-limits';
import { resourcesOfType } from './cfn-template';
import { type LimitMeasurement, measured } from './limit-measurement';
import { minifiedJsonBytes } from './policy-size';
import type { StackTemplate } from './stack-templates';

export const measureS3Policies = (stacks: readonly StackTemplate[]): LimitMeasurement[] =>
  stacks.flatMap(({ where, template, resolver }) => [
    ...resourcesOfType(template, 'AWS::S3::BucketPolicy').map(([id, policy]) =>
      measured(
        AWS_LIMITS.bucketPolicy,
        `${where}/${id}`,
        minifiedJsonBytes(resolver.resolve(policy.Properties?.PolicyDocument, id)),
      ),
    ),
    ...resourcesOfType(template, 'AWS::S3::AccessPoint')
      .filter(([, accessPoint]) => accessPoint.Properties?.Policy !== undefined)
      .map(([id, accessPoint]) =>
        measured(
          AWS_LIMITS.accessPointPolicy,
          `${where}/${id}`,
          minifiedJsonBytes(resolver.resolve(accessPoint.Properties?.Policy, id)),
        ),
      ),
  ]);
