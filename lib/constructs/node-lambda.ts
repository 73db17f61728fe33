import { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { HandlerEnvironment } from '../handler-environment';

export interface NodeLambdaProps {
  /** File under lambda/, without extension (e.g. `submit`). */
  readonly entryName: string;
  readonly description: string;
  /** Typed, so a missing variable fails at synth, not at 3 a.m. */
  readonly environment: HandlerEnvironment | SignUpTriggerEnvironment | NoEnvironment;
  /** @default 60 seconds */
  readonly timeout?: Duration;
  /** @default 256 */
  readonly memorySize?: number;
  /** Where a failed asynchronous invocation goes (S3 and EventBridge triggers). */
  readonly onFailure?: lambda.IDestination;
  /** Retries of a failed asynchronous invocation. @default 2 */
  readonly retryAttempts?: number;
  /** Repository files copied next to the bundle (e.g. `worker/run-job.sh` for the launcher's user data). */
  readonly copyFiles?: readonly string[];
  /**
   * Files made at synth (name -> text) written next to the bundle: what would grow past the 4 KB of a
   * Lambda environment (the analysis config) travels with the code instead.
   */
  readonly bundledFiles?: Readonly<Record<string, string>>;
  /** Days the function's logs are kept. @default 90 */
  readonly logRetentionDays?: logs.RetentionDays;
}

const LAMBDA_DIR = path.join(__dirname, '..', '..', 'lambda');

/**
 * Every handler of the app is built here, so runtime, architecture, JSON logs, source maps and log
 * retention are decided once. Bundled by the local esbuild (no Docker); in unit tests bundling is
 * skipped through the `aws:cdk:bundling-stacks` context.
 */
export class NodeLambda extends nodejs.NodejsFunction {
  /** The files made at synth that travel next to the bundle (props.bundledFiles). */
  readonly bundledFiles: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: NodeLambdaProps) {
    const staged = Object.entries(props.bundledFiles ?? {}).map(([name, text]) => ({
      name,
      from: stageFile(name, text),
    }));
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetentionDays ?? logs.RetentionDays.THREE_MONTHS,
    });
    NagSuppressions.addResourceSuppressions(logGroup, [
      {
        id: 'NIST.800.53.R5-CloudWatchLogGroupEncrypted',
        reason:
          "CloudWatch Logs encrypts every log group at rest with keys AWS owns. A customer managed KMS key would bill $1/month while idle and add a key policy that must admit the Logs service; these logs hold job ids and object keys, not users' data.",
      },
    ]);
    super(scope, id, {
      entry: path.join(LAMBDA_DIR, `${props.entryName}.ts`),
      handler: 'handler',
      description: props.description,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(60),
      loggingFormat: lambda.LoggingFormat.JSON,
      logGroup,
      onFailure: props.onFailure,
      retryAttempts: props.retryAttempts,
      environment: { ...definedValues(props.environment), NODE_OPTIONS: '--enable-source-maps' },
      bundling: {
        minify: true,
        sourceMap: true,
        // Stack traces keep file and line; the map without the sources is a quarter of the size and
        // is parsed at every cold start (measured by bench/lambda-init.ts).
        sourcesContent: false,
        target: 'node24',
        // The Node.js runtime ships AWS SDK v3: leaving it out keeps bundles small and cold starts short.
        bundleAwsSDK: false,
        forceDockerBundling: false,
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (inputDir: string, outputDir: string) => [
            ...(props.copyFiles ?? []).map(
              (file) => `cp "${path.join(inputDir, file)}" "${path.join(outputDir, path.basename(file))}"`,
            ),
            ...staged.map(({ name, from }) => `cp "${from}" "${path.join(outputDir, name)}"`),
          ],
        },
      },
    });
    this.bundledFiles = { ...props.bundledFiles };
    NagSuppressions.addResourceSuppressions(this, [
      {
        id: 'NIST.800.53.R5-LambdaInsideVPC',
        reason:
          'The handlers call only AWS APIs (S3, DynamoDB, SQS, EC2, Pricing, Logs) and reach no private resource. In the VPC (public subnets, where a Lambda gets no public IP) they would need a NAT gateway (about $32/month per AZ) or interface endpoints (about $7/month each per AZ): idle cost the design rules out.',
      },
      {
        id: 'NIST.800.53.R5-LambdaConcurrency',
        reason:
          "Reserved concurrency is carved out of the account's shared pool: CloudFormation refuses it when the unreserved pool would fall below 100 (new accounts often have 10), and a low limit throttles S3-triggered invocations. The work is bounded elsewhere: DEPLOY_LIMIT worker slots are taken with conditional writes, the launch queue feeds the launcher in batches of 5, the watchdog runs on a schedule.",
      },
    ]);
  }
}

/** The Cognito pre sign-up trigger's (lambda/pre-sign-up.ts). */
export interface SignUpTriggerEnvironment {
  /** `SignIn.AllowedEmailDomains`, comma-separated. */
  readonly NCAAS_SIGN_UP_DOMAINS: string;
}

/** A function that needs no variable (lambda/invite-members.ts). */
export type NoEnvironment = Readonly<Record<never, string>>;

const definedValues = (
  env: HandlerEnvironment | SignUpTriggerEnvironment | NoEnvironment,
): Record<string, string> =>
  Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );

/**
 * Writes a synth-time file where the bundling step can copy it from: a private folder (0700) made for
 * this process, so nothing another user of the machine left in /tmp is trusted; each content is
 * written once however many handlers carry it.
 */
let stagingDir: string | undefined;
const stagedFiles = new Map<string, string>();
const stageFile = (name: string, text: string): string => {
  const hash = crypto.createHash('sha256').update(name).update('\0').update(text).digest('hex').slice(0, 16);
  const known = stagedFiles.get(hash);
  if (known !== undefined) return known;
  stagingDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-bundled-'));
  const dir = path.join(stagingDir, hash);
  fs.mkdirSync(dir, { mode: 0o700 });
  const file = path.join(dir, path.basename(name));
  fs.writeFileSync(file, text, { mode: 0o600 });
  stagedFiles.set(hash, file);
  return file;
};
