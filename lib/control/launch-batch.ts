/**
 * One delivery of the launch queue (the launch handler's work, lambda/launch.ts), through Powertools'
 * batch utility: each message is launched on its own, one after another, and one that fails (a
 * retryable launch outcome, or an error thrown while launching it) goes back to the queue alone, so
 * SQS never delivers the others again.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import type { ControlContext } from './control-context';
import { launchMessageOf } from './event-parsing';
import { MAX_RECEIVES } from '../launch/launcher';
import { launchDataset } from './launch-service';

export { MAX_RECEIVES };

export type LaunchRecord = Pick<SQSRecord, 'messageId' | 'body'> & {
  readonly attributes: Pick<SQSRecord['attributes'], 'ApproximateReceiveCount'>;
};

/** A launch to try again later: the record is reported failed, and SQS delivers it again. */
class LaunchLater extends Error {}

const launchRecord = async (ctx: ControlContext, record: LaunchRecord): Promise<void> => {
  const message = launchMessageOf(record);
  if (!message) {
    // Not a launch message: delivering it again would not make it one.
    ctx.log.error('dropped a launch message that is not one', { body: record.body.slice(0, 500) });
    return;
  }
  const lastAttempt = Number(record.attributes.ApproximateReceiveCount) >= MAX_RECEIVES;
  let result: Awaited<ReturnType<typeof launchDataset>>;
  try {
    result = await launchDataset(ctx, message, { lastAttempt });
  } catch (error) {
    // Back to the queue alone: its next delivery (or the dead-letter queue) decides.
    ctx.log.error('launch failed; the message goes back to the queue', { ...message, error: String(error) });
    throw error;
  }
  ctx.log.info('launch', { ...message, result });
  if (result.kind === 'retry') throw new LaunchLater(result.reason);
};

export const launchBatch = async (
  ctx: ControlContext,
  records: readonly LaunchRecord[],
): Promise<SQSBatchResponse> => {
  // A processor per delivery: it keeps the delivery's successes and failures.
  const processor = new BatchProcessor(EventType.SQS, {
    logger: {
      debug: () => undefined,
      warn: (...args: unknown[]) => ctx.log.warn('batch processing', { details: args.map(String) }),
      error: (...args: unknown[]) => ctx.log.error('batch processing', { details: args.map(String) }),
    },
  });
  return processPartialResponse(
    { Records: [...records] },
    (record: LaunchRecord) => launchRecord(ctx, record),
    processor,
    // One at a time, as the launch slots were taken in order; a batch that failed whole is reported
    // record by record like any other, not thrown (which would log an error for retries that are normal).
    { processInParallel: false, throwOnFullBatchFailure: false },
  );
};
