/**
 * Questions on the terminal, for `ncaas login`: asked on stderr (stdout stays the command's output),
 * answered without echo when secret. When stdin is not a terminal (a script, a test), each answer is
 * the next line of stdin.
 */
import * as readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { CliError, EXIT } from './errors';

export interface Prompter {
  ask(question: string, options?: { secret?: boolean }): Promise<string>;
  close(): void;
}

interface TerminalInput extends Readable {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
}

/** Longest answer taken: a password or code, not a file pasted by mistake. */
const MAX_ANSWER = 1024;

export const createPrompter = (input: TerminalInput, output: Writable): Prompter => {
  if (input.isTTY && input.setRawMode) return terminalPrompter(input, output);
  // Piped answers: one line each, read in order from one reader.
  const lines = readline.createInterface({ input, crlfDelay: Infinity })[Symbol.asyncIterator]();
  return {
    ask: async (question) => {
      output.write(question);
      const next = await lines.next();
      output.write('\n');
      if (next.done) throw new CliError(`no answer to "${question.trim()}": stdin ended`, EXIT.usage);
      return checked(next.value);
    },
    close: () => void lines.return?.(),
  };
};

const checked = (answer: string): string => {
  if (answer.length > MAX_ANSWER) throw new CliError('that answer is too long', EXIT.usage);
  return answer;
};

const terminalPrompter = (input: TerminalInput, output: Writable): Prompter => {
  // Typed ahead (a paste of two answers): what follows an Enter is the next question's.
  let typedAhead = '';
  return {
    ask: (question, options) =>
      new Promise<string>((resolve, reject) => {
        output.write(question);
        const secret = options?.secret === true;
        let answer = '';
        input.setRawMode?.(true);
        input.setEncoding('utf8');
        const finish = (error?: Error): void => {
          input.off('data', onData);
          input.off('end', onEnd);
          input.off('error', onError);
          input.setRawMode?.(false);
          input.pause();
          output.write('\n');
          if (error) reject(error);
          else resolve(answer);
        };
        const onEnd = (): void =>
          finish(new CliError(`no answer to "${question.trim()}": stdin ended`, EXIT.usage));
        const onError = (error: Error): void => finish(error);
        const onData = (chunk: string): void => {
          const chars = [...chunk];
          for (let i = 0; i < chars.length; i++) {
            const char = chars[i] as string;
            if (char === '\r' || char === '\n') {
              typedAhead = chars
                .slice(i + 1)
                .join('')
                .replace(/^\n/, '');
              return finish();
            }
            if (char === '\u0003' || (char === '\u0004' && answer === ''))
              return finish(new CliError('cancelled', 130));
            if (char === '\u007f' || char === '\b') {
              if (answer.length > 0) {
                answer = answer.slice(0, -1);
                if (!secret) output.write('\b \b');
              }
              continue;
            }
            if (char < ' ') continue;
            if (answer.length >= MAX_ANSWER)
              return finish(new CliError('that answer is too long', EXIT.usage));
            answer += char;
            if (!secret) output.write(char);
          }
        };
        input.on('data', onData);
        input.once('end', onEnd);
        input.once('error', onError);
        input.resume();
        if (typedAhead !== '') {
          const ahead = typedAhead;
          typedAhead = '';
          onData(ahead);
        }
      }),
    close: () => undefined,
  };
};
