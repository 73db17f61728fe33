/** EventBridge events from EC2, told apart by their detail-type (shapes as AWS documents them). */
import { isInstanceStateEvent, isSpotInterruptionWarning } from '../../lib/control/event-parsing';

const base = {
  version: '0',
  id: '1e5527d7-bb36-4607-3370-4164db56a40e',
  source: 'aws.ec2',
  account: '123456789012',
  time: '2026-12-07T12:00:00Z',
  region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-1234567890abcdef0'],
};

const stateChange = {
  ...base,
  'detail-type': 'EC2 Instance State-change Notification',
  detail: { 'instance-id': 'i-1234567890abcdef0', state: 'terminated' },
};

const spotWarning = {
  ...base,
  'detail-type': 'EC2 Spot Instance Interruption Warning',
  detail: { 'instance-id': 'i-1234567890abcdef0', 'instance-action': 'terminate' },
};

test('a state change is a state change, not a Spot warning', () => {
  expect(isInstanceStateEvent(stateChange)).toBe(true);
  expect(isSpotInterruptionWarning(stateChange)).toBe(false);
});

test("Spot's two-minute warning is told apart (it names the instance but has no state)", () => {
  expect(isSpotInterruptionWarning(spotWarning)).toBe(true);
  expect(isInstanceStateEvent(spotWarning)).toBe(false);
});

test.each([null, 'text', {}, { source: 'aws.ec2' }, { ...spotWarning, source: 'aws.batch' }])(
  '%j is neither',
  (event) => {
    expect(isInstanceStateEvent(event)).toBe(false);
    expect(isSpotInterruptionWarning(event)).toBe(false);
  },
);
