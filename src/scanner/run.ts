/**
 * `scanner run` as a library call (SPEC §8): sweep the spool into the outbox every
 * `pollIntervalMs` and deliver in the background until `signal` aborts. Accepting never depends on
 * the edge: while it is down, files keep moving into the outbox and wait there with backoff.
 * Stopping is graceful: the sweep and the attempt in flight finish and are recorded.
 */
import { mkdir } from 'node:fs/promises';
import type { Outbox } from './outbox.js';
import { sweepSpool } from './spool.js';
import type { SpoolSweep } from './spool.js';
import { DeliveryWorker } from './worker.js';
import type { WorkerOptions } from './worker.js';

/** How often the spool is swept when nothing else is configured. */
export const DEFAULT_POLL_INTERVAL_MS = 500;

/** Options of {@link runScanner}. */
export interface RunOptions extends WorkerOptions {
  outbox: Outbox;
  spoolDir: string;
  /** Aborting it stops the daemon gracefully. */
  signal: AbortSignal;
  pollIntervalMs?: number | undefined;
  settleMs?: number | undefined;
  /** Longest wait of the delivery loop between looks at the outbox. */
  idlePollMs?: number | undefined;
  /** Called after every sweep that did something, and when a sweep fails. */
  onSweep?: ((sweep: SpoolSweep) => void) | undefined;
  onSweepError?: ((error: unknown) => void) | undefined;
  /** Called when the delivery loop hits an unexpected error (it pauses and continues). */
  onLoopError?: ((error: unknown) => void) | undefined;
}

/** Runs until `options.signal` aborts; resolves once everything in flight is recorded. */
export async function runScanner(options: RunOptions): Promise<void> {
  await mkdir(options.spoolDir, { recursive: true });
  const worker = new DeliveryWorker(options.outbox, options);
  worker.start();
  const interval = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  while (!options.signal.aborted) {
    try {
      const sweep = await sweepSpool(options.spoolDir, options.outbox, { settleMs: options.settleMs, now: options.now });
      if (sweep.accepted.length > 0) worker.wake();
      if (sweep.accepted.length > 0 || sweep.invalid.length > 0) options.onSweep?.(sweep);
    } catch (error) {
      // A transient file-system problem must not stop deliveries; the next sweep tries again.
      options.onSweepError?.(error);
    }
    await abortableDelay(interval, options.signal);
  }
  await worker.stop();
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
