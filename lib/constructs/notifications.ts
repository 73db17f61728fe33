import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { AnalysisConfig } from '../blueprint/analysis-config';
import { notificationAddressesOf, notificationTopicName, notifiedGroups } from '../control/notify';

export interface JobNotificationsProps {
  /** The analysis: its name names the topics, its groups get one each, its `Notifications` add addresses. */
  readonly config: AnalysisConfig;
}

/**
 * One SNS topic per group that submits jobs and is told about at least one event
 * (`ncaas-{analysis}-{group}`), so no lab ever receives another lab's job details. Subscribed by
 * email: the group's ContactEmail when it is a real address, every address of the blueprint's
 * `Notifications.Emails` (the analysis's own people) and the group's own
 * `Notifications.Groups.<group>.Emails`. Each address confirms its subscription from the email AWS
 * sends it before anything is delivered.
 *
 * Encrypted with the AWS-managed key `alias/aws/sns` (no customer-managed key, no monthly charge;
 * its key policy lets SNS use it for any publisher of the account, so publishers need no KMS
 * permission); the topic policy refuses requests without TLS. No cost while nothing is published.
 * Nothing is created for a group that is told about no event.
 */
export class JobNotifications extends Construct {
  /** Group name -> its topic. */
  readonly topics = new Map<string, sns.Topic>();

  constructor(scope: Construct, id: string, props: JobNotificationsProps) {
    super(scope, id);
    const { config } = props;
    const groups = notifiedGroups(config);
    if (groups.length === 0) return;
    const awsManagedKey = kms.Alias.fromAliasName(this, 'AwsManagedSnsKey', 'alias/aws/sns');
    for (const group of groups) {
      const topic = new sns.Topic(this, `Topic-${group}`, {
        topicName: notificationTopicName(config.name, group),
        displayName: `ncaas ${config.name}`.slice(0, 100),
        masterKey: awsManagedKey,
        enforceSSL: true,
      });
      this.topics.set(group, topic);
      notificationAddressesOf(config, group).forEach(
        (address, i) =>
          new sns.Subscription(this, `Email-${group}-${i}`, {
            topic,
            protocol: sns.SubscriptionProtocol.EMAIL,
            endpoint: address,
          }),
      );
    }
  }

  /**
   * The ARN of this account and region up to the topic name, for the handlers' environment
   * (NCAAS_NOTIFICATION_TOPIC_ARN_PREFIX); undefined when there are no topics.
   */
  get topicArnPrefix(): string | undefined {
    if (this.topics.size === 0) return undefined;
    const stack = Stack.of(this);
    return `arn:${stack.partition}:sns:${stack.region}:${stack.account}:`;
  }

  /** sns:Publish on these topics and no other. */
  grantPublish(grantee: iam.IGrantable): void {
    if (this.topics.size === 0) return;
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['sns:Publish'],
        resources: [...this.topics.values()].map((t) => t.topicArn),
      }),
    );
  }
}
