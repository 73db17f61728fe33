/**
 * What an AWS call's error says about itself, whatever was thrown: its name (an SDK exception's is
 * its service's error code), its message, the HTTP status of the answer. No dependency, so a handler
 * that only tells errors apart bundles nothing more; whether to retry is ./aws-errors.ts.
 */
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
