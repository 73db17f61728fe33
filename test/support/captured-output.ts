/** The CLI's Output with stdout and stderr captured as text (not a terminal: no colour). */
import { createOutput } from '../../lib/cli/output';

export const captureOutput = () => {
  const out: string[] = [];
  const err: string[] = [];
  const output = createOutput({
    stdout: { write: (text: string) => out.push(text) },
    stderr: { write: (text: string) => err.push(text) },
    env: {},
  });
  return { output, stdout: () => out.join(''), stderr: () => err.join('') };
};
