/**
 * `ncaas watch <job>`: follows a job until it ends. Every poll (2 s by default) reads the job's status
 * files; each dataset's change of state is printed as a line with the time since submission, new lines
 * of the analysis's stdout/stderr (the tail the worker keeps in the status file) are printed as they
 * appear, and on a terminal a live line shows the state, the elapsed time and the latest reason.
 * The result is the job's outcome as an exit code: 0 SUCCESS, 1 any other final state.
 *
 * Clock, sleep and output are injected, so tests drive it with a fake sleep that edits the bucket.
 */
import { isFinal, stateRank, type UserVisibleState } from '../job/job-state';
import { describeError, CliError, EXIT } from './errors';
import { locateJob, type JobRef } from './job-folders';
import { readJob, type DatasetView, type JobView } from './job-status';
import { formatDuration, type Output } from './output';
import type { S3Target } from './s3-target';

/** How often the live line is redrawn between polls on a terminal. */
const LIVE_TICK_MS = 250;
/**
 * How long a final state a worker reported waits for the control plane's end.txt. The worker's word
 * is not the last: a cancelled or interrupted worker reports FAILED, then the control plane writes
 * CANCELLED (or INTERRUPTED) and end.txt. Past this, the states are reported as they are.
 */
const END_GRACE_MS = 30_000;

export interface WatchOptions {
  readonly target: S3Target;
  readonly ref: JobRef;
  readonly output: Output;
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** @default 2000 */
  readonly intervalMs?: number;
  /** Consecutive failed polls before giving up. @default 5 */
  readonly maxErrors?: number;
  /** Log lines shown when a dataset's log is first seen (older ones: `ncaas logs`). @default 10 */
  readonly firstLines?: number;
}

/** Exit code for a final state. */
export const outcomeExitCode = (state: UserVisibleState): number =>
  state === 'SUCCESS' ? EXIT.ok : EXIT.failed;

/** The complete lines of a tail (a last line without its newline may still grow: it waits). */
export const completeLines = (text: string, final: boolean): string[] => {
  const normal = text.replace(/\r\n/g, '\n');
  const cut = final
    ? normal.replace(/\n$/, '')
    : normal.slice(0, normal.lastIndexOf('\n') + 1).replace(/\n$/, '');
  return cut === '' ? [] : cut.split('\n');
};

/**
 * Lines of `current` not yet shown, given the tail shown before: the longest end of `previous` that
 * starts `current` is the overlap (the tail is a window that slides down the log).
 */
export const newTailLines = (previous: readonly string[], current: readonly string[]): string[] => {
  for (let k = Math.min(previous.length, current.length); k > 0; k -= 1) {
    let same = true;
    for (let i = 0; i < k; i += 1) {
      if (previous[previous.length - k + i] !== current[i]) {
        same = false;
        break;
      }
    }
    if (same) return current.slice(k);
  }
  return [...current];
};

interface Seen {
  state?: UserVisibleState;
  status: string;
  reason?: string;
  stdout?: string[];
  stderr?: string[];
  /** Per stream: the last line of a live tail, held back, and the status upload (`updated`) it was in. */
  held?: Partial<Record<'stdout' | 'stderr', { line: string; updated?: string }>>;
  /** Per stream: a held-back last line printed once it stayed the same across two status uploads. */
  released?: Partial<Record<'stdout' | 'stderr', string>>;
}

/**
 * The last line of a live tail, when it has no newline after it. The worker's tail never ends with a
 * newline (its lines are joined), so a finished line and one still being written look alike: the line
 * is held back until a later status upload (another `updated`) shows it unchanged.
 */
const lastLine = (text: string): string | undefined => {
  const normal = text.replace(/\r\n/g, '\n');
  if (normal === '' || normal.endsWith('\n')) return undefined;
  return normal.slice(normal.lastIndexOf('\n') + 1);
};

