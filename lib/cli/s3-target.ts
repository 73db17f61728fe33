/**
 * Which bucket the CLI talks to, and how: from flags first, then the environment.
 *
 * - Local runtime: `source <dir>/env.sh` exports AWS_ENDPOINT_URL(_S3), emulator credentials,
 *   AWS_REGION, the checksum settings, NCAAS_BUCKET and NCAAS_ANALYSIS: every command works with no
 *   flags. With an endpoint set, the client uses path-style addressing and computes checksums only
 *   when required (emulators do not speak every newer checksum header).
 * - Deployed analysis: the standard AWS credential chain (profile, SSO, environment), `--bucket` or
 *   NCAAS_BUCKET, and `--analysis` or NCAAS_ANALYSIS (the job folder is `job__{analysis}_{timestamp}`;
 *   when it is not given, it is read from the job folders already in the group's results/).
 *
 * Lab members hold only S3 permissions on their group's prefix, so everything here is S3.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { PIPELINE_NAME } from '../blueprint/blueprint-schema';
import { S3Objects } from '../control/s3-objects';
import { CliError, EXIT } from './errors';
import type { CredentialsProvider } from './login-session';

export type Env = Readonly<Record<string, string | undefined>>;

export interface TargetOptions {
  /** `--bucket`, else NCAAS_BUCKET. */
  readonly bucket?: string;
  /** `--analysis`, else NCAAS_ANALYSIS. */
  readonly analysis?: string;
  /** `--region`, else AWS_REGION / AWS_DEFAULT_REGION, else the SDK's chain (profile). */
  readonly region?: string;
}

export interface S3Target {
  readonly client: S3Client;
  readonly bucket: string;
  /** The analysis (PipelineName), when known. */
  readonly analysis?: string;
  /** The S3 endpoint when not AWS (local runtime), for messages. */
  readonly endpoint?: string;
  readonly objects: S3Objects;
}

const nonEmpty = (value: string | undefined): string | undefined =>
  value !== undefined && value.trim() !== '' ? value.trim() : undefined;

/** Checks an analysis name: the blueprint's own rule for PipelineName. */
export const checkAnalysisName = (analysis: string): string => {
  if (!PIPELINE_NAME.test(analysis)) {
    throw new CliError(
      `analysis "${analysis}" is not an analysis name (1-40 lowercase letters, digits and dashes, the blueprint's PipelineName)`,
      EXIT.usage,
    );
  }
  return analysis;
};

/** A target over an existing client (tests, or a caller that built its own). */
export const targetFromClient = (
  client: S3Client,
  bucket: string,
  analysis?: string,
  endpoint?: string,
): S3Target => ({
  client,
  bucket,
  ...(analysis !== undefined ? { analysis } : {}),
  ...(endpoint !== undefined ? { endpoint } : {}),
  objects: new S3Objects(client, bucket),
});

export const resolveTarget = (
  options: TargetOptions,
  env: Env = process.env,
  /** A login's credentials (lib/cli/login-session.ts), used when the environment sets none. */
  loginCredentials?: CredentialsProvider,
): S3Target => {
  const bucket = nonEmpty(options.bucket) ?? nonEmpty(env.NCAAS_BUCKET);
  if (bucket === undefined) {
    throw new CliError(
      'no bucket given: pass --bucket NAME or set NCAAS_BUCKET (for the local runtime: source <dir>/env.sh)',
      EXIT.usage,
    );
  }
  const analysisName = nonEmpty(options.analysis) ?? nonEmpty(env.NCAAS_ANALYSIS);
  const analysis = analysisName === undefined ? undefined : checkAnalysisName(analysisName);
  const endpoint = nonEmpty(env.AWS_ENDPOINT_URL_S3) ?? nonEmpty(env.AWS_ENDPOINT_URL);
  const region =
    nonEmpty(options.region) ??
    nonEmpty(env.AWS_REGION) ??
    nonEmpty(env.AWS_DEFAULT_REGION) ??
    (endpoint !== undefined ? 'us-east-1' : undefined);
  const accessKeyId = nonEmpty(env.AWS_ACCESS_KEY_ID);
  const secretAccessKey = nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  const sessionToken = nonEmpty(env.AWS_SESSION_TOKEN);

  const client = new S3Client({
    ...(region !== undefined ? { region } : {}),
    // Environment credentials come first in the SDK's chain too; passing them makes `env` the whole truth.
    ...(accessKeyId !== undefined && secretAccessKey !== undefined
      ? { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } }
      : loginCredentials !== undefined
        ? { credentials: loginCredentials }
        : {}),
    ...(endpoint !== undefined
      ? {
          endpoint,
          forcePathStyle: true,
          requestChecksumCalculation: 'WHEN_REQUIRED' as const,
          responseChecksumValidation: 'WHEN_REQUIRED' as const,
        }
      : { followRegionRedirects: true }),
  });
  return targetFromClient(client, bucket, analysis, endpoint);
};

/** `--group`, else NCAAS_GROUP; undefined when neither is set. */
export const groupOption = (group: string | undefined, env: Env = process.env): string | undefined => {
  const value = nonEmpty(group) ?? nonEmpty(env.NCAAS_GROUP);
  if (value !== undefined && (value.includes('/') || value.includes('\\'))) {
    throw new CliError(`group "${value}" is a group name, not a path: write it without "/"`, EXIT.usage);
  }
  return value;
};

/** Like groupOption, but the group is needed. */
export const requireGroup = (group: string | undefined, env: Env = process.env): string => {
  const value = groupOption(group, env);
  if (value === undefined) {
    throw new CliError(
      'no group given: pass --group G (your group, the first folder of your keys) or set NCAAS_GROUP',
      EXIT.usage,
    );
  }
  return value;
};
