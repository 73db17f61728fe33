/**
 * Event notification configurations per bucket: the Lambda, queue and topic configurations of CDK's
 * Custom::S3BucketNotifications resources and of the bucket's own NotificationConfiguration,
 * counted by resolved bucket name across the stack's templates.
 */
import { AWS_LIMITS } from './aws-limits';
import { asList, isRecord, resourcesOfType } from './cfn-template';
import { type LimitMeasurement, measured } from './limit-measurement';
import type { StackTemplate } from './stack-templates';

/** Configurations in a NotificationConfiguration (the custom resource's keys, then CloudFormation's). */
export const notificationConfigurationCount = (configuration: unknown): number => {
  if (!isRecord(configuration)) return 0;
  return [
    'LambdaFunctionConfigurations',
    'LambdaConfigurations',
    'QueueConfigurations',
    'TopicConfigurations',
  ].reduce((sum, key) => sum + asList(configuration[key]).length, 0);
};

interface BucketCount {
  /** The bucket resource, when the stack declares it. */
  bucket?: string;
  /** The first notifications resource naming it. */
  notifications?: string;
  count: number;
}

export const measureBucketNotifications = (stacks: readonly StackTemplate[]): LimitMeasurement[] => {
  const buckets = new Map<string, BucketCount>();
  const bucketNamed = (name: string): BucketCount => {
    const found = buckets.get(name) ?? { count: 0 };
    buckets.set(name, found);
    return found;
  };
  for (const { where, template, resolver } of stacks) {
    for (const [id, resource] of resourcesOfType(template, 'AWS::S3::Bucket')) {
      const bucket = bucketNamed(resolver.physicalName(id));
      bucket.bucket = `${where}/${id}`;
      bucket.count += notificationConfigurationCount(
        resolver.resolve(resource.Properties?.NotificationConfiguration, id),
      );
    }
    for (const [id, resource] of resourcesOfType(template, 'Custom::S3BucketNotifications')) {
      const bucket = bucketNamed(resolver.resolveText(resource.Properties?.BucketName, id));
      bucket.notifications ??= `${where}/${id}`;
      bucket.count += notificationConfigurationCount(
        resolver.resolve(resource.Properties?.NotificationConfiguration, id),
      );
    }
  }
  return [...buckets]
    .filter(([, bucket]) => bucket.count > 0)
    .map(([name, bucket]) =>
      measured(
        AWS_LIMITS.bucketNotifications,
        bucket.bucket ?? bucket.notifications ?? `bucket ${name}`,
        bucket.count,
      ),
    );
};
