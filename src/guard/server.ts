/**
 * The verifying guard (docs/services.md#the-guard): a small streaming reverse proxy that listens
 * where the last hop forwards to a service that cannot verify provenance itself (an OCI registry),
 * runs the receiving checks of docs/provenance.md#4 through the plain Node adapter — the same
 * `checkHeaders`/`checkRequest` core as the services, in the same order, with the same codes — and
 * only then forwards the request over mTLS to the service with its own service-role certificate.
 *
 * Bodies are spooled to a private file while hashed ({@link spoolBody}) and forwarded from it once
 * `Content-Digest` matched: the registry never receives a byte of a body that did not. Answers
 * (blobs of any size) stream back without being held.
 */
import { createReadStream } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import pino from 'pino';
import { MtlsCertificateProvider, attachToServer, createMtlsDispatcher, createMtlsSecureContextOptions, type MtlsDispatcher } from '../pki/index.js';
import { loadHopKeyring } from '../provenance/keys.js';
import { createProvenanceMiddleware, type ProvenanceIncomingMessage, type ProvenanceMiddleware } from '../provenance/node.js';
import { tlsPeerIdentity } from '../provenance/options.js';
import type { ReplayCache } from '../provenance/replay/cache.js';
import { HEADER } from '../provenance/record.js';
import { accessPolicy } from '../services/common/access.js';
import { problemFor, ServiceError, type ServiceProblemCode } from '../services/common/problems.js';
import { fileExists, openReplayCache, ServiceConfigError } from '../services/common/runtime.js';
import { parseListen } from '../services/common/server.js';
import { GUARDED_SERVICE_KINDS } from '../topology/schema.js';
import type { ResolvedService, ResolvedTopology } from '../topology/resolve.js';
import { spoolBody, type SpooledBody } from './spool.js';

/** The registry's own liveness route (OCI distribution spec, "end-1"): the guard's readiness looks at it. */
export const REGISTRY_BASE_PATH = '/v2/';
/** How long the guard waits for the service's answer headers; bodies stream without a deadline of their own. */
export const DEFAULT_UPSTREAM_HEADERS_TIMEOUT_MS = 60_000;

/**
 * Headers that belong to one connection (RFC 9110 §7.6.1) or to the chain's protocol: none of
 * them reaches the service. `host` is set to the service's own name.
 */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'expect', HEADER.provenance]);
/** Connection-scoped answer headers the guard does not pass back. */
const NOT_RETURNED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'trailer', 'upgrade']);

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
}

