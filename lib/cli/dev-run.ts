/**
 * `ncaas dev run <submit.json>`: runs a job on the developer's dev instance, before its image is saved
 * as an AMI (NeuroCAAS's NeuroCaaSAMI.submit_job / job_status / job_output).
 *
 * The submission is checked with the submit handler's own code (parseSubmission, then what `ncaas
 * submit` checks in the bucket: the data and config exist, the config's caps, the job id is new).
 * Each dataset becomes the worker job the launcher would build (buildWorkerJob) and the bootstrap an
 * EC2 worker gets as user data (buildUserData, `keepInstance`), sent with SSM Run Command
 * (AWS-RunShellScript) to the dev instance, one dataset after the other. The worker leaves the
 * instance running; `timeout` stops it at the deadline, and Run Command's executionTimeout is the
 * backstop. Logs, status and results land in the group's job folder as for any job, so `ncaas
 * status/logs/results` work on it.
 *
 * Not a job of the control plane: nothing is written to submissions/ (no submit handler runs, no job
 * row, no budget, no slot), and the job id starts with `dev-`, the only job folders the dev instance
 * may write. The reconcile handler does receive the final report's S3 event and ignores it: no job
 * row matches it.
 */
import {
  GetCommandInvocationCommand,
  SendCommandCommand,
  type GetCommandInvocationCommandOutput,
  type SendCommandCommandInput,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import type { Instance } from '@aws-sdk/client-ec2';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AnalysisConfig } from '../blueprint/analysis-config';
import { isFinal } from '../job/job-state';
import { buildWorkerJob, type WorkerJob } from '../job/worker-job';
import {
  buildUserData,
  DEADLINE_KILL_AFTER_SECONDS,
  packUserData,
  readEc2WorkerScript,
  WORKER_DIR,
} from '../launch/user-data';
import {
  datasetLabel,
  DEV_RUN_PREFIX,
  finalReportKey,
  groupOfKey,
  jobResultFolder,
  statusKey,
  submissionsPrefix,
} from '../layout';
import { parseSubmission, type ValidatedSubmission } from '../submission/parse-submission';
import type { SubmissionProblem } from '../submission/submission-problem';
import { jobIdProblem } from '../submission/timestamp-rules';
import { devStatusOf, findDevInstance, type DevTarget } from './dev-instance';
import { CliError, EXIT } from './errors';
import { s3Url, submissionKeyFor } from './job-folders';
import { parseStatusFile, type DatasetView } from './job-status';
import { formatDuration, formatTime, type Output } from './output';
import type { S3Target } from './s3-target';
import { checkSubmission, defaultJobId, type SubmissionPlan } from './submit-command';
import { completeLines, newTailLines } from './watch';

export const RUN_DOCUMENT = 'AWS-RunShellScript';
/** The longest executionTimeout AWS-RunShellScript accepts (48 h). */
export const MAX_EXECUTION_SECONDS = 172_800;
/** Run Command's executionTimeout beyond the deadline: the worker's SIGKILL delay, then a margin. */
export const EXECUTION_MARGIN_SECONDS = DEADLINE_KILL_AFTER_SECONDS + 120;
/** A command the SSM agent has not picked up by then ends as DeliveryTimedOut (nothing ran). */
export const DELIVERY_TIMEOUT_SECONDS = 600;
/** GetCommandInvocation returns at most this many characters of each stream. */
export const OUTPUT_LIMIT_CHARS = 24_000;
/**
 * Our bound on the command's parameters (the worker, the job and the bootstrap, compressed: about
 * 16 KB today). SSM documents are limited to 64 KB; staying well under it leaves room for the worker
 * to grow and fails here, with a message, rather than in SendCommand.
 */
export const PARAMETERS_LIMIT_BYTES = 32 * 1024;
/** Where each run's bootstrap, worker script and job file stay on the dev instance (for a look later). */
export const DEV_RUNS_DIR = `${WORKER_DIR}/dev-runs`;
const PAYLOAD_DELIMITER = 'NCAAS_PAYLOAD';

/** Reads of the job folder that may fail in a row before the CLI gives up. */
const MAX_READ_ERRORS = 5;
/** Run Command's states of one invocation that will not change any more. */
const SSM_FINAL = ['Success', 'Failed', 'TimedOut', 'Cancelled'];

