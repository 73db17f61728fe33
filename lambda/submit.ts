/** S3 `{group}/submissions/*submit.json` and `*.cancel.json` -> the submission intake. */
import type { S3Event } from 'aws-lambda';
import { awsControlContext } from '../lib/control/aws-context';
import { processCancel } from '../lib/control/cancel-request';
import { s3ObjectEvents } from '../lib/control/event-parsing';
import { handlerLog } from '../lib/control/handler-log';
import { processSubmission } from '../lib/control/submission-intake';
import { readHandlerEnvironment } from '../lib/handler-environment';
import { CANCEL_SUFFIX, SUBMIT_SUFFIX } from '../lib/layout';

const env = readHandlerEnvironment();
const { log } = handlerLog(env.POWERTOOLS_SERVICE_NAME);
const { ctx } = awsControlContext(env, log);

export const handler = async (event: S3Event): Promise<void> => {
  for (const object of s3ObjectEvents(event)) {
    // Bad input never throws (it is refused in writing); an AWS failure does, so S3 retries it.
    if (object.key.endsWith(SUBMIT_SUFFIX)) {
      log.info('submission', { key: object.key, outcome: await processSubmission(ctx, object) });
    } else if (object.key.endsWith(CANCEL_SUFFIX)) {
      log.info('cancel request', { key: object.key, outcome: await processCancel(ctx, object.key) });
    }
  }
};
