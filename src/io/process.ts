/**
 * The one process runtime (docs/CONVENTIONS.md#processes): every long-running child this product
 * starts — a gateway program, a service, a stamper, an OCI registry — is spawned here with its
 * output in files, waited on until a readiness check passes, reloaded by a signal or a command,
 * and stopped by PID: SIGTERM, then SIGKILL after a grace period. `gateways/runtime.ts` adds what a
 * hop needs (its kind's preparation and a TLS readiness probe); `deploy/start.ts` adds the rest.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';

/** How long a stopped process may take to exit after SIGTERM before it gets SIGKILL. */
export const DEFAULT_STOP_GRACE_MS = 5_000;
/** How long a one-shot command (a config check, a reload command) may run. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 60_000;
const POLL_INTERVAL_MS = 100;
const TAIL_BYTES = 2_000;

/** A program invocation: what to run, with which arguments, and extra environment. */
export interface Invocation {
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * How a running program takes new files without dropping a request
 * (docs/operations/certificates.md#revocation): a signal to the foreground process, a command,
 * or nothing it can do in place.
 */
export type GracefulReload =
  | { readonly kind: 'signal'; readonly signal: NodeJS.Signals }
  | { readonly kind: 'command'; readonly invocation: Invocation }
  | { readonly kind: 'unsupported'; readonly reason: string };

/** Options of {@link spawnManaged}. */
export interface SpawnOptions {
  /** Where stdout (and stderr, unless `errorLogFile` is given) is appended. */
  readonly logFile: string;
  /** A separate file for stderr. */
  readonly errorLogFile?: string;
  readonly cwd?: string;
  /** The whole environment; default this process's. */
  readonly env?: NodeJS.ProcessEnv;
  /** The default grace of `stop()`; default {@link DEFAULT_STOP_GRACE_MS}. */
  readonly stopGraceMs?: number;
}

/** A started child process, tracked by PID. */
export interface ManagedProcess {
  readonly name: string;
  /** The PID, or -1 when the program could not be spawned (see `startError`). */
  readonly pid: number;
  readonly logFile: string;
  /** The file holding stderr (`logFile` unless a separate one was asked for). */
  readonly errorLogFile: string;
  /** Resolves with the exit code (null after a signal or a failed spawn). */
  readonly exited: Promise<number | null>;
  /** True once the process has exited. */
  hasExited(): boolean;
  /** Why the program could not be spawned (e.g. ENOENT), once `exited` resolved; null otherwise. */
  startError(): Error | null;
  /** SIGTERM, then SIGKILL after the grace period; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
  /** Kills at once with SIGKILL (fault tests). */
  kill(): Promise<void>;
  /** Sends a signal to a running process; false when it has exited. */
  signal(signal: NodeJS.Signals): boolean;
  /** The last lines of stderr, for error messages. */
  tail(): string;
}

/**
 * Spawns a program with its output appended to files.
 *
 * @example
 * const proc = spawnManaged('registry', '/usr/bin/registry', ['serve', config], { logFile: 'logs/registry.log' });
 * try { await waitUntil(proc, isLive, 30_000, 'registry'); … } finally { await proc.stop(); }
 */
export function spawnManaged(name: string, command: string, args: readonly string[], options: SpawnOptions): ManagedProcess {
  const errorLogFile = options.errorLogFile ?? options.logFile;
  const out = openSync(options.logFile, 'a');
  const err = errorLogFile === options.logFile ? out : openSync(errorLogFile, 'a');
  let child;
  try {
    child = spawn(command, [...args], { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', out, err] });
  } finally {
    closeSync(out);
    if (err !== out) closeSync(err);
  }
  let done = false;
  let spawnFailure: Error | null = null;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      done = true;
      resolve(code);
    });
    child.on('error', (error) => {
      // Only a failed spawn ends the process; a failed kill of a running one changes nothing.
      if (child.pid !== undefined) return;
      spawnFailure = error;
      done = true;
      resolve(null);
    });
  });
  const running = (): boolean => !done && child.exitCode === null && child.signalCode === null && child.pid !== undefined;
  const stop = async (graceMs = options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS): Promise<void> => {
    if (!running()) return void (await exited);
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([exited.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs)))]);
    clearTimeout(timer);
    if (late) child.kill('SIGKILL');
    await exited;
  };
  return {
    name,
    pid: child.pid ?? -1,
    logFile: options.logFile,
    errorLogFile,
    exited,
    hasExited: () => done,
    startError: () => spawnFailure,
    stop,
    kill: async () => {
      if (running()) child.kill('SIGKILL');
      await exited;
    },
    signal: (signal) => running() && child.kill(signal),
    tail: () => fileTail(errorLogFile),
  };
}