export interface DevRunOptions {
  readonly config: AnalysisConfig;
  /** A local submit.json, or the key of one in the bucket. */
  readonly submitFile: string;
  /** `--group`; default: the group of the submission's key or of the keys it names. */
  readonly group?: string;
  readonly instance?: string;
  /** `--timestamp`: the job id (`dev-` is put in front when missing). @default dev-<time>-<random> */
  readonly timestamp?: string;
  /** `--timeout`: each dataset's deadline, seconds from its start. @default SSM_TIMEOUT, at most 48 h */
  readonly timeoutSeconds?: number;
  /** Between two looks at the command and the status file. @default 3 s */
  readonly intervalMs?: number;
}

export interface DevRunTarget extends DevTarget {
  readonly ssm: SSMClient;
  readonly s3: S3Target;
  /** Where runs' files go on the instance. Tests only (a temp dir): an instance uses DEV_RUNS_DIR. */
  readonly runsDir?: string;
}

/** `--timeout` minutes: a positive number. */
export const parseTimeoutMinutes = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const minutes = Number(value);
  if (!/^\s*\d+(\.\d+)?\s*$/.test(value) || !(minutes > 0)) {
    throw new CliError(`--timeout "${value}" is not a number of minutes greater than 0`, EXIT.usage);
  }
  return Math.round(minutes * 60);
};

/** The job id: `--timestamp` (checked by the submission's own rules), else a new `dev-...` one. */
export const devJobId = (timestamp: string | undefined, now: Date): string => {
  if (timestamp === undefined) return `${DEV_RUN_PREFIX}${defaultJobId(now)}`;
  const jobId = timestamp.startsWith(DEV_RUN_PREFIX) ? timestamp : `${DEV_RUN_PREFIX}${timestamp}`;
  const problem = jobIdProblem(jobId);
  if (problem !== undefined) throw new CliError(`--timestamp: ${problem}`, EXIT.usage);
  return jobId;
};

/** The deadline of each dataset, seconds: `--timeout`, else SSM_TIMEOUT, within Run Command's limit. */
export const devRunTimeout = (config: AnalysisConfig, requested: number | undefined): number => {
  const longest = Math.min(config.workerTimeoutSeconds, MAX_EXECUTION_SECONDS - EXECUTION_MARGIN_SECONDS);
  if (requested === undefined) return longest;
  if (requested > longest) {
    const why =
      longest < config.workerTimeoutSeconds
        ? "Run Command's longest execution (48 h) less the worker's time to report"
        : "the blueprint's SSM_TIMEOUT, the most a real job gets";
    throw new CliError(
      `--timeout ${Math.round(requested / 60)} minutes is more than ${why}: at most ${Math.floor(longest / 60)} minutes`,
      EXIT.usage,
    );
  }
  return requested;
};

// ---- the submission -----------------------------------------------------------------------------

interface SubmitSource {
  readonly body: Uint8Array;
  /** The key it was read from, when it came from the bucket. */
  readonly key?: string;
  readonly name: string;
}

const readSubmitSource = async (s3: S3Target, source: string): Promise<SubmitSource> => {
  const stat = fs.statSync(source, { throwIfNoEntry: false });
  if (stat?.isFile()) return { body: fs.readFileSync(source), name: path.basename(source) };
  if (stat?.isDirectory()) throw new CliError(`${source} is a folder: give a submit.json file`, EXIT.usage);
  const body = groupOfKey(source) !== undefined ? await s3.objects.read(source) : undefined;
  if (body === undefined) {
    throw new CliError(
      `${source} is not a local file and not a key in s3://${s3.bucket}/: give the path of a submit.json (or its key in the bucket)`,
      EXIT.usage,
    );
  }
  return { body, key: source, name: path.posix.basename(source) };
};

