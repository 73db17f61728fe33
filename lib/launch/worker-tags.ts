/**
 * Tag keys on every worker instance and volume: the control plane finds its workers by them (the
 * orphan sweep, an event that arrives before the job table knows the instance). Plain data, so
 * handlers import it without pulling in the CDK.
 */
export const WORKER_TAGS = {
  analysis: 'ncaas:analysis',
  group: 'ncaas:group',
  job: 'ncaas:job',
  dataset: 'ncaas:dataset',
} as const;
