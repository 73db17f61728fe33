/**
 * The analysis config as the deployed handlers read it (analysis-config.json beside their code, or
 * NCAAS_ANALYSIS_CONFIG), parsed at cold start: a file written by another version of the stack, or
 * edited by hand, fails there with the field it gets wrong, never deep inside a request. The loader
 * (./load-blueprint.ts) stays the only code that turns a blueprint into this shape; this checks its
 * output's types. Strict objects: a member this schema does not know is an error, so a field added to
 * ./analysis-config.ts without being added here fails the test that parses every blueprint's config.
 */
// zod/mini: every handler bundles this (lib/submission/submit-schema.ts says why).
import * as z from 'zod/mini';
import { fieldPath } from '../submission/schema-issues';
import type { AnalysisConfig } from './analysis-config';

const text = z.string();
const texts = z.array(text);
// Types only: the loader has checked the ranges (and says so in the blueprint's own words).
const num = z.number();
const notificationEvents = z.array(z.enum(['BEGIN', 'END', 'FAIL', 'RETRY']));

const groupSchema = z.strictObject({
  name: text,
  userNames: texts,
  userEmails: texts,
  userInput: z.boolean(),
  contactEmail: z.optional(text),
  rcloneConfigSecret: z.optional(text),
});

const analysisConfigSchema = z.strictObject({
  sourceFile: text,
  name: text,
  region: text,
  stage: text,
  runtime: z.enum(['ec2', 'batch']),
  ec2: z.optional(z.strictObject({ ami: text, instanceType: text, spot: z.optional(z.boolean()) })),
  batch: z.optional(
    z.strictObject({
      image: text,
      vcpus: num,
      memoryMiB: num,
      gpus: num,
      stagingImage: text,
      spot: z.boolean(),
    }),
  ),
  remoteSources: z.optional(z.strictObject({ image: text })),
  command: text,
  provenance: z.optional(
    z.strictObject({ file: text, commit: z.optional(text), uncommittedEdits: z.boolean() }),
  ),
  workingDirectory: z.optional(text),
  launchTimeoutSeconds: num,
  workerTimeoutSeconds: num,
  deployLimit: num,
  maxCostUsd: num,
  monitor: z.boolean(),
  groups: z.array(groupSchema),
  limits: z.strictObject({
    allowedInstanceTypes: texts,
    maxDurationMinutes: num,
    maxDatasetSizeGiB: num,
    maxDatasets: num,
  }),
  existingVpc: z.optional(z.strictObject({ vpcId: text, availabilityZones: texts, subnetIds: texts })),
  efsOnEc2Workers: z.boolean(),
  notifications: z.strictObject({
    emails: texts,
    events: notificationEvents,
    groups: z.array(z.strictObject({ group: text, events: notificationEvents, emails: texts })),
  }),
  signIn: z.strictObject({
    enabled: z.boolean(),
    selfSignUp: z.boolean(),
    allowedEmailDomains: texts,
    mfa: z.enum(['OFF', 'OPTIONAL', 'REQUIRED']),
  }),
  adopt: z.strictObject({
    bucketName: z.optional(text),
    tableName: z.optional(text),
    fileSystemId: z.optional(text),
  }),
  ignoredKeys: texts,
  warnings: texts,
});

// The compiler checks that what the schema gives is an AnalysisConfig.
const schema: z.ZodMiniType<AnalysisConfig> = analysisConfigSchema;

/**
 * The analysis config from its JSON text, or an error naming the file and every field it gets wrong
 * (at most five), and what to do.
 */
export const parseAnalysisConfig = (json: string, where: string): AnalysisConfig => {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new Error(`${where} is not JSON (${(error as Error).message}): deploy the stack again`);
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const fields = parsed.error.issues.slice(0, 5).map((issue) => {
    const field = fieldPath(issue.path) || 'the whole file';
    if (issue.code === 'unrecognized_keys') {
      return `${field === 'the whole file' ? '' : `${field}: `}unknown member ${issue.keys.join(', ')}`;
    }
    return `${field} (${issue.code.replaceAll('_', ' ')})`;
  });
  throw new Error(
    `${where} is not the analysis config this code reads: ${fields.join('; ')}. It is written when the stack is synthesized: deploy again with the same version of ncaas`,
  );
};
