/**
 * The analysis's sign-in on one machine: cognito-local (a Cognito user pool emulator) in a child
 * process, with a user pool, the CLI's app client and one group per blueprint group, so `ncaas users`
 * and `ncaas login` run the same code against it as against Cognito. There is no identity pool
 * emulator: after login the credentials are the S3 emulator's own (lib/cli/login-command.ts).
 *
 * Cognito would email an invitation; the emulator prints it, and this module passes it on as a
 * line on the runtime's output and in <dir>/sign-in/invitations.log (the local mailbox).
 */
import {
  CognitoIdentityProviderClient,
  CreateGroupCommand,
  CreateUserPoolClientCommand,
  CreateUserPoolCommand,
  ListGroupsCommand,
  ListUserPoolClientsCommand,
  ListUserPoolsCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EMULATOR_CREDENTIALS, EMULATOR_REGION } from '../lib/emulator-credentials';

export interface LocalSignIn {
  /** `http://127.0.0.1:<port>`: AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER. */
  readonly endpoint: string;
  readonly userPoolId: string;
  readonly clientId: string;
  /** The invitations sent so far (the local mailbox), newest last. */
  readonly invitationsFile: string;
  stop(): Promise<void>;
}

export interface LocalInvitation {
  readonly email: string;
  readonly temporaryPassword: string;
}

/** How long the emulator may take to answer its first request (it loads the AWS SDK v2). */
const STARTUP_TIMEOUT_MS = 60_000;
/** How long it may take to exit on SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 5_000;

const freePort = async (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });

// The emulator's log is coloured.
const ANSI = /\u001b\[[0-9;]*m/g;

/**
 * The invitations in the emulator's log: each is a box with `Destination: <email>` and
 * `Code: <temporary password>` lines (cognito-local's console message sender).
 */
export const invitationsIn = (): ((chunk: string) => LocalInvitation[]) => {
  let pending = '';
  let destination: string | undefined;
  return (chunk) => {
    const found: LocalInvitation[] = [];
    pending += chunk.replace(ANSI, '');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const field = /(Destination|Code):\s+(\S+)/.exec(line);
      if (field?.[1] === 'Destination') destination = field[2];
      if (field?.[1] === 'Code' && destination !== undefined && field[2] !== undefined) {
        found.push({ email: destination, temporaryPassword: field[2] });
        destination = undefined;
      }
    }
    return found;
  };
};

export const startLocalSignIn = async (options: {
  dir: string;
  analysis: string;
  groups: readonly string[];
  print: (line: string) => void;
}): Promise<LocalSignIn> => {
  // The emulator keeps passwords as they were typed, and its log holds the temporary ones: the
  // folder is this user's alone.
  const home = path.join(options.dir, 'sign-in');
  fs.mkdirSync(path.join(home, '.cognito'), { recursive: true, mode: 0o700 });
  fs.chmodSync(home, 0o700);
  const invitationsFile = path.join(home, 'invitations.log');
  const log = fs.createWriteStream(path.join(home, 'emulator.log'), { flags: 'a', mode: 0o600 });
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(process.execPath, [require.resolve('cognito-local/lib/bin/start.js')], {
    cwd: home,
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `exited with ${signal ?? code}`;
  });
  child.once('error', (error) => {
    exited = `could not start (${error.message})`;
  });
  const parse = invitationsIn();
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    log.write(chunk);
    for (const invitation of parse(chunk)) {
      fs.appendFileSync(invitationsFile, `${JSON.stringify(invitation)}\n`, { mode: 0o600 });
      options.print(
        `sign-in: invitation for ${invitation.email}: temporary password ${invitation.temporaryPassword} (what Cognito would email)`,
      );
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => log.write(chunk));

  const stop = async (): Promise<void> => {
    if (exited === undefined && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const killed = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await gone;
      clearTimeout(killed);
    }
    log.end();
  };

  const client = new CognitoIdentityProviderClient({
    endpoint,
    region: EMULATOR_REGION,
    credentials: EMULATOR_CREDENTIALS,
    maxAttempts: 1,
  });
  try {
    const started = Date.now();
    for (;;) {
      if (exited !== undefined) throw new Error(`the sign-in emulator ${exited} (see ${home}/emulator.log)`);
      try {
        await client.send(new ListUserPoolsCommand({ MaxResults: 60 }));
        break;
      } catch (error) {
        if (Date.now() - started > STARTUP_TIMEOUT_MS) throw error;
        await sleep(200);
      }
    }
    const poolName = `ncaas-${options.analysis}`;
    const pools = await client.send(new ListUserPoolsCommand({ MaxResults: 60 }));
    const userPoolId =
      pools.UserPools?.find((p) => p.Name === poolName)?.Id ??
      (
        await client.send(
          new CreateUserPoolCommand({
            PoolName: poolName,
            UsernameAttributes: ['email'],
            Policies: { PasswordPolicy: { MinimumLength: 12 } },
          }),
        )
      ).UserPool?.Id;
    if (!userPoolId) throw new Error('the sign-in emulator made no user pool');
    const clients = await client.send(
      new ListUserPoolClientsCommand({ UserPoolId: userPoolId, MaxResults: 60 }),
    );
    const clientId =
      clients.UserPoolClients?.find((c) => c.ClientName === 'ncaas')?.ClientId ??
      (
        await client.send(
          new CreateUserPoolClientCommand({
            UserPoolId: userPoolId,
            ClientName: 'ncaas',
            ExplicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
          }),
        )
      ).UserPoolClient?.ClientId;
    if (!clientId) throw new Error('the sign-in emulator made no app client');
    const existing = new Set(
      ((await client.send(new ListGroupsCommand({ UserPoolId: userPoolId }))).Groups ?? []).map(
        (g) => g.GroupName,
      ),
    );
    for (const group of options.groups) {
      if (!existing.has(group)) {
        await client.send(new CreateGroupCommand({ UserPoolId: userPoolId, GroupName: group }));
      }
    }
    return { endpoint, userPoolId, clientId, invitationsFile, stop };
  } catch (error) {
    await stop();
    throw error;
  } finally {
    client.destroy();
  }
};

/** The invitations in a runtime's mailbox (<dir>/sign-in/invitations.log). */
export const readInvitations = (invitationsFile: string): LocalInvitation[] => {
  let text = '';
  try {
    text = fs.readFileSync(invitationsFile, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as LocalInvitation);
};
