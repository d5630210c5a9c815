/**
 * Health probes of a service (docs/services.md#health-and-metrics): `/healthz/live` (the process answers), `/healthz/ready`
 * (database, keys, certificate) and `/healthz/traversal` (the full provenance validation run on
 * the probe request itself, answered with the verified chain).
 */
import type { FastifyInstance } from 'fastify';
import { HEALTH_PATHS } from '../../conventions/index.js';
import type { EvidenceStore } from '../../storage/types.js';
import type { AccessPolicy } from './access.js';
import { sendProblem } from './errors.js';
import { problemFor } from './problems.js';

/** One readiness check; `ok: false` makes `/healthz/ready` answer 503. */
export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<{ ok: boolean; detail: string }>;
}

/** The certificate status a service reports: from `MtlsCertificateProvider.ready()` when serving TLS. */
export type CertificateStatus = () => { ready: boolean; reason?: string };

/** The database check: one round trip. */
export function storeCheck(store: EvidenceStore): ReadinessCheck {
  return {
    name: 'database',
    async check() {
      try {
        await store.ping();
        return { ok: true, detail: `${store.kind} answers` };
      } catch (error) {
        return { ok: false, detail: (error as Error).message };
      }
    },
  };
}

/** The certificate check, from the PKI provider's readiness. */
export function certificateCheck(status: CertificateStatus): ReadinessCheck {
  return {
    name: 'certificate',
    async check() {
      const state = status();
      return { ok: state.ready, detail: state.ready ? 'valid' : (state.reason ?? 'not ready') };
    },
  };
}

/** A check that is settled at start-up (e.g. keys loaded before the app was built). */
export function staticCheck(name: string, detail: string): ReadinessCheck {
  return { name, check: async () => ({ ok: true, detail }) };
}

/** Runs every check; ready when all pass. Shared by `/healthz/ready` and the ops listener's `/readyz`. */
export async function runReadiness(checks: readonly ReadinessCheck[]): Promise<{ ready: boolean; checks: Record<string, { ok: boolean; detail: string }>; failed: string[] }> {
  const results = await Promise.all(checks.map(async (c) => ({ name: c.name, ...(await c.check()) })));
  return {
    ready: results.every((r) => r.ok),
    checks: Object.fromEntries(results.map((r) => [r.name, { ok: r.ok, detail: r.detail }])),
    failed: results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.detail}`),
  };
}

/** Registers the three probes. `service` is the id the answers name. */
export function installHealth(app: FastifyInstance, options: { service: string; checks: readonly ReadinessCheck[]; access: AccessPolicy }): void {
  app.get(HEALTH_PATHS.live, { config: { provenance: false } }, async () => ({ service: options.service, status: 'live' }));

  app.get(HEALTH_PATHS.ready, { config: { provenance: false } }, async (request, reply) => {
    options.access.requireOps(options.access.peerOf(request)?.spiffeId ?? null, `GET ${HEALTH_PATHS.ready}`, { direct: true });
    const { ready, checks, failed } = await runReadiness(options.checks);
    if (!ready) {
      return sendProblem(reply, { ...problemFor('not-ready', failed.join('; ')), checks } as ReturnType<typeof problemFor>);
    }
    return { service: options.service, status: 'ready', checks };
  });

  // Behind the provenance plugin like any API route: reaching the handler means every check passed.
  app.get(HEALTH_PATHS.traversal, async (request) => {
    const provenance = request.provenance;
    if (!provenance) throw new TypeError('/healthz/traversal reached without verified provenance');
    // Through the chain: the scanner whose certificate the edge saw must be named in access.ops.
    options.access.requireOps(options.access.requester(provenance).spiffeId, `GET ${HEALTH_PATHS.traversal}`);
    return {
      service: options.service,
      status: 'verified',
      scanId: provenance.scanId,
      hops: provenance.hops.map((h) => ({ id: h.id, seq: h.seq, ageSeconds: h.ageSeconds, peerId: h.peerId, kid: h.kid, result: h.result })),
    };
  });
}
