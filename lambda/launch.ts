/** The launch queue -> one worker per message; retryable failures go back to the queue. */
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { awsControlContext } from '../lib/control/aws-context';
import { launchMessageOf } from '../lib/control/event-parsing';
import { handlerLog } from '../lib/control/handler-log';
import { launchDataset } from '../lib/control/launch-service';
import { readHandlerEnvironment } from '../lib/handler-environment';

const env = readHandlerEnvironment();
const { log } = handlerLog(env.POWERTOOLS_SERVICE_NAME);
const { ctx } = awsControlContext(env, log);
/** The queue's maxReceiveCount (lib/constructs/launch-queue.ts): the last delivery fails for good. */
const MAX_RECEIVES = 5;

export const handler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  for (const record of event.Records) {
    const message = launchMessageOf(record);
    if (!message) {
      log.error('dropped a launch message that is not one', { body: record.body.slice(0, 500) });
      continue;
    }
    const lastAttempt = Number(record.attributes.ApproximateReceiveCount) >= MAX_RECEIVES;
    const result = await launchDataset(ctx, message, { lastAttempt });
    log.info('launch', { ...message, result });
    if (result.kind === 'retry') batchItemFailures.push({ itemIdentifier: record.messageId });
  }
  return { batchItemFailures };
};
