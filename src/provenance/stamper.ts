/**
 * The forward-auth stamper (SPEC §2, docs/CONVENTIONS.md "The stamper contract"): computes the
 * hop record for a gateway that cannot compute an HMAC itself (Caddy `forward_auth`, Envoy
 * `ext_authz`, NGINX `auth_request`) and answers the complete new `X-Stella-Provenance`.
 *
 * It trusts its gateway (loopback only), never the client: the certificate headers are the
 * gateway's, set after it verified the certificate. It still refuses a certificate whose CN is not
 * a peer the topology allows in front of this hop, and an incoming chain of the wrong length.
 */
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { ResolvedTopology } from '../topology/resolve.js';
import { stampRecord } from './chain.js';
import { METHOD_PATTERN } from './mac.js';
import { clientCertFromHeaders } from './client-cert.js';
import { combineFieldLines, parseProvenanceHeader, serializeProvenanceHeader } from './codec.js';
import { stampingKey, type HopKeyring } from './keys.js';
import { ProvenanceError, isProvenanceError, type ProvenanceCode } from './problems.js';
import { HEADER, SCAN_ID_PATTERN, type HopRecord } from './record.js';

/** Nonce size: 16 random bytes → 32 lowercase hex characters (SPEC §4: 16–64). */
export const STAMPER_NONCE_BYTES = 16;

/** Options of {@link buildStamper}. */
export interface StamperOptions {
  topology: ResolvedTopology;
  hopId: string;
  keys: HopKeyring;
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
}

/**
 * Builds the stamper app (not listening). @throws TypeError for an unknown or opaque hop.
 * @example
 * const app = buildStamper({ topology, hopId: 'gw-edge', keys: await loadHopKeyring(topology) });
 * await app.listen({ host: '127.0.0.1', port: 9101 });
 */
export function buildStamper(options: StamperOptions): FastifyInstance {
  const { topology, hopId } = options;
  const hop = topology.hops.find((h) => h.id === hopId);
  if (!hop) throw new TypeError(`stamper: no hop "${hopId}" in topology ${topology.name}`);
  if (hop.stamp === false || hop.stampSeq === null) throw new TypeError(`stamper: hop "${hopId}" is opaque (stamp: false)`);
  const seq = hop.stampSeq;
  const { kid, secret } = stampingKey(options.keys, hopId);
  const now = options.now ?? Date.now;
  const random = options.random ?? randomBytes;
  // CONVENTIONS: the edge's peers are its scanners; any other hop's peer is the hop before it.
  const previousHops = topology.hops.filter((h) => h.next === hopId).map((h) => h.id);
  const allowedPeers = new Set(previousHops.length > 0 ? previousHops : topology.scanners.filter((s) => s.edge === hopId).map((s) => s.id));

  const app = Fastify({ logger: options.logger ?? false });
  // Forward-auth subrequests normally carry no body; any that does is ignored, never parsed.
  app.addContentTypeParser('*', (_request, payload, done) => {
    payload.resume();
    payload.on('end', () => done(null, undefined));
  });

  app.get('/healthz/live', async () => ({ hop: hopId, status: 'live' }));

  const stamp = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    try {
      const value = stampHeader(request);
      return reply.code(200).header('x-stella-provenance', value).send('');
    } catch (error) {
      if (!isProvenanceError(error)) throw error;
      const body = { ...error.toProblem(), status: 403 };
      return reply.code(403).header('x-stella-provenance', '').type('application/problem+json; charset=utf-8').send(JSON.stringify(body));
    }
  };

  const stampHeader = (request: FastifyRequest): string => {
    const h = request.headers;
    const method = first(h['x-original-method']) ?? first(h['x-forwarded-method']) ?? request.method;
    const pathAndQuery = first(h['x-original-uri']) ?? first(h['x-forwarded-uri']) ?? stripPrefix(request.raw.url ?? '/');
    if (!METHOD_PATTERN.test(method)) throw refuse('provenance-malformed', `method ${JSON.stringify(method)} is not an upper-case token`);
    const scanId = first(h[HEADER.scanId]);
    if (scanId === undefined || !SCAN_ID_PATTERN.test(scanId)) throw refuse('provenance-malformed', 'X-Stella-Scan-Id is missing or malformed');
    const contentDigest = combineFieldLines(h[HEADER.contentDigest]);
    if (contentDigest !== null && !/^[\x20-\x7b\x7d\x7e]*$/.test(contentDigest)) throw refuse('provenance-malformed', 'Content-Digest holds a "|" or non-ASCII');
    const cert = clientCertFromHeaders(h);
    if (typeof cert === 'string') throw refuse('untrusted-peer', cert);
    if (!allowedPeers.has(cert.cn)) throw refuse('untrusted-peer', `"${cert.cn}" is not a peer of ${hopId}`);
    if (options.revocation?.isRevoked(cert.serial)) throw refuse('untrusted-peer', `the certificate of "${cert.cn}" (serial ${cert.serial}) is revoked`);

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
      ts: Math.floor(now() / 1000),
      nonce: random(STAMPER_NONCE_BYTES).toString('hex'),
      peer: cert.fingerprint,
      peerId: cert.cn,
      kid,
      key: secret,
      request: { method, pathAndQuery, scanId, contentDigest },
      previous: before.at(-1) ?? null,
    });
    return serializeProvenanceHeader([...before, record]);
  };

  app.all('/stamp', stamp);
  app.all('/stamp/*', stamp);
  return app;
}

function refuse(code: ProvenanceCode, message: string): ProvenanceError {
  return new ProvenanceError(code, message);
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Envoy `ext_authz` with `path_prefix: /stamp` sends `/stamp/original/path?query`. */
function stripPrefix(url: string): string {
  const rest = url.slice('/stamp'.length);
  return rest === '' || rest.startsWith('?') ? `/${rest}` : rest;
}
