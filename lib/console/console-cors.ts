/**
 * What the data bucket lets the console's origin do from a browser: exactly the methods the console
 * uses (list and read, upload with multipart, delete a staged file) and the headers the SDK sends;
 * ETag exposed, which multipart uploads read. The stack sets it on the bucket; the local runtime on
 * its S3 emulator (s3rver, as XML).
 */
export const CONSOLE_CORS = {
  allowedMethods: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE'] as const,
  allowedHeaders: ['*'],
  exposedHeaders: ['ETag', 'x-amz-version-id'],
  maxAgeSeconds: 3000,
};

const escapeXml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export const corsXml = (origins: readonly string[]): string =>
  '<CORSConfiguration><CORSRule>' +
  origins.map((o) => `<AllowedOrigin>${escapeXml(o)}</AllowedOrigin>`).join('') +
  CONSOLE_CORS.allowedMethods.map((m) => `<AllowedMethod>${m}</AllowedMethod>`).join('') +
  CONSOLE_CORS.allowedHeaders.map((h) => `<AllowedHeader>${h}</AllowedHeader>`).join('') +
  CONSOLE_CORS.exposedHeaders.map((h) => `<ExposeHeader>${h}</ExposeHeader>`).join('') +
  `<MaxAgeSeconds>${CONSOLE_CORS.maxAgeSeconds}</MaxAgeSeconds>` +
  '</CORSRule></CORSConfiguration>';