/** The last {@link TAIL_BYTES} of a file, trimmed; '' when it cannot be read. */
export function fileTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-TAIL_BYTES).trim();
  } catch {
    return '';
  }
}

/** How {@link pollReady} ended. */
export type ReadyOutcome = 'ready' | 'exited' | 'timeout';

/**
 * Polls `check` until it resolves true ('ready'), the process exits ('exited', also while a check
 * is in flight) or the timeout passes ('timeout'). A check that throws counts as not ready yet.
 */
export async function pollReady(proc: ManagedProcess | null, check: () => Promise<boolean>, timeoutMs: number): Promise<ReadyOutcome> {
  // A program that could not be spawned is never ready, whatever answers the check (another
  // process on the same port, say): its spawn error arrives on a later tick.
  if (proc && proc.pid < 0) return proc.exited.then(() => 'exited');
  const deadline = Date.now() + timeoutMs;
  const exited = proc ? proc.exited.then(() => 'exited' as const) : new Promise<never>(() => undefined);
  while (Date.now() < deadline) {
    if (proc?.hasExited()) return 'exited';
    const outcome = await Promise.race([check().then((ok) => (ok ? ('ready' as const) : null), () => null), exited]);
    if (outcome === 'ready' && proc?.hasExited()) return 'exited';
    if (outcome !== null) return outcome;
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
  return proc?.hasExited() ? 'exited' : 'timeout';
}

/**
 * {@link pollReady}, throwing when the process is not ready: the message names `what` and carries
 * the tail of its log.
 */
export async function waitUntil(proc: ManagedProcess | null, check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const outcome = await pollReady(proc, check, timeoutMs);
  if (outcome === 'ready') return;
  if (outcome === 'exited') throw new Error(`${what}: the process exited\n${proc?.tail() ?? ''}`);
  throw new Error(`${what}: not ready after ${timeoutMs} ms${proc ? `\n${proc.tail()}` : ''}`);
}

/** What a one-shot command said. */
export interface CommandResult {
  readonly ok: boolean;
  /** stdout and stderr, trimmed; the error's message when both were empty and it failed. */
  readonly output: string;
}

/** Runs a one-shot command (a config check, a reload command) to its end, within `timeoutMs`. */
export function runCommand(invocation: Invocation, options: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv; readonly timeoutMs?: number } = {}): Promise<CommandResult> {
  const env = options.env ?? { ...process.env, ...invocation.env };
  return new Promise((resolve) => {
    execFile(invocation.command, [...invocation.args], { cwd: options.cwd, env, timeout: options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS }, (error, stdout, stderr) => {
      const output = `${stdout}${stderr}`.trim();
      resolve({ ok: error === null, output: error && output === '' ? error.message : output });
    });
  });
}

/**
 * Sends a program its graceful reload: the signal, or the command (run with `options`).
 * @throws {Error} when the process is not running, the program has no in-place reload, or the command failed.
 */
export async function reloadManaged(proc: ManagedProcess, how: GracefulReload, options: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv } = {}): Promise<void> {
  if (proc.hasExited()) throw new Error('the program is not running');
  if (how.kind === 'unsupported') throw new Error(how.reason);
  if (how.kind === 'signal') {
    if (!proc.signal(how.signal)) throw new Error('the program is not running');
    return;
  }
  const { invocation } = how;
  const result = await runCommand(invocation, options);
  if (!result.ok) throw new Error(`${invocation.command} ${invocation.args[0] ?? ''} failed: ${result.output}`);
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
