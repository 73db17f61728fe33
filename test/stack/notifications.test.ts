/**
 * Notifications in the template: one topic for the analysis whatever the number of groups; each
 * group address subscribed with a filter policy on the message's `group` attribute (no lab receives
 * another's job details), the analysis's own people unfiltered; email subscriptions only for real
 * addresses; the control plane may publish to the topic and nothing else; encrypted with the
 * AWS-managed key and TLS only; cdk-nag clean.
 */
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { ControlPlane } from '../../lib/constructs/control-plane';
import { ANALYSIS_CONFIG_FILE } from '../../lib/handler-environment';
import { childOf } from '../support/policy-simulation';
import { configFrom, neurocaasBlueprint, synthesize } from '../support/synth';

type Json = Record<string, unknown>;
interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource?: unknown;
}

const TOPIC_NAME = 'ncaas-test-analysis';

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

/** Address -> the groups its subscription's filter policy lets through ('all' without a filter). */
const subscriptions = (template: Template, topicId: string | undefined): Map<string, string[] | 'all'> => {
  const byAddress = new Map<string, string[] | 'all'>();
  for (const r of Object.values(template.findResources('AWS::SNS::Subscription'))) {
    const props = (r as Json).Properties as {
      Endpoint: string;
      Protocol: string;
      TopicArn: { Ref: string };
      FilterPolicy?: { group: string[] };
      FilterPolicyScope?: string;
    };
    expect(props.Protocol).toBe('email');
    expect(props.TopicArn.Ref).toBe(topicId);
    if (props.FilterPolicy) expect(Object.keys(props.FilterPolicy)).toEqual(['group']);
    byAddress.set(props.Endpoint, props.FilterPolicy ? [...props.FilterPolicy.group].sort() : 'all');
  }
  return byAddress;
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
  const topicId = topics.get(TOPIC_NAME);

  test('one topic, named after the analysis', () => {
    expect([...topics.keys()]).toEqual([TOPIC_NAME]);
  });

  test("each group's real ContactEmail sees only its group; the blueprint's Emails see every group, each once", () => {
    // LAB@example.org is dev's list's spelling of lab's contact: the analysis's people get everything.
    expect(subscriptions(template, topicId)).toEqual(
      new Map<string, string[] | 'all'>([
        ['dev@example.org', 'all'],
        ['LAB@example.org', 'all'],
      ]),
    );
    const withOwnContact = synthesize(
      configFrom(blueprint({ Notifications: { Emails: ['dev@example.org'] } })),
    );
    expect(
      subscriptions(withOwnContact.template, topicsByName(withOwnContact.template).get(TOPIC_NAME)),
    ).toEqual(
      new Map<string, string[] | 'all'>([
        ['dev@example.org', 'all'],
        ['lab@example.org', ['lab']],
      ]),
    );
    // lab2's ContactEmail is placeholder text; viewers submit nothing.
    expect(JSON.stringify(template.toJSON())).not.toContain('The email we should notify');
    expect(JSON.stringify(template.toJSON())).not.toContain('viewers@example.org');
  });

  test('the topic uses the AWS-managed SNS key (no customer key) and refuses requests without TLS', () => {
    const topic = template.toJSON().Resources[topicId ?? ''] as { Properties: Json };
    expect(JSON.stringify(topic.Properties.KmsMasterKeyId)).toContain(':alias/aws/sns');
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId }],
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
    template.resourceCountIs('AWS::KMS::Key', 0);
  });

  test('the control plane may publish to this topic and nothing else; workers may not publish', () => {
    const publish = statementsWith(template, 'sns:Publish');
    expect(publish.length).toBe(4);
    for (const s of publish) {
      expect(s.Effect).toBe('Allow');
      expect(s.Action).toBe('sns:Publish');
      expect(s.Resource).toEqual({ Ref: topicId });
    }
    const policies = template.findResources('AWS::IAM::Policy');
    const publishers = Object.keys(policies).filter((id) =>
      JSON.stringify(policies[id]).includes('"sns:Publish"'),
    );
    expect(publishers.every((id) => id.startsWith('ControlPlane'))).toBe(true);
  });

  test("every handler learns the topic; no address is in the handlers' environment or code", () => {
    const functions = template.findResources('AWS::Lambda::Function', {
      Properties: { Environment: { Variables: { NCAAS_ANALYSIS: 'test-analysis' } } },
    });
    expect(Object.keys(functions)).toHaveLength(4);
    for (const fn of Object.values(functions)) {
      const variables = (((fn as Json).Properties as Json).Environment as { Variables: Json }).Variables;
      expect(variables.NCAAS_NOTIFICATION_TOPIC_ARN).toEqual({ Ref: topicId });
      expect(JSON.stringify(variables)).not.toContain('@example.org');
    }
  });

  test('the topic is a stack output', () => {
    template.hasOutput('NotificationTopic', { Value: { Ref: topicId } });
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
  expect(JSON.stringify(template.toJSON())).not.toContain('NCAAS_NOTIFICATION_TOPIC_ARN');
  expect(nagFindings).toEqual([]);
});

