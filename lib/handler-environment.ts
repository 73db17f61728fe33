/**
 * The environment every handler receives, defined once: the stack fills it (typed, so a missing value
 * fails at synth) and handlers read it through `readHandlerEnvironment` (so a missing value fails at
 * cold start with its name, not deep inside a request). The local runtime fills the same fields.
 */
export interface HandlerEnvironment {
  readonly NCAAS_ANALYSIS: string;
  readonly NCAAS_BUCKET: string;
  readonly NCAAS_TABLE: string;
  readonly NCAAS_LAUNCH_QUEUE_URL: string;
  /** Launch messages that exhausted their retries; the watchdog fails their datasets. */
  readonly NCAAS_LAUNCH_DEAD_LETTER_URL?: string;
  /** The analysis config (lib/blueprint/analysis-config.ts) as JSON: handlers never read blueprint files. */
  readonly NCAAS_ANALYSIS_CONFIG: string;
  readonly NCAAS_RUNTIME: 'ec2' | 'batch' | 'local';
  /** EC2 runtime: the worker launch template, security group and subnets, comma-separated. */
  readonly NCAAS_LAUNCH_TEMPLATE_ID?: string;
  readonly NCAAS_SUBNET_IDS?: string;
  /** Group name -> instance profile ARN, as JSON. */
  readonly NCAAS_INSTANCE_PROFILES?: string;
  /**
   * Batch runtime: the job queue's ARN. Each group's job definitions have fixed names
   * (lib/launch/batch-stages.ts `batchJobDefinitionName`), so they need no variable.
   */
  readonly NCAAS_BATCH_JOB_QUEUE?: string;
  /** Batch runtime with Spot: the on-demand queue behind the Spot-first NCAAS_BATCH_JOB_QUEUE. */
  readonly NCAAS_BATCH_ON_DEMAND_JOB_QUEUE?: string;
  /**
   * `Efs.MountOnEc2Workers`: `{"fileSystemId": "fs-...", "accessPoints": {"<group>": "fsap-..."}}` as
   * JSON; EC2 workers mount their group's access point. Absent: EC2 workers do not mount EFS.
   */
  readonly NCAAS_EFS?: string;
  /**
   * Notifications: the SNS ARN of this account and region up to the topic name
   * (`arn:aws:sns:us-east-1:123456789012:`); each group's topic is `notificationTopicName` in
   * lib/control/notify.ts. Absent: no notifications are sent.
   */
  readonly NCAAS_NOTIFICATION_TOPIC_ARN_PREFIX?: string;
  readonly POWERTOOLS_SERVICE_NAME?: string;
}

const REQUIRED: readonly (keyof HandlerEnvironment)[] = [
  'NCAAS_ANALYSIS',
  'NCAAS_BUCKET',
  'NCAAS_TABLE',
  'NCAAS_LAUNCH_QUEUE_URL',
  'NCAAS_ANALYSIS_CONFIG',
  'NCAAS_RUNTIME',
];

export const readHandlerEnvironment = (env: NodeJS.ProcessEnv = process.env): HandlerEnvironment => {
  const missing = REQUIRED.filter((name) => !env[name]);
  if (missing.length > 0) throw new Error(`missing environment variables: ${missing.join(', ')}`);
  return env as unknown as HandlerEnvironment;
};
