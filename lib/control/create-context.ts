/**
 * The one way a control context is put together, by the Lambda entries (./aws-context.ts), the local
 * runtime (local/local-runtime.ts) and the test harness (test/support/control-harness.ts): the same
 * bucket access, job store and report (its certificate appended in the job table), so what the tests
 * and the local runtime exercise is what runs deployed. Each caller brings its own clients, launch
 * queue, launcher, prices and notifier.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { JobStore } from '../job/job-store';
import type { ControlContext, Log } from './control-context';
import { JobReport, jobRecordSource } from './job-report';
import { S3Objects } from './s3-objects';

export interface ContextParts extends Pick<
  ControlContext,
  'config' | 'bucket' | 'launchQueue' | 'prices' | 'launcher' | 'identifyWorker' | 'notifier' | 'now' | 'log'
> {
  readonly s3: S3Client;
  readonly table: { readonly client: DynamoDBDocumentClient; readonly name: string };
  /** A job-table write whose failure a later event repairs. @default logged as a warning */
  readonly onRepairableError?: (what: string, error: unknown) => void;
}

const warnOf =
  (log: Log) =>
  (what: string, error: unknown): void =>
    log.warn(what, { error: String(error) });

export const createControlContext = (parts: ContextParts): ControlContext => {
  const { config, bucket, now, log } = parts;
  const objects = new S3Objects(parts.s3, bucket);
  const store = new JobStore({
    client: parts.table.client,
    tableName: parts.table.name,
    analysis: config.name,
    now,
    onRepairableError: parts.onRepairableError ?? warnOf(log),
  });
  return {
    config,
    bucket,
    objects,
    report: new JobReport(objects, now, jobRecordSource(config.name, store)),
    store,
    launchQueue: parts.launchQueue,
    prices: parts.prices,
    ...(parts.launcher !== undefined ? { launcher: parts.launcher } : {}),
    ...(parts.identifyWorker !== undefined ? { identifyWorker: parts.identifyWorker } : {}),
    ...(parts.notifier !== undefined ? { notifier: parts.notifier } : {}),
    now,
    log,
  };
};
