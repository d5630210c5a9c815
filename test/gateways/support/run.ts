/**
 * Writing rendered files and running the real gateway programs for tests: a config check, and a
 * long-running process started in the foreground on its own port and stopped by PID.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Invocation, RenderedFile } from '../../../src/gateways/types.js';
import { requireProgram } from '../../support/programs.js';
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
  readonly code: number;
  readonly output: string;
}

/** Runs a check invocation (`nginx -t`, `haproxy -c`) with extra environment. */
export function runCheck(invocation: Invocation, env: Readonly<Record<string, string>> = {}): Promise<CheckResult> {
  const command = requireProgram(invocation.command);
  return new Promise((resolve) => {
    execFile(command, [...invocation.args], { env: { ...process.env, ...invocation.env, ...env } }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

/** A started program. */
export interface RunningProgram {
  readonly pid: number;
  /** Everything the program wrote to stdout/stderr so far (for failure messages). */
  output(): string;
  /** Stops it by PID (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts a run invocation and waits until it listens on `port` (or fails with its output). */
export async function startProgram(invocation: Invocation, port: number, env: Readonly<Record<string, string>> = {}): Promise<RunningProgram> {
  const child: ChildProcess = spawn(requireProgram(invocation.command), [...invocation.args], {
    env: { ...process.env, ...invocation.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${invocation.command} did not start`);
  const program: RunningProgram = {
    pid,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGTERM');
      await exited;
    },
  };
  try {
    await waitForPort(port, { what: `${invocation.command} listening on ${port}`, timeout: 5_000, abortIf: () => child.exitCode !== null && `it exited with ${child.exitCode}`, detail: () => output });
  } catch (error) {
    await program.stop();
    throw error;
  }
  return program;
}
