/** Characters a key or a job id may not contain, found by code point (no control characters in regexes). */

const NAMES: Readonly<Record<number, string>> = {
  0x09: 'a tab',
  0x0a: 'a line break',
  0x0d: 'a carriage return',
};

/** The first control character (C0, DEL or C1) in `text`, named for a message. */
export const firstControlCharacter = (text: string): { index: number; name: string } | undefined => {
  let index = 0;
  for (const character of text) {
    const code = character.codePointAt(0) ?? 0;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) {
      const hex = code.toString(16).toUpperCase().padStart(4, '0');
      return { index, name: NAMES[code] ?? `the control character U+${hex}` };
    }
    index += 1;
  }
  return undefined;
};

/** True when `text` holds half of a surrogate pair: it cannot be written as UTF-8 (nor be an S3 key). */
export const hasLoneSurrogate = (text: string): boolean => {
  for (let i = 0; i < text.length; i += 1) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return true;
      i += 1;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      return true;
    }
  }
  return false;
};

/** `text` with every control character written as `\uXXXX`, so it stays on one line. */
export const escapeControlCharacters = (text: string): string =>
  [...text]
    .map((character) => {
      const code = character.codePointAt(0) ?? 0;
      return code < 0x20 || (code >= 0x7f && code <= 0x9f)
        ? `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`
        : character;
    })
    .join('');

/** Bytes of `text` in UTF-8 (what S3 counts in a key), without Node's Buffer: the console runs this too. */
export const utf8ByteLength = (text: string): number => new TextEncoder().encode(text).length;