/** A running guard. */
export interface RunningGuard {
  /** `https://host:port` actually bound. */
  url: string;
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
  const registry = service.registry!;
  let hopKeys;
  try {
    hopKeys = await loadHopKeyring(topology);
  } catch (error) {
    throw new ServiceConfigError((error as Error).message, { cause: error });
  }
  const provider = new MtlsCertificateProvider({
    source: {
      kind: 'files',
      cert: service.tls.chain,
      key: service.tls.key,
      ca: topology.pki.caBundle,
      ...(fileExists(topology.pki.crl) ? { crl: topology.pki.crl } : {}),
      watch: true,
    },
    // docs/operations/certificates.md#revocation: a republished CRL or bundle is in use within this.
    trustReloadIntervalMs: topology.pki.reloadSeconds * 1000,
  });
  await provider.start();
  const replayCache = options.replayCache ?? (await openReplayCache(service, topology.baseDir, options.env ?? process.env).catch((error: unknown) => {
    provider.stop();
    throw error;
  }));
  const spoolDir = options.spoolDir ?? join(registry.rootDirectory, '..', `guard-spool-${service.id}`);
  const spools = new WeakMap<IncomingMessage, SpooledBody>();
  const spoolFor = async (req: IncomingMessage, maxBytes: number): Promise<Buffer | SpooledBody | 'too-large'> => {
    // No body at all (RFC 9112 §6.3): nothing to spool, and an empty body is what gets bound.
    const length = req.headers['content-length'];
    if (req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0')) return Buffer.alloc(0);
    const spooled = await spoolBody(req, spoolDir, maxBytes);
    if (spooled !== 'too-large') spools.set(req, spooled);
    return spooled;
  };
  const logger = pino({ name: `guard-${service.id}` }, pino.destination(2));
  const guard = createProvenanceMiddleware({
    topology,
    serviceId: service.id,
    hopKeys,
    replayCache,
    ...(options.now ? { now: options.now } : {}),
    logDecisions: options.logDecisions ?? true,
    logger,
    readBody: spoolFor,
  });
  // The guard's client certificate is the service's own leaf (role service): the registry trusts
  // the CA, and only the guard can reach its loopback listener (docs/topology.md#oci-registry).
  const upstream = createMtlsDispatcher(provider, { connect: { servername: service.serverName }, headersTimeout: DEFAULT_UPSTREAM_HEADERS_TIMEOUT_MS, bodyTimeout: 0 });
  const origin = `https://${registry.listen}`;
  const access = accessPolicy(topology, service, () => null);
  const readiness = async (): Promise<{ ready: boolean; checks: Record<string, { ok: boolean; detail: string }> }> => {
    const certificate = provider.ready();
    const registryStatus = await registryAnswers(upstream, origin);
    const checks = {
      certificate: { ok: certificate.ready, detail: certificate.ready ? 'valid' : (certificate.reason ?? 'not ready') },
      registry: { ok: registryStatus === 200, detail: `GET ${REGISTRY_BASE_PATH} answered ${registryStatus ?? 'nothing'}` },
    };
    return { ready: checks.certificate.ok && checks.registry.ok, checks };
  };

  const server = createServer({ ...createMtlsSecureContextOptions(provider.current()), requestCert: true, rejectUnauthorized: true }, (req, res) => {
    res.once('close', () => void spools.get(req)?.remove());
    if (req.method === 'GET' && req.url === '/healthz/live') return sendJson(res, 200, { service: service.id, status: 'live' });
    // The last hop's health check (docs/services.md#health): a direct route for the ops identities,
    // ready when the certificate is and the registry answers.
    if (req.method === 'GET' && req.url === '/healthz/ready') {
      try {
        access.requireOps(tlsPeerIdentity(req.socket)?.spiffeId ?? null, 'GET /healthz/ready');
      } catch (refusal) {
        if (refusal instanceof ServiceError) return sendServiceProblem(res, refusal.code, refusal.message);
        throw refusal;
      }
      void readiness().then(({ ready, checks }) =>
        ready
          ? sendJson(res, 200, { service: service.id, status: 'ready', checks })
          : sendJson(res, 503, { ...problemFor('not-ready', Object.entries(checks).filter(([, c]) => !c.ok).map(([n, c]) => `${n}: ${c.detail}`).join('; ')), checks }, 'application/problem+json; charset=utf-8'),
      );
      return;
    }
    guard(req, res, (error) => {
      if (error) return sendServiceProblem(res, 'internal-error', (error as Error).message);
      const verified = (req as ProvenanceIncomingMessage).provenance!;
      if (req.url === '/healthz/traversal' && req.method === 'GET') {
        try {
          access.requireOps(access.requester(verified).spiffeId, 'GET /healthz/traversal');
        } catch (refusal) {
          if (refusal instanceof ServiceError) return sendServiceProblem(res, refusal.code, refusal.message);
          throw refusal;
        }
        void registryAnswers(upstream, origin).then((registryStatus) =>
          registryStatus === 200
            ? sendJson(res, 200, { service: service.id, status: 'verified', scanId: verified.scanId, registry: 'reachable', hops: verified.hops.map((h) => ({ id: h.id, seq: h.seq, ageSeconds: h.ageSeconds, peerId: h.peerId, kid: h.kid, result: h.result })) })
            : sendServiceProblem(res, 'upstream-unavailable', `the registry answered ${registryStatus ?? 'nothing'} at ${REGISTRY_BASE_PATH}`),
        );
        return;
      }
      void forward(req, res, upstream, origin, registry.listen, spools.get(req) ?? null);
    });
  });

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
    await closeAll(guard, upstream, options.replayCache ? null : replayCache);
    throw error;
  }
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return {
    url: `https://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    server,
    async close() {
      detach();
      provider.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await closeAll(guard, upstream, options.replayCache ? null : replayCache);
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

/** Forwards a verified request and streams the answer back. */
async function forward(req: IncomingMessage, res: ServerResponse, upstream: MtlsDispatcher, origin: string, registryHost: string, spooled: SpooledBody | null): Promise<void> {
  const headers: Record<string, string | string[]> = { host: registryHost };
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !NOT_FORWARDED.has(name)) headers[name] = value;
  }
  if (spooled) headers['content-length'] = String(spooled.length);
  let answer;
  try {
    answer = await upstream.request({
      origin,
      path: req.url ?? '/',
      method: req.method as 'GET',
      headers,
      body: spooled ? createReadStream(spooled.file) : null,
    });
  } catch (error) {
    return sendServiceProblem(res, 'upstream-unavailable', `the registry did not answer: ${(error as Error).message}`);
  }
  res.statusCode = answer.statusCode;
  for (const [name, value] of Object.entries(answer.headers)) {
    if (value === undefined || NOT_RETURNED.has(name)) continue;
    // The registry writes absolute URLs of its own loopback address; the client only ever talks
    // to the edge, so a Location is handed back as a path (RFC 9110 §10.2.2 allows a relative one).
    res.setHeader(name, name === 'location' && typeof value === 'string' && value.startsWith(origin) ? value.slice(origin.length) : value);
  }
  await pipeline(answer.body, res).catch(() => {
    // The client went away or the registry broke off: the connection is closed either way.
    res.destroy();
  });
}

async function registryAnswers(upstream: MtlsDispatcher, origin: string): Promise<number | null> {
  try {
    const answer = await upstream.request({ origin, path: REGISTRY_BASE_PATH, method: 'GET', headersTimeout: 5_000 });
    await answer.body.dump();
    return answer.statusCode;
  } catch {
    return null;
  }
}

async function closeAll(guard: ProvenanceMiddleware, upstream: MtlsDispatcher, replayCache: ReplayCache | null): Promise<void> {
  await guard.close();
  await upstream.close();
  await replayCache?.close();
}

function sendJson(res: ServerResponse, status: number, body: unknown, contentType = 'application/json; charset=utf-8'): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('content-type', contentType);
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}

function sendServiceProblem(res: ServerResponse, code: ServiceProblemCode, detail: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const problem = problemFor(code, detail);
  const text = JSON.stringify(problem);
  res.statusCode = problem.status;
  res.setHeader('content-type', 'application/problem+json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}
