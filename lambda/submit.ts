/**
 * S3 `*submit.json` and `*.cancel.json` -> the submission intake, for the keys lib/control/object-routing.ts
 * routes here (`{group}/submissions/` of a group that submits); the notification filters only by suffix.
 */
import type { S3Event } from 'aws-lambda';
import { awsControlContext } from '../lib/control/aws-context';
import { handleObject } from '../lib/control/bucket-events';
import { processCancel } from '../lib/control/cancel-request';
import { s3ObjectEvents } from '../lib/control/event-parsing';
import { handlerLog, withLambdaContext } from '../lib/control/handler-log';
import { processSubmission } from '../lib/control/submission-intake';
import { readHandlerEnvironment } from '../lib/handler-environment';

const env = readHandlerEnvironment();
const { log, logger } = handlerLog(env.POWERTOOLS_SERVICE_NAME);
// No workers at start: a cancel loads the launcher on first use (lib/control/aws-context.ts).
const { ctx } = awsControlContext(env, log);

export const handler = withLambdaContext(logger, async (event: S3Event): Promise<void> => {
  for (const object of s3ObjectEvents(event)) {
    // Bad input never throws (it is refused in writing); an AWS failure does, so S3 retries it.
    const handled = await handleObject(ctx, object, { submission: processSubmission, cancel: processCancel });
    if (handled.route === 'submission') log.info('submission', { key: object.key, outcome: handled.outcome });
    else if (handled.route === 'cancel')
      log.info('cancel request', { key: object.key, outcome: handled.outcome });
    else log.info('ignored: not a submission or cancel request of a group that submits', { key: object.key });
  }
});
