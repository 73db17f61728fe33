/**
 * Who the console acts as, and with what: the S3 target (lib/cli/s3-target.ts, the CLI's own) for
 * the group chosen, built from the credentials of a sign-in (the identity pool's, deployed) or the
 * local runtime's emulator credentials. Credentials are kept in memory only (a reload signs in again)
 * and renewed while the page is open (lib/access/renewing.ts).
 */
import { S3Client } from '@aws-sdk/client-s3';
import type { ConsoleConfig } from '../../lib/console/console-config';
import type { CredentialsProvider } from '../../lib/cli/login-session';
import { targetFromClient, type S3Target } from '../../lib/cli/s3-target';

export interface Session {
  readonly target: S3Target;
  /** The group acted for. */
  readonly group: string;
  /** Every group the person may act for. */
  readonly groups: readonly string[];
  /** The signed-in address, when there is a sign-in. */
  readonly email?: string;
  /** The sign-in's current id token, renewed as it nears its end (in memory only), to fetch another group's credentials. */
  readonly idToken?: () => Promise<string>;
}

export const s3TargetFor = (config: ConsoleConfig, credentials: CredentialsProvider): S3Target => {
  const client = new S3Client({
    region: config.analysis.region || 'us-east-1',
    credentials,
    ...(config.s3Endpoint !== undefined
      ? {
          endpoint: config.s3Endpoint,
          forcePathStyle: true,
          requestChecksumCalculation: 'WHEN_REQUIRED' as const,
          responseChecksumValidation: 'WHEN_REQUIRED' as const,
        }
      : {}),
  });
  return targetFromClient(client, config.bucket, config.analysis.name, config.s3Endpoint);
};

/** The local runtime without sign-in: the emulator's credentials, any of the analysis's groups. */
export const localSession = (config: ConsoleConfig, group?: string): Session | undefined => {
  const credentials = config.localCredentials;
  if (credentials === undefined) return undefined;
  const groups = config.analysis.groups.map((g) => g.name);
  const chosen = group !== undefined && groups.includes(group) ? group : groups[0];
  if (chosen === undefined) return undefined;
  return { target: s3TargetFor(config, async () => credentials), group: chosen, groups };
};
