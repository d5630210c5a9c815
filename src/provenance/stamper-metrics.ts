/**
 * What a stamper records of each stamp request (docs/operations/running.md#metrics): a counter of
 * records stamped, a latency histogram, and one decision line with the gateway's request id.
 * Refusals are counted by reason in `stamper.ts`, which also counts connections it refuses.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { ProvenanceCode } from './problems.js';

/** Records stamped, by hop. */
export const STAMPER_STAMPS_METRIC = 'stella_stamper_stamps_total';
/** Time to answer one stamp request, refusals included. */
export const STAMPER_DURATION_METRIC = 'stella_stamper_stamp_duration_seconds';
/** Stamping is an HMAC and a header parse: microseconds, unless the process is starved. */
const STAMP_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25];

/** One decision of a stamper. */
export interface StampDecision {
  reqId: string;
  scanId: string | null;
  code: 'stamped' | ProvenanceCode;
  detail?: string;
}

/** Counts, times and logs decisions; `startedMs` is the `performance.now()` at the request's start. */
export type StampRecorder = (decision: StampDecision, startedMs: number) => void;

/**
 * The recorder of one hop's stamper. Several cores on one registry (tests, two hops in one
 * process) share the metrics instead of failing on a duplicate name.
 */
export function stampRecorder(registry: Registry, hop: string, seq: number, log: Logger | null): StampRecorder {
  const stamps =
    (registry.getSingleMetric(STAMPER_STAMPS_METRIC) as Counter<'hop'> | undefined) ??
    new Counter({ name: STAMPER_STAMPS_METRIC, help: 'Hop records the forward-auth stamper stamped, by hop.', labelNames: ['hop'] as const, registers: [registry] });
  const duration =
    (registry.getSingleMetric(STAMPER_DURATION_METRIC) as Histogram<'hop'> | undefined) ??
    new Histogram({ name: STAMPER_DURATION_METRIC, help: 'Time to answer one stamp request (stamped or refused), by hop.', labelNames: ['hop'] as const, buckets: STAMP_BUCKETS_SECONDS, registers: [registry] });
  return (decision, startedMs) => {
    duration.observe({ hop }, (performance.now() - startedMs) / 1000);
    const line = { reqId: decision.reqId, stamper: { hop, seq, code: decision.code, scanId: decision.scanId, ...(decision.detail ? { detail: decision.detail } : {}) } };
    if (decision.code === 'stamped') {
      stamps.inc({ hop });
      log?.info(line, 'stamped');
    } else {
      log?.warn(line, 'stamp refused');
    }
  };
}
