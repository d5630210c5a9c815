/**
 * `scanner run` as a library call (docs/scanner.md): sweep the spool into the outbox every
 * `pollIntervalMs` and deliver in the background until `signal` aborts. Accepting never depends on
 * the edge: while it is down, files keep moving into the outbox and wait there with backoff.
 * Stopping is graceful: the sweep and the attempt in flight finish and are recorded.
 */
import { mkdir } from 'node:fs/promises';
import { DEFAULT_RETENTION_MS, type Outbox, type PruneResult } from './outbox.js';
import { sweepSpool } from './spool.js';
import type { SpoolSweep } from './spool.js';
import { DeliveryWorker } from './worker.js';
import type { WorkerOptions } from './worker.js';

/** How often the spool is swept when nothing else is configured. */
export const DEFAULT_POLL_INTERVAL_MS = 500;
/** How often the daemon applies the retention (and once at start). */
export const PRUNE_INTERVAL_MS = 3_600_000;
/** Mode of the spool folder when the worker creates it: the artifacts waiting there are the scanner's. */
export const SPOOL_DIR_MODE = 0o700;

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
  /** Delivered items keep their bytes this long (default {@link DEFAULT_RETENTION_MS}); null keeps them. */
  retentionMs?: number | null | undefined;
  /** Called after a prune that freed something. */
  onPrune?: ((pruned: PruneResult) => void) | undefined;
}

/** Runs until `options.signal` aborts; resolves once everything in flight is recorded. */
export async function runScanner(options: RunOptions): Promise<void> {
  await mkdir(options.spoolDir, { recursive: true, mode: SPOOL_DIR_MODE });
  const worker = new DeliveryWorker(options.outbox, options);
  worker.start();
  const interval = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const now = options.now ?? Date.now;
  const retentionMs = options.retentionMs === undefined ? DEFAULT_RETENTION_MS : options.retentionMs;
  let nextPruneMs = now();
  while (!options.signal.aborted) {
    if (retentionMs !== null && now() >= nextPruneMs) {
      nextPruneMs = now() + PRUNE_INTERVAL_MS;
      try {
        const pruned = options.outbox.prune(now() - retentionMs);
        if (pruned.items > 0) options.onPrune?.(pruned);
      } catch (error) {
        options.onSweepError?.(error);
      }
    }
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
