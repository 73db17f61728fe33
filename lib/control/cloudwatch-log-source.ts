/**
 * A Batch container's log as CloudWatch Logs keeps it (./container-log.ts `ContainerLogSource`):
 * GetLogEvents from the head of the stream, following `nextForwardToken` until it comes back
 * unchanged (the end of the stream; GetLogEvents may answer empty pages before that). Throttling and
 * the service's own faults are retried with growing, jittered waits, within the copy's time limit;
 * a stream or log group that does not exist is `LogStreamNotFound`.
 *
 * The client should be built with `maxAttempts: 1`: the retries here are the only ones, and they
 * stop when the copy's time is up (the SDK's own would not know about it).
 */
import { setTimeout as wait } from 'node:timers/promises';
import {
  type CloudWatchLogsClient,
  GetLogEventsCommand,
  type GetLogEventsCommandInput,
  type GetLogEventsCommandOutput,
} from '@aws-sdk/client-cloudwatch-logs';
import { isNamed, isRetryable } from '../aws-errors';
import { type ContainerLogLine, type ContainerLogSource, LogStreamNotFound } from './container-log';

export interface CloudWatchLogSourceProps {
  readonly client: CloudWatchLogsClient;
  /** The log group the containers write to (Batch's default, /aws/batch/job). */
  readonly logGroup: string;
  /** Named where the copy says the whole log is. */
  readonly region: string;
  /** Requests of one page when throttled or the service fails, the first included. @default 6 */
  readonly maxAttempts?: number;
  /** The first wait after a throttled request; each next one doubles, up to 5 s. @default 250 ms */
  readonly firstWaitMs?: number;
  /** Waits; rejects when the signal aborts. @default a timer */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** Longest wait between two attempts: polite to a throttled account, short against a 20 s budget. */
const MAX_WAIT_MS = 5_000;

export class CloudWatchLogSource implements ContainerLogSource {
  constructor(private readonly props: CloudWatchLogSourceProps) {}

  where(stream: string): string {
    return `CloudWatch Logs (region ${this.props.region}), log group ${this.props.logGroup}, stream ${stream}`;
  }

  async *read(stream: string, signal: AbortSignal): AsyncIterable<readonly ContainerLogLine[]> {
    let token: string | undefined;
    for (;;) {
      const out = await this.page(
        {
          logGroupName: this.props.logGroup,
          logStreamName: stream,
          startFromHead: true,
          ...(token !== undefined ? { nextToken: token } : {}),
        },
        signal,
      );
      const lines = (out.events ?? []).flatMap((event) =>
        typeof event.message === 'string'
          ? [
              {
                message: event.message,
                ...(event.timestamp !== undefined ? { timestamp: event.timestamp } : {}),
              },
            ]
          : [],
      );
      if (lines.length > 0) yield lines;
      const next = out.nextForwardToken;
      // The same token back means there is nothing after it (yet): the end of the stream.
      if (next === undefined || next === token) return;
      token = next;
    }
  }

  private async page(
    input: GetLogEventsCommandInput,
    signal: AbortSignal,
  ): Promise<GetLogEventsCommandOutput> {
    const attempts = Math.max(1, this.props.maxAttempts ?? 6);
    const sleep = this.props.sleep ?? abortableSleep;
    for (let attempt = 1; ; attempt += 1) {
      signal.throwIfAborted();
      try {
        return await this.props.client.send(new GetLogEventsCommand(input), { abortSignal: signal });
      } catch (error) {
        if (isNamed(error, 'ResourceNotFoundException')) {
          throw new LogStreamNotFound(`${this.where(input.logStreamName ?? '')} does not exist`);
        }
        if (signal.aborted || attempt >= attempts || !isRetryable(error)) throw error;
        const ceiling = Math.min(MAX_WAIT_MS, (this.props.firstWaitMs ?? 250) * 2 ** (attempt - 1));
        // Half fixed, half random: two handlers throttled together do not retry in step.
        await sleep(ceiling / 2 + Math.random() * (ceiling / 2), signal);
      }
    }
  }
}

/** Rejects with the signal's reason when it aborts, like the request it waits between. */
const abortableSleep = async (ms: number, signal: AbortSignal): Promise<void> => {
  try {
    await wait(ms, undefined, { signal });
  } catch (error) {
    throw signal.aborted ? (signal.reason as Error) : error;
  }
};
