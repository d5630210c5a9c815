/**
 * The worker's metrics (docs/operations/running.md#metrics): what `scanner run --ops-listen`
 * serves at `/metrics` — the outbox's backlog, read at each scrape, and deliveries by outcome.
 * `scanner status` prints the same backlog without a listener.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { OUTBOX_STATES, type Outbox } from './outbox.js';
import { startOpsListener, type OpsListener } from '../observe/ops-listener.js';
import type { DeliveryEvent } from './worker.js';

/** Items in the outbox by state. */
export const OUTBOX_ITEMS_METRIC = 'stella_outbox_items';
/** Age of the oldest pending item: how far behind delivery is. */
export const OUTBOX_OLDEST_PENDING_METRIC = 'stella_outbox_oldest_pending_age_seconds';
/** Delivery attempts by outcome. */
export const DELIVERIES_METRIC = 'stella_scanner_deliveries_total';

/** The counter the worker's events feed. */
export interface WorkerMetrics {
  /** Counts one delivery event (`delivered`, `rejected`, `retry`). */
  record(event: DeliveryEvent): void;
}

/** Registers the outbox gauges (read at scrape time) and the delivery counter. */
export function registerWorkerMetrics(registry: Registry, outbox: Outbox, now: () => number = Date.now): WorkerMetrics {
  const summary = (): ReturnType<Outbox['summary']> | null => {
    try {
      return outbox.summary(0);
    } catch {
      return null; // closing: the scrape shows no series rather than failing
    }
  };
  new Gauge({
    name: OUTBOX_ITEMS_METRIC,
    help: 'Items in the scanner outbox, by state (pending, delivered, rejected).',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const now = summary();
      if (now) for (const state of OUTBOX_STATES) this.set({ state }, now.counts[state]);
    },
  });
  new Gauge({
    name: OUTBOX_OLDEST_PENDING_METRIC,
    help: 'Seconds since the oldest pending outbox item was accepted; 0 when nothing is pending.',
    registers: [registry],
    collect() {
      const oldest = summary()?.oldestPendingMs ?? null;
      this.set(oldest === null ? 0 : Math.max(0, (now() - oldest) / 1000));
    },
  });
  const deliveries = new Counter({
    name: DELIVERIES_METRIC,
    help: 'Delivery attempts of the scanner worker, by outcome (delivered, rejected, retry).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  return { record: (event) => deliveries.inc({ outcome: event.type }) };
}

/**
 * The worker's ops listener (docs/operations/running.md#the-ops-listener): ready while the outbox
 * answers. @throws OpsListenError for the address, or the bind error.
 */
export function startWorkerOps(ops: { listen: string; allowPublic: boolean }, part: string, registry: Registry, outbox: Outbox): Promise<OpsListener> {
  return startOpsListener({
    ...ops,
    part,
    registry,
    readiness: async () => {
      try {
        const { counts } = outbox.summary(0);
        return { ready: true, checks: { outbox: { ok: true, detail: `${counts.pending} pending` } } };
      } catch (error) {
        return { ready: false, checks: { outbox: { ok: false, detail: (error as Error).message } } };
      }
    },
  });
}
