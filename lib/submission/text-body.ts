/**
 * Turning an uploaded file's bytes into text before parsing: a size cap checked before decoding, a
 * UTF-8 byte order mark tolerated (editors on Windows add one), anything that is not UTF-8 refused.
 */
import { utf8ByteLength } from './characters';
import { MAX_TEXT_FILE_BYTES } from './submission-problem';

export type DecodedText =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly reason: 'too-large'; readonly bytes: number }
  | { readonly ok: false; readonly reason: 'not-utf8' };

const BYTE_ORDER_MARK = '\uFEFF';

export const decodeTextBody = (
  body: Uint8Array | string,
  maxBytes: number = MAX_TEXT_FILE_BYTES,
): DecodedText => {
  const bytes = typeof body === 'string' ? utf8ByteLength(body) : body.byteLength;
  if (bytes > maxBytes) return { ok: false, reason: 'too-large', bytes };
  let text: string;
  if (typeof body === 'string') {
    text = body;
  } else {
    try {
      // `fatal`: bytes that are not UTF-8 throw instead of becoming U+FFFD (Node and browsers alike).
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
    } catch {
      return { ok: false, reason: 'not-utf8' };
    }
  }
  return { ok: true, text: text.startsWith(BYTE_ORDER_MARK) ? text.slice(BYTE_ORDER_MARK.length) : text };
};

/** `312 bytes`, `4.5 KiB`, `2.0 MiB`. */
export const formatSize = (bytes: number): string => {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
};
