/**
 * One delivery of the launch queue (the launch handler's work, lambda/launch.ts): each message is
 * launched on its own, so one that fails (a retryable launch error, or an error thrown while
 * launching it) goes back to the queue alone and never makes SQS deliver the others again.
 */
import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import type { ControlContext } from './control-context';
import { launchMessageOf } from './event-parsing';
import { MAX_RECEIVES } from '../launch/launcher';
import { launchDataset } from './launch-service';

export { MAX_RECEIVES };

export type LaunchRecord = Pick<SQSRecord, 'messageId' | 'body'> & {
  readonly attributes: Pick<SQSRecord['attributes'], 'ApproximateReceiveCount'>;
};

export const launchBatch = async (
  ctx: ControlContext,
  records: readonly LaunchRecord[],
): Promise<SQSBatchResponse> => {
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  for (const record of records) {
    const message = launchMessageOf(record);
    if (!message) {
      ctx.log.error('dropped a launch message that is not one', { body: record.body.slice(0, 500) });
      continue;
    }
    const lastAttempt = Number(record.attributes.ApproximateReceiveCount) >= MAX_RECEIVES;
    try {
      const result = await launchDataset(ctx, message, { lastAttempt });
      ctx.log.info('launch', { ...message, result });
      if (result.kind === 'retry') batchItemFailures.push({ itemIdentifier: record.messageId });
    } catch (error) {
      // Back to the queue alone: its next delivery (or the dead-letter queue) decides.
      ctx.log.error('launch failed; the message goes back to the queue', {
        ...message,
        error: String(error),
      });
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures };
};