/** The group the submission belongs to: --group, else its key's, else that of the config it names. */
const groupOf = (source: SubmitSource, group: string | undefined): string => {
  if (group !== undefined) return group;
  if (source.key !== undefined) {
    const fromKey = groupOfKey(source.key);
    if (fromKey !== undefined) return fromKey;
  }
  let named: unknown;
  try {
    named = (JSON.parse(Buffer.from(source.body).toString('utf8')) as { configname?: unknown }).configname;
  } catch {
    named = undefined;
  }
  const fromConfig = typeof named === 'string' ? groupOfKey(named) : undefined;
  if (fromConfig === undefined) {
    throw new CliError(
      `cannot tell which group ${source.name} is for: pass --group G (or set NCAAS_GROUP)`,
      EXIT.usage,
    );
  }
  return fromConfig;
};

const problemsText = (what: string, problems: readonly SubmissionProblem[]): string =>
  [
    `${what} would be refused (${problems.length} problem${problems.length === 1 ? '' : 's'}); nothing was run:`,
    ...problems.map((p) => `  - ${p.message}`),
  ].join('\n');

export interface DevRunPlan {
  readonly submission: ValidatedSubmission;
  readonly jobId: string;
  readonly resultFolder: string;
  readonly labels: readonly string[];
  readonly durationEstimateMinutes?: number;
  readonly warnings: readonly string[];
}

/** The submission, checked as the submit handler and `ncaas submit` check it, under a dev job id. */
export const planDevRun = async (
  s3: S3Target,
  options: DevRunOptions,
  now: Date = new Date(),
): Promise<DevRunPlan> => {
  const { config } = options;
  const source = await readSubmitSource(s3, options.submitFile);
  const group = groupOf(source, options.group);
  const key = source.key ?? `${submissionsPrefix(group)}${source.name}`;
  const parsed = parseSubmission({ body: source.body, key, analysis: config, devRun: true });
  if (!parsed.ok) throw new CliError(problemsText(options.submitFile, parsed.problems), EXIT.failed);
  const submission = parsed.submission;

  const jobId = devJobId(options.timestamp, now);
  const plan: SubmissionPlan = {
    group,
    jobId,
    datasetKeys: submission.datasetKeys,
    configKey: submission.configKey,
    uploads: [],
    namedKeys: [...submission.datasetKeys, submission.configKey],
    submitKey: submissionKeyFor(group, jobId),
    submitJson: {
      dataname: submission.datasetKeys.length === 1 ? submission.datasetKeys[0] : [...submission.datasetKeys],
      configname: submission.configKey,
      timestamp: jobId,
      ...(submission.instanceType !== undefined && submission.instanceType !== config.ec2?.instanceType
        ? { instance_type: submission.instanceType }
        : {}),
    },
  };
  const check = await checkSubmission(s3, plan, config, { devRun: true });
  if (check.problems.length > 0) {
    throw new CliError(problemsText(`${options.submitFile} (as job ${jobId})`, check.problems), EXIT.failed);
  }
  return {
    submission,
    jobId,
    resultFolder: jobResultFolder(group, config.name, jobId),
    labels: submission.datasetKeys.map((k, i) => datasetLabel(k, i, submission.datasetKeys)),
    // The estimate the worker flags, from the config checkSubmission read.
    ...(check.durationMinutes !== undefined ? { durationEstimateMinutes: check.durationMinutes } : {}),
    warnings: [...parsed.warnings, ...check.warnings],
  };
};

// ---- the command sent -----------------------------------------------------------------------------

/** A folder name of its own for each run on the instance (letters, digits and `-` only). */
export const newRunDir = (now: Date, datasetIndex: number, runsDir: string = DEV_RUNS_DIR): string =>
  `${runsDir}/${now.getTime()}-${datasetIndex}-${randomBytes(4).toString('hex')}`;

export interface DevRunCommandOptions {
  readonly instanceId: string;
  readonly job: WorkerJob;
  /** The worker script as sent (compacted worker/run-job.sh). */
  readonly workerScript: string;
  /** Where the run's files go on the instance (`newRunDir`). */
  readonly runDir: string;
  /** Seconds from now to the job's deadline (Run Command's executionTimeout adds a margin). */
  readonly secondsToDeadline: number;
}

/**
 * The SendCommand request of one dataset (pure: tests check it field by field). The commands carry
 * no user string as shell text: the worker bootstrap (buildUserData, the job inside as base64 lines)
 * is gzip-compressed and base64-encoded, written through a quoted here-document, decoded, and run.
 */
