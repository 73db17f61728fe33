/**
 * Which login, if any, a lab-member command uses: the one for $NCAAS_ANALYSIS, else the only login
 * there is, and only when no other AWS credentials are set (AWS_ACCESS_KEY_ID or AWS_PROFILE win: the
 * person chose them). It fills what the person did not set (bucket, analysis, group, region, and the
 * local runtime's endpoint) and gives the credentials, renewed when needed.
 */
import { type Env, type LoginRecord, loggedInAnalyses, readLogin } from '../access/login-store';

/** What an SDK client takes as `credentials`: asked again when `expiration` comes near. */
export type CredentialsProvider = () => Promise<{
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}>;

export interface AppliedLogin {
  readonly record: LoginRecord;
  /** The environment with the login's settings where the person set none. */
  readonly env: Env;
  readonly credentials: CredentialsProvider;
}

const isSet = (value: string | undefined): boolean => value !== undefined && value.trim() !== '';

export const applicableLogin = (env: Env): AppliedLogin | undefined => {
  if (isSet(env.AWS_ACCESS_KEY_ID) || isSet(env.AWS_PROFILE)) return undefined;
  const analysis = isSet(env.NCAAS_ANALYSIS) ? env.NCAAS_ANALYSIS?.trim() : soleLogin(env);
  if (analysis === undefined) return undefined;
  let record: LoginRecord | undefined;
  try {
    record = readLogin(env, analysis);
  } catch {
    return undefined;
  }
  if (record === undefined) return undefined;
  const defaults: Record<string, string> = {
    NCAAS_ANALYSIS: record.analysis,
    NCAAS_BUCKET: record.bucket,
    NCAAS_GROUP: record.group,
    AWS_REGION: record.region,
    ...(record.s3Endpoint !== undefined ? { AWS_ENDPOINT_URL_S3: record.s3Endpoint } : {}),
  };
  const filled: Record<string, string | undefined> = { ...env };
  for (const [key, value] of Object.entries(defaults)) if (!isSet(filled[key])) filled[key] = value;
  const current = record;
  return {
    record,
    env: filled,
    credentials: async () => {
      // Loaded on first use: renewing needs the Cognito SDKs, which most commands never load. `require`,
      // not `import()`: Node would load a native import of a .ts file without tsx (bin/ncaas.ts).
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { loginCredentials } = require('./login-command') as typeof import('./login-command');
      const fresh = await loginCredentials(filled, current);
      return {
        accessKeyId: fresh.accessKeyId,
        secretAccessKey: fresh.secretAccessKey,
        ...(fresh.sessionToken !== undefined ? { sessionToken: fresh.sessionToken } : {}),
        expiration: new Date(fresh.expiration),
      };
    },
  };
};

const soleLogin = (env: Env): string | undefined => {
  const analyses = loggedInAnalyses(env);
  return analyses.length === 1 ? analyses[0] : undefined;
};
