/**
 * The forward-auth stamper (docs/provenance.md, docs/CONVENTIONS.md "The stamper contract",
 * docs/provenance.md#the-forward-auth-stamper): computes the hop record for a gateway that cannot
 * compute an HMAC itself (Caddy `forward_auth`, Envoy `ext_authz`, NGINX `auth_request`) and
 * answers the complete new `X-Stella-Provenance`.
 *
 * It trusts its gateway, never the client: the certificate headers are the gateway's, set after it
 * verified the certificate. Who may be that gateway is decided where the stamper listens
 * (`stamper-listen.ts`: a socket only the gateway's account can open, or mTLS with the hop's own
 * certificate). It still refuses a certificate whose CN is not a peer the topology allows in front
 * of this hop, and an incoming chain of the wrong length.
 *
 * Two front doors share one {@link StamperCore}: a plain `node:http` listener for the stamp path
 * (every request of the gateway crosses it, so it skips the framework), and a Fastify app for the
 * rest (health) and for `inject()` tests.
 */
import { spiffeId } from '../topology/identity.js';
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Counter, Registry } from 'prom-client';
import type { Logger } from 'pino';
import { PROBLEM_CONTENT_TYPE, problemDocument } from '../errors/problem.js';
import { requestIdOf } from '../observe/request-id.js';
import { HEALTH_PATHS, WIRE_HEADERS } from '../conventions/index.js';
import { stampRecorder } from './stamper-metrics.js';
import type { ResolvedTopology } from '../topology/resolve.js';
import { stampRecord } from './chain.js';
import { METHOD_PATTERN } from './mac.js';
import { clientCertFromHeaders, type ClientCertFacts } from './client-cert.js';
import { combineFieldLines, parseProvenanceHeader, serializeProvenanceHeader } from './codec.js';
import { stampingKey, type HopKeyring } from './keys.js';
import { PROVENANCE_ERRORS, ProvenanceError, isProvenanceError, type ProvenanceCode } from './problems.js';
import { HEADER, SCAN_ID_PATTERN, STAMPER_PATH, type HopRecord } from './record.js';
import type { V2SigningKey } from './v2/keys.js';
import { stampV2Fields } from './v2/stamper.js';

/** Nonce size: 16 random bytes → 32 lowercase hex characters (docs/provenance.md: 16–64). */
export const STAMPER_NONCE_BYTES = 16;

/** The refusal counter of a stamper (docs/provenance.md#the-forward-auth-stamper). */
export const STAMPER_REFUSALS_METRIC = 'stella_stamper_refusals_total';

export { STAMPER_DURATION_METRIC, STAMPER_STAMPS_METRIC } from './stamper-metrics.js';

/**
 * Why a stamper refused: a caller that is not its gateway (`tls-handshake`: no or an untrusted
 * certificate; `not-own-gateway`: a valid certificate of anything but this hop's gateway), or a
 * stamp request it cannot stamp (the provenance code it answered).
 */
export type StamperRefusalReason = 'tls-handshake' | 'not-own-gateway' | ProvenanceCode;

/** How many parsed client certificates are kept (a hop has few peers; parsing is the costly part). */
const CERT_CACHE_ENTRIES = 256;

/** Options of {@link buildStamper} and {@link stamperCore}. */
export interface StamperOptions {
  topology: ResolvedTopology;
  hopId: string;
  keys: HopKeyring;
  /** The key this hop signs v2 members with (`loadV2SigningKey`); required when its profile is v2 or both. */
  v2Key?: V2SigningKey;
  /** Clock in ms. */
  now?: () => number;
  /** Random bytes source (for the nonce). */
  random?: (size: number) => Buffer;
  /** Passed to Fastify (`false` by default: the stamper is on every request's path). */
  logger?: boolean;
  /**
   * Refuses revoked client certificates by serial. Needed behind gateways that apply no CRL to
   * client certificates themselves (Caddy 2.6); the CLI passes the topology's `pki.crl`.
   */
  revocation?: { isRevoked(serial: string): boolean };
  /** Where the refusal counter is registered; default a registry of this stamper's own. */
  registry?: Registry;
  /** One line per decision (stamped or refused), with the request id; default none. */
  decisionLog?: Logger;
}

/**
 * The status of every stamper refusal, whatever the status of its code elsewhere
 * (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes: "the forward-auth stamper answers 403 for everything it refuses").
 */
