/**
 * Child processes of a deployment (services, stampers): spawned with their output in files,
 * waited on until ready, stopped by PID — SIGTERM, then SIGKILL after a grace period.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';

/** How long a stopped process may take to exit after SIGTERM. */
export const DEFAULT_STOP_GRACE_MS = 5_000;
const TAIL_BYTES = 2_000;

/** A process the deployment started. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the exit code (null after a signal). */
  readonly exited: Promise<number | null>;
  /** True once the process has exited. */
  hasExited(): boolean;
  stop(graceMs?: number): Promise<void>;
  /** Kills at once with SIGKILL (fault tests). */
  kill(): Promise<void>;
  /** The last lines of the log, for error messages. */
  tail(): string;
}

const here = fileURLToPath(import.meta.url);
const repoRoot = resolvePath(dirname(here), '..', '..');

/**
 * How to run this product's own CLI as a child process: the compiled `bin/stella-gateway.js`
 * when this module is compiled, or the TypeScript source through tsx (tests, development).
 */
export function cliInvocation(args: readonly string[]): { command: string; args: string[] } {
  // The loader is named by its resolved URL: a child may run with its cwd outside the repository.
  if (here.endsWith('.ts')) return { command: process.execPath, args: ['--import', import.meta.resolve('tsx'), join(repoRoot, 'src', 'cli', 'entry.ts'), ...args] };
  return { command: process.execPath, args: [join(repoRoot, 'bin', 'stella-gateway.js'), ...args] };
}

/** Spawns a process with stdout and stderr appended to `logFile`. */
export function spawnManaged(name: string, command: string, args: readonly string[], options: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv }): ManagedProcess {
  const fd = openSync(options.logFile, 'a');
  let child;
  try {
    child = spawn(command, [...args], { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  let done = false;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      done = true;
      resolve(code);
    });
    child.once('error', () => {
      done = true;
      resolve(null);
    });
  });
  const stop = async (graceMs = DEFAULT_STOP_GRACE_MS): Promise<void> => {
    if (done) return;
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
    ]);
    clearTimeout(timer);
    if (late) child.kill('SIGKILL');
    await exited;
  };
  return {
    name,
    pid: child.pid ?? -1,
    logFile: options.logFile,
    exited,
    hasExited: () => done,
    stop,
    kill: async () => {
      if (!done) child.kill('SIGKILL');
      await exited;
    },
    tail: () => {
      try {
        return readFileSync(options.logFile, 'utf8').slice(-TAIL_BYTES).trim();
      } catch {
        return '';
      }
    },
  };
}

/** Polls `check` until it resolves true, the process exits, or the timeout passes. */
export async function waitUntil(proc: ManagedProcess | null, check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc?.hasExited()) throw new Error(`${what}: the process exited\n${proc.tail()}`);
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms${proc ? `\n${proc.tail()}` : ''}`);
}
