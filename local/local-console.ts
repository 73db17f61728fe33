/**
 * The web console on the local runtime: built into the runtime's folder at start (web/build.ts, about
 * a second), served by local/console-server.ts, and told (config.json) to use the S3 emulator with
 * the emulator's credentials, or the local sign-in first when it runs.
 */
import * as path from 'node:path';
import type { AnalysisConfig } from '../lib/blueprint/analysis-config';
import { consoleAnalysis, type ConsoleConfig } from '../lib/console/console-config';
import { EMULATOR_CREDENTIALS } from '../lib/emulator-credentials';
import { buildConsole } from '../web/build';
import { startConsoleServer, type ConsoleServer } from './console-server';

export const startLocalConsole = async (dir: string, port?: number): Promise<ConsoleServer> => {
  const built = await buildConsole(path.join(dir, 'console'));
  return startConsoleServer({ dir: built.dir, ...(port !== undefined ? { port } : {}) });
};

export const localConsoleConfig = (
  config: AnalysisConfig,
  bucket: string,
  s3Endpoint: string,
  signIn: { readonly endpoint: string; readonly userPoolId: string; readonly clientId: string } | undefined,
): ConsoleConfig => ({
  analysis: consoleAnalysis(config),
  bucket,
  s3Endpoint,
  localCredentials: {
    accessKeyId: EMULATOR_CREDENTIALS.accessKeyId,
    secretAccessKey: EMULATOR_CREDENTIALS.secretAccessKey,
  },
  ...(signIn !== undefined
    ? { signIn: { userPoolId: signIn.userPoolId, clientId: signIn.clientId, endpoint: signIn.endpoint } }
    : {}),
});
