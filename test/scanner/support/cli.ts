/** Runs `stella-gateway` from the sources in a child process (real signals, real exit codes). */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { main } from '../../../src/cli/main.js';

const ENTRY = "import('./src/cli/main.ts').then(async m=>{process.exitCode=await m.main(process.argv.slice(1))})";

/** What a finished CLI run printed and returned. */
export interface CliOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A started CLI process and the promise of its outcome. */
export interface CliProcess {
  child: ChildProcessWithoutNullStreams;
  done: Promise<CliOutcome>;
  /** Everything printed so far. */
  output(): { stdout: string; stderr: string };
}

/** Starts the CLI with `args`. */
export function startCli(args: readonly string[]): CliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', ENTRY, '--', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end();
  const done = new Promise<CliOutcome>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done, output: () => ({ stdout, stderr }) };
}

/** Runs the CLI to completion. */
export function runCli(args: readonly string[]): Promise<CliOutcome> {
  return startCli(args).done;
}

/**
 * Runs the CLI in this process through `main()` (exit code) and collects what it wrote to stderr.
 * Spawning costs seconds per run on a loaded machine; children are kept for signal tests.
 */
export async function inProcess(args: readonly string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array): boolean => {
    stderr += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  }) as typeof process.stderr.write;
  try {
    return { code: await main(args), stderr };
  } finally {
    process.stderr.write = write;
  }
}
