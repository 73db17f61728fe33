/**
 * Telling a group about its jobs (the blueprint's `Notifications`): BEGIN when a job is accepted,
 * END when every dataset has ended and none failed, FAIL when one failed or timed out, RETRY when a
 * launch is retried. Only the events the blueprint chose for the job's group are sent: its own
 * `Notifications.Groups.<group>.Events` when it has them, else the analysis's `Notifications.Events`.
 *
 * The analysis has one topic (lib/constructs/notifications.ts); each message carries its group as a
 * message attribute and each group address's subscription has a filter policy on it, so no lab ever
 * receives another's job details. A notification is a courtesy: one that cannot be sent is logged and never
 * stops the job. The message is plain text for email: the job, what happened, why, where the results are.
 */
import type { AnalysisConfig, NotificationEvent } from '../blueprint/analysis-config';
import type { ControlContext } from './control-context';

export type NotificationKind = NotificationEvent;

export interface JobNotification {
  readonly kind: NotificationKind;
  readonly group: string;
  readonly jobId: string;
  /** What happened: `accepted: 2 datasets`, `2 SUCCESS, 1 FAILED`, `launch attempt 1 will be retried`. */
  readonly outcome?: string;
  /** Why, on a failure or a retry. */
  readonly reason?: string;
  /** `s3://bucket/{group}/results/job__{analysis}_{jobId}/`. */
  readonly resultsUrl: string;
}

export interface Notifier {
  notify(event: JobNotification): Promise<void>;
}

/** Sends `event` when the blueprint chose its kind for its group; a failure to send is logged, never thrown. */
export const sendNotification = async (ctx: ControlContext, event: JobNotification): Promise<void> => {
  if (!ctx.notifier || !notificationEventsOf(ctx.config, event.group).includes(event.kind)) return;
  try {
    await ctx.notifier.notify(event);
  } catch (error) {
    ctx.log.warn('notification not sent', {
      kind: event.kind,
      group: event.group,
      jobId: event.jobId,
      error: error instanceof Error ? error.message : String(error),
    });
  }
};

/** SNS topic name of an analysis's notifications: unique per account and region, as analysis names are. */
export const notificationTopicName = (analysis: string): string => `ncaas-${analysis}`;

/** The events a group is told about: its own choice (`Notifications.Groups`), else the analysis's. */
export const notificationEventsOf = (config: AnalysisConfig, group: string): readonly NotificationEvent[] =>
  config.notifications.groups.find((g) => g.group === group)?.events ?? config.notifications.events;

/** The groups that are notified: those that submit jobs and are told about at least one event. */
export const notifiedGroups = (config: AnalysisConfig): string[] =>
  config.groups
    .filter((g) => g.userInput && notificationEventsOf(config, g.name).length > 0)
    .map((g) => g.name);

/**
 * The addresses subscribed to a group's topic: its real ContactEmail, the analysis's
 * `Notifications.Emails`, then its own `Notifications.Groups.<group>.Emails`; each once, ignoring
 * case. No other group's address is ever among them.
 */
export const notificationAddressesOf = (config: AnalysisConfig, group: string): string[] => {
  const contact = config.groups.find((g) => g.name === group)?.contactEmail;
  const own = config.notifications.groups.find((g) => g.group === group)?.emails ?? [];
  const seen = new Set<string>();
  return [...(contact !== undefined ? [contact] : []), ...config.notifications.emails, ...own].filter(
    (address) => {
      const key = address.trim().toLowerCase();
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    },
  );
};

// ---- the message ---------------------------------------------------------------------------------

/** SNS Subject: at most 100 characters, printable ASCII, no line breaks. */
export const MAX_SUBJECT_LENGTH = 100;
/** Longest reason put in a message (a worker's reason can quote its output). */
const MAX_REASON_LENGTH = 4000;

const HEADLINE: Record<NotificationKind, string> = {
  BEGIN: 'accepted',
  END: 'finished',
  FAIL: 'failed',
  RETRY: 'launch retried',
};

const asciiLine = (text: string): string => text.replace(/[^\x20-\x7E]/g, '?');

