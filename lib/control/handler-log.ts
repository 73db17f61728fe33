/** The handlers' structured logger (Powertools, JSON), adapted to the services' small Log interface. */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import type { Log } from './control-context';

export const handlerLog = (serviceName: string | undefined): { logger: Logger; log: Log } => {
  const logger = new Logger({ serviceName: serviceName ?? 'ncaas' });
  return {
    logger,
    // The details (group, jobId, datasetIndex, key, ...) become top-level keys of the JSON line, so
    // CloudWatch Logs Insights can filter one job's lines with `filter jobId = "..."`.
    log: {
      info: (message, details) => logger.info(message, { ...details }),
      warn: (message, details) => logger.warn(message, { ...details }),
      error: (message, details) => logger.error(message, { ...details }),
    },
  };
};

/**
 * A handler whose every line carries the invocation's Lambda context (request id, function name and
 * version, cold start), as Powertools' `injectLambdaContext` does, without a middleware engine.
 */
export const withLambdaContext =
  <E, R>(logger: Logger, handler: (event: E) => Promise<R>) =>
  (event: E, context?: Context): Promise<R> => {
    if (context !== undefined) logger.addContext(context);
    return handler(event);
  };
