/**
 * The notification message and its way to SNS: subject within SNS's rules, the group's own topic,
 * the real Publish request's shape (through the runtime's SDK, loaded by name), and what happens
 * where that SDK is missing.
 */
import { snsPublish, type SnsModule } from '../../lib/control/aws-context';
import { handlerConfig } from '../../lib/constructs/control-plane';
import {
  MAX_SUBJECT_LENGTH,
  notificationAddressesOf,
  notificationEventsOf,
  notifiedGroups,
  renderNotification,
  TopicNotifier,
  topicOfNotifiedGroups,
  topicSubscriptions,
  type JobNotification,
  type Publish,
} from '../../lib/control/notify';
import { parseBlueprint } from '../../lib/blueprint/load-blueprint';
import { analysisConfig, blueprintJson } from '../support/control-harness';

const event: JobNotification = {
  kind: 'FAIL',
  group: 'lab',
  jobId: '16:52:06.836494condition_2_3',
  outcome: '1 SUCCESS, 1 FAILED',
  reason: 'lab/inputs/b.zip: FAILED (the analysis exited with code 3)',
  resultsUrl: 's3://bucket/lab/results/job__epi_16:52:06.836494condition_2_3/',
};

test('the message names the job, what happened, why and where the results are', () => {
  const { subject, message } = renderNotification('epi', event);
  expect(subject).toBe('[ncaas epi] job 16:52:06.836494condition_2_3 failed');
  expect(message).toContain('Outcome: 1 SUCCESS, 1 FAILED');
  expect(message).toContain('Reason:  lab/inputs/b.zip: FAILED (the analysis exited with code 3)');
  expect(message).toContain(`Results: ${event.resultsUrl}`);
  expect(message).toContain('ncaas status 16:52:06.836494condition_2_3 --group lab');
});

test("the subject keeps to SNS's rules: printable ASCII, no line break, at most 100 characters", () => {
  const { subject } = renderNotification('epi', { ...event, jobId: `é\n${'x'.repeat(200)}` });
  expect(subject.length).toBeLessThanOrEqual(MAX_SUBJECT_LENGTH);
  expect(subject).toMatch(/^[\x20-\x7E]+$/);
});

test("each notified group's message goes to the analysis topic with its group attribute; others get nothing", async () => {
  const config = analysisConfig('epi');
  const topicArn = 'arn:aws:sns:us-east-1:123456789012:ncaas-epi';
  const topicOf = topicOfNotifiedGroups(config, topicArn);
  expect(topicOf('lab')).toBe(topicArn);
  expect(topicOf('lab2')).toBe(topicArn);
  // `viewers` does not submit: nothing is sent. Unknown groups neither.
  expect(topicOf('viewers')).toBeUndefined();
  expect(topicOf('other')).toBeUndefined();
  expect(topicOfNotifiedGroups(config, undefined)('lab')).toBeUndefined();

  const calls: Parameters<Publish>[] = [];
  const notifier = new TopicNotifier({
    analysis: 'epi',
    topicOf,
    publish: async (...args) => {
      calls.push(args);
    },
  });
  await notifier.notify({ ...event, group: 'lab2' });
  await notifier.notify({ ...event, group: 'viewers' });
  expect(calls).toHaveLength(1);
  expect(calls[0][0]).toBe(topicArn);
  expect(calls[0][3]).toEqual({ event: 'FAIL', group: 'lab2' });
});

test('snsPublish sends a Publish request of the real shape through the SDK it loads by name', async () => {
  const sent: unknown[] = [];
  const configs: unknown[] = [];
  const loaded: string[] = [];
  class FakeClient {
    constructor(config: Record<string, unknown>) {
      configs.push(config);
    }
    async send(command: unknown): Promise<unknown> {
      sent.push(command);
      return { MessageId: 'm-1' };
    }
  }
  class FakePublish {
    constructor(readonly input: unknown) {}
  }
  const fake: SnsModule = { SNSClient: FakeClient, PublishCommand: FakePublish };
  const publish = snsPublish((name) => {
    loaded.push(name);
    return fake;
  });

  await publish('arn:aws:sns:us-east-1:123456789012:ncaas-epi-lab', 'subject', 'body\n', { event: 'END' });
  await publish('arn:aws:sns:us-east-1:123456789012:ncaas-epi-lab', 's2', 'b2', {});
  expect(loaded).toEqual(['@aws-sdk/client-sns']);
  expect(configs).toHaveLength(1);
  expect(sent[0]).toBeInstanceOf(FakePublish);
  expect((sent[0] as FakePublish).input).toEqual({
    TopicArn: 'arn:aws:sns:us-east-1:123456789012:ncaas-epi-lab',
    Subject: 'subject',
    Message: 'body\n',
    MessageAttributes: { event: { DataType: 'String', StringValue: 'END' } },
  });
});

