/**
 * The verifying guard (docs/services.md#the-guard): a small streaming reverse proxy that listens
 * where the last hop forwards to a service that cannot verify provenance itself (an OCI registry),
 * runs the receiving checks of docs/provenance.md#4-the-order-of-checks-and-the-problem-codes through the plain Node adapter — the same
 * `checkHeaders`/`checkRequest` core as the services, in the same order, with the same codes — and
 * only then forwards the request over mTLS to the service with its own service-role certificate.
 *
 * Bodies are spooled to a private file while hashed and forwarded from it once `Content-Digest`
 * matched: the registry never receives a byte of a body that did not. Answers (blobs of any size)
 * stream back without being held. The request handling is `handler.ts`; this file is its TLS.
 */
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import pino from 'pino';
import { attachToServer, createMtlsSecureContextOptions } from '../pki/index.js';
import { createMtlsDispatcher } from '../pki/dispatcher.js';
import { loadHopKeyring } from '../provenance/keys.js';
import { loadV2Keyring } from '../provenance/v2/keys.js';
import type { ReplayCache } from '../provenance/replay/cache.js';
import { openReplayCache, serviceCertificateProvider, ServiceConfigError } from '../services/common/runtime.js';
import { parseListen } from '../services/common/server.js';
import { GUARDED_SERVICE_KINDS } from '../topology/schema.js';
import type { ResolvedService, ResolvedTopology } from '../topology/resolve.js';
import { SERVICE_REQUEST_TIMEOUT_SECONDS } from '../topology/timeouts.js';
import { createGuardHandler, guardReadiness } from './handler.js';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { registerCertificateExpiry } from '../observe/certificates.js';
import { parseOpsListen, startOpsListener, type OpsListener } from '../observe/ops-listener.js';

export { REGISTRY_BASE_PATH } from './handler.js';

/** Options of {@link startGuard}. */
export interface StartGuardOptions {
  topology: ResolvedTopology;
  serviceId: string;
  /** `host:port`; default the service's `listen`. Port 0 picks a free port (tests). */
  listen?: string;
  /** Where bodies are spooled; default `<rootDirectory>/../guard-spool-<id>`, beside the registry's storage. */
  spoolDir?: string;
  env?: Readonly<Record<string, string | undefined>>;
  /** Replay cache; default the one of the service's `storage` (as `serve` opens it). */
  replayCache?: ReplayCache;
  now?: () => number;
  /** Log decisions (one JSON line each, on stderr); default true. */
  logDecisions?: boolean;
  /** pino level of the decision log (`--log-level`); default `info`. */
  logLevel?: string;
  /** Also serve `/livez`, `/readyz`, `/metrics` over plain HTTP here (docs/operations/running.md#the-ops-listener). */
  ops?: { listen: string; allowPublic?: boolean };
}

/** A running guard. */
export interface RunningGuard {
  /** `https://host:port` actually bound. */
  url: string;
  /** `http://host:port` of the ops listener, when one was asked for. */
  opsUrl: string | null;
  server: Server;
  close(): Promise<void>;
}

/**
 * Starts the guard of a guarded service.
 *
 * @example
 * const guard = await startGuard({ topology, serviceId: 'registry' });
 * // … await guard.close();
 */
export async function startGuard(options: StartGuardOptions): Promise<RunningGuard> {
  const { topology } = options;
  const service = guardedService(topology, options.serviceId);
  const { registry } = service;
  if (options.ops) parseOpsListen(options.ops.listen, options.ops.allowPublic);
  let hopKeys;
  let v2Keys;
  try {
    // Only the hops of its own chain, as every part (docs/operations/running.md); public keys only for v2.
    hopKeys = await loadHopKeyring(topology, service.chain.map((hop) => hop.id));
    v2Keys = await loadV2Keyring(topology, service.chain.map((hop) => hop.id));
  } catch (error) {
    throw new ServiceConfigError((error as Error).message, { cause: error });
  }
  const provider = serviceCertificateProvider(topology, service);
  await provider.start();
  const replayCache = options.replayCache ?? (await openReplayCache(service, topology.baseDir, options.env ?? process.env).catch((error: unknown) => {
    provider.stop();
    throw error;
  }));
  // The guard's client certificate is the service's own leaf (role service): the registry trusts
  // the CA, and only the guard can reach its loopback listener (docs/topology.md#oci-registry).
  const upstream = createMtlsDispatcher(provider, { connect: { servername: service.serverName } });
  const metrics = new Registry();
  metrics.setDefaultLabels({ service: service.id });
  collectDefaultMetrics({ register: metrics });
  registerCertificateExpiry(metrics, `guard-${service.id}`, () => provider.current());
  const handler = createGuardHandler({
    topology,
    service,
    hopKeys,
    v2Keys,
    replayCache,
    upstream,
    origin: `https://${registry.listen}`,
    spoolDir: options.spoolDir ?? join(registry.rootDirectory, '..', `guard-spool-${service.id}`),
    certificate: () => provider.ready(),
    ...(options.now ? { now: options.now } : {}),
    ...(options.logDecisions === false ? {} : { logger: pino({ name: `guard-${service.id}`, level: options.logLevel ?? 'info' }, pino.destination(2)) }),
    metrics: { registry: metrics },
  });
  let ops: OpsListener | null = null;
  const closeAll = async (): Promise<void> => {
    await ops?.close();
    await handler.close();
    await upstream.close();
    if (!options.replayCache) await replayCache.close();
  };
  const server = createServer({ ...createMtlsSecureContextOptions(provider.current()), requestCert: true, rejectUnauthorized: true }, handler);
  // The innermost timeout of the chain's schedule, as for the services (docs/gateways/README.md#timeouts).
  server.requestTimeout = SERVICE_REQUEST_TIMEOUT_SECONDS * 1000;
  const detach = attachToServer(server, provider, { endRevokedPeers: true });
  const { host, port } = parseListen(options.listen ?? service.listen);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (error) {
    detach();
    provider.stop();
    await closeAll();
    throw error;
  }
  if (options.ops) {
    const origin = `https://${registry.listen}`;
    try {
      // The same checks as the guard's /healthz/ready.
      ops = await startOpsListener({
        ...options.ops,
        part: `guard-${service.id}`,
        registry: metrics,
        readiness: () => guardReadiness(upstream, origin, () => provider.ready()),
      });
    } catch (error) {
      detach();
      provider.stop();
      server.close();
      await closeAll();
      throw error;
    }
  }
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return {
    url: `https://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    opsUrl: ops?.url ?? null,
    server,
    async close() {
      detach();
      provider.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await closeAll();
    },
  };
}

/** The service a guard runs for. @throws ServiceConfigError when it is missing or not a guarded kind. */
export function guardedService(topology: ResolvedTopology, serviceId: string): ResolvedService & { registry: NonNullable<ResolvedService['registry']> } {
  const service = topology.services.find((s) => s.id === serviceId);
  if (!service) throw new ServiceConfigError(`no service "${serviceId}" in topology ${topology.name} (services: ${topology.services.map((s) => s.id).join(', ')})`);
  if (!GUARDED_SERVICE_KINDS.has(service.kind) || !service.registry) {
    throw new ServiceConfigError(`services.${serviceId} is a ${service.kind}; a guard runs in front of ${[...GUARDED_SERVICE_KINDS].join(', ')} services only (run \`serve\` for it)`);
  }
  return service as ResolvedService & { registry: NonNullable<ResolvedService['registry']> };
}