export const devRunCommand = (options: DevRunCommandOptions): SendCommandCommandInput => {
  const { job, runDir } = options;
  const bootstrap = buildUserData({
    workerScript: options.workerScript,
    job,
    baseDir: runDir,
    keepInstance: true,
  });
  const payload = packUserData(bootstrap).toString('base64');
  const payloadLines = payload.match(/.{1,76}/g) ?? [];
  const commands = [
    '# ncaas dev run: one dataset with worker/run-job.sh, the same bootstrap as an EC2 worker',
    '# (lib/launch/user-data.ts), compressed; the worker leaves this instance running.',
    'set -eu',
    'umask 077',
    'for tool in base64 gzip; do',
    '  if ! command -v "$tool" >/dev/null 2>&1; then',
    '    echo "ncaas dev run: this instance has no $tool; the worker needs it (install it in the image)" >&2',
    '    exit 127',
    '  fi',
    'done',
    `run='${runDir}'`,
    'mkdir -p "$run"',
    `base64 -d >"$run/bootstrap.sh.gz" <<'${PAYLOAD_DELIMITER}'`,
    ...payloadLines,
    PAYLOAD_DELIMITER,
    'gzip -dc "$run/bootstrap.sh.gz" >"$run/bootstrap.sh"',
    'exec sh "$run/bootstrap.sh"',
  ];
  const executionTimeout = Math.min(
    MAX_EXECUTION_SECONDS,
    Math.max(60, options.secondsToDeadline) + EXECUTION_MARGIN_SECONDS,
  );
  const parameters = { commands, executionTimeout: [String(executionTimeout)] };
  const size = Buffer.byteLength(JSON.stringify(parameters), 'utf8');
  if (size > PARAMETERS_LIMIT_BYTES) {
    throw new CliError(
      `the Run Command parameters would be ${size} bytes, more than the ${PARAMETERS_LIMIT_BYTES} this CLI sends: the job or the worker script is unexpectedly large`,
      EXIT.failed,
    );
  }
  return {
    DocumentName: RUN_DOCUMENT,
    InstanceIds: [options.instanceId],
    // Comments are at most 100 characters.
    Comment: `ncaas dev run ${job.analysis} ${job.jobId} #${job.datasetIndex}`.slice(0, 100),
    Parameters: parameters,
    TimeoutSeconds: DELIVERY_TIMEOUT_SECONDS,
  };
};

// ---- running and following it ----------------------------------------------------------------

interface SdkError {
  readonly name?: string;
  readonly message?: string;
}

const sendError = (error: unknown, instanceId: string): Error => {
  const e = (error ?? {}) as SdkError;
  switch (e.name) {
    case 'InvalidInstanceId':
      return new CliError(
        `Run Command cannot reach ${instanceId}: its SSM agent is not online. Right after \`ncaas dev launch\` or \`start\` wait a minute or two; check with \`aws ssm describe-instance-information --filters Key=InstanceIds,Values=${instanceId}\`. An instance launched before the stack allowed dev runs lacks the Run Command permissions: update the stack (npx cdk deploy), then \`ncaas dev stop\` and \`start\``,
        EXIT.failed,
      );
    case 'AccessDeniedException':
    case 'AccessDenied':
      return new CliError(
        `your AWS credentials may not run commands on ${instanceId}: \`ncaas dev run\` needs ssm:SendCommand on the document ${RUN_DOCUMENT} and on the instance, and ssm:GetCommandInvocation (README, "The analysis developer's loop")`,
        EXIT.failed,
      );
    case 'InvalidDocument':
      return new CliError(
        `Run Command does not know the document ${RUN_DOCUMENT} in this region: check --region (the blueprint's REGION)`,
        EXIT.failed,
      );
    default:
      return error instanceof Error ? error : new Error(String(error));
  }
};

/** The outcome of one dataset. */
export interface DatasetOutcome {
  readonly label: string;
  readonly state: string;
  readonly reason?: string;
  /** The worker wrote its final report (else the outcome comes from Run Command). */
  readonly reported: boolean;
  readonly commandId: string;
}

