/**
 * `JSON.parse` with an error a person can act on: the line and column of the mistake and the
 * parser's own words, without the stack or V8's echo of the source.
 */

export type JsonTextResult =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly detail: string; readonly line?: number };

export const parseJsonText = (text: string): JsonTextResult => {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { ok: false, ...describeJsonError(error instanceof Error ? error.message : String(error), text) };
  }
};

const describeJsonError = (message: string, text: string): { detail: string; line?: number } => {
  const position = errorPosition(message, text);
  const endsEarly = position !== undefined && position >= text.trimEnd().length;
  if (message.includes('Unexpected end of JSON input') || endsEarly) {
    const { line } = lineAndColumn(text, text.trimEnd().length);
    return {
      detail: `the text ends too early, at line ${line} (a closing "}", "]" or quote is probably missing)`,
      line,
    };
  }
  const what = parserWords(message);
  if (position === undefined) return { detail: what };
  const { line, column } = lineAndColumn(text, position);
  return { detail: `line ${line}, column ${column}: ${what}`, line };
};

/** `Unexpected token '}', "{"a": }" is not valid JSON` -> `unexpected token '}'`. */
const parserWords = (message: string): string => {
  const words = message
    .replace(/ in JSON at position \d+[\s\S]*$/, '')
    .replace(/, (?:\.\.\.)?"[\s\S]*"(?:\.\.\.)? is not valid JSON$/, '')
    .trim();
  return words.length > 0 ? words.charAt(0).toLowerCase() + words.slice(1) : 'the text is not valid JSON';
};

/**
 * V8 (Node 20) gives `at position N` for most errors; for an unexpected token it echoes up to ten
 * characters each side of it instead (`...` marks a cut), from which the position is recovered.
 */
const CONTEXT_CHARACTERS = 10;

const errorPosition = (message: string, text: string): number | undefined => {
  const at = /in JSON at position (\d+)/.exec(message);
  if (at) return Number(at[1]);
  const echo = /^Unexpected token '([\s\S]+?)', (\.\.\.)?"([\s\S]*)"(\.\.\.)? is not valid JSON$/.exec(
    message,
  );
  if (!echo) return undefined;
  const [, token, cutBefore, snippet, cutAfter] = echo;
  if (cutBefore && cutAfter) {
    const start = text.indexOf(snippet);
    return start < 0 ? undefined : start + CONTEXT_CHARACTERS;
  }
  if (cutBefore) return text.length - snippet.length + CONTEXT_CHARACTERS;
  if (cutAfter) return Math.max(0, snippet.length - CONTEXT_CHARACTERS);
  // Short text echoed whole: the token's place is certain only when it occurs once.
  const first = text.indexOf(token);
  return first >= 0 && first === text.lastIndexOf(token) ? first : undefined;
};

/** 1-based line and column of a UTF-16 offset. */
export const lineAndColumn = (text: string, offset: number): { line: number; column: number } => {
  const before = text.slice(0, offset);
  const lastBreak = before.lastIndexOf('\n');
  return { line: before.split('\n').length, column: offset - lastBreak };
};
