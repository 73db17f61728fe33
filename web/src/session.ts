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
  /** The client uploads use: as `target`'s, but patient (a dropped connection is waited out). */
  readonly uploadClient: S3Client;
  /** The group acted for. */
  readonly group: string;
  /** Every group the person may act for. */
  readonly groups: readonly string[];
  /** The signed-in address, when there is a sign-in. */
  readonly email?: string;
  /** The sign-in's current id token, renewed as it nears its end (in memory only), to fetch another group's credentials. */
  readonly idToken?: () => Promise<string>;
}

/**
 * Attempts per request of an upload's part: the SDK waits up to 20 s between them (exponential, with
 * jitter), so a part survives a connection that drops for a minute or so, where the default 3
 * attempts give up within a second and the whole file starts again.
 */
export const UPLOAD_MAX_ATTEMPTS = 10;

const s3ClientFor = (
  config: ConsoleConfig,
  credentials: CredentialsProvider,
  maxAttempts?: number,
): S3Client =>
  new S3Client({
    region: config.analysis.region || 'us-east-1',
    credentials,
    ...(maxAttempts !== undefined ? { maxAttempts } : {}),
    ...(config.s3Endpoint !== undefined
      ? {
          endpoint: config.s3Endpoint,
          forcePathStyle: true,
          requestChecksumCalculation: 'WHEN_REQUIRED' as const,
          responseChecksumValidation: 'WHEN_REQUIRED' as const,
        }
      : {}),
  });

/** What a session reads and writes with, from one set of credentials. */
export const sessionClients = (
  config: ConsoleConfig,
  credentials: CredentialsProvider,
): Pick<Session, 'target' | 'uploadClient'> => ({
  target: targetFromClient(
    s3ClientFor(config, credentials),
    config.bucket,
    config.analysis.name,
    config.s3Endpoint,
  ),
  uploadClient: s3ClientFor(config, credentials, UPLOAD_MAX_ATTEMPTS),
});

/** The local runtime without sign-in: the emulator's credentials, any of the analysis's groups. */
export const localSession = (config: ConsoleConfig, group?: string): Session | undefined => {
  const credentials = config.localCredentials;
  if (credentials === undefined) return undefined;
  const groups = config.analysis.groups.map((g) => g.name);
  const chosen = group !== undefined && groups.includes(group) ? group : groups[0];
  if (chosen === undefined) return undefined;
  return { ...sessionClients(config, async () => credentials), group: chosen, groups };
};
