import * as fs from 'node:fs';
import * as path from 'node:path';
// zod/mini: every handler bundles this (lib/submission/submit-schema.ts says why).
import * as z from 'zod/mini';

/**
 * The environment every handler receives, defined once as a schema: the stack fills it (typed from the
 * schema, so a missing value fails at synth) and handlers read it through `readHandlerEnvironment` (so
 * a missing or malformed value fails at cold start with its name, not deep inside a request). The
 * local runtime fills the same fields.
 */
const present = z.string().check(z.minLength(1));
const optional = z.optional(present);

export const handlerEnvironmentSchema = z.object({
  NCAAS_ANALYSIS: present,
  NCAAS_BUCKET: present,
  NCAAS_TABLE: present,
  NCAAS_LAUNCH_QUEUE_URL: present,
  /** Launch messages that exhausted their retries; the watchdog fails their datasets. */
  NCAAS_LAUNCH_DEAD_LETTER_URL: optional,
  /**
   * The analysis config (lib/blueprint/analysis-config.ts) as JSON, for the local runtime and tests. The
   * stack leaves it out: it grows with the groups and a Lambda environment holds 4 KB in all, so the
   * deployed handlers read ANALYSIS_CONFIG_FILE, bundled with their code, instead.
   */
  NCAAS_ANALYSIS_CONFIG: optional,
  NCAAS_RUNTIME: z.enum(['ec2', 'batch', 'local']),
  /** EC2 runtime: the worker launch template and the subnets (a JSON array). */
  NCAAS_LAUNCH_TEMPLATE_ID: optional,
  NCAAS_SUBNET_IDS: optional,
  /**
   * Batch runtime: the job queue's ARN. Each group's job definitions have fixed names
   * (lib/launch/batch-stages.ts `batchJobDefinitionName`), so they need no variable.
   */
  NCAAS_BATCH_JOB_QUEUE: optional,
  /** Batch runtime with Spot: the on-demand queue behind the Spot-first NCAAS_BATCH_JOB_QUEUE. */
  NCAAS_BATCH_ON_DEMAND_JOB_QUEUE: optional,
  /**
   * `Efs.MountOnEc2Workers`: the analysis file system; EC2 workers mount their group's access point,
   * found by its root directory `/{group}` (lib/launch/efs-access-points.ts). Absent: EC2 workers do
   * not mount EFS.
   */
  NCAAS_EFS_FILE_SYSTEM_ID: optional,
  /**
   * Notifications: the analysis's one topic; each subscription's filter policy keeps a group's
   * messages to that group's addresses. Absent: no notifications are sent.
   */
  NCAAS_NOTIFICATION_TOPIC_ARN: optional,
  POWERTOOLS_SERVICE_NAME: optional,
});

export type HandlerEnvironment = Readonly<z.infer<typeof handlerEnvironmentSchema>>;

/** The handler environment from the process's, or an error naming every missing or malformed variable. */
export const readHandlerEnvironment = (env: NodeJS.ProcessEnv = process.env): HandlerEnvironment => {
  // Empty values count as absent: CloudFormation writes an unset optional value as "".
  const defined = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = handlerEnvironmentSchema.safeParse(defined);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const name = String(issue.path[0]);
    if (defined[name] === undefined) return `${name} is missing`;
    const allowed = issue.code === 'invalid_value' ? `: one of ${issue.values.map(String).join(', ')}` : '';
    return `${name} is not valid (${JSON.stringify(defined[name])}${allowed})`;
  });
  throw new Error(`the handler environment is incomplete: ${problems.join('; ')}`);
};

/** The analysis config's file beside each deployed handler's code (written at synth by the stack). */
export const ANALYSIS_CONFIG_FILE = 'analysis-config.json';

/**
 * The analysis config: NCAAS_ANALYSIS_CONFIG when set (local runtime, tests), else ANALYSIS_CONFIG_FILE
 * in the function's code folder (LAMBDA_TASK_ROOT).
 */
export const readAnalysisConfigText = (
  env: NodeJS.ProcessEnv | HandlerEnvironment = process.env,
  // The Lambda runtime's own variable, not the handler environment's.
  taskRoot: string | undefined = process.env.LAMBDA_TASK_ROOT,
): string => {
  if (env.NCAAS_ANALYSIS_CONFIG) return env.NCAAS_ANALYSIS_CONFIG;
  const root = taskRoot ?? process.cwd();
  const file = path.join(root, ANALYSIS_CONFIG_FILE);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(
      `no analysis config: NCAAS_ANALYSIS_CONFIG is not set and ${file} cannot be read (${(error as Error).message})`,
    );
  }
};