test('without @aws-sdk/client-sns a publish fails with a plain message (and the job goes on: notify.ts logs it)', async () => {
  const publish = snsPublish(() => {
    throw new Error("Cannot find module '@aws-sdk/client-sns'");
  });
  await expect(publish('arn:aws:sns:us-east-1:1:t', 's', 'm', {})).rejects.toThrow(
    '@aws-sdk/client-sns is not available in this runtime: the notification was not sent',
  );
  // This repository does not install it: the default loader (Node's require) says the same.
  let installed = true;
  try {
    require.resolve('@aws-sdk/client-sns');
  } catch {
    installed = false;
  }
  expect(installed).toBe(false);
  await expect(snsPublish()('arn:aws:sns:us-east-1:1:t', 's', 'm', {})).rejects.toThrow('not available');
});

describe("each group's own choice (Notifications.Groups)", () => {
  const configWith = (notifications: Record<string, unknown>) => {
    const json = blueprintJson('epi');
    const affiliates = (json.UXData as { Affiliates: Record<string, unknown>[] }).Affiliates;
    affiliates[1].ContactEmail = 'pi@lab2.example.org';
    const parsed = parseBlueprint({ ...json, Notifications: notifications }, 'epi.json');
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    return parsed.config;
  };
  const config = configWith({
    Events: ['BEGIN', 'END', 'FAIL'],
    Emails: ['ops@example.org'],
    Groups: {
      lab: { Events: ['FAIL', 'RETRY'], Emails: ['pi@lab.example.org', 'OPS@example.org'] },
      lab2: { Emails: ['student@lab2.example.org'] },
      viewers: { Events: ['ALL'] },
    },
  });

  test("a group's Events replace the analysis's; a group without Events keeps the analysis's", () => {
    expect(notificationEventsOf(config, 'lab')).toEqual(['FAIL', 'RETRY']);
    expect(notificationEventsOf(config, 'lab2')).toEqual(['BEGIN', 'END', 'FAIL']);
    expect(notificationEventsOf(config, 'unknown')).toEqual(['BEGIN', 'END', 'FAIL']);
  });

  test("a topic's addresses: its ContactEmail, the analysis's Emails, its own Emails; never another group's", () => {
    // lab's ContactEmail is placeholder text; OPS@ is ops@ already (case is ignored).
    expect(notificationAddressesOf(config, 'lab')).toEqual(['ops@example.org', 'pi@lab.example.org']);
    expect(notificationAddressesOf(config, 'lab2')).toEqual([
      'pi@lab2.example.org',
      'ops@example.org',
      'student@lab2.example.org',
    ]);
  });

  test("one subscription per address: the analysis's people unfiltered, each other address filtered to its groups", () => {
    expect(topicSubscriptions(config)).toEqual([
      { address: 'ops@example.org', groups: 'all' },
      { address: 'pi@lab.example.org', groups: ['lab'] },
      { address: 'pi@lab2.example.org', groups: ['lab2'] },
      { address: 'student@lab2.example.org', groups: ['lab2'] },
    ]);
    const shared = configWith({ Groups: { lab: { Emails: ['pi@lab2.example.org'] } } });
    expect(topicSubscriptions(shared)).toContainEqual({
      address: 'pi@lab2.example.org',
      groups: ['lab', 'lab2'],
    });
  });

  test('notified: only groups that submit and are told about at least one event', () => {
    // viewers chose ALL but submits nothing: no notification.
    expect(notifiedGroups(config)).toEqual(['lab', 'lab2']);
    const silenced = configWith({ Groups: { lab: { Events: [] } } });
    expect(notifiedGroups(silenced)).toEqual(['lab2']);
    const topicOf = topicOfNotifiedGroups(silenced, 'arn:aws:sns:us-east-1:123456789012:ncaas-epi');
    expect(topicOf('lab')).toBeUndefined();
    expect(topicOf('lab2')).toBe('arn:aws:sns:us-east-1:123456789012:ncaas-epi');
    const optIn = configWith({ Events: [], Groups: { lab2: { Events: ['END'] } } });
    expect(notifiedGroups(optIn)).toEqual(['lab2']);
  });

  test("the handlers keep each group's events but no address", () => {
    const handlers = handlerConfig(config);
    expect(JSON.stringify(handlers)).not.toMatch(/@/);
    expect(handlers.notifications.groups.map((g) => [g.group, g.events])).toEqual([
      ['lab', ['FAIL', 'RETRY']],
      ['lab2', ['BEGIN', 'END', 'FAIL']],
      ['viewers', ['BEGIN', 'END', 'FAIL', 'RETRY']],
    ]);
    expect(notifiedGroups(handlers)).toEqual(['lab', 'lab2']);
  });
});
