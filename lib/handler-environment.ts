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
