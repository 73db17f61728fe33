/**
 * Notifications in the template: one topic per submitting group (no lab receives another's job
 * details), email subscriptions only for real addresses, the control plane may publish to those
 * topics and nothing else, encrypted with the AWS-managed key and TLS only, cdk-nag clean.
 */
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { configFrom, neurocaasBlueprint, synthesize } from '../support/synth';

type Json = Record<string, unknown>;
interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource?: unknown;
}

const blueprint = (overrides: Record<string, unknown> = {}) =>
  neurocaasBlueprint({
    UXData: {
      Affiliates: [
        { AffiliateName: 'lab', UserNames: ['alice'], UserInput: true, ContactEmail: 'lab@example.org' },
        {
          AffiliateName: 'lab2',
          UserNames: ['carol'],
          UserInput: true,
          ContactEmail: 'The email we should notify',
        },
        { AffiliateName: 'viewers', UserNames: [], UserInput: false, ContactEmail: 'viewers@example.org' },
      ],
    },
    Notifications: { Emails: ['dev@example.org', 'LAB@example.org'] },
    ...overrides,
  });

const topicsByName = (template: Template): Map<string, string> =>
  new Map(
    Object.entries(template.findResources('AWS::SNS::Topic')).map(([logicalId, r]) => [
      String(((r as Json).Properties as Json).TopicName),
      logicalId,
    ]),
  );

/** Topic logical id -> the addresses subscribed to it. */
const subscriptions = (template: Template): Map<string, string[]> => {
  const byTopic = new Map<string, string[]>();
  for (const r of Object.values(template.findResources('AWS::SNS::Subscription'))) {
    const props = (r as Json).Properties as { Endpoint: string; Protocol: string; TopicArn: { Ref: string } };
    expect(props.Protocol).toBe('email');
    byTopic.set(props.TopicArn.Ref, [...(byTopic.get(props.TopicArn.Ref) ?? []), props.Endpoint]);
  }
  return byTopic;
};

const statementsWith = (template: Template, action: string): Statement[] =>
  Object.values(template.findResources('AWS::IAM::Policy')).flatMap((r) =>
    (((r as Json).Properties as Json).PolicyDocument as { Statement: Statement[] }).Statement.filter((s) =>
      (Array.isArray(s.Action) ? s.Action : [s.Action]).some(
        (a) => a === action || a === 'sns:*' || a === '*',
      ),
    ),
  );

