import * as fs from 'node:fs';
import * as path from 'node:path';

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
  /**
   * The analysis config (lib/blueprint/analysis-config.ts) as JSON, for the local runtime and tests. The
   * stack leaves it out: it grows with the groups and a Lambda environment holds 4 KB in all, so the
   * deployed handlers read ANALYSIS_CONFIG_FILE, bundled with their code, instead.
   */
  readonly NCAAS_ANALYSIS_CONFIG?: string;
  readonly NCAAS_RUNTIME: 'ec2' | 'batch' | 'local';
  /** EC2 runtime: the worker launch template, security group and subnets, comma-separated. */
  readonly NCAAS_LAUNCH_TEMPLATE_ID?: string;
  readonly NCAAS_SUBNET_IDS?: string;
  /**
   * Batch runtime: the job queue's ARN. Each group's job definitions have fixed names
   * (lib/launch/batch-stages.ts `batchJobDefinitionName`), so they need no variable.
   */
  readonly NCAAS_BATCH_JOB_QUEUE?: string;
  /** Batch runtime with Spot: the on-demand queue behind the Spot-first NCAAS_BATCH_JOB_QUEUE. */
  readonly NCAAS_BATCH_ON_DEMAND_JOB_QUEUE?: string;
  /**
   * `Efs.MountOnEc2Workers`: the analysis file system; EC2 workers mount their group's access point,
   * found by its root directory `/{group}` (lib/launch/efs-access-points.ts). Absent: EC2 workers do
   * not mount EFS.
   */
  readonly NCAAS_EFS_FILE_SYSTEM_ID?: string;
  /**
   * Notifications: the analysis's one topic; each subscription's filter policy keeps a group's
   * messages to that group's addresses. Absent: no notifications are sent.
   */
  readonly NCAAS_NOTIFICATION_TOPIC_ARN?: string;
  readonly POWERTOOLS_SERVICE_NAME?: string;
}

const REQUIRED: readonly (keyof HandlerEnvironment)[] = [
  'NCAAS_ANALYSIS',
  'NCAAS_BUCKET',
  'NCAAS_TABLE',
  'NCAAS_LAUNCH_QUEUE_URL',
  'NCAAS_RUNTIME',
];

export const readHandlerEnvironment = (env: NodeJS.ProcessEnv = process.env): HandlerEnvironment => {
  const missing = REQUIRED.filter((name) => !env[name]);
  if (missing.length > 0) throw new Error(`missing environment variables: ${missing.join(', ')}`);
  return env as unknown as HandlerEnvironment;
};

/** The analysis config's file beside each deployed handler's code (written at synth by the stack). */
export const ANALYSIS_CONFIG_FILE = 'analysis-config.json';

/**
 * The analysis config: NCAAS_ANALYSIS_CONFIG when set (local runtime, tests), else ANALYSIS_CONFIG_FILE
 * in the function's code folder (LAMBDA_TASK_ROOT).
 */
export const readAnalysisConfigText = (env: NodeJS.ProcessEnv | HandlerEnvironment = process.env): string => {
  if (env.NCAAS_ANALYSIS_CONFIG) return env.NCAAS_ANALYSIS_CONFIG;
  const root = (env as NodeJS.ProcessEnv).LAMBDA_TASK_ROOT ?? process.cwd();
  const file = path.join(root, ANALYSIS_CONFIG_FILE);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(
      `no analysis config: NCAAS_ANALYSIS_CONFIG is not set and ${file} cannot be read (${(error as Error).message})`,
    );
  }
};
