/** The handler environment is parsed at cold start: a missing or malformed variable is named there. */
import { readHandlerEnvironment } from '../../lib/handler-environment';

const complete = {
  NCAAS_ANALYSIS: 'mock',
  NCAAS_BUCKET: 'bucket',
  NCAAS_TABLE: 'table',
  NCAAS_LAUNCH_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/launch',
  NCAAS_RUNTIME: 'ec2',
};

test('a complete environment reads as its fields; empty optional values are absent, other variables left out', () => {
  const env = readHandlerEnvironment({ ...complete, NCAAS_EFS_FILE_SYSTEM_ID: '', PATH: '/usr/bin' });
  expect(env).toEqual(complete);
});

test.each([
  ['NCAAS_BUCKET', { ...complete, NCAAS_BUCKET: undefined }, 'NCAAS_BUCKET is missing'],
  ['an empty NCAAS_TABLE', { ...complete, NCAAS_TABLE: '' }, 'NCAAS_TABLE is missing'],
  [
    'NCAAS_RUNTIME',
    { ...complete, NCAAS_RUNTIME: 'kubernetes' },
    'NCAAS_RUNTIME is not valid ("kubernetes": one of ec2, batch, local)',
  ],
])('%s: the error names it', (_what, env, says) => {
  expect(() => readHandlerEnvironment(env)).toThrow(says);
});

test('every problem at once', () => {
  expect(() => readHandlerEnvironment({})).toThrow(
    /NCAAS_ANALYSIS is missing; NCAAS_BUCKET is missing; NCAAS_TABLE is missing; NCAAS_LAUNCH_QUEUE_URL is missing; NCAAS_RUNTIME is missing/,
  );
});
