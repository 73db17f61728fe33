/**
 * What the control-plane services need, passed in rather than built inside, so the Lambdas, the
 * local runtime and the tests run the same code against AWS, the emulators or mocks.
 */
import type { AnalysisConfig } from '../blueprint/analysis-config';
import type { JobStore } from '../job/job-store';
import type { LaunchMessage, Launcher } from '../launch/launcher';
import type { PriceBook } from '../pricing/price-book';
import type { JobReport } from './job-report';
import type { Notifier } from './notify';
import type { S3Objects } from './s3-objects';

export interface Log {
  info(message: string, details?: Record<string, unknown>): void;
  warn(message: string, details?: Record<string, unknown>): void;
  error(message: string, details?: Record<string, unknown>): void;
}

/** Sends launch messages (SQS when deployed, an in-process queue locally). */
export interface LaunchQueueSender {
  send(message: LaunchMessage): Promise<void>;
}

export interface WorkerIdentity {
  readonly group: string;
  readonly jobId: string;
  readonly datasetIndex: number;
}

export interface ControlContext {
  readonly config: AnalysisConfig;
  /** The analysis bucket. */
  readonly bucket: string;
  readonly objects: S3Objects;
  readonly report: JobReport;
  readonly store: JobStore;
  readonly launchQueue: LaunchQueueSender;
  readonly prices: PriceBook;
  /** Needed to stop workers (cancel, deadline, orphans) and, in the launcher, to start them. */
  readonly launcher?: Launcher;
  /**
   * Which dataset a worker belongs to, from the worker itself (EC2: its tags). State events can
   * arrive before the job table knows the worker's id; this is the fallback.
   */
  readonly identifyWorker?: (launcherId: string) => Promise<WorkerIdentity | undefined>;
  /** Tells the job's group about it (./notify.ts); without one, nothing is sent. */
  readonly notifier?: Notifier;
  readonly now: () => Date;
  readonly log: Log;
}

export const consoleLog: Log = {
  info: (message, details) => console.log(JSON.stringify({ level: 'INFO', message, ...details })),
  warn: (message, details) => console.warn(JSON.stringify({ level: 'WARN', message, ...details })),
  error: (message, details) => console.error(JSON.stringify({ level: 'ERROR', message, ...details })),
};
