/**
 * The local runtime's public shape (the implementation lives in ./local-runtime.ts). The CLI's
 * `ncaas local` and `npm run demo`, and the end-to-end tests, use only this.
 */
import type { AnalysisConfig } from '../lib/blueprint/analysis-config';
import type { BatchSubmission } from '../lib/launch/batch-api';
import type { SpotInterruption } from './local-batch';
import type { LocalSpotReclaim } from './local-launcher';
import type { LaunchRequest } from '../lib/launch/launcher';

export interface LocalRuntimeOptions {
  /** A blueprint name (blueprints/<name>.json) or a path. */
  readonly blueprint: string;
  /** Where the emulators keep their data and the runtime writes env.sh. @default .ncaas-local */
  readonly dir?: string;
  /** S3 emulator port; DynamoDB takes a free one. @default 0 (any free port) */
  readonly port?: number;
  /** How often the watchdog runs. @default 30 s */
  readonly watchdogIntervalMs?: number;
  /** Seconds between a worker's live status uploads (NCAAS_STATUS_INTERVAL). @default 5 */
  readonly statusIntervalSeconds?: number;
  /**
   * Secrets a deployed stack reads from Secrets Manager, here from local files: the secret's name
   * as the blueprint writes it (RemoteSources.Groups.<group>.RcloneConfigSecret) -> a file holding
   * its value (the group's rclone.conf). @default none
   */
  readonly secretFiles?: Readonly<Record<string, string>>;
  /**
   * Runs the analysis's sign-in too (a user pool emulator, local/local-sign-in.ts), unless the
   * blueprint turns sign-in off. @default false (`ncaas local` turns it on)
   */
  readonly signIn?: boolean;
  /**
   * Serves the web console (web/, built at start) on 127.0.0.1 and allows its origin in the S3
   * emulator's CORS. @default false (`ncaas local` and `npm run demo` turn it on)
   */
  readonly console?: boolean;
  /** The console's port. @default 0 (any free port) */
  readonly consolePort?: number;
  /** Progress lines (jobs started, finished); silent when false. @default console.log */
  readonly print?: (line: string) => void;
  /**
   * Batch blueprints with `Container.Spot`: which jobs Spot fails (no capacity, or the instance taken
   * back), to try the on-demand fallback locally. @default Spot never fails
   */
  readonly spotInterruption?: (submission: BatchSubmission) => SpotInterruption | undefined;
  /**
   * EC2 blueprints with `Ec2.Spot`: which workers Spot takes back, and when (its two-minute warning,
   * then the worker killed), to try the on-demand relaunch locally. @default Spot never reclaims
   */
  readonly spotReclaim?: (request: LaunchRequest) => LocalSpotReclaim | undefined;
  /**
   * Fault injection (tests), batch blueprints: a reason when a Batch job cannot start (an image that
   * cannot be pulled); it ends FAILED without running, as on AWS.
   */
  readonly batchStartFailure?: (submission: BatchSubmission) => string | undefined;
}

export interface LocalRuntime {
  readonly config: AnalysisConfig;
  readonly bucket: string;
  readonly table: string;
  /** `http://127.0.0.1:<port>` of the S3 emulator. */
  readonly s3Endpoint: string;
  readonly dynamoDbEndpoint: string;
  /** The variables a client needs (what env.sh exports). */
  readonly clientEnv: Readonly<Record<string, string>>;
  /** Path of the written env.sh. */
  readonly envFile: string;
  /** The web console's address, when it is served (`console`); also NCAAS_CONSOLE_URL in env.sh. */
  readonly consoleUrl?: string;
  /** The sign-in emulator, when it runs (`signIn`). */
  readonly signIn?: {
    readonly endpoint: string;
    readonly userPoolId: string;
    readonly clientId: string;
    /** Invitations Cognito would have emailed, one JSON line each: the local mailbox. */
    readonly invitationsFile: string;
  };
  /** Resolves when no event, launch or worker is in flight. */
  idle(): Promise<void>;
  /** Stops workers (their jobs become INTERRUPTED), the emulators and timers. */
  stop(): Promise<void>;
}