describe('a blueprint with notifications', () => {
  const { template, nagFindings } = synthesize(configFrom(blueprint()));
  const topics = topicsByName(template);

  test('one topic per group that submits jobs, named after the analysis and the group', () => {
    expect([...topics.keys()].sort()).toEqual(['ncaas-test-analysis-lab', 'ncaas-test-analysis-lab2']);
  });

  test("each topic holds only its own group's real ContactEmail plus the blueprint's Emails, each once", () => {
    const subs = subscriptions(template);
    expect(subs.get(topics.get('ncaas-test-analysis-lab') ?? '')?.sort()).toEqual([
      'dev@example.org',
      'lab@example.org',
    ]);
    // lab2's ContactEmail is placeholder text: no subscription for it.
    expect(subs.get(topics.get('ncaas-test-analysis-lab2') ?? '')?.sort()).toEqual([
      'LAB@example.org',
      'dev@example.org',
    ]);
    expect(JSON.stringify(template.toJSON())).not.toContain('The email we should notify');
    expect(JSON.stringify(template.toJSON())).not.toContain('viewers@example.org');
  });

  test('topics use the AWS-managed SNS key (no customer key) and refuse requests without TLS', () => {
    for (const logicalId of topics.values()) {
      const topic = template.toJSON().Resources[logicalId] as { Properties: Json };
      expect(JSON.stringify(topic.Properties.KmsMasterKeyId)).toContain(':alias/aws/sns');
      template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        Topics: [{ Ref: logicalId }],
        PolicyDocument: Match.objectLike({
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Principal: '*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        }),
      });
    }
    template.resourceCountIs('AWS::KMS::Key', 0);
  });

  test('the control plane may publish to these topics and nothing else; workers may not publish', () => {
    const publish = statementsWith(template, 'sns:Publish');
    expect(publish.length).toBe(4);
    const allowed = [...topics.values()].map((id) => ({ Ref: id }));
    for (const s of publish) {
      expect(s.Effect).toBe('Allow');
      expect(s.Action).toBe('sns:Publish');
      expect(Array.isArray(s.Resource) ? [...(s.Resource as unknown[])] : [s.Resource]).toEqual(
        expect.arrayContaining(allowed),
      );
      expect((Array.isArray(s.Resource) ? (s.Resource as unknown[]) : [s.Resource]).length).toBe(
        allowed.length,
      );
    }
    const policies = template.findResources('AWS::IAM::Policy');
    const publishers = Object.keys(policies).filter((id) =>
      JSON.stringify(policies[id]).includes('"sns:Publish"'),
    );
    expect(publishers.every((id) => id.startsWith('ControlPlane'))).toBe(true);
  });

  test("every handler learns where the topics are; no address is in the handlers' environment", () => {
    const functions = template.findResources('AWS::Lambda::Function', {
      Properties: { Environment: { Variables: { NCAAS_ANALYSIS: 'test-analysis' } } },
    });
    expect(Object.keys(functions)).toHaveLength(4);
    for (const fn of Object.values(functions)) {
      const variables = (((fn as Json).Properties as Json).Environment as { Variables: Json }).Variables;
      expect(JSON.stringify(variables.NCAAS_NOTIFICATION_TOPIC_ARN_PREFIX)).toContain(':sns:us-east-1:');
      expect(JSON.stringify(variables)).not.toContain('@example.org');
    }
  });

  test('the topics are a stack output', () => {
    template.hasOutput('NotificationTopics', {});
  });

  test('has no unacknowledged cdk-nag AwsSolutions finding', () => {
    expect(nagFindings).toEqual([]);
  });
});

test('no event chosen: no topic, no permission, no environment variable', () => {
  const { template, nagFindings } = synthesize(configFrom(blueprint({ Notifications: { Events: [] } })));
  template.resourceCountIs('AWS::SNS::Topic', 0);
  template.resourceCountIs('AWS::SNS::Subscription', 0);
  expect(statementsWith(template, 'sns:Publish')).toEqual([]);
  expect(JSON.stringify(template.toJSON())).not.toContain('NCAAS_NOTIFICATION_TOPIC_ARN_PREFIX');
  expect(nagFindings).toEqual([]);
});

test('a group with no real address still gets its topic (subscribe later), with no subscription', () => {
  const { template } = synthesize(configFrom(neurocaasBlueprint()));
  const topics = topicsByName(template);
  expect([...topics.keys()].sort()).toEqual(['ncaas-test-analysis-lab', 'ncaas-test-analysis-lab2']);
  const subs = subscriptions(template);
  expect(subs.get(topics.get('ncaas-test-analysis-lab2') ?? '')).toBeUndefined();
  expect(subs.get(topics.get('ncaas-test-analysis-lab') ?? '')).toEqual(['lab@example.org']);
});

