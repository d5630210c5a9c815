/**
 * `serve` (README.md#command-line): one service of a topology on its mTLS HTTPS listener. The server certificate
 * comes from the PKI provider's `files` source, so a certificate re-issued on disk is swapped in
 * without a restart (`setSecureContext`, docs/operations/certificates.md); client certificates are required and verified
 * against the CA bundle and CRL; the TLS peer is then checked against the topology by the
 * provenance middleware (`untrusted-peer`).
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Server as HttpsServer } from 'node:https';
import { attachToServer, createMtlsSecureContextOptions } from '../../pki/index.js';
import type { ResolvedTopology } from '../../topology/resolve.js';
import { parseHostPort } from '../../conventions/index.js';
import { buildLockerApp } from '../locker/app.js';
import { buildWebServiceApp } from '../webservice/app.js';
import { certificateCheck } from './health.js';
import { GUARDED_SERVICE_KINDS } from '../../topology/schema.js';
import { loadServiceRuntime, serviceCertificateProvider, ServiceConfigError } from './runtime.js';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { registerCertificateExpiry } from '../../observe/certificates.js';
import { parseOpsListen, startOpsListener, type OpsListener } from '../../observe/ops-listener.js';
import { readinessOf } from './app.js';
import { runReadiness } from './health.js';

/** Options of {@link startService}. */
export interface StartServiceOptions {
  topology: ResolvedTopology;
  serviceId: string;
  /** `host:port`; default the service's `listen`. Port 0 picks a free port (tests). */
  listen?: string;
  logger?: FastifyBaseLogger | boolean;
  /** pino level of the default logger (`--log-level`); default `info`. Ignored when `logger` is given. */
  logLevel?: string;
  /** Also serve `/livez`, `/readyz`, `/metrics` over plain HTTP here (docs/operations/running.md#the-ops-listener). */
  ops?: { listen: string; allowPublic?: boolean };
  env?: Readonly<Record<string, string | undefined>>;
}

/** A running service. */
export interface RunningService {
  app: FastifyInstance;
  /** `https://host:port` actually bound. */
  url: string;
  /** `http://host:port` of the ops listener, when one was asked for. */
  opsUrl: string | null;
  /** Stops accepting, finishes in-flight requests, closes the store and the certificate watcher. */
  close(): Promise<void>;
}

/** Splits `host:port` (IPv6 in brackets) with the conventions floor's parser. @throws TypeError for anything else. */
export function parseListen(listen: string): { host: string; port: number } {
  try {
    return parseHostPort(listen);
  } catch (error) {
    throw new TypeError(`listen must be host:port, got "${listen}"`, { cause: error });
  }
}

/** Loads keys, store and certificate, builds the app of the service's kind and listens. */
export async function startService(options: StartServiceOptions): Promise<RunningService> {
  const { topology } = options;
  const kind = topology.services.find((s) => s.id === options.serviceId)?.kind;
  if (kind && GUARDED_SERVICE_KINDS.has(kind)) throw new ServiceConfigError(`services.${options.serviceId} is an ${kind}: a third-party program behind \`stella-gateway guard\`, not a service \`serve\` runs`);
  // Before anything opens: a bad address must not leave a store or a watcher behind.
  const override = options.listen === undefined ? undefined : parseListen(options.listen);
  if (options.ops) parseOpsListen(options.ops.listen, options.ops.allowPublic);
  const runtime = await loadServiceRuntime(topology, options.serviceId, options.env);
  const { service } = runtime;
  const provider = serviceCertificateProvider(topology, service);
  try {
    await provider.start();
  } catch (error) {
    await runtime.store.close();
    await runtime.replayCache.close();
    throw error;
  }
  // One registry for the mTLS /metrics and the ops listener: process, certificates, requests, decisions.
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  registerCertificateExpiry(registry, service.id, () => provider.current());
  const common = {
    topology,
    serviceId: service.id,
    store: runtime.store,
    registry,
    logger: options.logger ?? { level: options.logLevel ?? 'info' },
    readiness: [certificateCheck(() => provider.ready())],
    // requestCert + rejectUnauthorized: no client certificate from the trusted CA, no handshake.
    https: { ...createMtlsSecureContextOptions(provider.current()), requestCert: true, rejectUnauthorized: true },
    provenance: {
      hopKeys: runtime.hopKeys,
      v2Keys: runtime.v2Keys,
      replayCache: runtime.replayCache,
      envelope: { scannerKeys: runtime.scannerKeys, threshold: service.envelopeThreshold },
    },
  };
  const app =
    service.kind === 'evidence-locker'
      ? await buildLockerApp({ ...common, receiptSigner: runtime.receiptSigner! })
      : await buildWebServiceApp(common);
  // The plugin closes only caches it created; this one was made here.
  app.addHook('onClose', async () => runtime.replayCache.close());
  // A peer revoked by a new CRL loses its open connections too, not only its next handshake.
  const detach = attachToServer(app.server as HttpsServer, provider, { endRevokedPeers: true });
  const { host, port } = override ?? parseListen(service.listen);
  try {
    await app.listen({ host, port });
  } catch (error) {
    detach();
    provider.stop();
    await app.close();
    throw error;
  }
  let ops: OpsListener | null = null;
  if (options.ops) {
    try {
      ops = await startOpsListener({ ...options.ops, part: service.id, registry, readiness: () => runReadiness(readinessOf(app)) });
    } catch (error) {
      detach();
      provider.stop();
      await app.close();
      throw error;
    }
  }
  const address = app.server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return {
    app,
    url: `https://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    opsUrl: ops?.url ?? null,
    async close() {
      await ops?.close();
      detach();
      provider.stop();
      await app.close();
    },
  };
}
