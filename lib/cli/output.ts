/**
 * Everything the CLI prints goes through an `Output`: plain lines on stdout (results, tables, the job
 * id) and stderr (progress notes, errors), and on a terminal a live status line with a spinner that
 * is redrawn in place. Colour and the live line appear only when stdout is a TTY; colour also needs
 * NO_COLOR unset (https://no-color.org). Piped output stays plain and line-oriented.
 */
import type { UserVisibleState } from '../job/job-state';

/** The part of a stream the CLI uses (process.stdout, or a fake in tests). */
export interface TextStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface Paint {
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
  /** The state's name in its colour: green success, red failure, yellow for the rest. */
  state(state: UserVisibleState | string): string;
}

export interface Output {
  /** stdout is a terminal: a live line is drawn. */
  readonly tty: boolean;
  readonly paint: Paint;
  /** A line of output proper (stdout). */
  out(line: string): void;
  /** A note, warning or error (stderr). */
  err(line: string): void;
  /** On a TTY: replaces the live status line (with a spinner frame). Elsewhere: nothing. */
  live(text: string): void;
  /** Removes the live line, if any (before exiting). */
  clearLive(): void;
}

export interface OutputOptions {
  readonly stdout: TextStream;
  readonly stderr: TextStream;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

const ansi =
  (open: number, close: number) =>
  (text: string): string =>
    `\u001b[${open}m${text}\u001b[${close}m`;

const colours = {
  bold: ansi(1, 22),
  dim: ansi(2, 22),
  red: ansi(31, 39),
  green: ansi(32, 39),
  yellow: ansi(33, 39),
  cyan: ansi(36, 39),
};

const plain = (text: string): string => text;

export const makePaint = (colour: boolean): Paint => {
  const c = colour
    ? colours
    : { bold: plain, dim: plain, red: plain, green: plain, yellow: plain, cyan: plain };
  return {
    ...c,
    state: (state) => {
      if (state === 'SUCCESS') return c.green(state);
      if (['FAILED', 'TIMED_OUT', 'CANCELLED', 'INTERRUPTED'].includes(state)) return c.red(state);
      return c.yellow(state);
    },
  };
};

/** Visible width of a string with ANSI colour codes removed. */
const visibleLength = (text: string): number => [...text.replace(/\u001b\[[0-9;]*m/g, '')].length;

/** Cuts `text` to `width` visible characters (colour codes kept, closed with a reset). */
const fitWidth = (text: string, width: number): string => {
  if (visibleLength(text) <= width) return text;
  let shown = 0;
  let result = '';
  for (const match of text.matchAll(/\u001b\[[0-9;]*m|[\s\S]/gu)) {
    const piece = match[0];
    if (piece.startsWith('\u001b[')) {
      result += piece;
      continue;
    }
    if (shown >= width - 1) break;
    result += piece;
    shown += 1;
  }
  return `${result}…\u001b[0m`;
};

export const createOutput = ({ stdout, stderr, env = process.env }: OutputOptions): Output => {
  const tty = stdout.isTTY === true && env.TERM !== 'dumb';
  const colour = tty && (env.NO_COLOR === undefined || env.NO_COLOR === '');
  const paint = makePaint(colour);
  let liveShown = false;
  let frame = 0;

  const clearLive = (): void => {
    if (liveShown) {
      stdout.write('\r\u001b[2K');
      liveShown = false;
    }
  };
  return {
    tty,
    paint,
    out: (line) => {
      clearLive();
      stdout.write(`${line}\n`);
    },
    err: (line) => {
      clearLive();
      stderr.write(`${line}\n`);
    },
    live: (text) => {
      if (!tty) return;
      const spinner = paint.cyan(SPINNER[frame % SPINNER.length]);
      frame += 1;
      const width = Math.max(20, (stdout.columns || 80) - 1);
      stdout.write(`\r\u001b[2K${fitWidth(`${spinner} ${text}`, width)}`);
      liveShown = true;
    },
    clearLive,
  };
};

/** `h:mm:ss` for a number of milliseconds (negative counts as 0). */
/**
 * Rows of cells as aligned text columns, two spaces apart; the last column is not padded. `style`
 * colours a cell after padding (it is given the cell, padded, and its column; the header row's index is -1).
 */
export const alignColumns = (
  header: readonly string[],
  rows: readonly (readonly string[])[],
  style: (padded: string, cell: string, column: number, row: number) => string = (padded) => padded,
): string[] => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => [...r[i]].length)));
  const line = (cells: readonly string[], row: number): string =>
    cells
      .map((cell, i) => style(i === cells.length - 1 ? cell : cell.padEnd(widths[i]), cell, i, row))
      .join('  ')
      .trimEnd();
  return [line(header, -1), ...rows.map((r, row) => line(r, row))];
};

