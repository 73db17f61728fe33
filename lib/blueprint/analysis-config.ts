/**
 * The typed, normalized form of a blueprint. The loader (./load-blueprint.ts) is the only code that
 * turns blueprint JSON into this; constructs, handlers, the local runtime and the CLI read only this.
 */
import type { BlueprintProvenance } from './provenance';

export type Runtime = 'ec2' | 'batch';

/** One group of users (NeuroCAAS `UXData.Affiliates[]`): the top-level prefix of the bucket. */
export interface GroupConfig {
  /** `AffiliateName`: the group's top-level prefix and part of IAM names. */
  readonly name: string;
  /** IAM user names that already exist (with the region appended when the blueprint asks for it). */
  readonly userNames: readonly string[];
  /** `UserEmails` (ours), lowercased: invited to the group's sign-in at deploy, never removed by one. */
  readonly userEmails: readonly string[];
  /** `UserInput`: true when the group submits jobs (gets the submissions trigger). */
  readonly userInput: boolean;
  /** `ContactEmail`, only when it is a real address (placeholder text is dropped). */
  readonly contactEmail?: string;
  /**
   * `RemoteSources.Groups[group].RcloneConfigSecret`: the Secrets Manager secret (name or complete
   * ARN) holding the group's rclone.conf. Set: the group may submit `rclone:<remote>:<path>` datasets.
   */
  readonly rcloneConfigSecret?: string;
}

export interface Ec2RuntimeConfig {
  /** `LambdaConfig.AMI`. */
  readonly ami: string;
  /** `LambdaConfig.INSTANCE_TYPE`: the default instance type. */
  readonly instanceType: string;
  /** `Ec2.Spot`: workers of the ec2 runtime ask for Spot capacity first (not dev instances). */
  readonly spot?: boolean;
}

export interface BatchRuntimeConfig {
  /** Container image from a registry (no Docker build here). */
  readonly image: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
  readonly gpus: number;
  /** Image that copies data between S3 and EFS around the analysis; needs the AWS CLI. */
  readonly stagingImage: string;
  /** Use Spot capacity with on-demand fallback. */
  readonly spot: boolean;
}

/** `RemoteSources`: datasets fetched with rclone by a Batch stage of their own. */
export interface RemoteSourcesConfig {
  /** The fetch stage's image: sh and rclone, no ENTRYPOINT. */
  readonly image: string;
}

export interface SubmissionLimits {
  /** Instance types a submission may ask for with `instance_type` (always includes the default). */
  readonly allowedInstanceTypes: readonly string[];
  /** Cap on the config's `__duration__` (minutes). */
  readonly maxDurationMinutes: number;
  /** Cap on the config's `__dataset_size__` (GB added to the root volume). */
  readonly maxDatasetSizeGiB: number;
  /** Cap on the number of datasets in one submission (one worker each). */
  readonly maxDatasets: number;
}

/** An existing VPC, imported without a synth-time lookup. */
export interface ExistingVpcConfig {
  readonly vpcId: string;
  readonly availabilityZones: readonly string[];
  /** Subnets workers launch into; they need a route to S3 (gateway endpoint, NAT or internet). */
  readonly subnetIds: readonly string[];
}

export type NotificationEvent = 'BEGIN' | 'END' | 'FAIL' | 'RETRY';

/** `Notifications.Groups.<group>`: a group's own choice (lib/control/notify.ts applies it). */
export interface GroupNotificationConfig {
  /** The group (an `AffiliateName`). */
  readonly group: string;
  /** Its `Events` (ALL spelled out), replacing the analysis's; the analysis's when it named none. */
  readonly events: readonly NotificationEvent[];
  /** Its `Emails`: subscribed for this group's messages only (a filter policy on the analysis topic). */
  readonly emails: readonly string[];
}

export interface NotificationConfig {
  /** `Notifications.Emails`: subscribed for every notified group's messages (no filter policy). */
  readonly emails: readonly string[];
  /** `Notifications.Events` (ALL spelled out): the events of every group without a choice of its own. */
  readonly events: readonly NotificationEvent[];
  /** `Notifications.Groups`: the groups with a choice of their own (only affiliates). */
  readonly groups: readonly GroupNotificationConfig[];
}

