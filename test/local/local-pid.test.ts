/**
 * One `ncaas local` per folder (issue 12, item 9): the runtime writes `<dir>/ncaas-local.pid` and
 * removes it when it stops cleanly; a second `ncaas local` on the same folder says "already running
 * (pid N)" and exits 1, without a stack trace and without touching the folder; `ncaas local stop`
 * sends SIGTERM, waits for the process to exit and says so; a stale pid file means "not running".
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EXIT } from '../../lib/cli/errors';
import { runLocal, runLocalStop } from '../../lib/cli/local-command';
import { createOutput, type Output } from '../../lib/cli/output';
import { CliSession } from '../../lib/cli/session';
import { claimLocalDir, PID_FILE, readPidFile } from '../../local/local-dir';
import { startLocalRuntime } from '../../local/local-runtime';
import type { LocalRuntime } from '../../local/local-runtime-api';
import { waitFor } from '../support/local-e2e';

jest.setTimeout(60_000);

const REPOSITORY = path.join(__dirname, '..', '..');

const capture = (): { output: Output; stdout: () => string; stderr: () => string } => {
  let out = '';
  let err = '';
  const output = createOutput({
    stdout: { isTTY: false, write: (text: string) => ((out += text), true) },
    stderr: { isTTY: false, write: (text: string) => ((err += text), true) },
    env: {},
  });
  return { output, stdout: () => out, stderr: () => err };
};

/** A pid that no process has any more. */
const endedPid = (): number => {
  const child = spawnSync('true');
  return child.pid as number;
};

let dirs: string[] = [];
const tempDir = (): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ncaas-pid-'));
  dirs.push(dir);
  return path.join(dir, 'runtime');
};
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  dirs = [];
});

describe('in this process', () => {
  test('the pid file while it runs, removed on a clean stop; a second `ncaas local` on the folder: "already running (pid N)", exit 1, folder untouched', async () => {
    const dir = tempDir();
    let stop: (signal: string) => void = () => undefined;
    const first = capture();
    const running = runLocal(
      { blueprint: 'mock', dir },
      first.output,
      startLocalRuntime,
      () => new Promise((resolve) => (stop = resolve)),
    );
    await waitFor('the first runtime to be up', () => first.stdout().includes('In another shell'), {
      context: () => first.stderr(),
    });
    expect(fs.readFileSync(path.join(dir, PID_FILE), 'utf8')).toBe(`${process.pid}\n`);
    const envBefore = fs.readFileSync(path.join(dir, 'env.sh'), 'utf8');
    const listing = fs.readdirSync(dir).sort();

    const second = capture();
    const session = new CliSession(second.output, {});
    const code = await session.run(() =>
      runLocal(
        { blueprint: 'mock', dir },
        second.output,
        startLocalRuntime,
        () => new Promise(() => undefined),
      ),
    );
    expect(code).toBe(EXIT.failed);
    expect(second.stderr()).toBe(
      `ncaas: ncaas local is already running (pid ${process.pid}) on ${dir}: stop it with \`ncaas local stop --dir ${dir}\`, or give another --dir\n`,
    );
    expect(second.stdout()).toBe('');
    expect(fs.readFileSync(path.join(dir, 'env.sh'), 'utf8')).toBe(envBefore);
    expect(fs.readdirSync(dir).sort()).toEqual(listing);

    stop('SIGTERM');
    expect(await running).toBe(EXIT.ok);
    expect(fs.existsSync(path.join(dir, PID_FILE))).toBe(false);
    // The folder is free again: a runtime starts on it (and its stop releases it too).
    const again: LocalRuntime = await startLocalRuntime({ blueprint: 'mock', dir, print: () => undefined });
    expect(readPidFile(dir)).toBe(process.pid);
    await again.stop();
    await again.stop();
    expect(fs.existsSync(path.join(dir, PID_FILE))).toBe(false);
  });

  test('stale pid files: a pid that has ended, a pid file without a pid, a pid now another program: "not running", removed, the folder can be claimed', async () => {
    const dir = tempDir();
    fs.mkdirSync(dir, { recursive: true });
    const pidFile = path.join(dir, PID_FILE);

    let io = capture();
    expect(await runLocalStop({ dir }, io.output)).toBe(EXIT.ok);
    expect(io.stdout()).toBe(`ncaas local is not running on ${dir}\n`);

    const ended = endedPid();
    fs.writeFileSync(pidFile, `${ended}\n`);
    io = capture();
    expect(await runLocalStop({ dir }, io.output)).toBe(EXIT.ok);
    expect(io.stdout()).toBe(
      `ncaas local is not running on ${dir} (its pid file named pid ${ended}, which has ended; removed it)\n`,
    );
    expect(fs.existsSync(pidFile)).toBe(false);

    fs.writeFileSync(pidFile, 'garbage\n');
    io = capture();
    expect(await runLocalStop({ dir }, io.output)).toBe(EXIT.ok);
    expect(io.stdout()).toBe(
      `ncaas local is not running on ${dir} (removed a ${PID_FILE} that held no pid)\n`,
    );
    expect(fs.existsSync(pidFile)).toBe(false);

    // A pid the system has given to another program since: neither signalled nor "already running".
    const sleeper = spawn('sleep', ['60']);
    try {
      fs.writeFileSync(pidFile, `${sleeper.pid}\n`);
      io = capture();
      expect(await runLocalStop({ dir }, io.output)).toBe(EXIT.ok);
      expect(io.stdout()).toContain('is not running');
      expect(sleeper.exitCode).toBeNull();
      expect(sleeper.signalCode).toBeNull();
      fs.writeFileSync(pidFile, `${sleeper.pid}\n`);
      const release = claimLocalDir(dir);
      expect(readPidFile(dir)).toBe(process.pid);
      release();
      expect(fs.existsSync(pidFile)).toBe(false);
    } finally {
      sleeper.kill();
    }

    // Over an ended runtime's pid file, `ncaas local` starts.
    fs.writeFileSync(pidFile, `${endedPid()}\n`);
    const runtime = await startLocalRuntime({ blueprint: 'mock', dir, print: () => undefined });
    expect(readPidFile(dir)).toBe(process.pid);
    await runtime.stop();
    expect(fs.existsSync(pidFile)).toBe(false);
  });
});