export const STAMPER_REFUSAL_STATUS = 403;

/** The answer to one stamp request. */
export interface StampOutcome {
  status: 200 | 403;
  /** The new `X-Stella-Provenance` (empty on a refusal, and for a v2-only hop: a gateway must never forward a stale one). */
  provenance: string;
  /** v2: the complete new `Signature-Input` and `Signature` (empty on a refusal and for a v1-only hop). */
  signatureInput: string;
  signature: string;
  /** The problem document (JSON) of a refusal; empty on success. */
  body: string;
  /** The request id the decision was logged with (docs/operations/running.md#the-request-id). */
  requestId: string;
}

/** The stamping logic and the counter, shared by both front doors. */
export interface StamperCore {
  readonly hopId: string;
  readonly registry: Registry;
  /** Stamps one forward-auth request: `url` is the request target as received. */
  stamp(method: string, url: string, headers: IncomingHttpHeaders): StampOutcome;
  /** Counts one refusal. */
  refused(reason: StamperRefusalReason): void;
}

/**
 * Prepares everything that does not change per request: the hop's seq, key and admitted peers,
 * the counter. @throws TypeError for an unknown or opaque hop.
 */
export function stamperCore(options: StamperOptions): StamperCore {
  const { topology, hopId } = options;
  const hop = topology.hops.find((h) => h.id === hopId);
  if (!hop) throw new TypeError(`stamper: no hop "${hopId}" in topology ${topology.name}`);
  if (hop.stamp === false || hop.stampSeq === null) throw new TypeError(`stamper: hop "${hopId}" is opaque (stamp: false)`);
  const seq = hop.stampSeq;
  const profile = hop.stamp.profile;
  const v1Key = profile === 'v2' ? null : stampingKey(options.keys, hopId);
  if (profile !== 'v1' && !options.v2Key) throw new TypeError(`stamper: hop "${hopId}" stamps ${profile}; pass its v2 signing key (loadV2SigningKey)`);
  const now = options.now ?? Date.now;
  const random = options.random ?? randomBytes;
  // CONVENTIONS: the edge's peers are its scanners; any other hop's peer is the hop before it.
  const previousHops = topology.hops.filter((h) => h.next === hopId).map((h) => h.id);
  const allowedPeers = new Set(previousHops.length > 0 ? previousHops : topology.scanners.filter((s) => s.edge === hopId).map((s) => s.id));
  // The role is part of the identity: scanners at the edge, gateways behind it (docs/topology.md#identities).
  const peerRole = previousHops.length > 0 ? 'gateway' : 'scanner';
  const registry = options.registry ?? new Registry();
  const refusals =
    (registry.getSingleMetric(STAMPER_REFUSALS_METRIC) as Counter<'hop' | 'reason'> | undefined) ??
    new Counter({
      name: STAMPER_REFUSALS_METRIC,
      help: 'Requests and connections the forward-auth stamper refused, by hop and reason (tls-handshake, not-own-gateway, or the provenance code answered).',
      labelNames: ['hop', 'reason'] as const,
      registers: [registry],
    });
  const refused = (reason: StamperRefusalReason): void => refusals.inc({ hop: hopId, reason });
  const record = stampRecorder(registry, hopId, seq, options.decisionLog ?? null);

  // The same few certificates arrive on every request: parse each once. Only facts derived from
  // the bytes are kept; peer admission and revocation are decided on every request.
  const certs = new Map<string, ClientCertFacts | string>();
  const certFacts = (headers: IncomingHttpHeaders): ClientCertFacts | string => {
    const parts = [headers[WIRE_HEADERS.clientCert], headers[WIRE_HEADERS.stamperClientCert], headers[WIRE_HEADERS.forwardedClientCert]];
    if (parts.some((part) => Array.isArray(part))) return clientCertFromHeaders(headers);
    // Header values hold no line feed, so this key tells absent, empty and present apart.
    const key = parts.map((part) => (part === undefined ? '-' : `+${part as string}`)).join('\n');
    const known = certs.get(key);
    if (known !== undefined) return known;
    const facts = clientCertFromHeaders(headers);
    if (certs.size >= CERT_CACHE_ENTRIES) certs.delete(certs.keys().next().value!);
    certs.set(key, facts);
    return facts;
  };

  const stampHeaders = (requestMethod: string, url: string, h: IncomingHttpHeaders): Omit<StampOutcome, 'status' | 'body' | 'requestId'> => {
    const method = first(h['x-original-method']) ?? first(h['x-forwarded-method']) ?? requestMethod;
    const pathAndQuery = first(h['x-original-uri']) ?? first(h['x-forwarded-uri']) ?? stripPrefix(url);
    if (!METHOD_PATTERN.test(method)) throw refuse('provenance-malformed', `method ${JSON.stringify(method)} is not an upper-case token`);
    const scanId = first(h[HEADER.scanId]);
    if (scanId === undefined || !SCAN_ID_PATTERN.test(scanId)) throw refuse('provenance-malformed', 'X-Stella-Scan-Id is missing or malformed');
    const contentDigest = combineFieldLines(h[HEADER.contentDigest]);
    if (contentDigest !== null && !/^[\x20-\x7b\x7d\x7e]*$/.test(contentDigest)) throw refuse('provenance-malformed', 'Content-Digest holds a "|" or non-ASCII');
    const cert = certFacts(h);
    if (typeof cert === 'string') throw refuse('untrusted-peer', cert);
    if (!allowedPeers.has(cert.cn)) throw refuse('untrusted-peer', `"${cert.cn}" is not a peer of ${hopId}`);
    if (cert.spiffeId !== spiffeId(topology.trustDomain, peerRole, cert.cn)) {
      throw refuse('untrusted-peer', `the certificate of "${cert.cn}" is not a ${peerRole} identity of ${topology.trustDomain} (SPIFFE ID ${cert.spiffeId ?? 'none'})`);
    }
    // Checked here on every request, not only at the handshake: a gateway that resumes TLS
    // sessions (Caddy 2.6 cannot turn it off) would otherwise carry a certificate past notAfter.
    const nowMs = now();
    if (nowMs < cert.notBeforeMs || nowMs > cert.notAfterMs) throw refuse('untrusted-peer', `the certificate of "${cert.cn}" is not valid now (valid ${new Date(cert.notBeforeMs).toISOString()} to ${new Date(cert.notAfterMs).toISOString()})`);
    if (options.revocation?.isRevoked(cert.serial)) throw refuse('untrusted-peer', `the certificate of "${cert.cn}" (serial ${cert.serial}) is revoked`);

    const request = { method, pathAndQuery, scanId, contentDigest };
    const facts = { hop: hopId, seq, peer: cert.fingerprint, peerId: cert.cn, nowS: Math.floor(now() / 1000) };
    const v2 = options.v2Key ? stampV2Fields(h, facts, request, options.v2Key, topology.provenance, random) : { signatureInput: '', signature: '' };
    if (!v1Key) return { provenance: '', ...v2 };
    let before: HopRecord[] = [];
    // Rule 1: the first stamping hop ignores whatever the client sent.
    if (seq > 1) {
      const incoming = combineFieldLines(h[HEADER.provenance]);
      if (incoming === null || incoming.trim() === '') throw refuse('provenance-missing', `hop ${hopId} stamps seq ${seq} but no earlier record arrived`);
      before = parseProvenanceHeader(incoming, topology.provenance);
      if (before.length !== seq - 1 || before.at(-1)!.seq !== seq - 1) throw refuse('topology-mismatch', `expected ${seq - 1} earlier records`);
    }
    const record = stampRecord({
      hop: hopId,
      seq,
      ts: facts.nowS,
      nonce: random(STAMPER_NONCE_BYTES).toString('hex'),
      peer: cert.fingerprint,
      peerId: cert.cn,
      kid: v1Key.kid,
      key: v1Key.secret,
      request,
      previous: before.at(-1) ?? null,
    });
    return { provenance: serializeProvenanceHeader([...before, record]), ...v2 };
  };

  return {
    hopId,
    registry,
    refused,
    stamp(method, url, headers) {
      const started = performance.now();
      const scanId = first(headers[HEADER.scanId]) ?? null;
      const reqId = requestIdOf(headers);
      try {
        const stamped = stampHeaders(method, url, headers);
        record({ reqId, scanId, code: 'stamped' }, started);
        return { status: 200, ...stamped, body: '', requestId: reqId };
      } catch (error) {
        if (!isProvenanceError(error)) throw error;
        refused(error.code);
        record({ reqId, scanId, code: error.code, detail: error.message }, started);
        return { status: STAMPER_REFUSAL_STATUS, provenance: '', signatureInput: '', signature: '', body: JSON.stringify(problemDocument(PROVENANCE_ERRORS, error.code, error.message, { status: STAMPER_REFUSAL_STATUS })), requestId: reqId };
      }
    },
  };
}

