/**
 * How user-supplied values appear inside messages. Values are always quoted and escaped, so a key
 * holding a line break or a quote cannot forge extra lines in the text written back to the user.
 */

const MAX_SHOWN_CHARACTERS = 120;

/** `"lab/inputs/x.zip"`, with control characters escaped and very long values cut short. */
export const quote = (text: string): string => {
  const characters = [...text];
  const shown =
    characters.length > MAX_SHOWN_CHARACTERS
      ? `${characters.slice(0, MAX_SHOWN_CHARACTERS).join('')}…`
      : text;
  return JSON.stringify(shown);
};

/** What a JSON value is, in words: `the number 3`, `the text "x"`, `a list of 2 items`. */
export const describeValue = (value: unknown): string => {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null (an empty value)';
  if (typeof value === 'boolean') return `the value ${String(value)}`;
  if (typeof value === 'number') return `the number ${String(value)}`;
  if (typeof value === 'string') return value.length === 0 ? 'empty text ("")' : `the text ${quote(value)}`;
  if (Array.isArray(value)) {
    return value.length === 0 ? 'an empty list ([])' : `a list of ${plural(value.length, 'item')}`;
  }
  // YAML reads an unquoted 2026-05-01 as a date.
  if (value instanceof Date)
    return `the date ${Number.isNaN(value.getTime()) ? '(invalid)' : value.toISOString()}`;
  if (typeof value === 'object') return 'an object ({...})';
  return `a value of type ${typeof value}`;
};

export const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`;
