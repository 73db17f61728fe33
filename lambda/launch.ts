/** The launch queue -> one worker per message; failed messages go back to the queue, one by one. */
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { awsControlContext } from '../lib/control/aws-context';
import { handlerLog } from '../lib/control/handler-log';
import { launchBatch } from '../lib/control/launch-batch';
import { readHandlerEnvironment } from '../lib/handler-environment';

const env = readHandlerEnvironment();
const { log } = handlerLog(env.POWERTOOLS_SERVICE_NAME);
const { ctx } = awsControlContext(env, log);

export const handler = (event: SQSEvent): Promise<SQSBatchResponse> => launchBatch(ctx, event.Records);
