/**
 * Every provenance decision is logged (one structured line: code, hop ids, scan id) and counted by
 * code (docs/provenance.md#rules-for-every-hop, rule 4). Shared by the Fastify plugin and the Node adapter.
 */
import { Counter, register as defaultRegistry, type Registry } from 'prom-client';
import type { ProvenanceCode } from './problems.js';

/** Name of the counter; labels `service` and `code` (`accepted` for a request that passed). */
export const DECISIONS_METRIC = 'stella_provenance_decisions_total';

/** One decision. */
export interface Decision {
  code: ProvenanceCode | 'accepted';
  service: string;
  hops: string[];
  scanId: string | null;
  detail?: string;
}

/** The pino subset the recorder writes to (a request's `log` or a root logger). */
export interface DecisionLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Records decisions into a counter and, when a log is given, a log line. */
export interface DecisionRecorder {
  record(decision: Decision, log: DecisionLog | null): void;
}

/**
 * Makes a recorder on a prom-client registry (default: the global one). Several plugin instances
 * on one registry share the counter instead of failing on a duplicate name.
 */
export function createDecisionRecorder(registry: Registry = defaultRegistry): DecisionRecorder {
  const existing = registry.getSingleMetric(DECISIONS_METRIC) as Counter<'service' | 'code'> | undefined;
  const counter =
    existing ??
    new Counter({
      name: DECISIONS_METRIC,
      help: 'Provenance decisions of the receiving middleware, by service and code (accepted or a problem code).',
      labelNames: ['service', 'code'] as const,
      registers: [registry],
    });
  return {
    record(decision, log) {
      counter.inc({ service: decision.service, code: decision.code });
      if (!log) return;
      const line = { provenance: { code: decision.code, hops: decision.hops, scanId: decision.scanId, service: decision.service, detail: decision.detail } };
      if (decision.code === 'accepted') log.info(line, 'provenance accepted');
      else log.warn(line, 'provenance rejected');
    },
  };
}
