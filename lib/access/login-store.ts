/**
 * Where `ncaas login` keeps a person's sign-in, one file per analysis:
 * `$NCAAS_CONFIG_DIR/logins/<analysis>.json`, else `$XDG_CONFIG_HOME/ncaas/...`, else
 * `~/.config/ncaas/...`. The file holds a refresh token (30 days) and an hour's credentials, so it is
 * created 0600 in a 0700 folder and replaced whole (never half-written). Anything unreadable in it is
 * treated as no login: the person logs in again.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as z from 'zod';
import { PIPELINE_NAME } from '../blueprint/blueprint-schema';

export type Env = Readonly<Record<string, string | undefined>>;

const credentialsSchema = z.object({
  accessKeyId: z.string().min(1),
  secretAccessKey: z.string().min(1),
  sessionToken: z.string().min(1).optional(),
  expiration: z.iso.datetime(),
});

export const loginRecordSchema = z.object({
  version: z.literal(1),
  analysis: z.string().regex(PIPELINE_NAME),
  bucket: z.string().min(3),
  region: z.string().min(1),
  userPoolId: z.string().min(1),
  clientId: z.string().min(1),
  /** Absent on the local runtime, whose credentials are the emulator's. */
  identityPoolId: z.string().min(1).optional(),
  /** The local runtime's sign-in and S3 emulators; absent for a deployed analysis. */
  cognitoEndpoint: z.url().optional(),
  s3Endpoint: z.url().optional(),
  email: z.string().min(3),
  group: z.string().min(1),
  groups: z.array(z.string()),
  refreshToken: z.string().min(1),
  signedInAt: z.iso.datetime(),
  credentials: credentialsSchema,
});
export type LoginRecord = z.infer<typeof loginRecordSchema>;

const nonEmpty = (value: string | undefined): string | undefined =>
  value !== undefined && value.trim() !== '' ? value.trim() : undefined;

export const loginsDir = (env: Env): string => {
  const explicit = nonEmpty(env.NCAAS_CONFIG_DIR);
  const base =
    explicit ??
    path.join(
      nonEmpty(env.XDG_CONFIG_HOME) ?? path.join(nonEmpty(env.HOME) ?? os.homedir(), '.config'),
      'ncaas',
    );
  return path.join(base, 'logins');
};

const fileOf = (env: Env, analysis: string): string => {
  if (!PIPELINE_NAME.test(analysis)) throw new Error(`"${analysis}" is not an analysis name`);
  return path.join(loginsDir(env), `${analysis}.json`);
};

export const readLogin = (env: Env, analysis: string): LoginRecord | undefined => {
  let text: string;
  try {
    text = fs.readFileSync(fileOf(env, analysis), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = loginRecordSchema.safeParse(JSON.parse(text));
    return parsed.success && parsed.data.analysis === analysis ? parsed.data : undefined;
  } catch {
    return undefined;
  }
};

/** The analyses with a login file (readable or not). */
export const loggedInAnalyses = (env: Env): string[] => {
  try {
    return fs
      .readdirSync(loginsDir(env))
      .filter((name) => name.endsWith('.json'))
      .map((name) => name.slice(0, -'.json'.length))
      .filter((name) => PIPELINE_NAME.test(name))
      .sort();
  } catch {
    return [];
  }
};

export const saveLogin = (env: Env, record: LoginRecord): string => {
  const file = fileOf(env, record.analysis);
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (fs.lstatSync(dir).isSymbolicLink())
    throw new Error(`${dir} is a symbolic link: logins are not kept there`);
  // A folder made before, by hand or another tool: still no one else's to read.
  fs.chmodSync(dir, 0o700);
  // A new file of ours only ('wx': never one that is there, nor a link), then renamed over the login.
  const temporary = path.join(dir, `.${record.analysis}.${randomBytes(8).toString('hex')}.tmp`);
  try {
    fs.writeFileSync(temporary, `${JSON.stringify(loginRecordSchema.parse(record), null, 2)}\n`, {
      mode: 0o600,
      flag: 'wx',
    });
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw error;
  }
  return file;
};

/** True when there was a login to remove. */
export const removeLogin = (env: Env, analysis: string): boolean => {
  try {
    fs.unlinkSync(fileOf(env, analysis));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
};