export interface RenderedNotification {
  readonly subject: string;
  readonly message: string;
}

export const renderNotification = (analysis: string, event: JobNotification): RenderedNotification => {
  const subject = asciiLine(`[ncaas ${analysis}] job ${event.jobId} ${HEADLINE[event.kind]}`);
  const reason =
    event.reason !== undefined && event.reason.length > MAX_REASON_LENGTH
      ? `${event.reason.slice(0, MAX_REASON_LENGTH)}...`
      : event.reason;
  const lines = [
    `Job ${event.jobId} of analysis ${analysis}, group ${event.group}: ${HEADLINE[event.kind]}.`,
    '',
    `Event:   ${event.kind}`,
    ...(event.outcome !== undefined ? [`Outcome: ${event.outcome}`] : []),
    ...(reason !== undefined ? [`Reason:  ${reason}`] : []),
    `Results: ${event.resultsUrl}`,
    '',
    `Follow it: ncaas status ${event.jobId} --group ${event.group}   (logs: ncaas logs, results: ncaas results)`,
  ];
  return {
    subject: subject.length > MAX_SUBJECT_LENGTH ? `${subject.slice(0, MAX_SUBJECT_LENGTH - 3)}...` : subject,
    message: `${lines.join('\n')}\n`,
  };
};

// ---- publishing to the group's topic -------------------------------------------------------------

/** Publishes one message to an SNS topic (the real one is in ./aws-context.ts). */
export type Publish = (
  topicArn: string,
  subject: string,
  message: string,
  attributes: Readonly<Record<string, string>>,
) => Promise<void>;

export interface TopicNotifierOptions {
  readonly analysis: string;
  /** The group's topic ARN; undefined for a group without one (nothing is sent). */
  readonly topicOf: (group: string) => string | undefined;
  readonly publish: Publish;
}

/** Each notified group's messages to the analysis topic; `event` and `group` message attributes for the filter policies. */
export class TopicNotifier implements Notifier {
  constructor(private readonly options: TopicNotifierOptions) {}

  async notify(event: JobNotification): Promise<void> {
    const topicArn = this.options.topicOf(event.group);
    if (topicArn === undefined) return;
    const { subject, message } = renderNotification(this.options.analysis, event);
    await this.options.publish(topicArn, subject, message, { event: event.kind, group: event.group });
  }
}

/**
 * The analysis topic for a group that is notified, else undefined (nothing is sent): the stack passes
 * the one topic's ARN (NCAAS_NOTIFICATION_TOPIC_ARN), whatever the number of groups.
 */
export const topicOfNotifiedGroups =
  (config: AnalysisConfig, topicArn: string | undefined) =>
  (group: string): string | undefined =>
    topicArn && notifiedGroups(config).includes(group) ? topicArn : undefined;

/**
 * Who subscribes to the analysis topic, and with which filter: the analysis's own people
 * (`Notifications.Emails`) get every notified group's messages; every other address (a group's
 * ContactEmail or `Notifications.Groups.<group>.Emails`) only those of the groups that named it. One
 * entry per address: SNS keeps one subscription per address and topic.
 */
export const topicSubscriptions = (
  config: AnalysisConfig,
): { readonly address: string; readonly groups: readonly string[] | 'all' }[] => {
  const groups = notifiedGroups(config);
  if (groups.length === 0) return [];
  const everyGroup = new Set(config.notifications.emails.map((a) => a.trim().toLowerCase()));
  const byAddress = new Map<string, { address: string; groups: string[] }>();
  for (const group of groups) {
    for (const address of notificationAddressesOf(config, group)) {
      const key = address.trim().toLowerCase();
      if (everyGroup.has(key)) continue;
      const entry = byAddress.get(key) ?? { address, groups: [] };
      entry.groups.push(group);
      byAddress.set(key, entry);
    }
  }
  return [
    ...config.notifications.emails
      .filter((a, i, all) => all.findIndex((b) => b.trim().toLowerCase() === a.trim().toLowerCase()) === i)
      .map((address) => ({ address, groups: 'all' as const })),
    ...byAddress.values(),
  ];
};
