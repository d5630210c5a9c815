/**
 * Writing rendered files and running the real gateway programs for tests: a config check, and a
 * long-running process started in the foreground on its own port and stopped by PID — both through
 * the product's one process runtime (src/io/process.ts).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Invocation, RenderedFile } from '../../../src/gateways/types.js';
import { runCommand, spawnManaged } from '../../../src/io/process.js';
import { requireProgram } from '../../support/programs.js';
import { tempDir } from '../../support/tmp.js';
import { waitForPort } from '../../support/wait.js';

/** Puts rendered files under `outDir` (what the product's writer does, kept minimal here). */
export function writeRendered(outDir: string, files: readonly RenderedFile[]): void {
  for (const file of files) {
    const path = join(outDir, file.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.contents, { mode: file.mode ?? 0o644 });
  }
}

/** The outcome of a config check. */
export interface CheckResult {
  /** 0 when the check passed, 1 otherwise (only pass/fail is asserted). */
  readonly code: number;
  readonly output: string;
}

/** Runs a check invocation (`nginx -t`, `haproxy -c`) with extra environment, through the product's runtime. */
export async function runCheck(invocation: Invocation, env: Readonly<Record<string, string>> = {}): Promise<CheckResult> {
  const result = await runCommand({ ...invocation, command: requireProgram(invocation.command) }, { env: { ...process.env, ...invocation.env, ...env } });
  return { code: result.ok ? 0 : 1, output: result.output };
}

/** A started program. */
export interface RunningProgram {
  readonly pid: number;
  /** Everything the program wrote to stdout/stderr so far (for failure messages). */
  output(): string;
  /** Stops it by PID (SIGTERM, SIGKILL after the runtime's grace) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts a run invocation with the product's process runtime (`spawnManaged`, src/io/process.ts)
 * and waits until it listens on `port`, or fails with its output.
 */
export async function startProgram(invocation: Invocation, port: number, env: Readonly<Record<string, string>> = {}): Promise<RunningProgram> {
  const logs = tempDir('stella-program-');
  const proc = spawnManaged(invocation.command, requireProgram(invocation.command), invocation.args, {
    logFile: join(logs.path, 'output.log'),
    env: { ...process.env, ...invocation.env, ...env },
  });
  const output = (): string => (existsSync(proc.logFile) ? readFileSync(proc.logFile, 'utf8') : '');
  const program: RunningProgram = {
    pid: proc.pid,
    output,
    async stop() {
      await proc.stop();
      logs.remove();
    },
  };
  try {
    if (proc.pid < 0) {
      await proc.exited;
      throw new Error(`${invocation.command} did not start: ${proc.startError()?.message ?? 'no reason given'}`);
    }
    await waitForPort(port, { what: `${invocation.command} listening on ${port}`, timeout: 5_000, abortIf: () => proc.hasExited() && 'it exited', detail: output });
  } catch (error) {
    await program.stop();
    throw error;
  }
  return program;
}
