/**
 * Credentials the local runtime's emulators accept (local/emulators.ts); they are not, and cannot be,
 * real AWS credentials. Here, not under local/, so the CLI can name them without loading the emulators.
 */
export const EMULATOR_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
export const EMULATOR_REGION = 'us-east-1';
