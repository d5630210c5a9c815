/**
 * Waiting in tests: for a condition (a log line, a port, a file, a counter) with {@link waitFor},
 * never for a fixed time. Where time passing IS the point of a test (an outage that must last, a
 * kill at a random moment), {@link letTimePass} says so by name and reason.
 */
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/** How to wait, and what the failure message says. */
export interface WaitOptions {
  /** What is awaited, as the failure message names it: "the spool folder", "nginx on :8443". */
  what: string;
  /** Milliseconds before giving up; default 30 s (generous: the machine is shared under load). */
  timeout?: number;
  /** Milliseconds between two checks; default 50. */
  interval?: number;
  /** More text for the failure message (log tails, the last state seen); read only on failure. */
  detail?: () => string;
  /** Gives up at once when this returns a reason, e.g. "the process exited with 1". */
  abortIf?: () => string | false | null | undefined;
}

/** The failure of {@link waitFor} when time ran out (not when it gave up or a check threw). */
export class WaitTimeout extends Error {
  override readonly name = 'WaitTimeout';
}

type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;

/**
 * Checks `condition` every `interval` ms until it returns a truthy value, which is returned; after
 * `timeout` ms (or when `abortIf` gives a reason) fails with an Error naming `what`. An exception
 * thrown by `condition` fails the wait at once: a check that can throw must catch what it expects.
 * @example await waitFor(() => existsSync(spool), { what: 'the spool folder' });
 */
export async function waitFor<T>(condition: () => T | Promise<T>, options: WaitOptions): Promise<Truthy<T>> {
  const { what, timeout = 30_000, interval = 50 } = options;
  const started = Date.now();
  for (;;) {
    const aborted = options.abortIf?.();
    if (aborted) throw new Error(`gave up waiting for ${what}: ${aborted}${suffix(options)}`);
    const value = await condition();
    if (value) return value as Truthy<T>;
    if (Date.now() - started >= timeout) throw new WaitTimeout(`timed out after ${timeout} ms waiting for ${what}${suffix(options)}`);
    await delay(interval);
  }
}

function suffix(options: WaitOptions): string {
  const detail = options.detail?.();
  return detail ? `\n${detail}` : '';
}

/** Whether something accepts TCP connections on `host:port` right now. */
export function acceptsConnections(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Waits until `host:port` accepts TCP connections (a server started, a gateway listening). */
export async function waitForPort(port: number, options: Omit<WaitOptions, 'what'> & { what?: string; host?: string } = {}): Promise<void> {
  const host = options.host ?? '127.0.0.1';
  await waitFor(() => acceptsConnections(port, host), { ...options, what: options.what ?? `a listener on ${host}:${port}` });
}

/**
 * Lets real time pass ON PURPOSE — an outage that must last, load that keeps running, a kill at a
 * chosen moment — never to wait for something to happen (that is {@link waitFor}). `why` is for
 * the reader; it names what the time is for.
 */
export async function letTimePass(ms: number, why: string): Promise<void> {
  if (!why) throw new TypeError('letTimePass needs a reason');
  await delay(ms);
}

/** A uniformly random moment in [minMs, maxMs) — for {@link letTimePass} before a kill at a random moment. */
export function randomMs(minMs: number, maxMs: number): number {
  return minMs + Math.floor(Math.random() * (maxMs - minMs));
}
