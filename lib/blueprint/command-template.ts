/**
 * The blueprint's COMMAND as the worker runs it. NeuroCAAS filled its four `{}` with Python's
 * `str.format`, so a dataset key or a timestamp became shell text. Here each placeholder becomes a
 * reference to a variable the worker exports (`${NCAAS_ARG_DATASET}`, ...), written for the quoting
 * around it, so the outer shell only ever expands the value: it is never parsed as code.
 *
 * Expansion is safe for the shell that runs COMMAND, not for a program that runs its argument as
 * code: a placeholder inside the script of `bash -c '...'`, `eval`, `python -c`, `ssh host '...'`
 * would be parsed again there. Those shapes are refused (at synth, by `ncaas validate`) with the
 * safe spelling: pass the value as an argument of the inner script, which reads it as `"$1"`.
 */

/** What each placeholder is, in order, and the variable the worker exports with its value. */
export const COMMAND_ARGUMENTS = [
  { variable: 'NCAAS_ARG_BUCKET', what: 'the bucket' },
  { variable: 'NCAAS_ARG_DATASET', what: 'the dataset key' },
  { variable: 'NCAAS_ARG_RESULTDIR', what: 'the result folder' },
  { variable: 'NCAAS_ARG_CONFIG', what: 'the config key' },
] as const;

export const PLACEHOLDER = '{}';

export type PreparedCommand =
  { readonly ok: true; readonly text: string } | { readonly ok: false; readonly problem: string };

type Frame = 'command' | 'dq' | 'sq' | 'ansi' | 'backtick' | 'param';

/** One simple command being read: its finished words (quotes removed) and the word being read. */
interface CommandLevel {
  words: string[];
  word: string;
  /** Open `(` inside this level, so a subshell's `)` does not end a `$(...)`. */
  parens: number;
}

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'busybox', 'fish', 'csh', 'tcsh']);
/** Interpreters, and the options after which a word is code for them. */
const INTERPRETERS =
  /^(python[0-9.]*|pypy[0-9.]*|perl[0-9.]*|ruby|node|nodejs|deno|Rscript|R|julia|octave|matlab|php|lua|tclsh|pwsh|powershell|osascript)$/;
const INLINE_CODE_OPTIONS = new Set(['-c', '-e', '-E', '-r', '-batch', '--eval', '--command', '-Command']);
/** Programs whose first operand is a program of their own (awk, sed and jq scripts). */
const PROGRAM_OPERAND = /^(awk|gawk|mawk|nawk|sed|gsed|jq)$/;
/** Their options that take values (the words after them are not the program). */
const OPTION_VALUES: Readonly<Record<string, number>> = {
  '-F': 1,
  '-v': 1,
  '-f': 1,
  '-L': 1,
  '--indent': 1,
  '--arg': 2,
  '--argjson': 2,
  '--slurpfile': 2,
  '--rawfile': 2,
};
/** Shell options that take a value (`bash -o pipefail -c ...`). */
const SHELL_OPTION_VALUES = new Set(['-o', '+o', '-O', '+O']);
/** Programs that hand everything after them to a shell. */
const WHOLE_TAIL_IS_CODE = new Set(['eval', 'ssh', 'watch']);

const baseName = (word: string): string => word.slice(word.lastIndexOf('/') + 1);
const isOption = (word: string): boolean => /^[-+]./.test(word);

/** `bash [options] -c SCRIPT arg0 args...`: is the next word SCRIPT? */
const nextIsShellScript = (after: readonly string[]): boolean => {
  let sawC = false;
  for (let j = 0; j < after.length; j++) {
    const w = after[j] ?? '';
    if (!isOption(w)) return false; // an operand: the script (or a script file) is already written
    if (SHELL_OPTION_VALUES.has(w)) j++;
    else if (/^-[A-Za-z]*c[A-Za-z]*$/.test(w)) sawC = true;
  }
  return sawC;
};

