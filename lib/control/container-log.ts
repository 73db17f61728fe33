/**
 * The analysis container's log, copied into the job's logs/ folder once the analysis has ended
 * (docs/DESIGN.md "Worker contract": on Batch the live log is the job's CloudWatch log stream, copied at
 * the end). Where the lines come from is a `ContainerLogSource`: CloudWatch Logs on AWS
 * (./cloudwatch-log-source.ts), the job's process output in the local runtime
 * (local/local-container-logs.ts). The copy is the same for both: capped in size and in time (it runs
 * in the reconcile Lambda, whose memory and time are finite), it says in the file when it was cut and
 * where the whole log is, and a stream that does not exist is a note in the file, not an error.
 */
import { errorText } from '../aws-error-names';
import type { S3Objects } from './s3-objects';

export interface ContainerLogLine {
  /** Epoch milliseconds, when the source records it (CloudWatch does; a local process file does not). */
  readonly timestamp?: number;
  readonly message: string;
}

export interface ContainerLogSource {
  /** Where a stream's whole log is kept, in words a user can follow (named when a copy is cut). */
  where(stream: string): string;
  /**
   * The stream's lines from its start, a page at a time. Throws `LogStreamNotFound` when there is no
   * such stream, and stops with an error once `signal` aborts (the copy's time is up).
   */
  read(stream: string, signal: AbortSignal): AsyncIterable<readonly ContainerLogLine[]>;
}

/** The source has no such stream (or no such log group): the container never wrote a log. */
export class LogStreamNotFound extends Error {
  override readonly name = 'LogStreamNotFound';
}

export interface ContainerLogLimits {
  /** Bytes of text copied at most; the rest is left where it is. */
  readonly maxBytes: number;
  /** How long reading may take, retries included; what was read by then is written. */
  readonly maxMilliseconds: number;
}

/**
 * 8 MiB and 20 s. The reconcile Lambda (256 MB, 60 s) holds 8 MiB of text (twice, as UTF-16 and
 * joined) easily, and after 20 s of reading still has most of its time to submit the stage-out.
 * GetLogEvents answers up to 1 MB a page, so a full copy is about 8 requests.
 */
export const CONTAINER_LOG_LIMITS: ContainerLogLimits = {
  maxBytes: 8 * 1024 * 1024,
  maxMilliseconds: 20_000,
};

export type ContainerLogCopy =
  | { readonly kind: 'copied'; readonly lines: number; readonly bytes: number }
  | {
      readonly kind: 'cut';
      readonly lines: number;
      readonly bytes: number;
      readonly because: 'size' | 'time';
      readonly where: string;
    }
  /** There is no stream to read (the container never started). */
  | { readonly kind: 'no-stream'; readonly why: string }
  | { readonly kind: 'missing'; readonly where: string }
  | {
      readonly kind: 'failed';
      readonly lines: number;
      readonly bytes: number;
      readonly error: string;
      readonly where: string;
    };

export interface ContainerLogCopyRequest {
  readonly source: ContainerLogSource;
  /** The container's log stream; undefined when there is none (Batch names one once it runs). */
  readonly stream: string | undefined;
  /** Why there is no stream, in the file when `stream` is undefined. */
  readonly noStreamBecause?: string;
  /** Where the copy goes (lib/layout.ts `analysisLogKey`). */
  readonly key: string;
  readonly objects: Pick<S3Objects, 'write'>;
  /** @default CONTAINER_LOG_LIMITS */
  readonly limits?: ContainerLogLimits;
}

/** Marks what ncaas wrote into a copied log, so it is never mistaken for the analysis's output. */
const NOTE_PREFIX = '[ncaas]';

/**
 * Reads the stream within the limits and writes what was read, with a note when it was cut, when
 * reading failed or when there is no log at all. Throws only when the file cannot be written.
 */
