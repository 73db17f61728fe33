/**
 * An in-process DynamoDB (dynalite, in memory) with the job table created from
 * lib/job/job-table-schema.ts. One per test file: start it in beforeAll, stop it in afterAll.
 *
 *   const db = await startDynamoDbEmulator();
 *   new JobStore({ client: db.documentClient, tableName: db.tableName, analysis: 'mock' });
 *   await db.stop();
 */
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { createJobTableInput } from '../../lib/job/job-table-schema';

/** The part of dynalite's API used here (the package ships no types). */
interface DynaliteOptions {
  readonly createTableMs?: number;
  readonly deleteTableMs?: number;
  readonly updateTableMs?: number;
  /** LevelDB directory; in memory when absent. */
  readonly path?: string;
}
type Dynalite = (options: DynaliteOptions) => Server;

const loadDynalite = (): Dynalite => createRequire(__filename)('dynalite') as Dynalite;

/** Emulator-only credentials and region: nothing here can reach a real account. */
export const EMULATOR_REGION = 'us-east-1';
export const EMULATOR_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

export interface DynamoDbEmulator {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  readonly documentClient: DynamoDBDocumentClient;
  /** The job table, created from the schema. */
  readonly tableName: string;
  /** Environment for a handler or child process under test: endpoint, region, credentials, table. */
  readonly env: Readonly<Record<string, string>>;
  /** Another client of the same emulator (e.g. one a test wraps with failure injection). */
  newDocumentClient(): DynamoDBDocumentClient;
  /** Creates another table with the job table's definition. */
  createJobTable(tableName: string): Promise<void>;
  stop(): Promise<void>;
}

export interface DynamoDbEmulatorOptions {
  readonly tableName?: string;
}

export const startDynamoDbEmulator = async (
  options: DynamoDbEmulatorOptions = {},
): Promise<DynamoDbEmulator> => {
  const tableName = options.tableName ?? 'ncaas-jobs';
  const server = loadDynalite()({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;

  const clients: DynamoDBClient[] = [];
  const newClient = (): DynamoDBClient => {
    const client = new DynamoDBClient({
      endpoint,
      region: EMULATOR_REGION,
      credentials: EMULATOR_CREDENTIALS,
    });
    clients.push(client);
    return client;
  };
  const newDocumentClient = (): DynamoDBDocumentClient =>
    DynamoDBDocumentClient.from(newClient(), { marshallOptions: { removeUndefinedValues: true } });

  const client = newClient();
  const documentClient = DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
  });
  const createJobTable = async (name: string): Promise<void> => {
    await client.send(new CreateTableCommand(createJobTableInput(name)));
  };

  try {
    await createJobTable(tableName);
  } catch (error) {
    server.close();
    throw error;
  }

  return {
    endpoint,
    client,
    documentClient,
    tableName,
    env: {
      AWS_ENDPOINT_URL_DYNAMODB: endpoint,
      AWS_REGION: EMULATOR_REGION,
      AWS_DEFAULT_REGION: EMULATOR_REGION,
      AWS_ACCESS_KEY_ID: EMULATOR_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey,
      NCAAS_TABLE: tableName,
    },
    newDocumentClient,
    createJobTable,
    stop: async () => {
      for (const c of clients) c.destroy();
      await new Promise<void>((resolve, reject) => {
        server.close((error?: Error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
};