/** `awk [options] PROGRAM files...`, `jq [options] FILTER`, `sed [options] SCRIPT`: is the next word the program? */
const nextIsProgram = (after: readonly string[]): boolean => {
  const last = after[after.length - 1];
  if (last === '-e' || last === '--expression') return true; // sed -e SCRIPT
  let j = 0;
  while (j < after.length) {
    const w = after[j] ?? '';
    if (!isOption(w)) return false;
    j += 1 + (OPTION_VALUES[w] ?? 0);
  }
  // Past the end: the next word is an option's value, not the program.
  return j === after.length && !after.includes('-f') && !after.includes('-e');
};

/**
 * Why the next word of this simple command would be run as code by the program it is given to, or
 * undefined when it is only data for that program. `words` are the finished words before it.
 */
export const codeContextOf = (words: readonly string[]): string | undefined => {
  for (let i = words.length - 1; i >= 0; i--) {
    const name = baseName(words[i] ?? '');
    const after = words.slice(i + 1);
    if (WHOLE_TAIL_IS_CODE.has(name)) return `an argument of \`${name}\`, which runs it as shell code`;
    if (SHELLS.has(name)) {
      return nextIsShellScript(after)
        ? `the script of \`${name} -c\`, which that shell parses again`
        : undefined;
    }
    if (name === 'su' || name === 'runuser') {
      const last = after[after.length - 1];
      return last === '-c' || last === '--command'
        ? `the command of \`${name} -c\`, which a shell parses`
        : undefined;
    }
    if (INTERPRETERS.test(name)) {
      // `-c`, `-e`... or bundled (`perl -lne`, `node -pe`), right before this word, and no script file
      // named before it (`python run.py -c {}` passes data to run.py).
      const last = after[after.length - 1];
      const inlineFlag =
        last !== undefined && (INLINE_CODE_OPTIONS.has(last) || /^-[A-Za-z]*[ceEp]$/.test(last));
      const scriptFile = after.slice(0, -1).some((w) => !isOption(w) && /[./]/.test(w));
      const inline = inlineFlag && !scriptFile;
      return inline ? `the code of \`${name} ${last}\`, which ${name} runs` : undefined;
    }
    if (PROGRAM_OPERAND.test(name)) {
      return nextIsProgram(after) ? `the program text of \`${name}\`, which ${name} runs` : undefined;
    }
  }
  return undefined;
};

const SAFE_SPELLING =
  'pass the value to the inner script as an argument and use it there as "$1", e.g. bash -c \'run "$1"\' ncaas "{}" (or use the exported variables $inputpath, $configpath, $resultdir, $bucketname inside it)';

/**
 * Checks COMMAND and returns it with each placeholder replaced by its variable, or the reason the
 * shape cannot be run safely. Placeholders after the fourth are left as they are (NeuroCAAS filled
 * exactly four; the blueprint schema requires four).
 */
