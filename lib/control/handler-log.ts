/** The handlers' structured logger (Powertools, JSON), adapted to the services' small Log interface. */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Log } from './control-context';

export const handlerLog = (serviceName: string | undefined): { logger: Logger; log: Log } => {
  const logger = new Logger({ serviceName: serviceName ?? 'ncaas' });
  return {
    logger,
    log: {
      info: (message, details) => logger.info(message, { ...details }),
      warn: (message, details) => logger.warn(message, { ...details }),
      error: (message, details) => logger.error(message, { ...details }),
    },
  };
};
