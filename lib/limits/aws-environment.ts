/**
 * The account, region and partition the limits check resolves templates in. Every account id has 12
 * digits, so a fixed one measures the same as the real one; the region and partition come from the
 * stack's environment (they change the length of ARNs and endpoints).
 */

export interface AwsEnvironment {
  readonly account: string;
  readonly region: string;
  readonly partition: string;
  /** `AWS::URLSuffix`. */
  readonly urlSuffix: string;
}

export const MEASURED_ACCOUNT = '123456789012';
export const DEFAULT_REGION = 'us-east-1';

/** The environment of a stack deployed to `region` (CDK's `unknown-region` or none: us-east-1). */
export const awsEnvironmentFor = (region: string | undefined): AwsEnvironment => {
  const concrete =
    region === undefined || region === '' || region.startsWith('unknown-') ? DEFAULT_REGION : region;
  const china = concrete.startsWith('cn-');
  return {
    account: MEASURED_ACCOUNT,
    region: concrete,
    partition: china ? 'aws-cn' : concrete.startsWith('us-gov-') ? 'aws-us-gov' : 'aws',
    urlSuffix: china ? 'amazonaws.com.cn' : 'amazonaws.com',
  };
};