export const prepareCommand = (template: string): PreparedCommand => {
  const frames: Frame[] = ['command'];
  const levels: CommandLevel[] = [{ words: [], word: '', parens: 0 }];
  let out = '';
  let filled = 0;
  let heredoc = false;
  let comment = false;
  const level = (): CommandLevel => levels[levels.length - 1] as CommandLevel;
  const top = (): Frame => frames[frames.length - 1] as Frame;
  const endWord = (): void => {
    const l = level();
    if (l.word !== '') l.words.push(l.word);
    l.word = '';
  };
  /** `$(` starts a new command level (its quoting starts afresh), `${` a parameter expansion. */
  const openExpansion = (two: string): boolean => {
    if (two === '$(') {
      frames.push('command');
      levels.push({ words: [], word: '', parens: 0 });
      return true;
    }
    if (two === '${') {
      frames.push('param');
      return true;
    }
    return false;
  };
  const endCommand = (): void => {
    endWord();
    level().words = [];
  };

  for (let i = 0; i < template.length;) {
    const c = template[i] as string;
    const two = template.slice(i, i + 2);
    if (comment) {
      if (c === '\n') {
        comment = false;
        endCommand();
      }
      out += c;
      i++;
      continue;
    }
    if (two === PLACEHOLDER && filled < COMMAND_ARGUMENTS.length) {
      const arg = COMMAND_ARGUMENTS[filled] as (typeof COMMAND_ARGUMENTS)[number];
      filled++;
      const which = `placeholder ${filled} (${arg.what})`;
      const refuse = (why: string): PreparedCommand => ({
        ok: false,
        problem: `COMMAND's ${which} is ${why}: a key or a timestamp there would run as code. ${SAFE_SPELLING}`,
      });
      if (heredoc) return refuse('inside a here-document (<<), which is fed to a program as text');
      if (frames.includes('backtick')) return refuse('inside backquotes `...` (use $(...))');
      if (frames.includes('ansi')) return refuse("inside $'...' quotes");
      if (frames.includes('param')) return refuse('inside a ${...} expansion');
      const codeContext = codeContextOf(level().words);
      if (codeContext) return refuse(codeContext);
      const ref = `\${${arg.variable}}`;
      const frame = top();
      out += frame === 'dq' ? ref : frame === 'sq' ? `'"${ref}"'` : `"${ref}"`;
      level().word += `<${arg.variable}>`;
      i += 2;
      continue;
    }
    const frame = top();
    if (frame === 'sq' || frame === 'ansi') {
      if (frame === 'ansi' && c === '\\') {
        out += two;
        i += 2;
        continue;
      }
      if (c === "'") frames.pop();
      else level().word += c;
      out += c;
      i++;
      continue;
    }
    if (c === '\\') {
      level().word += template[i + 1] ?? '';
      out += two;
      i += 2;
      continue;
    }
    if (frame === 'dq') {
      if (openExpansion(two)) {
        out += two;
        i += 2;
        continue;
      }
      if (c === '"') frames.pop();
      else if (c === '`') frames.push('backtick');
      else level().word += c;
      out += c;
      i++;
      continue;
    }
    if (frame === 'param') {
      if (c === '}') frames.pop();
      out += c;
      i++;
      continue;
    }
    // Unquoted: a command level (the top, or inside $(...)) or backquotes.
    if (frame === 'backtick' && c === '`') {
      frames.pop();
      out += c;
      i++;
      continue;
    }
    if (two === "$'" || openExpansion(two)) {
      if (two === "$'") frames.push('ansi');
      out += two;
      i += 2;
      continue;
    }
    if (c === "'") frames.push('sq');
    else if (c === '"') frames.push('dq');
    else if (c === '`') frames.push('backtick');
    else if (c === '(') {
      level().parens++;
      endCommand();
    } else if (c === ')' && level().parens > 0) {
      level().parens--;
      endCommand();
    } else if (c === ')' && frame === 'command' && levels.length > 1) {
      frames.pop();
      levels.pop();
      level().word += '$()';
    } else if (two === '<<') {
      heredoc = true;
      endWord();
      out += two;
      i += 2;
      continue;
    } else if (c === '#' && level().word === '') comment = true;
    else if (c === ' ' || c === '\t') endWord();
    else if (c === ';' || c === '&' || c === '|' || c === '\n') endCommand();
    else if (c === '<' || c === '>') endWord();
    else level().word += c;
    out += c;
    i++;
  }
  const written = template.split(PLACEHOLDER).length - 1;
  if (written >= COMMAND_ARGUMENTS.length && filled < COMMAND_ARGUMENTS.length) {
    // A `{}` escaped (`\{}`) or in a comment is not filled: the values would shift or go missing.
    return {
      ok: false,
      problem: `COMMAND has ${filled} placeholder(s) where its shell would see them, not four: a {} after a backslash or in a # comment is not filled, so the values would shift or go missing. Write the four {} as arguments (bucket, dataset key, result folder, config key)`,
    };
  }
  return { ok: true, text: out };
};
