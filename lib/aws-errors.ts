/**
 * What an AWS call's error is, in one place: its name, a line a person can read, and whether another
 * try can help. Retryability is the SDK's own classification (@smithy/core/retry, what its retry
 * strategy decides by), so a call we retry ourselves (a whole step, not one request) agrees with the
 * SDK about what is worth retrying. A service-specific rule (EC2's capacity codes, Batch's
 * ClientException) stays beside that service's launcher and is checked before this one.
 */
import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';

interface ErrorFields {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly message?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown };
}

const fieldsOf = (error: unknown): ErrorFields =>
  error !== null && typeof error === 'object' ? (error as ErrorFields) : {};

/** The error's name (an SDK exception's is its code: `ThrottlingException`), '' when it has none. */
export const errorName = (error: unknown): string => {
  const { name } = fieldsOf(error);
  return typeof name === 'string' ? name : '';
};

/** The error's message; a thrown non-Error as text. */
export const errorMessage = (error: unknown): string => {
  const { message } = fieldsOf(error);
  return typeof message === 'string' ? message : String(error);
};

/** The HTTP status of the service's answer, when there was one. */
export const httpStatusOf = (error: unknown): number | undefined => {
  const status = fieldsOf(error).$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
};

/** `Name: message` (just the message for a plain Error, or when the message starts with the name). */
export const errorText = (error: unknown): string => {
  const name = errorName(error);
  const message = errorMessage(error);
  return name && name !== 'Error' && !message.startsWith(name) ? `${name}: ${message}` : message;
};

/** Whether the error is one of these names (the SDK's exception names are its service's error codes). */
export const isNamed = (error: unknown, ...names: readonly string[]): boolean =>
  names.includes(errorName(error));

/**
 * Worth another try: throttling, a transient fault (a timeout, a dropped connection, 500/502/503/504)
 * or another server fault, exactly as the SDK classifies them. An answer that refuses the request
 * (access, parameters, a missing resource: a 4xx) is not, nor is a call we aborted.
 */
export const isRetryable = (error: unknown): boolean => {
  if (error === null || typeof error !== 'object') return false;
  const e = error as Parameters<typeof isTransientError>[0];
  return isThrottlingError(e) || isTransientError(e) || isServerError(e);
};
