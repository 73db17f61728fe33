/**
 * The local runtime's notifications: what would be emailed to the group's topic is printed and
 * appended to `<dir>/notifications.log` (one message after another, each headed by its subject and
 * the addresses the topic would have), so the BEGIN/END/FAIL/RETRY messages of a blueprint, and who
 * gets them, can be read without an AWS account.
 *
 * Like the deployed stack: which events reach a group is decided before any notifier is called
 * (lib/control/notify.ts `sendNotification`, the group's own choice or the analysis's), and a group
 * with no topic (it submits nothing, or is told about no event) gets nothing.
 */
import * as fs from 'node:fs';
import type { AnalysisConfig } from '../lib/blueprint/analysis-config';
import {
  notificationAddressesOf,
  notifiedGroups,
  renderNotification,
  type JobNotification,
  type Notifier,
} from '../lib/control/notify';

export class LocalNotifier implements Notifier {
  constructor(
    private readonly config: AnalysisConfig,
    /** The log file (`<dir>/notifications.log`). */
    readonly file: string,
    private readonly print: (line: string) => void,
  ) {}

  async notify(event: JobNotification): Promise<void> {
    if (!notifiedGroups(this.config).includes(event.group)) return;
    const { subject, message } = renderNotification(this.config.name, event);
    const addresses = notificationAddressesOf(this.config, event.group);
    const to = addresses.length > 0 ? addresses.join(', ') : '(no address subscribed)';
    this.print(`notification to group ${event.group}: ${subject}`);
    await fs.promises.appendFile(
      this.file,
      `=== ${new Date().toISOString()} to group ${event.group}\nTo: ${to}\nSubject: ${subject}\n\n${message}\n`,
    );
  }
}