/** Whether a request target is the stamp path (`/stamp`, `/stamp?…` or Envoy's `/stamp/<path>`). */
export function isStampTarget(url: string): boolean {
  if (!url.startsWith(STAMPER_PATH)) return false;
  const next = url.charCodeAt(STAMPER_PATH.length);
  return Number.isNaN(next) || next === 0x2f /* / */ || next === 0x3f /* ? */;
}


/**
 * Answers a stamp request on a raw `node:http` response: the hot path. A request body (forward-auth
 * subrequests normally have none) is drained, never parsed, before the answer.
 */
export function answerStamp(core: StamperCore, request: IncomingMessage, response: ServerResponse): void {
  const send = (): void => {
    const outcome = core.stamp(request.method ?? 'GET', request.url ?? '/', request.headers);
    if (outcome.status === 200) {
      response.writeHead(200, { [WIRE_HEADERS.provenance]: outcome.provenance, ...v2Headers(outcome), 'content-length': '0' });
      response.end();
    } else {
      response.writeHead(STAMPER_REFUSAL_STATUS, { [WIRE_HEADERS.provenance]: '', ...v2Headers(outcome), [WIRE_HEADERS.requestId]: outcome.requestId, 'content-type': PROBLEM_CONTENT_TYPE, 'content-length': Buffer.byteLength(outcome.body) });
      response.end(outcome.body);
    }
  };
  const hasBody = request.headers['transfer-encoding'] !== undefined || (request.headers['content-length'] ?? '0') !== '0';
  if (!hasBody) return send();
  request.resume();
  request.once('end', send);
}

