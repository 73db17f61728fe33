/**
 * The local runtime's notifications: what would be emailed to the group's subscribers is printed and
 * appended to `<dir>/notifications.log` (one message after another, each headed by its subject and
 * the addresses the topic would have), so the BEGIN/END/FAIL/RETRY messages of a blueprint, and who
 * gets them, can be read without an AWS account.
 *
 * Like the deployed stack: which events reach a group is decided before any notifier is called
 * (lib/control/notify.ts `sendNotification`, the group's own choice or the analysis's), and a group
 * that is not notified (it submits nothing, or is told about no event) gets nothing. It is the deployed
 * `TopicNotifier` with a publish that writes instead of calling SNS, so which groups are notified and
 * what the message says are decided by the same code.
 */
import * as fs from 'node:fs';
import type { AnalysisConfig } from '../lib/blueprint/analysis-config';
import { notificationAddressesOf, TopicNotifier, topicOfNotifiedGroups } from '../lib/control/notify';
import { EMULATOR_REGION } from './emulators';

/** The topic ARN a deployed stack would pass; only its presence matters here (nothing calls SNS). */
const LOCAL_TOPIC_ARN = `arn:aws:sns:${EMULATOR_REGION}:000000000000:ncaas-local`;

export class LocalNotifier extends TopicNotifier {
  constructor(
    config: AnalysisConfig,
    /** The log file (`<dir>/notifications.log`). */
    readonly file: string,
    print: (line: string) => void,
  ) {
    super({
      analysis: config.name,
      topicOf: topicOfNotifiedGroups(config, LOCAL_TOPIC_ARN),
      // TopicNotifier passes the group as a message attribute (for SNS filter policies).
      publish: async (_topicArn, subject, message, { group }) => {
        const addresses = notificationAddressesOf(config, group);
        const to = addresses.length > 0 ? addresses.join(', ') : '(no address subscribed)';
        print(`notification to group ${group}: ${subject}`);
        await fs.promises.appendFile(
          file,
          `=== ${new Date().toISOString()} to group ${group}\nTo: ${to}\nSubject: ${subject}\n\n${message}\n`,
        );
      },
    });
  }
}
