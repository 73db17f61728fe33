/**
 * Whether another try of an AWS call can help, in one place (what an error says about itself is
 * ./aws-error-names.ts, re-exported here). Retryability is the SDK's own classification
 * (@smithy/core/retry, what its retry strategy decides by), so a call we retry ourselves (a whole
 * step, not one request) agrees with the SDK about what is worth retrying. A service-specific rule (EC2's capacity codes, Batch's
 * ClientException) stays beside that service's launcher and is checked before this one.
 */
import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';

export * from './aws-error-names';

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