/** What Run Command's final state means when the worker left no final report. */
const unreportedOutcome = (
  invocation: GetCommandInvocationCommandOutput,
  instanceId: string,
): { state: string; reason: string } => {
  const details = invocation.StatusDetails ?? invocation.Status ?? 'unknown';
  switch (invocation.Status) {
    case 'TimedOut':
      return details === 'DeliveryTimedOut'
        ? {
            state: 'FAILED',
            reason: `the SSM agent of ${instanceId} did not pick the command up within ${DELIVERY_TIMEOUT_SECONDS / 60} minutes (the instance stopped, or its agent went offline): nothing ran`,
          }
        : {
            state: 'TIMED_OUT',
            reason:
              "Run Command's execution timeout ended the worker before it reported (its deadline had passed)",
          };
    case 'Cancelled':
      return { state: 'CANCELLED', reason: 'the command was cancelled (aws ssm cancel-command)' };
    case 'Success':
      return { state: 'FAILED', reason: 'the worker ended without writing its final report' };
    default:
      return {
        state: 'FAILED',
        reason: `the worker stopped before it could report (Run Command: ${details}, exit code ${invocation.ResponseCode ?? '?'}); its output is below`,
      };
  }
};

const printRunOutput = (output: Output, invocation: GetCommandInvocationCommandOutput): void => {
  for (const [name, text] of [
    ['stdout', invocation.StandardOutputContent ?? ''],
    ['stderr', invocation.StandardErrorContent ?? ''],
  ] as const) {
    if (text === '') continue;
    const lines = text.replace(/\n$/, '').split('\n');
    output.err(output.paint.dim(`-- Run Command ${name} (the worker's log) --`));
    for (const line of lines) output.err(`${output.paint.dim('run |')} ${line}`);
    if (text.length >= OUTPUT_LIMIT_CHARS) {
      output.err(
        output.paint.yellow(
          `(Run Command keeps only the first ${OUTPUT_LIMIT_CHARS} characters of ${name}; the complete logs are in the job folder: ncaas logs)`,
        ),
      );
    }
  }
};

interface FollowContext {
  readonly target: DevRunTarget;
  readonly output: Output;
  readonly instanceId: string;
  readonly commandId: string;
  readonly job: WorkerJob;
  readonly intervalMs: number;
  /** When to give up waiting for Run Command (its own timeouts end the command well before). */
  readonly giveUpAt: number;
  readonly startedAt: number;
}

const nowMs = (target: DevTarget): number => (target.now ?? (() => new Date()))().getTime();