export const copyContainerLog = async (request: ContainerLogCopyRequest): Promise<ContainerLogCopy> => {
  const { source, stream, key, objects } = request;
  const limits = request.limits ?? CONTAINER_LOG_LIMITS;
  if (stream === undefined) {
    const why = request.noStreamBecause ?? 'the analysis container never started';
    await objects.write(key, note(`There is no log: ${why}.`));
    return { kind: 'no-stream', why };
  }
  const where = source.where(stream);
  const parts: string[] = [];
  let bytes = 0;
  let cut: 'size' | 'time' | undefined;
  let failure: string | undefined;
  const deadline = new AbortController();
  const timer = setTimeout(
    () => deadline.abort(new Error(`the copy's time limit of ${seconds(limits.maxMilliseconds)}`)),
    limits.maxMilliseconds,
  );
  try {
    pages: for await (const page of source.read(stream, deadline.signal)) {
      for (const line of page) {
        const text = `${formatLine(line)}\n`;
        const size = Buffer.byteLength(text, 'utf8');
        if (bytes + size > limits.maxBytes) {
          cut = 'size';
          break pages;
        }
        parts.push(text);
        bytes += size;
      }
      if (deadline.signal.aborted) {
        cut = 'time';
        break;
      }
    }
  } catch (error) {
    if (error instanceof LogStreamNotFound) {
      await objects.write(
        key,
        note(
          `There is no log: ${where} does not exist (the analysis container never started, or its log has been deleted since).`,
        ),
      );
      return { kind: 'missing', where };
    }
    if (deadline.signal.aborted) cut = 'time';
    else failure = errorText(error);
  } finally {
    clearTimeout(timer);
  }

  const lines = parts.length;
  if (failure !== undefined) {
    parts.push(
      note(`The copy stopped after ${count(lines, 'line')}: ${failure}. The whole log is in ${where}.`),
    );
  } else if (cut === 'size') {
    parts.push(
      note(
        `The copy stops here: it is limited to ${mebibytes(limits.maxBytes)}. The whole log is in ${where}.`,
      ),
    );
  } else if (cut === 'time') {
    parts.push(
      note(
        `The copy stops here: reading the log took longer than ${seconds(limits.maxMilliseconds)}. The whole log is in ${where}.`,
      ),
    );
  } else if (lines === 0) {
    parts.push(note('The analysis container wrote nothing to its log.'));
  }
  await objects.write(key, parts.join(''));
  if (failure !== undefined) return { kind: 'failed', lines, bytes, error: failure, where };
  if (cut !== undefined) return { kind: 'cut', lines, bytes, because: cut, where };
  return { kind: 'copied', lines, bytes };
};

/** The certificate's line about a copy: what the user finds in `file` and where the rest is. */
export const describeCopy = (copy: ContainerLogCopy, file: string): string => {
  // The reconcile handler copies with the default limits: the cut is told with them.
  const limits = CONTAINER_LOG_LIMITS;
  switch (copy.kind) {
    case 'copied':
      return `the analysis container's log (${count(copy.lines, 'line')}) was copied to ${file}`;
    case 'cut':
      return `the first ${count(copy.lines, 'line')} of the analysis container's log were copied to ${file}, cut at ${
        copy.because === 'size' ? mebibytes(limits.maxBytes) : `${seconds(limits.maxMilliseconds)} of reading`
      }; the whole log is in ${copy.where}`;
    case 'no-stream':
      return `no analysis log to copy: ${copy.why} (${file} says so)`;
    case 'missing':
      return `the analysis container left no log: ${copy.where} does not exist (${file} says so)`;
    case 'failed':
      return `the analysis container's log could not be copied completely (${copy.error}); ${count(copy.lines, 'line')} of it in ${file}, the whole log is in ${copy.where}`;
  }
};

/** `2026-11-21T12:00:00.000Z  message` when the line has a time; the message alone otherwise. */
const formatLine = (line: ContainerLogLine): string => {
  const message = line.message.replace(/\r?\n$/, '');
  const time = line.timestamp === undefined ? undefined : new Date(line.timestamp);
  return time && !Number.isNaN(time.getTime()) ? `${time.toISOString()}  ${message}` : message;
};

const note = (text: string): string => `${NOTE_PREFIX} ${text}\n`;

const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;

const mebibytes = (bytes: number): string =>
  bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`;

const seconds = (ms: number): string => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);