describe("each group's own choice (Notifications.Groups)", () => {
  const perGroup = neurocaasBlueprint({
    UXData: {
      Affiliates: [
        { AffiliateName: 'lab', UserNames: ['alice'], UserInput: true, ContactEmail: 'lab@example.org' },
        { AffiliateName: 'lab2', UserNames: [], UserInput: true, ContactEmail: 'The email we should notify' },
        { AffiliateName: 'lab3', UserNames: [], UserInput: true, ContactEmail: 'lab3@example.org' },
        { AffiliateName: 'viewers', UserNames: [], UserInput: false },
      ],
    },
    Notifications: {
      Emails: ['dev@example.org'],
      Groups: {
        lab: { Events: ['FAIL'], Emails: ['pi-lab@example.org'] },
        lab2: { Emails: ['pi-lab2@example.org', 'DEV@example.org'] },
        lab3: { Events: [] },
      },
    },
  });
  const { template, nagFindings } = synthesize(configFrom(perGroup));
  const topics = topicsByName(template);

  test('a topic only for each group told about at least one event', () => {
    // lab3 chose no event; viewers submits nothing.
    expect([...topics.keys()].sort()).toEqual(['ncaas-test-analysis-lab', 'ncaas-test-analysis-lab2']);
    // The stack output lists the same two: `{"lab":"<arn>","lab2":"<arn>"}`, joined from the topics' Refs.
    const parts = template.findOutputs('NotificationTopics').NotificationTopics.Value[
      'Fn::Join'
    ][1] as unknown[];
    expect(parts.filter((p) => typeof p === 'string').join('')).toBe('{"lab":"","lab2":""}');
    expect(parts.filter((p) => typeof p !== 'string')).toEqual([
      { Ref: topics.get('ncaas-test-analysis-lab') },
      { Ref: topics.get('ncaas-test-analysis-lab2') },
    ]);
  });

  test("a group's own Emails are on its topic only; no address reaches another group's topic", () => {
    const subs = subscriptions(template);
    expect(subs.get(topics.get('ncaas-test-analysis-lab') ?? '')?.sort()).toEqual([
      'dev@example.org',
      'lab@example.org',
      'pi-lab@example.org',
    ]);
    expect(subs.get(topics.get('ncaas-test-analysis-lab2') ?? '')?.sort()).toEqual([
      'dev@example.org',
      'pi-lab2@example.org',
    ]);
    expect(subs.size).toBe(2);
    // lab3 has no topic, so its real ContactEmail is subscribed nowhere.
    expect(JSON.stringify(template.toJSON())).not.toContain('lab3@example.org');
  });

  test('the control plane may publish to these two topics only', () => {
    const allowed = [...topics.values()]
      .map((id) => ({ Ref: id }))
      .sort((a, b) => a.Ref.localeCompare(b.Ref));
    const publish = statementsWith(template, 'sns:Publish');
    expect(publish.length).toBe(4);
    for (const s of publish) {
      const resources = (
        Array.isArray(s.Resource) ? [...(s.Resource as { Ref: string }[])] : [s.Resource]
      ) as {
        Ref: string;
      }[];
      expect(resources.sort((a, b) => a.Ref.localeCompare(b.Ref))).toEqual(allowed);
    }
  });

  test("the handlers know each group's events, and no address", () => {
    const functions = template.findResources('AWS::Lambda::Function', {
      Properties: { Environment: { Variables: { NCAAS_ANALYSIS: 'test-analysis' } } },
    });
    expect(Object.keys(functions)).toHaveLength(4);
    for (const fn of Object.values(functions)) {
      const variables = (((fn as Json).Properties as Json).Environment as { Variables: Json }).Variables;
      expect(JSON.stringify(variables)).not.toContain('@example.org');
      const config = JSON.parse(String(variables.NCAAS_ANALYSIS_CONFIG)) as {
        notifications: { events: string[]; groups: { group: string; events: string[] }[] };
      };
      expect(config.notifications.events).toEqual(['BEGIN', 'END', 'FAIL']);
      expect(config.notifications.groups.map((g) => [g.group, g.events])).toEqual([
        ['lab', ['FAIL']],
        ['lab2', ['BEGIN', 'END', 'FAIL']],
        ['lab3', []],
      ]);
    }
  });

  test('has no unacknowledged cdk-nag AwsSolutions finding', () => {
    expect(nagFindings).toEqual([]);
  });
});

test('no event for the analysis: only the group that opts in has a topic, with only its addresses', () => {
  const { template, nagFindings } = synthesize(
    configFrom(
      blueprint({
        Notifications: { Events: [], Groups: { lab2: { Events: ['END'], Emails: ['pi-lab2@example.org'] } } },
      }),
    ),
  );
  const topics = topicsByName(template);
  expect([...topics.keys()]).toEqual(['ncaas-test-analysis-lab2']);
  expect([...subscriptions(template)]).toEqual([
    [topics.get('ncaas-test-analysis-lab2'), ['pi-lab2@example.org']],
  ]);
  // lab's real ContactEmail belongs to a group with no topic: it is nowhere in the template.
  expect(JSON.stringify(template.toJSON())).not.toContain('lab@example.org');
  expect(nagFindings).toEqual([]);
});
