/**
 * Every few minutes: deadlines, stuck launches, orphan workers, lost events, the running count,
 * developers' dev instances past their expiry (stopped), and Batch job folders left on EFS.
 */
import {
  awsControlContext,
  deadLetterSource,
  devInstanceSource,
  listWorkerInstances,
} from '../lib/control/aws-context';
import { handlerLog } from '../lib/control/handler-log';
import { runWatchdog } from '../lib/control/watchdog';
import { readHandlerEnvironment } from '../lib/handler-environment';

const env = readHandlerEnvironment();
const { log } = handlerLog(env.POWERTOOLS_SERVICE_NAME);
const { ctx, ec2, sqs, batch } = awsControlContext(env, log);

export const handler = async (): Promise<void> => {
  await runWatchdog(ctx, {
    listWorkers:
      ctx.config.runtime === 'ec2'
        ? () => listWorkerInstances(ec2, ctx.config.name, env.NCAAS_LAUNCH_TEMPLATE_ID ?? '')
        : undefined,
    deadLetters: deadLetterSource(sqs, env.NCAAS_LAUNCH_DEAD_LETTER_URL, log),
    devInstances: devInstanceSource(ec2, ctx.config.name),
    ...(batch ? { batch } : {}),
  });
};
