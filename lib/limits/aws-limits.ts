/**
 * The AWS hard limits the limits check measures (lib/limits/check-assembly-limits.ts), each with the
 * documented fact and the change to the blueprint that brings a stack back under it.
 */
import type { AwsLimit } from './limit-measurement';

const SPLIT_GROUPS =
  'put fewer groups (UXData.Affiliates) in this blueprint: split them between two analyses (two blueprints with different PipelineNames)';

export const AWS_LIMITS = {
  templateSize: {
    name: 'CloudFormation template size',
    maximum: 1_000_000,
    unit: 'bytes',
    fact: 'AWS CloudFormation quotas: a template uploaded through Amazon S3 (as CDK deploys every template) is at most 1 MB (1,000,000 bytes); each nested stack has its own template and limit',
    fix: `every group adds to this template: ${SPLIT_GROUPS}, or shorten long texts of the blueprint (COMMAND, group names)`,
    severity: 'error',
  },
  resources: {
    name: 'CloudFormation resources per template',
    maximum: 500,
    unit: 'resources',
    fact: 'AWS CloudFormation quotas: at most 500 resources declared in one template (a nested stack counts in its own template)',
    fix: `every group adds resources to this template: ${SPLIT_GROUPS}`,
    severity: 'error',
  },
  outputs: {
    name: 'CloudFormation outputs per template',
    maximum: 200,
    unit: 'outputs',
    fact: 'AWS CloudFormation quotas: at most 200 outputs in one template',
    fix: `every group adds outputs to this template: ${SPLIT_GROUPS}`,
    severity: 'error',
  },
  parameters: {
    name: 'CloudFormation parameters per template',
    maximum: 200,
    unit: 'parameters',
    fact: 'AWS CloudFormation quotas: at most 200 parameters in one template (a nested stack receives each value its parent passes as a parameter)',
    fix: `every group adds parameters to this template: ${SPLIT_GROUPS}`,
    severity: 'error',
  },
  mappings: {
    name: 'CloudFormation mappings per template',
    maximum: 200,
    unit: 'mappings',
    fact: 'AWS CloudFormation quotas: at most 200 mappings in one template',
    fix: `every group adds mappings to this template: ${SPLIT_GROUPS}`,
    severity: 'error',
  },
  bucketPolicy: {
    name: 'S3 bucket policy size',
    maximum: 20_480,
    unit: 'bytes',
    fact: 'Amazon S3: a bucket policy is at most 20 KB (20,480 bytes); measured as the minified JSON of the resolved policy',
    fix: `the bucket policy grows with the groups and the users named in UXData.Affiliates[].UserNames: name fewer users (leave UserNames empty and attach each group's member policy to an IAM group or role of its people instead), or ${SPLIT_GROUPS}`,
    severity: 'error',
  },
  accessPointPolicy: {
    name: 'S3 access point policy size',
    maximum: 20_480,
    unit: 'bytes',
    fact: 'Amazon S3: an access point policy is at most 20 KB (20,480 bytes); measured as the minified JSON of the resolved policy',
    fix: `the access point policy grows with the groups and users of the blueprint: name fewer users in UXData.Affiliates[].UserNames, or ${SPLIT_GROUPS}`,
    severity: 'error',
  },
  managedPolicy: {
    name: 'IAM managed policy size',
    maximum: 6_144,
    unit: 'characters',
    fact: 'IAM quotas: a managed policy document is at most 6,144 characters; IAM does not count white space',
    fix: `this policy grows with the groups and names of the blueprint: use shorter group names (AffiliateName), or ${SPLIT_GROUPS}`,
    severity: 'error',
  },
  roleInlinePolicies: {
    name: 'IAM role inline policies size',
    maximum: 10_240,
    unit: 'characters',
    fact: "IAM quotas: a role's inline policies (its Policies and every AWS::IAM::Policy attached to it) total at most 10,240 characters; IAM does not count white space",
    fix: `this role's permissions grow with the groups it serves: use shorter group names (AffiliateName), or ${SPLIT_GROUPS}`,
    severity: 'error',
  },
  trustPolicyDefault: {
    name: 'IAM role trust policy length (default quota)',
    maximum: 2_048,
    unit: 'characters',
    fact: 'IAM quotas: a role trust policy is at most 2,048 characters by default, adjustable up to 4,096 (Service Quotas, IAM, "Role trust policy length"); white space not counted',
    fix: 'ask for the IAM quota "Role trust policy length" of up to 4,096 characters in Service Quotas for this account and region before deploying, or trust fewer principals in this role',
    severity: 'warning',
  },
  trustPolicyMaximum: {
    name: 'IAM role trust policy length',
    maximum: 4_096,
    unit: 'characters',
    fact: 'IAM quotas: a role trust policy is at most 4,096 characters even with the quota raised; white space not counted',
    fix: 'this role trusts too many principals: trust fewer (name fewer users or accounts in the blueprint)',
    severity: 'error',
  },
  lambdaEnvironment: {
    name: 'Lambda environment size',
    maximum: 4_096,
    unit: 'bytes',
    fact: "AWS Lambda quotas: a function's environment variables total at most 4 KB (4,096 bytes), names and values",
    fix: `the handlers' environment carries the analysis's settings: shorten COMMAND, WORKING_DIRECTORY or the group names, or ${SPLIT_GROUPS}`,
    severity: 'error',
  },
  bucketNotifications: {
    name: 'S3 event notification configurations per bucket',
    maximum: 100,
    unit: 'configurations',
    fact: 'Amazon S3 quotas: at most 100 event notification configurations (Lambda, queue and topic configurations together) on one bucket',
    fix: `the data bucket gets notification configurations for every group that submits (UserInput true): ${SPLIT_GROUPS}`,
    severity: 'error',
  },
  snsFilterPolicySize: {
    name: 'SNS subscription filter policy size',
    maximum: 262_144,
    unit: 'bytes',
    fact: 'Amazon SNS: a subscription filter policy is at most 256 KB',
    fix: 'the subscription filter policy is too large: filter on fewer values',
    severity: 'error',
  },
  snsFilterPolicyCombinations: {
    name: 'SNS subscription filter policy combinations',
    maximum: 150,
    unit: 'combinations',
    fact: 'Amazon SNS: the values of a filter policy combine (the product of the number of values in each array) to at most 150',
    fix: 'the subscription filter policy combines too many values: filter on fewer values or keys',
    severity: 'error',
  },
  userData: {
    name: 'EC2 user data size',
    maximum: 16_384,
    unit: 'bytes',
    fact: 'Amazon EC2: user data is at most 16 KB (16,384 bytes) in raw form, before base64 encoding',
    fix: 'shorten the user data of this launch template or instance',
    severity: 'error',
  },
} as const satisfies Record<string, AwsLimit>;