describe('`ncaas local` in another process', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  });

  /** `ncaas local --dir DIR` as a user runs it (bin/ncaas.js), its output collected. */
  const ncaasLocal = (dir: string) => {
    const child = spawn(process.execPath, [path.join(REPOSITORY, 'bin', 'ncaas.js'), 'local', '--dir', dir], {
      cwd: REPOSITORY,
      env: { ...process.env, NO_COLOR: '1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const result = {
      stdout: '',
      stderr: '',
      exit: new Promise<number | null>((resolve) => child.on('exit', resolve)),
    };
    child.stdout.on('data', (chunk: Buffer) => (result.stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (result.stderr += chunk.toString()));
    return { child, ...result, output: () => result };
  };

  test('a second one on the same folder exits 1 with one line; `ncaas local stop` ends the first and says so', async () => {
    const dir = tempDir();
    const first = ncaasLocal(dir);
    await waitFor(
      'the first `ncaas local` to be up',
      () => first.output().stdout.includes('In another shell'),
      {
        timeoutMs: 30_000,
        context: () => first.output().stderr,
      },
    );
    expect(readPidFile(dir)).toBe(first.child.pid);

    const second = ncaasLocal(dir);
    expect(await second.exit).toBe(1);
    expect(second.output().stdout).toBe('');
    expect(second.output().stderr).toBe(
      `ncaas: ncaas local is already running (pid ${first.child.pid}) on ${dir}: stop it with \`ncaas local stop --dir ${dir}\`, or give another --dir\n`,
    );
    expect(first.child.exitCode).toBeNull();

    const io = capture();
    expect(await runLocalStop({ dir }, io.output)).toBe(EXIT.ok);
    expect(io.stderr()).toBe(
      `stopping ncaas local (pid ${first.child.pid}) on ${dir}: its running jobs become INTERRUPTED...\n`,
    );
    expect(io.stdout()).toBe(`ncaas local (pid ${first.child.pid}) on ${dir} stopped\n`);
    // Stopped cleanly: exit 0, its own goodbye, its pid file gone.
    expect(await first.exit).toBe(0);
    expect(first.output().stderr).toContain('SIGTERM: stopping the local runtime');
    expect(first.output().stderr).toMatch(/stopped\n$/);
    expect(fs.existsSync(path.join(dir, PID_FILE))).toBe(false);

    const after = capture();
    await runLocalStop({ dir }, after.output);
    expect(after.stdout()).toBe(`ncaas local is not running on ${dir}\n`);
  });
});