test('groups with no real address still have the topic (subscribe later with a filter policy)', () => {
  const { template } = synthesize(configFrom(neurocaasBlueprint()));
  const topics = topicsByName(template);
  expect([...topics.keys()]).toEqual([TOPIC_NAME]);
  expect(subscriptions(template, topics.get(TOPIC_NAME))).toEqual(
    new Map<string, string[] | 'all'>([['lab@example.org', ['lab']]]),
  );
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
        lab: { Events: ['FAIL'], Emails: ['pi-lab@example.org', 'shared@example.org'] },
        lab2: { Emails: ['pi-lab2@example.org', 'DEV@example.org', 'shared@example.org'] },
        lab3: { Events: [] },
      },
    },
  });
  const { stack, template, nagFindings } = synthesize(configFrom(perGroup));
  const topicId = topicsByName(template).get(TOPIC_NAME);

  test("a group's own Emails see that group only; an address two groups name sees both; no other group's", () => {
    expect(subscriptions(template, topicId)).toEqual(
      new Map<string, string[] | 'all'>([
        ['dev@example.org', 'all'],
        ['lab@example.org', ['lab']],
        ['pi-lab@example.org', ['lab']],
        ['shared@example.org', ['lab', 'lab2']],
        ['pi-lab2@example.org', ['lab2']],
      ]),
    );
    // lab3 is told about no event, so its real ContactEmail is subscribed nowhere.
    expect(JSON.stringify(template.toJSON())).not.toContain('lab3@example.org');
  });

  test("the handlers' bundled config knows each group's events, and no address", () => {
    const plane = childOf(stack, 'ControlPlane', ControlPlane);
    for (const fn of [plane.submitHandler, plane.launcher, plane.reconcileHandler, plane.watchdog]) {
      const text = fn.bundledFiles[ANALYSIS_CONFIG_FILE];
      expect(text).not.toContain('@example.org');
      const config = JSON.parse(text) as {
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

test('no event for the analysis: only the group that opts in is subscribed, with only its addresses', () => {
  const { template, nagFindings } = synthesize(
    configFrom(
      blueprint({
        Notifications: { Events: [], Groups: { lab2: { Events: ['END'], Emails: ['pi-lab2@example.org'] } } },
      }),
    ),
  );
  const topics = topicsByName(template);
  expect([...topics.keys()]).toEqual([TOPIC_NAME]);
  expect(subscriptions(template, topics.get(TOPIC_NAME))).toEqual(
    new Map<string, string[] | 'all'>([['pi-lab2@example.org', ['lab2']]]),
  );
  // lab's real ContactEmail belongs to a group that is not notified: it is nowhere in the template.
  expect(JSON.stringify(template.toJSON())).not.toContain('lab@example.org');
  expect(nagFindings).toEqual([]);
});
