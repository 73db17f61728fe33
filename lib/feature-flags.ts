/**
 * CDK feature flags the app relies on, in code rather than only in cdk.json so that the CLI, the
 * tests and the benchmarks synthesize the same template.
 */
export const FEATURE_FLAGS: Record<string, unknown> = {
  // Access-log delivery through a bucket policy, not legacy ACLs (the log bucket enforces owner).
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
  '@aws-cdk/aws-iam:minimizePolicies': true,
  '@aws-cdk/core:target-partitions': ['aws'],
};