/**
 * Builds the stamper app (not listening) on a prepared {@link StamperCore}. `stamper-listen.ts`
 * puts it behind its socket or mTLS listener.
 * @throws TypeError for an unknown or opaque hop.
 * @example
 * const app = buildStamper({ topology, hopId: 'gw-edge', keys: await loadHopKeyring(topology) });
 * await app.inject({ method: 'GET', url: '/stamp', headers });
 */
export function buildStamper(options: StamperOptions | (Pick<StamperOptions, 'logger'> & { core: StamperCore })): FastifyInstance {
  const core = 'core' in options ? options.core : stamperCore(options);
  const app = Fastify({ logger: options.logger ?? false });
  // Forward-auth subrequests normally carry no body; any that does is ignored, never parsed.
  app.addContentTypeParser('*', (_request, payload, done) => {
    payload.resume();
    payload.on('end', () => done(null, undefined));
  });

  app.get(HEALTH_PATHS.live, async () => ({ hop: core.hopId, status: 'live' }));

  const stamp = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const outcome = core.stamp(request.method, request.raw.url ?? '/', request.headers);
    if (outcome.status === 200) return reply.code(200).header(WIRE_HEADERS.provenance, outcome.provenance).headers(v2Headers(outcome)).send('');
    return reply.code(STAMPER_REFUSAL_STATUS).header(WIRE_HEADERS.provenance, '').headers(v2Headers(outcome)).header(WIRE_HEADERS.requestId, outcome.requestId).type(PROBLEM_CONTENT_TYPE).send(outcome.body);
  };
  app.all(STAMPER_PATH, stamp);
  app.all(`${STAMPER_PATH}/*`, stamp);
  return app;
}

/**
 * The v2 fields of a stamp answer: always both, empty when nothing is stamped, so a gateway that
 * copies them (Caddy `copy_headers`) never forwards a placeholder or the client's values.
 */
function v2Headers(outcome: StampOutcome): Record<string, string> {
  return { [WIRE_HEADERS.signatureInput]: outcome.signatureInput, [WIRE_HEADERS.signature]: outcome.signature };
}

function refuse(code: ProvenanceCode, message: string): ProvenanceError {
  return new ProvenanceError(code, message);
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Envoy `ext_authz` with `path_prefix: /stamp` sends `/stamp/original/path?query`. */
function stripPrefix(url: string): string {
  const rest = url.slice(STAMPER_PATH.length);
  return rest === '' || rest.startsWith('?') ? `/${rest}` : rest;
}
