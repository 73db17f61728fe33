import { ClientException, ServerException } from '@aws-sdk/client-batch';
import {
  InvalidParameterException,
  ResourceNotFoundException,
  ServiceUnavailableException,
} from '@aws-sdk/client-cloudwatch-logs';
import { errorMessage, errorName, errorText, isNamed, isRetryable } from '../../lib/aws-errors';

const meta = (httpStatusCode: number) => ({ $metadata: { httpStatusCode } });

describe('lib/aws-errors.ts', () => {
  it.each([
    ['a 503 ServiceUnavailableException', new ServiceUnavailableException({ message: 'x', ...meta(503) })],
    ['a 500 ServerException', new ServerException({ message: 'x', ...meta(500) })],
    [
      'ThrottlingException answered with 400',
      Object.assign(new Error('slow'), { name: 'ThrottlingException', ...meta(400) }),
    ],
    [
      "EC2's RequestLimitExceeded",
      Object.assign(new Error('slow'), { name: 'RequestLimitExceeded', ...meta(503) }),
    ],
    ['any 429', Object.assign(new Error('slow'), { name: 'Whatever', ...meta(429) })],
    ['a dropped connection (Node code)', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
    ["the SDK's TimeoutError", Object.assign(new Error('timed out'), { name: 'TimeoutError' })],
  ])('%s is worth another try', (_what, error) => {
    expect(isRetryable(error)).toBe(true);
  });

  it.each([
    ['a 400 ClientException', new ClientException({ message: 'bad queue', ...meta(400) })],
    ['a 400 InvalidParameterException', new InvalidParameterException({ message: 'x', ...meta(400) })],
    ['a 404 ResourceNotFoundException', new ResourceNotFoundException({ message: 'x', ...meta(404) })],
    ['AccessDenied', Object.assign(new Error('no'), { name: 'AccessDeniedException', ...meta(403) })],
    ['our own abort', Object.assign(new Error('aborted'), { name: 'AbortError' })],
    ['a plain Error', new Error('a bug')],
    ['a thrown string', 'text'],
    ['null', null],
  ])('%s is not', (_what, error) => {
    expect(isRetryable(error)).toBe(false);
  });

  it('names and words an error a person can read, whatever was thrown', () => {
    const refused = new ClientException({ message: 'queue not found', ...meta(400) });
    expect(errorName(refused)).toBe('ClientException');
    expect(isNamed(refused, 'ServerException', 'ClientException')).toBe(true);
    expect(errorText(refused)).toBe('ClientException: queue not found');
    expect(errorText(new Error('plain'))).toBe('plain');
    expect(errorText(Object.assign(new Error('TimeoutError: late'), { name: 'TimeoutError' }))).toBe(
      'TimeoutError: late',
    );
    expect(errorText('a string')).toBe('a string');
    expect(errorMessage(undefined)).toBe('undefined');
    expect(errorName(42)).toBe('');
  });
});
