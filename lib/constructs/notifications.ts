import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { createHash } from 'node:crypto';
import type { AnalysisConfig } from '../blueprint/analysis-config';
import { notificationTopicName, notifiedGroups, topicSubscriptions } from '../control/notify';
import type { GroupShards } from './group-shards';

export interface JobNotificationsProps {
  /** The analysis: its name names the topic, its groups' addresses subscribe, its `Notifications` add addresses. */
  readonly config: AnalysisConfig;
  /** Where each subscription goes (a shard chosen by its address). @default this construct */
  readonly shards?: GroupShards;
}

/**
 * The analysis's one SNS topic (`ncaas-{analysis}`), whatever the number of groups. Every message
 * carries its group as a message attribute (lib/control/notify.ts); each group address subscribes
 * with a filter policy naming its groups, so a lab's job details reach that lab's addresses only,
 * and the analysis's own people (`Notifications.Emails`) subscribe without one. Only the stack can
 * change a subscription's filter: the addresses are email endpoints, which can confirm or leave the
 * subscription and nothing else. Each address confirms from the email AWS sends it before anything
 * is delivered.
 *
 * Encrypted with the AWS-managed key `alias/aws/sns` (no customer-managed key, no monthly charge;
 * its key policy lets SNS use it for any publisher of the account, so publishers need no KMS
 * permission); the topic policy refuses requests without TLS. No cost while nothing is published.
 * No topic when no group is told about any event.
 */
export class JobNotifications extends Construct {
  readonly topic?: sns.Topic;

  constructor(scope: Construct, id: string, props: JobNotificationsProps) {
    super(scope, id);
    const { config } = props;
    const subscriptions = topicSubscriptions(config);
    if (notifiedGroups(config).length === 0) return;
    const topic = new sns.Topic(this, 'Topic', {
      topicName: notificationTopicName(config.name),
      displayName: `ncaas ${config.name}`.slice(0, 100),
      masterKey: kms.Alias.fromAliasName(this, 'AwsManagedSnsKey', 'alias/aws/sns'),
      enforceSSL: true,
    });
    this.topic = topic;
    subscriptions.forEach(
      ({ address, groups }) =>
        new sns.Subscription(
          // By the address, not its groups: a change of groups is then an update in place, never a
          // subscription moved to another nested stack (SNS keeps one per address and topic).
          props.shards?.scopeFor(id, `address:${subscriptionId(address)}`) ?? this,
          `Email-${subscriptionId(address)}`,
          {
            topic,
            protocol: sns.SubscriptionProtocol.EMAIL,
            endpoint: address,
            ...(groups === 'all'
              ? {}
              : { filterPolicy: { group: sns.SubscriptionFilter.stringFilter({ allowlist: [...groups] }) } }),
          },
        ),
    );
  }

  /** sns:Publish on this topic and no other (the AWS-managed key needs no KMS permission). */
  grantPublish(grantee: iam.IGrantable): void {
    if (!this.topic) return;
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [this.topic.topicArn] }),
    );
  }
}

/** A subscription's construct id from its address (ignoring case): stable when others are added or removed. */
const subscriptionId = (address: string): string =>
  createHash('sha256').update(address.trim().toLowerCase()).digest('hex').slice(0, 12);
