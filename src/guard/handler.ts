/**
 * The guard's request handler (docs/services.md#the-guard), apart from TLS so it can be tested on
 * a plain server: `/healthz/live` and `/healthz/ready` answered directly, everything else through
 * the plain Node provenance adapter — the services' own `checkHeaders`/`checkRequest`, same order,
 * same codes — with the body spooled to a file while hashed ({@link spoolBody}), then forwarded
 * from the spool to the service and the answer streamed back.
 */
import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Registry } from 'prom-client';
import { HEALTH_PATHS, WIRE_HEADERS } from '../conventions/index.js';
import type { DecisionLog } from '../provenance/decisions.js';
import type { HopKeyring } from '../provenance/keys.js';
import { createProvenanceMiddleware, type ProvenanceIncomingMessage } from '../provenance/node.js';
import { tlsPeerIdentity } from '../provenance/options.js';
import type { ReplayCache } from '../provenance/replay/cache.js';
import { HEADER } from '../provenance/record.js';
import type { PeerIdentity } from '../provenance/verify.js';
import { accessPolicy } from '../services/common/access.js';
import { PROBLEM_CONTENT_TYPE } from '../errors/problem.js';
import { problemFor, ServiceError, type ServiceProblemCode } from '../services/common/problems.js';
import type { ResolvedService, ResolvedTopology } from '../topology/resolve.js';
import { SERVICE_REQUEST_TIMEOUT_SECONDS } from '../topology/timeouts.js';
import { REQUEST_ID_HEADER, requestIdOf } from '../observe/request-id.js';
import type { ReadinessResult } from '../observe/ops-listener.js';
import { spoolBody, type SpooledBody } from './spool.js';
import type { V2Keyring } from '../provenance/v2/keys.js';

/** The registry's own liveness route (OCI distribution spec, "end-1"): readiness and the traversal probe look at it. */
export const REGISTRY_BASE_PATH = '/v2/';

/**
 * Headers that belong to one connection (RFC 9110 §7.6.1) or to the chain's protocol: none of
 * them reaches the service. `host` is set to the service's own address, `content-length` to the
 * spooled length.
 */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'expect', HEADER.provenance]);
/** Connection-scoped answer headers the guard does not pass back. */
const NOT_RETURNED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'trailer', 'upgrade', 'x-request-id']);

/** Options of {@link createGuardHandler}. */
export interface GuardHandlerOptions {
  topology: ResolvedTopology;
  /** The guarded service (kind `oci-registry`, with `registry`). */
  service: ResolvedService & { registry: NonNullable<ResolvedService['registry']> };
  hopKeys: HopKeyring;
  /** v2 verification keys (docs/provenance.md#v2-keys); default none. */
  v2Keys?: V2Keyring;
  /** Not closed by the handler. */
  replayCache: ReplayCache;
  /** Reaches the service: mTLS with the service-role certificate in production. */
  upstream: Dispatcher;
  /** `https://<registry.listen>` (or the test's origin). */
  origin: string;
  /** Folder bodies are spooled to. */
  spoolDir: string;
  /** Default: the verified client certificate of the TLS socket. */
  peerIdentity?: (req: IncomingMessage) => PeerIdentity | null;
  /** The certificate's readiness (the PKI provider's); default always ready. */
  certificate?: () => { ready: boolean; reason?: string };
  now?: () => number;
  logger?: DecisionLog;
  metrics?: { registry?: Registry };
}

/** The handler, with `close()` for the middleware. */
export interface GuardHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  close(): Promise<void>;
}

