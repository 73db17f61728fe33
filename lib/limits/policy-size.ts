/** How AWS counts the size of a policy document. */

/** S3 (bucket and access point policies): bytes of the minified JSON. */
export const minifiedJsonBytes = (document: unknown): number =>
  Buffer.byteLength(typeof document === 'string' ? document : (JSON.stringify(document) ?? ''), 'utf8');

/** IAM: characters of the JSON, white space not counted. */
export const iamPolicyCharacters = (document: unknown): number =>
  [...(typeof document === 'string' ? document : (JSON.stringify(document) ?? '')).replace(/\s/g, '')].length;
