/** The CLI's Output with stdout and stderr captured as text (by default not a terminal: no colour). */
import { createOutput } from '../../lib/cli/output';

export interface CaptureOptions {
  readonly tty?: boolean;
  readonly columns?: number;
  readonly env?: Record<string, string>;
}

export const captureOutput = (options: CaptureOptions = {}) => {
  const out: string[] = [];
  const err: string[] = [];
  const output = createOutput({
    stdout: {
      write: (text: string) => out.push(text),
      ...(options.tty !== undefined ? { isTTY: options.tty } : {}),
      ...(options.columns !== undefined ? { columns: options.columns } : {}),
    },
    stderr: { write: (text: string) => err.push(text) },
    env: options.env ?? {},
  });
  return { output, stdout: () => out.join(''), stderr: () => err.join('') };
};