/** Retained resources of an earlier deploy to adopt instead of creating new ones. */
export interface AdoptedResources {
  readonly bucketName?: string;
  readonly tableName?: string;
  readonly fileSystemId?: string;
}

/** `SignIn`: the analysis's own sign-in (Cognito user and identity pools; lib/constructs/sign-in.ts). */
export interface SignInConfig {
  /** @default true: $0 while idle, and lab members need no IAM user */
  readonly enabled: boolean;
  /** People may create their own account (only with an address of `allowedEmailDomains`). @default false */
  readonly selfSignUp: boolean;
  readonly allowedEmailDomains: readonly string[];
  /** TOTP second factor. @default OPTIONAL */
  readonly mfa: 'OFF' | 'OPTIONAL' | 'REQUIRED';
}

export interface AnalysisConfig {
  /** The file the blueprint came from (for messages). */
  readonly sourceFile: string;
  /** `PipelineName`: the analysis name (lowercase, digits, dashes). */
  readonly name: string;
  /** `REGION`. */
  readonly region: string;
  /** `STAGE` (NeuroCAAS: webdev, websubstack, develop, ...); kept as a tag. */
  readonly stage: string;
  readonly runtime: Runtime;
  /** Present for both runtimes: the EC2 settings are also the dev-instance defaults. */
  readonly ec2?: Ec2RuntimeConfig;
  readonly batch?: BatchRuntimeConfig;
  /** Present when a group has an rclone configuration (the batch runtime only). */
  readonly remoteSources?: RemoteSourcesConfig;
  /** `LambdaConfig.COMMAND`: shell text with exactly four `{}` (bucket, dataset, result folder, config). */
  readonly command: string;
  /** Where the blueprint came from in git (read at synth, lib/blueprint/provenance.ts). */
  readonly provenance?: BlueprintProvenance;
  /** `LambdaConfig.WORKING_DIRECTORY`: where COMMAND runs on the worker, when that folder exists. */
  readonly workingDirectory?: string;
  /** `LambdaConfig.EXECUTION_TIMEOUT` (seconds): how long a launch may take before it counts as stuck. */
  readonly launchTimeoutSeconds: number;
  /** `LambdaConfig.SSM_TIMEOUT` (seconds): the worker's hard deadline, armed on the instance. */
  readonly workerTimeoutSeconds: number;
  /** `LambdaConfig.DEPLOY_LIMIT`: most workers of this analysis at once; beyond it jobs queue. */
  readonly deployLimit: number;
  /** `LambdaConfig.MAXCOST`: USD a group may spend on this analysis per calendar month. */
  readonly maxCostUsd: number;
  /** `LambdaConfig.MONITOR`: enforce MAXCOST (budget check before launch). */
  readonly monitor: boolean;
  readonly groups: readonly GroupConfig[];
  readonly limits: SubmissionLimits;
  readonly existingVpc?: ExistingVpcConfig;
  /** Mount the analysis EFS at /mnt/efs on EC2 workers (Batch always mounts it). */
  readonly efsOnEc2Workers: boolean;
  readonly notifications: NotificationConfig;
  readonly signIn: SignInConfig;
  readonly adopt: AdoptedResources;
  /** Legacy NeuroCAAS keys found and ignored (JSON paths), for the synth warning. */
  readonly ignoredKeys: readonly string[];
  /** Other warnings (e.g. SHUTDOWN_BEHAVIOR "stop" replaced by terminate). */
  readonly warnings: readonly string[];
}

/**
 * The parts of an analysis the submission checks never read, left neutral: for an analysis rebuilt
 * to check submissions alone (the CLI without a blueprint, the web console from its config.json).
 */
export const uncheckedAnalysisParts = (): Pick<
  AnalysisConfig,
  'efsOnEc2Workers' | 'notifications' | 'signIn' | 'adopt' | 'ignoredKeys' | 'warnings'
> => ({
  efsOnEc2Workers: false,
  notifications: { emails: [], events: [], groups: [] },
  signIn: { enabled: false, selfSignUp: false, allowedEmailDomains: [], mfa: 'OPTIONAL' },
  adopt: {},
  ignoredKeys: [],
  warnings: [],
});
