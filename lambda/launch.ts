/** The launch queue -> one worker per message; failed messages go back to the queue, one by one. */
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { awsControlContext } from '../lib/control/aws-context';
import { awsWorkers } from '../lib/control/aws-workers';
import { handlerLog, withLambdaContext } from '../lib/control/handler-log';
import { launchBatch } from '../lib/control/launch-batch';
import { readHandlerEnvironment } from '../lib/handler-environment';

const env = readHandlerEnvironment();
const { log, logger } = handlerLog(env.POWERTOOLS_SERVICE_NAME);
// Every invocation launches: the launcher is built at start, not on first use.
const { ctx } = awsControlContext(env, log, (config) => awsWorkers(env, config));

export const handler = withLambdaContext(logger, (event: SQSEvent): Promise<SQSBatchResponse> =>
  launchBatch(ctx, event.Records),
);
