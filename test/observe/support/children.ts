/**
 * Runs this product's CLI as the operator does (a child process through the real entry point),
 * waits for a line of its output, and reads what the ops listener and the kernel say about it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { cliInvocation } from '../../../src/io/process.js';
import { waitFor } from '../../support/wait.js';

/** How long a part may take to print its start-up line (tsx compiles on first run). */
const START_DEADLINE_MS = 60_000;

/** A running CLI child: its output so far, and a stop by PID. */
export interface Child {
  readonly process: ChildProcess;
  output(): string;
  /** Resolves with the first match of `pattern` in stdout + stderr, or rejects when the child ends or the deadline passes. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
  stop(): Promise<number | null>;
}

/** Starts `stella-gateway ARGS…`. */
export function startCli(args: readonly string[]): Child {
  const cli = cliInvocation(args);
  const child = spawn(cli.command, cli.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  let ended = false;
  void exited.then(() => (ended = true));
  return {
    process: child,
    output: () => text,
    waitFor(pattern) {
      return waitFor(() => pattern.exec(text), {
        what: `${String(pattern)} from stella-gateway ${args[0] ?? ''}`,
        timeout: START_DEADLINE_MS,
        abortIf: () => ended && pattern.exec(text) === null && 'the child ended before printing it',
        detail: () => text,
      });
    },
    async stop() {
      if (!ended) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Runs a command to its end; its exit code and stderr. */
export async function runCli(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  const child = startCli(args);
  const code = await new Promise<number | null>((resolve) => child.process.once('close', resolve));
  return { code, stderr: child.output() };
}

/** One GET: status, headers and body text. */
export async function get(url: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const res = await request(url);
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/**
 * The TCP ports a process listens on, from the kernel: the socket inodes among its open files,
 * matched with the LISTEN (state 0A) rows of /proc/net/tcp and tcp6.
 */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(join(`/proc/${pid}/fd`, fd)));
      if (match) inodes.add(match[1]!);
    } catch {
      // closed while listing
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const row of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = row.trim().split(/\s+/);
      if (cols[3] === '0A' && inodes.has(cols[9]!)) ports.push(Number.parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  return ports.sort((a, b) => a - b);
}

/**
 * The metric names docs/operations/running.md#metrics lists for a part (its table's last column),
 * so the test checks what the operator reads.
 */
export async function documentedMetrics(part: string): Promise<string[]> {
  const doc = await readFile(join(import.meta.dirname, '..', '..', '..', 'docs', 'operations', 'running.md'), 'utf8');
  const names: string[] = [];
  for (const line of doc.split('\n')) {
    const row = /^\| `(stella_[a-z_]+)` \| (counter|gauge|histogram) \| .* \| ([^|]+) \|$/.exec(line);
    if (row && row[3]!.split(',').some((p) => p.trim().replace(/ \(.*\)$/, '') === part)) names.push(row[1]!);
  }
  return names;
}