/** Polls the invocation and the status file until Run Command says the command ended. */
const follow = async (ctx: FollowContext): Promise<DatasetOutcome> => {
  const { target, output, job } = ctx;
  const sleep = target.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const key = statusKey(job.resultFolder, job.datasetLabel);
  let shown: { status?: string; reason?: string; ssm?: string } = {};
  let tails: Record<'stdout' | 'stderr', string[]> = { stdout: [], stderr: [] };
  const stamp = (): string => output.paint.dim(`+${formatDuration(nowMs(target) - ctx.startedAt)}`);

  const showStatus = (view: DatasetView): void => {
    if (view.status === 'unreadable') return;
    if (view.status !== shown.status || view.reason !== shown.reason) {
      output.out(
        `${stamp()}  ${job.datasetLabel}  ${output.paint.state(view.status)}${view.reason ? `  ${view.reason}` : ''}`,
      );
      shown = { ...shown, status: view.status, reason: view.reason };
    }
    const final = view.state !== undefined && isFinal(view.state);
    for (const stream of ['stdout', 'stderr'] as const) {
      const text = stream === 'stdout' ? view.stdout : view.stderr;
      const lines = completeLines(text, final);
      const mark = stream === 'stdout' ? output.paint.dim('out |') : output.paint.yellow('err |');
      for (const line of newTailLines(tails[stream], lines)) output.out(`${mark} ${line}`);
      tails = { ...tails, [stream]: lines };
    }
  };

  // A read that fails (the network, S3 busy) is tried again next poll; several in a row end the wait.
  let readErrors = 0;
  const readTolerant = async (objectKey: string): Promise<string | undefined> => {
    try {
      const text = await target.s3.objects.readText(objectKey);
      readErrors = 0;
      return text;
    } catch (error) {
      readErrors += 1;
      if (readErrors >= MAX_READ_ERRORS) throw error;
      return undefined;
    }
  };
  const readFinal = async (objectKey: string): Promise<string | undefined> => {
    for (;;) {
      try {
        return await target.s3.objects.readText(objectKey);
      } catch (error) {
        readErrors += 1;
        if (readErrors >= MAX_READ_ERRORS) throw error;
        await sleep(ctx.intervalMs);
      }
    }
  };

  for (;;) {
    let invocation: GetCommandInvocationCommandOutput | undefined;
    try {
      invocation = await target.ssm.send(
        new GetCommandInvocationCommand({ CommandId: ctx.commandId, InstanceId: ctx.instanceId }),
      );
    } catch (error) {
      // Right after SendCommand the invocation may not be visible yet.
      if ((error as SdkError).name !== 'InvocationDoesNotExist') throw error;
    }
    const status = invocation?.Status ?? 'Pending';
    const text = await readTolerant(key);
    if (text !== undefined) showStatus(parseStatusFile(job.datasetLabel, key, text));
    if (status !== shown.ssm) {
      if (status === 'Delayed' || (status === 'Pending' && shown.ssm === undefined)) {
        output.err(
          `${stamp()}  ${job.datasetLabel}  Run Command ${status}${status === 'Delayed' ? ': the agent is busy or the instance is unreachable; it is retried' : ': waiting for the SSM agent'}`,
        );
      }
      shown = { ...shown, ssm: status };
    }
    if (invocation !== undefined && SSM_FINAL.includes(status)) {
      output.clearLive();
      const report = await readFinal(finalReportKey(job.resultFolder, job.datasetLabel));
      if (report !== undefined) {
        const view = parseStatusFile(job.datasetLabel, key, report);
        showStatus(view);
        if (view.state !== 'SUCCESS') printRunOutput(output, invocation);
        return {
          label: job.datasetLabel,
          state: view.status,
          ...(view.reason !== undefined ? { reason: view.reason } : {}),
          reported: true,
          commandId: ctx.commandId,
        };
      }
      const outcome = unreportedOutcome(invocation, ctx.instanceId);
      output.out(`${stamp()}  ${job.datasetLabel}  ${output.paint.state(outcome.state)}  ${outcome.reason}`);
      printRunOutput(output, invocation);
      return { label: job.datasetLabel, ...outcome, reported: false, commandId: ctx.commandId };
    }
    if (nowMs(target) >= ctx.giveUpAt) {
      throw new CliError(
        `Run Command still says ${status} for ${ctx.commandId} past its timeouts: look with \`aws ssm get-command-invocation --command-id ${ctx.commandId} --instance-id ${ctx.instanceId}\``,
        EXIT.failed,
      );
    }
    output.live(
      `${job.datasetLabel}  ${output.paint.state(shown.status ?? status)}  ${formatDuration(nowMs(target) - ctx.startedAt)}  ${shown.reason ?? `Run Command ${status}`}`,
    );
    await sleep(ctx.intervalMs);
  }
};

const checkRunning = (instance: Instance): string => {
  const id = instance.InstanceId ?? '?';
  const state = instance.State?.Name ?? 'unknown';
  if (state === 'running') return id;
  if (state === 'stopped' || state === 'stopping') {
    throw new CliError(
      `${id} is ${state}: start it with \`ncaas dev start\`, wait a minute for its SSM agent, then run again`,
      EXIT.usage,
    );
  }
  if (state === 'pending') {
    throw new CliError(
      `${id} is still starting: run again once it is running (ncaas dev status)`,
      EXIT.usage,
    );
  }
  throw new CliError(`${id} is ${state}: a dev run needs a running dev instance`, EXIT.usage);
};

