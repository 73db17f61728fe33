/** EC2 instance and Batch job state changes, Spot's warnings, and workers' final reports -> job state. */
import { awsControlContext } from '../lib/control/aws-context';
import { awsWorkers } from '../lib/control/aws-workers';
import { handleObject } from '../lib/control/bucket-events';
import { isBatchJobStateEvent, onBatchJobState } from '../lib/control/batch-reconcile';
import {
  isInstanceStateEvent,
  isS3Event,
  isSpotInterruptionWarning,
  s3ObjectEvents,
} from '../lib/control/event-parsing';
import { handlerLog, withLambdaContext } from '../lib/control/handler-log';
import { onFinalReport, onWorkerState } from '../lib/control/reconcile';
import { onSpotWarning } from '../lib/control/spot-interruption';
import { readHandlerEnvironment } from '../lib/handler-environment';

const env = readHandlerEnvironment();
const { log, logger } = handlerLog(env.POWERTOOLS_SERVICE_NAME);
const { ctx, workers } = awsControlContext(env, log, (config) => awsWorkers(env, config));
const { batch, containerLogs } = workers ?? {};

export const handler = withLambdaContext(logger, async (event: unknown): Promise<void> => {
  if (isSpotInterruptionWarning(event)) {
    const { 'instance-id': instanceId, 'instance-action': action } = event.detail;
    log.info('Spot interruption warning', {
      instanceId,
      action,
      outcome: await onSpotWarning(ctx, instanceId, action, event.time),
    });
  } else if (isInstanceStateEvent(event)) {
    const { 'instance-id': instanceId, state } = event.detail;
    log.info('instance state', {
      instanceId,
      state,
      outcome: await onWorkerState(ctx, instanceId, state, event.time),
    });
  } else if (isBatchJobStateEvent(event)) {
    const { jobId, jobName, status } = event.detail;
    const outcome =
      batch && containerLogs
        ? await onBatchJobState(ctx, batch, containerLogs, event.detail, event.time)
        : 'ignored: this analysis does not run on Batch';
    log.info('Batch job state', { jobId, jobName, status, outcome });
  } else if (isS3Event(event)) {
    for (const object of s3ObjectEvents(event)) {
      // The notification filters only by suffix: the group and folder are checked here.
      const handled = await handleObject(ctx, object, { 'final-report': onFinalReport });
      if (handled.route === 'final-report')
        log.info('final report', { key: object.key, outcome: handled.outcome });
      else log.info('ignored: not a final report in a group of this analysis', { key: object.key });
    }
  } else {
    log.warn('ignored an event of an unknown kind', { event: JSON.stringify(event).slice(0, 1000) });
  }
});
