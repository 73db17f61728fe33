/**
 * Every few minutes: deadlines, stuck launches, orphan workers, lost events, the running count,
 * developers' dev instances past their expiry (stopped), and Batch job folders left on EFS.
 */
import { awsControlContext, deadLetterSource } from '../lib/control/aws-context';
import { awsWorkers, devInstanceSource, ec2Client, listWorkerInstances } from '../lib/control/aws-workers';
import { handlerLog, withLambdaContext } from '../lib/control/handler-log';
import { runWatchdog } from '../lib/control/watchdog';
import { readHandlerEnvironment } from '../lib/handler-environment';

const env = readHandlerEnvironment();
const { log, logger } = handlerLog(env.POWERTOOLS_SERVICE_NAME);
const { ctx, sqs, workers } = awsControlContext(env, log, (config) => awsWorkers(env, config));
const batch = workers?.batch;
const ec2 = ec2Client();

export const handler = withLambdaContext(logger, async (): Promise<void> => {
  await runWatchdog(ctx, {
    listWorkers:
      ctx.config.runtime === 'ec2'
        ? () => listWorkerInstances(ec2, ctx.config.name, env.NCAAS_LAUNCH_TEMPLATE_ID ?? '')
        : undefined,
    deadLetters: deadLetterSource(sqs, env.NCAAS_LAUNCH_DEAD_LETTER_URL, log),
    devInstances: devInstanceSource(ec2, ctx.config.name),
    ...(batch ? { batch } : {}),
  });
});
