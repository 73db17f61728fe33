/**
 * How the CLI fails: one clear line and an exit code, never a stack trace. `CliError` carries a
 * message written for the user; `describeError` turns anything else (S3 SDK errors, network errors,
 * blueprint errors) into such a line.
 */
import { BlueprintError } from '../blueprint/blueprint-error';

/** Exit codes shared by every command (`watch` uses them for the job's outcome too). */
export const EXIT = {
  ok: 0,
  /** The job (or the check) failed, or S3 refused the request. */
  failed: 1,
  /** Usage error, missing setting (bucket, group), or the job was not found. */
  usage: 2,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** What a failure is reported as. */
export interface ErrorReport {
  /** One line, without the `ncaas: ` prefix; several only for a blueprint's problem list. */
  readonly message: string;
  readonly exitCode: number;
}

/** Where the CLI was talking to, for messages about connection and permission errors. */
export interface ErrorContext {
  readonly bucket?: string;
  readonly endpoint?: string;
}

interface SdkLikeError {
  readonly name?: string;
  readonly code?: string;
  readonly message?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
  readonly cause?: unknown;
}

const firstLine = (text: string): string => text.split('\n')[0].trim();

const networkCode = (error: SdkLikeError): string | undefined => {
  const codes = ['ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH'];
  if (error.code && codes.includes(error.code)) return error.code;
  const cause = error.cause as SdkLikeError | undefined;
  if (cause?.code && codes.includes(cause.code)) return cause.code;
  return undefined;
};

export const describeError = (error: unknown, context: ErrorContext = {}): ErrorReport => {
  if (error instanceof CliError) return { message: error.message, exitCode: error.exitCode };
  if (error instanceof BlueprintError) return { message: error.message, exitCode: EXIT.failed };
  if (error === null || typeof error !== 'object') {
    return { message: `unexpected error: ${String(error)}`, exitCode: EXIT.failed };
  }
  const e = error as SdkLikeError;
  const bucket = context.bucket ? `"${context.bucket}"` : 'the bucket';
  const where = context.endpoint ? ` at ${context.endpoint}` : '';
  const status = e.$metadata?.httpStatusCode;
  const net = networkCode(e);
  if (net) {
    const hint = context.endpoint
      ? ' (is `ncaas local` running, and is its env.sh sourced in this shell?)'
      : ' (check your network connection)';
    return { message: `cannot reach S3${where}: ${net}${hint}`, exitCode: EXIT.failed };
  }
  switch (e.name) {
    case 'NoSuchBucket':
      return {
        message: `bucket ${bucket} does not exist${where}: check --bucket or NCAAS_BUCKET`,
        exitCode: EXIT.usage,
      };
    case 'CredentialsProviderError':
      return {
        message:
          'no AWS credentials found: for the local runtime run `source <dir>/env.sh`; for a deployed analysis configure credentials (aws configure, AWS_PROFILE or AWS_ACCESS_KEY_ID)',
        exitCode: EXIT.usage,
      };
    case 'InvalidAccessKeyId':
    case 'SignatureDoesNotMatch':
    case 'ExpiredToken':
    case 'TokenRefreshRequired':
      return {
        message: `S3 refused your credentials (${e.name}): check AWS_PROFILE / AWS_ACCESS_KEY_ID, or source the local runtime's env.sh again`,
        exitCode: EXIT.failed,
      };
    case 'AccessDenied':
    case 'Forbidden':
      return {
        message: `access denied by S3 to ${bucket}: your credentials may only use your own group's folder; check --group (or NCAAS_GROUP) and --bucket`,
        exitCode: EXIT.failed,
      };
    default:
      break;
  }
  if (status === 403) {
    return {
      message: `access denied by S3 to ${bucket}: check --group (or NCAAS_GROUP), --bucket and your credentials`,
      exitCode: EXIT.failed,
    };
  }
  const message = firstLine(e.message ?? '') || e.name || 'unknown error';
  if (/region is missing/i.test(message)) {
    return {
      message: 'no AWS region configured: set AWS_REGION or pass --region (the region of the analysis)',
      exitCode: EXIT.usage,
    };
  }
  const prefix = e.name && e.name !== 'Error' && !message.startsWith(e.name) ? `${e.name}: ` : '';
  return { message: `${prefix}${message}`, exitCode: EXIT.failed };
};
