/**
 * Prometheus metrics of a service (docs/services.md): request counts and latency by route and status, and
 * the `/metrics` endpoint. The provenance plugin registers its decision counter on the same
 * registry, so one scrape shows both.
 */
import type { AccessPolicy } from './access.js';
import { METRICS_PATH } from '../../conventions/index.js';
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Latency buckets in seconds: ingest includes an fsync, so the tail matters. */
const DURATION_BUCKETS_SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The metrics one service app records. */
export interface ServiceMetrics {
  readonly registry: Registry;
  /** Evidence ingests by outcome (`created`, `duplicate`). */
  readonly ingests: Counter<'outcome'>;
  /** Artifact uploads by outcome: `stored` (bytes written), `referenced` (bytes already stored, new scan reference), `duplicate`. */
  readonly artifacts: Counter<'outcome'>;
}

/**
 * Registers request metrics and `GET /metrics` (opted out of provenance: scrapers do not cross
 * the gateway chain).
 */
export function installMetrics(app: FastifyInstance, options: { registry?: Registry; service: string; defaultMetrics?: boolean; access: AccessPolicy }): ServiceMetrics {
  const registry = options.registry ?? new Registry();
  registry.setDefaultLabels({ service: options.service });
  if (options.defaultMetrics ?? false) collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'stella_http_requests_total',
    help: 'HTTP requests answered, by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'stella_http_request_duration_seconds',
    help: 'Time from request to response, by route',
    labelNames: ['method', 'route'] as const,
    buckets: DURATION_BUCKETS_SECONDS,
    registers: [registry],
  });
  const ingests = new Counter({
    name: 'stella_evidence_ingests_total',
    help: 'Evidence envelopes accepted, by outcome (created or duplicate)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });

  const artifacts = new Counter({
    name: 'stella_artifact_ingests_total',
    help: 'Artifact uploads accepted, by outcome (stored, referenced or duplicate; docs/services.md#artifacts)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });

  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, never the raw URL: digests and scan ids would explode the label space.
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  app.get(METRICS_PATH, { config: { provenance: false } }, async (request, reply) => {
    // Direct route: the TLS peer itself must be named in access.ops (docs/services.md#health-and-metrics).
    options.access.requireOps(options.access.peerOf(request)?.spiffeId ?? null, `GET ${METRICS_PATH}`, { direct: true });
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
  return { registry, ingests, artifacts };
}
