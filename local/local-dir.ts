/**
 * One local runtime per folder: the runtime that starts on a folder writes its pid to
 * `<dir>/ncaas-local.pid` (first, before it touches anything else there) and removes it when it
 * stops; a second one on the same folder is refused while that process lives. `ncaas local stop`
 * reads the same file. Only node:fs here: the CLI loads this without loading the emulators.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The runtime's folder when none is given (`--dir`). */
export const DEFAULT_LOCAL_DIR = '.ncaas-local';
export const PID_FILE = 'ncaas-local.pid';

export const pidFileOf = (dir: string): string => path.join(path.resolve(dir), PID_FILE);

/** A live local runtime already holds the folder. */
export class LocalRuntimeRunning extends Error {
  constructor(
    readonly pid: number,
    readonly dir: string,
  ) {
    super(
      `ncaas local is already running (pid ${pid}) on ${dir}: stop it with \`ncaas local stop --dir ${dir}\`, or give another --dir`,
    );
    this.name = 'LocalRuntimeRunning';
  }
}

/** The pid the file names, or undefined when there is no file or it holds no pid. */
export const readPidFile = (dir: string): number | undefined => {
  let text: string;
  try {
    text = fs.readFileSync(pidFileOf(dir), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const pid = Number(text.trim());
  return /^\d+$/.test(text.trim()) && Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
};

/**
 * Whether `pid` is a live process that can be a local runtime: it exists, is not a zombie and, where
 * /proc tells, runs Node (a pid the system gave to another program since counts as stale).
 */
export const isRuntimeProcess = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists, as another user's process.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  let stat: string;
  let argv0: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    argv0 = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
  } catch {
    return true; // no /proc (macOS) or not readable: the signal said it exists
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X' && /node/i.test(path.basename(argv0));
};

/**
 * Claims `dir` for this process: writes the pid file, replacing a stale one. Throws
 * LocalRuntimeRunning when a live runtime holds it. Returns the release (removes the file while it
 * still names this process; once).
 */
export const claimLocalDir = (dir: string): (() => void) => {
  const folder = path.resolve(dir);
  const file = pidFileOf(folder);
  fs.mkdirSync(folder, { recursive: true });
  for (let attempt = 0; ; attempt += 1) {
    // Written aside and linked in: the file appears whole, and of two runtimes starting at once one wins.
    const draft = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(draft, `${process.pid}\n`);
    try {
      fs.linkSync(draft, file);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 2) throw error;
    } finally {
      fs.rmSync(draft, { force: true });
    }
    const holder = readPidFile(folder);
    if (holder !== undefined && isRuntimeProcess(holder)) throw new LocalRuntimeRunning(holder, folder);
    fs.rmSync(file, { force: true }); // stale: its process has ended (or the file holds no pid)
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (readPidFile(folder) === process.pid) fs.rmSync(file, { force: true });
  };
};