export const watchJob = async (options: WatchOptions): Promise<number> => {
  const { target, ref, output } = options;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const intervalMs = options.intervalMs ?? 2000;
  const maxErrors = options.maxErrors ?? 5;
  const firstLines = options.firstLines ?? 10;
  const { paint } = output;
  const started = now();
  const seen = new Map<string, Seen>();
  let jobLine: string | undefined;
  let errors = 0;
  let finalSeenAt: number | undefined;

  const since = (view: JobView | undefined): number => now() - (view?.submittedAt?.getTime() ?? started);
  const stamp = (view: JobView | undefined): string => paint.dim(`+${formatDuration(since(view))}`);

  const showDataset = (view: JobView, d: DatasetView, many: boolean): void => {
    // A status file caught mid-write (possible on the local emulator, never on S3) is read next poll.
    if (d.status === 'unreadable') return;
    const before = seen.get(d.label);
    // A job never moves backwards: a late write of an earlier state is not shown.
    const backwards =
      before?.state !== undefined && d.state !== undefined && stateRank(d.state) < stateRank(before.state);
    const entry: Seen = before ?? { status: d.status };
    if (!backwards && (before === undefined || before.status !== d.status || before.reason !== d.reason)) {
      const reason = d.reason ? `  ${d.reason}` : '';
      output.out(`${stamp(view)}  ${d.label}  ${paint.state(d.status)}${reason}`);
      entry.status = d.status;
      entry.reason = d.reason;
      if (d.state !== undefined) entry.state = d.state;
    }
    const final = d.state !== undefined && isFinal(d.state);
    for (const stream of ['stdout', 'stderr'] as const) {
      const text = stream === 'stdout' ? d.stdout : d.stderr;
      const lines = completeLines(text, final);
      const previous = entry[stream];
      const fresh = previous === undefined ? lines.slice(-firstLines) : newTailLines(previous, lines);
      if (lines.length > 0 || previous !== undefined) entry[stream] = lines;
      const label = many ? `${d.label} ` : '';
      const mark = stream === 'stdout' ? paint.dim(`${label}out |`) : paint.yellow(`${label}err |`);
      const released = entry.released?.[stream];
      // A line printed early is not printed again when it turns out complete (or is superseded).
      if (fresh.length > 0 && entry.released) delete entry.released[stream];
      if (released !== undefined && fresh[0] === released) fresh.shift();
      for (const line of fresh) output.out(`${mark} ${line}`);

      const last = final ? undefined : lastLine(text);
      const held = entry.held?.[stream];
      if (
        last !== undefined &&
        held?.line === last &&
        d.updated !== undefined &&
        held.updated !== d.updated &&
        entry.released?.[stream] !== last
      ) {
        output.out(`${mark} ${last}`);
        entry.released = { ...entry.released, [stream]: last };
      }
      entry.held = {
        ...entry.held,
        [stream]: last === undefined ? undefined : { line: last, updated: d.updated },
      };
    }
    seen.set(d.label, entry);
  };

  /** Sleeps one interval; on a terminal the live line is redrawn meanwhile (spinner, elapsed time). */
  const waitForNextPoll = async (view: JobView): Promise<void> => {
    const done = view.datasets.filter((d) => d.state !== undefined && isFinal(d.state)).length;
    const progress = view.datasets.length > 1 ? `  ${done}/${view.datasets.length} datasets done` : '';
    const live = (): string =>
      `${paint.state(view.state)}  ${formatDuration(since(view))}${progress}  ${view.summary}`;
    if (!output.tty) {
      await sleep(intervalMs);
      return;
    }
    const ticks = Math.max(1, Math.ceil(intervalMs / LIVE_TICK_MS));
    for (let i = 0; i < ticks; i += 1) {
      output.live(live());
      await sleep(Math.min(LIVE_TICK_MS, intervalMs));
    }
  };

  for (;;) {
    let view: JobView | undefined;
    try {
      view = await readJob(target, ref);
      errors = 0;
    } catch (error) {
      if (error instanceof CliError) throw error;
      errors += 1;
      if (errors >= maxErrors) throw error;
      const { message } = describeError(error, target);
      if (output.tty) output.live(`${paint.yellow('retrying')} ${message}`);
      else output.err(`ncaas: ${message} (retrying)`);
      await sleep(intervalMs);
      continue;
    }
    if (view === undefined) {
      throw new CliError(`job ${ref.jobId} is no longer in the bucket (its files were deleted)`, EXIT.usage);
    }
    const many = view.datasets.length > 1;
    if (view.datasets.length === 0) {
      const line = `${view.state}  ${view.summary}`;
      if (line !== jobLine)
        output.out(`${stamp(view)}  ${ref.jobId}  ${paint.state(view.state)}  ${view.summary}`);
      jobLine = line;
    }
    for (const d of view.datasets) showDataset(view, d, many);

    // Every dataset looks final, but a worker said so and the control plane has not confirmed it yet.
    const unconfirmed = view.final && !view.ended && view.datasets.some((d) => d.launcher !== undefined);
    if (unconfirmed) finalSeenAt ??= now();
    if (unconfirmed && now() - (finalSeenAt ?? now()) < END_GRACE_MS) {
      await waitForNextPoll(view);
      continue;
    }
    if (view.final) {
      output.clearLive();
      const took = formatDuration(since(view));
      if (view.state === 'SUCCESS') {
        output.out(
          `${paint.state('SUCCESS')} after ${took}. Results: s3://${target.bucket}/${ref.resultFolder}/process_results/ (download: ncaas results ${ref.jobId} --download DIR)`,
        );
      } else {
        for (const line of view.refusal?.trimEnd().split('\n') ?? []) output.out(line);
        output.out(`${paint.state(view.state)} after ${took}: ${view.summary || 'see ncaas logs'}`);
        output.out(`logs: ncaas logs ${ref.jobId}`);
      }
      return outcomeExitCode(view.state);
    }
    await waitForNextPoll(view);
  }
};

export const runWatch = async (
  target: S3Target,
  options: { readonly group?: string; readonly job: string; readonly intervalMs?: number },
  output: Output,
): Promise<number> => {
  const ref = await locateJob(target, options);
  return watchJob({
    target,
    ref,
    output,
    ...(options.intervalMs !== undefined ? { intervalMs: options.intervalMs } : {}),
  });
};

/** `--interval` seconds (at least 0.5). */
export const parseInterval = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0.5) {
    throw new CliError(`--interval "${value}" must be a number of seconds, at least 0.5`, EXIT.usage);
  }
  return Math.round(seconds * 1000);
};
