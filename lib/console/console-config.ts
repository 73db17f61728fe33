/**
 * What the web console is told about its analysis (`config.json` beside the site): written by the
 * stack at deploy and by the local runtime, read by web/src/main.tsx. It holds what a lab member may
 * see (what the analysis runs, its caps, its group names) and where to sign in, never another group's
 * people or addresses. `analysisForChecks` turns it back into the config the submission checks
 * (lib/submission/parse-submission.ts) read, so the browser checks with the handler's own rules.
 */
import * as z from 'zod';
import { uncheckedAnalysisParts, type AnalysisConfig } from '../blueprint/analysis-config';

/** JSON has no Infinity: "no cap" travels as null. */
const cap = z.number().nullable();

export const consoleConfigSchema = z.object({
  analysis: z.object({
    name: z.string(),
    region: z.string(),
    runtime: z.enum(['ec2', 'batch']),
    /** What runs on a worker: the EC2 command, or the Batch image. */
    runs: z.string(),
    defaultInstanceType: z.string().optional(),
    deployLimit: z.number(),
    maxCostUsd: z.number(),
    groups: z.array(z.object({ name: z.string(), userInput: z.boolean(), remote: z.boolean() })),
    limits: z.object({
      allowedInstanceTypes: z.array(z.string()),
      maxDurationMinutes: cap,
      maxDatasetSizeGiB: cap,
      maxDatasets: cap,
    }),
  }),
  bucket: z.string(),
  /** The local runtime's S3 emulator; absent when deployed (the bucket's regional endpoint). */
  s3Endpoint: z.string().optional(),
  /** The local runtime's emulator credentials: there is no identity pool there. */
  localCredentials: z.object({ accessKeyId: z.string(), secretAccessKey: z.string() }).optional(),
  signIn: z
    .object({
      userPoolId: z.string(),
      clientId: z.string(),
      identityPoolId: z.string().optional(),
      /** Each group's member role name (lib/member-identity.ts), which the id token's roles are matched by. */
      memberRoles: z.record(z.string(), z.string()).optional(),
      /** The local runtime's user pool emulator. */
      endpoint: z.string().optional(),
    })
    .optional(),
});
export type ConsoleConfig = z.infer<typeof consoleConfigSchema>;

const finite = (value: number): number | null => (Number.isFinite(value) ? value : null);
const orInfinity = (value: number | null): number => value ?? Number.POSITIVE_INFINITY;

export const consoleAnalysis = (config: AnalysisConfig): ConsoleConfig['analysis'] => ({
  name: config.name,
  region: config.region,
  runtime: config.runtime,
  runs: config.runtime === 'batch' ? (config.batch?.image ?? '') : config.command,
  ...(config.ec2 ? { defaultInstanceType: config.ec2.instanceType } : {}),
  deployLimit: config.deployLimit,
  maxCostUsd: config.maxCostUsd,
  groups: config.groups.map((g) => ({
    name: g.name,
    userInput: g.userInput,
    remote: g.rcloneConfigSecret !== undefined,
  })),
  limits: {
    allowedInstanceTypes: [...config.limits.allowedInstanceTypes],
    maxDurationMinutes: finite(config.limits.maxDurationMinutes),
    maxDatasetSizeGiB: finite(config.limits.maxDatasetSizeGiB),
    maxDatasets: finite(config.limits.maxDatasets),
  },
});

/** The analysis as the submission checks read it; what they do not read is left neutral. */
export const analysisForChecks = (view: ConsoleConfig['analysis']): AnalysisConfig => ({
  sourceFile: 'config.json',
  name: view.name,
  region: view.region,
  stage: '',
  runtime: view.runtime,
  ...(view.defaultInstanceType !== undefined
    ? { ec2: { ami: '', instanceType: view.defaultInstanceType } }
    : {}),
  command: view.runtime === 'ec2' ? view.runs : '',
  launchTimeoutSeconds: 0,
  workerTimeoutSeconds: 0,
  deployLimit: view.deployLimit,
  maxCostUsd: view.maxCostUsd,
  monitor: false,
  groups: view.groups.map((g) => ({
    name: g.name,
    userNames: [],
    userEmails: [],
    userInput: g.userInput,
    // Which secret is the stack's business: the checks only ask whether there is one.
    ...(g.remote ? { rcloneConfigSecret: '(configured)' } : {}),
  })),
  limits: {
    allowedInstanceTypes: view.limits.allowedInstanceTypes,
    maxDurationMinutes: orInfinity(view.limits.maxDurationMinutes),
    maxDatasetSizeGiB: orInfinity(view.limits.maxDatasetSizeGiB),
    maxDatasets: orInfinity(view.limits.maxDatasets),
  },
  ...uncheckedAnalysisParts(),
});
