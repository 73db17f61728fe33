/**
 * A new job id (the submission's `timestamp`) when the submitter gives none: the CLI and the web
 * console make it the same way. Web Crypto's random values: in Node and in browsers.
 */
const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** `2026-11-21T23-59-59Z-k3f9`: sortable UTC time to the second, plus 4 random characters. */
export const defaultJobId = (now: Date = new Date(), random: () => string = randomSuffix): string =>
  `${now.toISOString().slice(0, 19).replace(/:/g, '-')}Z-${random()}`;

const randomSuffix = (): string =>
  [...crypto.getRandomValues(new Uint8Array(4))].map((b) => ALPHABET[b % ALPHABET.length]).join('');