export const runDevRun = async (
  target: DevRunTarget,
  options: DevRunOptions,
  output: Output,
  /** The worker script as sent. @default compacted worker/run-job.sh */
  workerScript: string = readEc2WorkerScript(),
): Promise<number> => {
  const { config } = options;
  const now = (): Date => new Date(nowMs(target));
  const instance = await findDevInstance(target, options.instance);
  const instanceId = checkRunning(instance);
  const timeoutSeconds = devRunTimeout(config, options.timeoutSeconds);
  const plan = await planDevRun(target.s3, options, now());
  for (const warning of plan.warnings) output.err(`warning: ${warning}`);
  const { submission } = plan;
  if (submission.instanceType !== undefined && submission.instanceType !== instance.InstanceType) {
    output.err(
      `note: the job asks for ${submission.instanceType}; the dev instance is ${instance.InstanceType ?? 'of another type'} and runs it as it is`,
    );
  }
  if (config.efsOnEc2Workers) {
    output.err('note: dev runs do not mount the analysis EFS (Efs.MountOnEc2Workers): /mnt/efs is not there');
  }
  const many = submission.datasetKeys.length;
  const status = devStatusOf(target, instance);
  const lastDeadline = nowMs(target) + many * timeoutSeconds * 1000;
  if (status.expires !== undefined && status.expires.getTime() < lastDeadline) {
    output.err(
      `note: ${instanceId} expires at ${formatTime(status.expires)} and the watchdog stops it then, possibly before this run ends: \`ncaas dev extend HOURS\``,
    );
  }
  output.err(
    `dev run ${plan.jobId} on ${instanceId}: ${many === 1 ? '1 dataset' : `${many} datasets, one after the other`}, each stopped after ${formatDuration(timeoutSeconds * 1000)}`,
  );
  output.err(`job folder: ${s3Url(target.s3, `${plan.resultFolder}/`)}`);

  const outcomes: DatasetOutcome[] = [];
  for (const [index, datasetKey] of submission.datasetKeys.entries()) {
    const startedAt = nowMs(target);
    const job = buildWorkerJob({
      config,
      bucket: target.s3.bucket,
      dataset: {
        group: submission.group,
        jobId: plan.jobId,
        datasetIndex: index,
        datasetKey,
        datasetLabel: plan.labels[index],
      },
      configKey: submission.configKey,
      datasetCount: submission.datasetKeys.length,
      deadline: new Date(startedAt + timeoutSeconds * 1000),
      ...(plan.durationEstimateMinutes !== undefined
        ? { durationEstimateMinutes: plan.durationEstimateMinutes }
        : {}),
      // The worker behaves as on an EC2 worker (instance id from IMDS); keepInstance keeps it running.
      launcher: 'ec2',
    });
    const input = devRunCommand({
      instanceId,
      job,
      workerScript,
      runDir: newRunDir(now(), index, target.runsDir),
      secondsToDeadline: timeoutSeconds,
    });
    let commandId: string | undefined;
    try {
      commandId = (await target.ssm.send(new SendCommandCommand(input))).Command?.CommandId;
    } catch (error) {
      throw sendError(error, instanceId);
    }
    if (commandId === undefined) throw new CliError('Run Command returned no command id', EXIT.failed);
    output.err(
      `${job.datasetLabel}: Run Command ${commandId} (stop it: aws ssm cancel-command --command-id ${commandId})`,
    );
    const executionSeconds = Number(input.Parameters?.executionTimeout?.[0] ?? MAX_EXECUTION_SECONDS);
    const outcome = await follow({
      target,
      output,
      instanceId,
      commandId,
      job,
      intervalMs: options.intervalMs ?? 3000,
      giveUpAt: startedAt + (DELIVERY_TIMEOUT_SECONDS + executionSeconds + 300) * 1000,
      startedAt,
    });
    outcomes.push(outcome);
    // Without a report from the worker the instance or Run Command is the problem: stop here.
    if (!outcome.reported && index < many - 1) {
      output.err(`the other ${many - 1 - index} dataset(s) were not run`);
      break;
    }
  }

  const group = submission.group;
  const failed = outcomes.filter((o) => o.state !== 'SUCCESS');
  if (failed.length === 0 && outcomes.length === many) {
    output.out(
      `${output.paint.state('SUCCESS')}: dev run ${plan.jobId}. Results: ${s3Url(target.s3, `${plan.resultFolder}/process_results/`)} (ncaas results ${plan.jobId} --group ${group})`,
    );
    return EXIT.ok;
  }
  const summary = failed.map((o) => `${o.label} ${o.state}`).join(', ') || 'not every dataset ran';
  output.out(`${output.paint.state(failed[0]?.state ?? 'FAILED')}: dev run ${plan.jobId}: ${summary}`);
  output.out(`logs: ncaas logs ${plan.jobId} --group ${group}`);
  return EXIT.failed;
};