export const formatDuration = (ms: number): string => {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
};

/** `2026-11-21 23:59:59Z`: a date as UTC, to the second. */
export const formatTime = (date: Date | undefined): string =>
  date === undefined
    ? '-'
    : date
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d{3}Z$/, 'Z');

/** `12.3 MB` */
export const formatBytes = (bytes: number): string => {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
};

/**
 * What a command does once the reader of its stdout has gone (`ncaas status <job> | head -1`):
 * - `exit` (reading commands, help): the reader has what it wanted, so the CLI exits at once with 0;
 * - `finish` (commands that change something: submit, cancel, local, dev): the work goes on to its
 *   end with its own exit code and its further output is dropped, so `ncaas submit --csv ... | head -1`
 *   still submits every row and a local runtime keeps running.
 */
export type ClosedPipeMode = 'exit' | 'finish';

/** The part of a stream the guard listens to (process.stdout, or a fake in tests). */
export interface ErrorEmitter {
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export interface ClosedPipeGuard {
  /** The mode for stdout (`exit` until set). */
  setMode(mode: ClosedPipeMode): void;
  /** The streams whose reader has gone. */
  readonly closed: ReadonlySet<'stdout' | 'stderr'>;
}

/** Error codes of a write whose reader has gone: a closed pipe, or a socket reset by its peer. */
const READER_GONE = new Set(['EPIPE', 'ECONNRESET']);

/**
 * Makes a closed stdout or stderr quiet. Node ignores SIGPIPE, so a write to a pipe whose reader has
 * closed fails with EPIPE, reported as an 'error' event on the stream, which, unhandled, ends the
 * process with a stack trace. With this guard:
 * - stdout's reader gone: `exit` mode exits 0 at once, `finish` mode drops the rest of the output;
 * - stderr's reader gone: notes and errors are dropped; the command goes on, with its own exit code
 *   (a failure stays a failure, and an upload is never cut short because nobody reads its notes);
 * - any other write error (a full disk behind `> file`): one line on stderr, exit 1.
 * A destroyed stream drops later writes without further events, so no write needs to check.
 */
export const guardClosedPipes = ({
  stdout,
  stderr,
  exit = (code) => process.exit(code),
}: {
  readonly stdout: ErrorEmitter;
  readonly stderr: ErrorEmitter & TextStream;
  readonly exit?: (code: number) => void;
}): ClosedPipeGuard => {
  let mode: ClosedPipeMode = 'exit';
  const closed = new Set<'stdout' | 'stderr'>();
  const onError = (name: 'stdout' | 'stderr') => (error: Error) => {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (READER_GONE.has(code)) {
      closed.add(name);
      if (name === 'stdout' && mode === 'exit') exit(0);
      return;
    }
    if (name === 'stdout' && !closed.has('stderr')) {
      stderr.write(`ncaas: cannot write the output: ${code || error.message}\n`);
    }
    exit(1);
  };
  stdout.on('error', onError('stdout'));
  stderr.on('error', onError('stderr'));
  return {
    setMode: (next) => {
      mode = next;
    },
    closed,
  };
};