/** Builds the handler. @throws TypeError for bad options. */
export function createGuardHandler(options: GuardHandlerOptions): GuardHandler {
  const { topology, service, upstream, origin, spoolDir } = options;
  const peerIdentity = options.peerIdentity ?? ((req: IncomingMessage) => tlsPeerIdentity(req.socket));
  const certificate = options.certificate ?? (() => ({ ready: true }));
  const upstreamHost = new URL(origin).host;
  const spools = new WeakMap<IncomingMessage, SpooledBody>();
  const requestIds = new WeakMap<IncomingMessage, string>();
  const spoolFor = async (req: IncomingMessage, maxBytes: number): Promise<Buffer | SpooledBody | 'too-large'> => {
    // No body at all (RFC 9112 §6.3): nothing to spool, and an empty body is what gets bound.
    const length = req.headers['content-length'];
    if (req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0')) return Buffer.alloc(0);
    const spooled = await spoolBody(req, spoolDir, maxBytes);
    if (spooled !== 'too-large') spools.set(req, spooled);
    return spooled;
  };
  const guard = createProvenanceMiddleware({
    topology,
    serviceId: service.id,
    hopKeys: options.hopKeys,
    ...(options.v2Keys ? { v2Keys: options.v2Keys } : {}),
    replayCache: options.replayCache,
    peerIdentity,
    readBody: spoolFor,
    ...(options.now ? { now: options.now } : {}),
    ...(options.logger ? { logger: options.logger } : { logDecisions: false }),
    requestId: (req: IncomingMessage) => requestIds.get(req) ?? requestIdOf(req.headers),
    ...(options.metrics ? { metrics: options.metrics } : {}),
  });
  const access = accessPolicy(topology, service, () => null);
  const refused = (res: ServerResponse, check: () => void): boolean => {
    try {
      check();
      return false;
    } catch (refusal) {
      if (!(refusal instanceof ServiceError)) throw refusal;
      sendServiceProblem(res, refusal.code, refusal.message);
      return true;
    }
  };

  const handler = ((req, res) => {
    const deadline = performance.now() + SERVICE_REQUEST_TIMEOUT_SECONDS * 1000;
    res.once('close', () => void spools.get(req)?.remove());
    // docs/operations/running.md#the-request-id: kept when sane, else replaced; echoed, forwarded, logged.
    const requestId = requestIdOf(req.headers);
    requestIds.set(req, requestId);
    req.headers[WIRE_HEADERS.requestId] = requestId;
    res.setHeader(REQUEST_ID_HEADER, requestId);
    if (req.method === 'GET' && req.url === HEALTH_PATHS.live) return sendJson(res, 200, { service: service.id, status: 'live' });
    // The last hop's health check (docs/services.md#health-and-metrics): a direct route for the ops
    // identities, ready when the certificate is and the registry answers.
    if (req.method === 'GET' && req.url === HEALTH_PATHS.ready) {
      if (refused(res, () => access.requireOps(peerIdentity(req)?.spiffeId ?? null, `GET ${HEALTH_PATHS.ready}`, { direct: true }))) return;
      void guardReadiness(upstream, origin, certificate).then(({ ready, checks }) => {
        if (ready) return sendJson(res, 200, { service: service.id, status: 'ready', checks });
        const failed = Object.entries(checks).filter(([, c]) => !c.ok).map(([name, c]) => `${name}: ${c.detail}`);
        sendJson(res, 503, { ...problemFor('not-ready', failed.join('; ')), checks }, PROBLEM_CONTENT_TYPE);
      });
      return;
    }
    guard(req, res, (error) => {
      if (error) return sendServiceProblem(res, 'internal-error', (error as Error).message);
      const verified = (req as ProvenanceIncomingMessage).provenance!;
      // Behind the checks like any request: reaching here means every check passed.
      if (req.method === 'GET' && req.url === HEALTH_PATHS.traversal) {
        if (refused(res, () => access.requireOps(access.requester(verified).spiffeId, `GET ${HEALTH_PATHS.traversal}`))) return;
        void registryAnswers(upstream, origin).then((status) =>
          status === 200
            ? sendJson(res, 200, { service: service.id, status: 'verified', scanId: verified.scanId, registry: 'reachable', hops: verified.hops.map((h) => ({ id: h.id, seq: h.seq, ageSeconds: h.ageSeconds, peerId: h.peerId, kid: h.kid, result: h.result })) })
            : sendServiceProblem(res, 'upstream-unavailable', `the registry answered ${status ?? 'nothing'} at ${REGISTRY_BASE_PATH}`),
        );
        return;
      }
      void forward(req, res, { upstream, origin, upstreamHost, deadline }, spools.get(req) ?? null);
    });
  }) as GuardHandler;
  handler.close = () => guard.close();
  return handler;
}

/**
 * Forwards a verified request and streams the answer back. The service's answer headers must come
 * within the request's deadline: the guard takes a whole request, checks included, within the
 * schedule's innermost timeout like any service, so the hop in front never gives up first
 * (docs/gateways/README.md#timeouts).
 */
async function forward(req: IncomingMessage, res: ServerResponse, to: { upstream: Dispatcher; origin: string; upstreamHost: string; deadline: number }, spooled: SpooledBody | null): Promise<void> {
  const { upstream, origin, upstreamHost } = to;
  const headers: Record<string, string | string[]> = { host: upstreamHost };
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !NOT_FORWARDED.has(name)) headers[name] = value;
  }
  if (spooled) headers['content-length'] = String(spooled.length);
  // undici's stream(): the answer is written straight into the client's response, the proxy path
  // undici recommends, with no intermediate Readable.
  let answered = false;
  try {
    await upstream.stream(
      {
        origin,
        path: req.url ?? '/',
        method: req.method as 'GET',
        headers,
        body: spooled ? createReadStream(spooled.file) : null,
        headersTimeout: Math.max(1, Math.round(to.deadline - performance.now())),
        bodyTimeout: SERVICE_REQUEST_TIMEOUT_SECONDS * 1000,
      },
      ({ statusCode, headers: answerHeaders }) => {
        answered = true;
        res.statusCode = statusCode;
        for (const [name, value] of Object.entries(answerHeaders)) {
          if (value === undefined || NOT_RETURNED.has(name)) continue;
          // The registry writes absolute URLs of its own loopback address; the client only ever talks
          // to the edge, so a Location is handed back as a path (RFC 9110 §10.2.2 allows a relative one).
          res.setHeader(name, name === 'location' && typeof value === 'string' && value.startsWith(origin) ? value.slice(origin.length) : value);
        }
        return res;
      },
    );
  } catch (error) {
    // Before the answer began: the registry is unreachable or silent. After: the client went away
    // or the registry broke off, and the connection is closed either way.
    if (!answered) return sendServiceProblem(res, 'upstream-unavailable', `the registry did not answer: ${(error as Error).message}`);
    res.destroy();
  }
}

/** The guard's readiness, for `/healthz/ready` and the ops listener's `/readyz`: its certificate, and the registry answering. */
export async function guardReadiness(upstream: Dispatcher, origin: string, certificate: () => { ready: boolean; reason?: string }): Promise<ReadinessResult> {
  const status = await registryAnswers(upstream, origin);
  const cert = certificate();
  const checks = {
    certificate: { ok: cert.ready, detail: cert.ready ? 'valid' : (cert.reason ?? 'not ready') },
    registry: { ok: status === 200, detail: `GET ${REGISTRY_BASE_PATH} answered ${status ?? 'nothing'}` },
  };
  return { ready: checks.certificate.ok && checks.registry.ok, checks };
}

async function registryAnswers(upstream: Dispatcher, origin: string): Promise<number | null> {
  try {
    const answer = await upstream.request({ origin, path: REGISTRY_BASE_PATH, method: 'GET', headersTimeout: 5_000 });
    await answer.body.dump();
    return answer.statusCode;
  } catch {
    return null;
  }
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
  res.setHeader('content-type', PROBLEM_CONTENT_TYPE);
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}
