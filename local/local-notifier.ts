/**
 * The local runtime's notifications: what would be emailed to the group's topic is printed and
 * appended to `<dir>/notifications.log` (one message after another, each headed by its subject), so
 * the BEGIN/END/FAIL/RETRY messages of a blueprint can be read without an AWS account.
 */
import * as fs from 'node:fs';
import { renderNotification, type JobNotification, type Notifier } from '../lib/control/notify';

export class LocalNotifier implements Notifier {
  constructor(
    private readonly analysis: string,
    /** The log file (`<dir>/notifications.log`). */
    readonly file: string,
    private readonly print: (line: string) => void,
  ) {}

  async notify(event: JobNotification): Promise<void> {
    const { subject, message } = renderNotification(this.analysis, event);
    this.print(`notification to group ${event.group}: ${subject}`);
    await fs.promises.appendFile(
      this.file,
      `=== ${new Date().toISOString()} to group ${event.group}\nSubject: ${subject}\n\n${message}\n`,
    );
  }
}
