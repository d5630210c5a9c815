/**
 * The receiving middleware as a Fastify plugin (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes).
 *
 * Anatomy: options validated at registration; `request.provenance` and `request.rawBody`
 * decorated with `null`; header checks in `onRequest` (before any body is buffered), replay,
 * binding and envelope checks in `preValidation` (after the body was read); the replay cache
 * closed in `onClose` when the plugin created it; exported through `fastify-plugin` so the hooks
 * cover the routes of the registering scope. Routes opt out with `config: { provenance: false }`
 * and ask for the envelope check with `config: { provenance: { envelope: true } }`; such a route
 * reads the verified envelope from `request.provenance.envelope` and the bytes from
 * `request.rawBody` (`request.body` is not parsed again as JSON).
 *
 * @example
 * await app.register(provenancePlugin, { topology, serviceId: 'evidence-locker', hopKeys: await loadHopKeyring(topology) });
 * app.post('/api/v1/evidence', { config: { provenance: { envelope: true } } }, (req) => req.provenance);
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { WIRE_HEADERS } from '../conventions/index.js';
import type { Decision } from './decisions.js';
import { headerText, prepareProvenance, tlsPeerIdentity, type ProvenanceBaseOptions } from './options.js';
import { isProvenanceError, ProvenanceError } from './problems.js';
import { checkHeaders, checkRequest, type CheckedHeaders, type PeerIdentity, type StreamedBody, type VerifiedProvenance } from './verify.js';

/** Options of the plugin. */
export interface ProvenancePluginOptions extends ProvenanceBaseOptions {
  /** Who the TLS peer is; default: the verified client certificate of `request.raw.socket`. */
  peerIdentity?: (request: FastifyRequest) => PeerIdentity | null;
}

/**
 * Per-route setting (`routeOptions.config.provenance`). `streamBody: true` is for a route whose
 * body is too large to buffer (the locker's artifact upload): the route's scope hands the body
 * over as a stream (`request.body`), and the handler completes the checks with
 * `request.verifyStreamedBody`, which reads it after the replay check.
 */
export type ProvenanceRouteConfig = false | { envelope?: boolean; streamBody?: boolean };

/**
 * Reads a streamed body to its destination and measures it; called by `verifyStreamedBody` once
 * the nonce is reserved, with what the header checks proved (the body is not bound yet). It may
 * refuse by throwing (nothing should be kept then).
 */
export type StreamedBodyIngest = (body: Readable, headers: VerifiedProvenance) => Promise<StreamedBody>;

/** Content types whose raw bytes the plugin keeps (the body is hashed for Content-Digest). */
export const RAW_BODY_CONTENT_TYPES = ['application/json', 'application/vnd.in-toto+json', 'application/octet-stream'] as const;

declare module 'fastify' {
  interface FastifyRequest {
    /** Set once every provenance check passed; null on opted-out routes. */
    provenance: VerifiedProvenance | null;
    /** The body bytes as received (for the content types of RAW_BODY_CONTENT_TYPES), else null. */
    rawBody: Buffer | null;
    /**
     * On `streamBody` routes: runs the body checks (replay, then `ingest`, then the Content-Digest
     * binding), sets `request.provenance` and answers it; throws the refusal. Null elsewhere.
     */
    verifyStreamedBody: ((ingest: StreamedBodyIngest) => Promise<VerifiedProvenance>) | null;
  }
  interface FastifyContextConfig {
    provenance?: ProvenanceRouteConfig;
  }
}

const checkedHeaders = new WeakMap<FastifyRequest, CheckedHeaders>();

async function provenancePlugin(fastify: FastifyInstance, options: ProvenancePluginOptions): Promise<void> {
  const prepared = prepareProvenance(options);
  const { ctx, recorder, envelope } = prepared;
  const peerIdentity = options.peerIdentity ?? ((request: FastifyRequest) => tlsPeerIdentity(request.raw.socket));
  if (typeof peerIdentity !== 'function') throw new TypeError('provenance: options.peerIdentity must be a function');

  fastify.decorateRequest('provenance', null);
  fastify.decorateRequest('rawBody', null);
  fastify.decorateRequest('verifyStreamedBody', null);

  const jsonParser = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser([...RAW_BODY_CONTENT_TYPES].filter((t) => fastify.hasContentTypeParser(t)));
  fastify.addContentTypeParser(
    [...RAW_BODY_CONTENT_TYPES],
    { parseAs: 'buffer', bodyLimit: ctx.service.maxBodyBytes },
    (request: FastifyRequest, body: Buffer, done: (err: Error | null, body?: unknown) => void) => {
      request.rawBody = body;
      if (mediaTypeOf(request) === 'application/octet-stream') return done(null, body);
      // On a protected route the JSON is parsed only once every provenance check passed, so a
      // replayed or forged request with a broken body still gets its own code (docs/provenance.md order) and
      // is counted with the other decisions; see parseDeferredJson in preValidation.
      if (routeConfig(request) !== false) return done(null, undefined);
      jsonParser(request, body.toString('utf8'), done);
    },
  );

  /** Fastify's own JSON parser (it refuses __proto__ and constructor poisoning), as a promise. */
  const parseDeferredJson = (request: FastifyRequest, raw: Buffer): Promise<unknown> =>
    new Promise((resolve, reject) => jsonParser(request, raw.toString('utf8'), (error: Error | null, value?: unknown) => (error ? reject(error) : resolve(value))));

  const decide = (request: FastifyRequest, decision: Decision): void =>
    recorder.record(decision, prepared.logDecisions ? request.log : null);

  const refuse = (request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply => {
    if (!isProvenanceError(error)) throw error;
    const scanId = headerText(request.headers[WIRE_HEADERS.scanId]);
    decide(request, { code: error.code, service: ctx.service.id, hops: error.hopIds, scanId, detail: error.message });
    return reply.code(error.status).header('content-type', 'application/problem+json; charset=utf-8').send(JSON.stringify(error.toProblem()));
  };

  const routeConfig = (request: FastifyRequest): ProvenanceRouteConfig | undefined => request.routeOptions.config?.provenance;

  fastify.addHook('onRequest', async (request, reply) => {
    if (routeConfig(request) === false) return;
    try {
      checkedHeaders.set(
        request,
        checkHeaders({ method: request.method, url: request.raw.url ?? request.url, headers: request.headers, peer: peerIdentity(request) }, ctx),
      );
    } catch (error) {
      return refuse(request, reply, error);
    }
  });

  fastify.addHook('preValidation', async (request, reply) => {
    const config = routeConfig(request);
    if (config === false) return;
    const checked = checkedHeaders.get(request);
    if (!checked) return refuse(request, reply, new TypeError('provenance: header checks did not run'));
    if (config?.streamBody) {
      // A media type the scope's stream parser does not take was buffered by another parser (and
      // no body at all is none): the route sees those bytes as a stream too, and judges the type.
      const body = request.body instanceof Readable ? request.body : Readable.from(request.rawBody ? [request.rawBody] : []);
      request.verifyStreamedBody = async (ingest) => {
        try {
          const headers: VerifiedProvenance = { scanId: checked.request.scanId, contentDigest: checked.request.contentDigest, hops: checked.hops };
          const verified = await checkRequest(checked, { body: () => ingest(body, headers), envelope: null }, ctx);
          request.provenance = verified;
          decide(request, { code: 'accepted', service: ctx.service.id, hops: verified.hops.map((h) => h.id), scanId: verified.scanId });
          return verified;
        } catch (error) {
          if (isProvenanceError(error)) {
            const scanId = headerText(request.headers[WIRE_HEADERS.scanId]);
            decide(request, { code: error.code, service: ctx.service.id, hops: error.hopIds, scanId, detail: error.message });
          }
          throw error;
        }
      };
      return;
    }
    const contentLength = Number(request.headers['content-length'] ?? 0);
    if (request.rawBody === null && (contentLength > 0 || request.headers['transfer-encoding'] !== undefined)) {
      // A body arrived through a parser that did not keep its bytes: it cannot be bound.
      return refuse(request, reply, new ProvenanceError('binding-mismatch', `the body's media type is not one of ${RAW_BODY_CONTENT_TYPES.join(', ')}`));
    }
    try {
      const verified = await checkRequest(checked, { body: request.rawBody, envelope: config?.envelope ? requireEnvelope(envelope) : null }, ctx);
      request.provenance = verified;
      decide(request, { code: 'accepted', service: ctx.service.id, hops: verified.hops.map((h) => h.id), scanId: verified.scanId });
    } catch (error) {
      return refuse(request, reply, error);
    }
    // Authentic, bound and verified: now the body may be parsed (a parse error is the service's 400).
    // On an envelope route it already was, strictly, as the envelope (request.provenance.envelope):
    // a second parse as plain JSON would cost the time and, for a large payload, several times
    // its size in memory, so request.body stays undefined there.
    if (config?.envelope) return;
    if (request.rawBody !== null && mediaTypeOf(request) !== 'application/octet-stream') request.body = await parseDeferredJson(request, request.rawBody);
  });

  fastify.addHook('onRoute', (route) => {
    const config = (route.config as { provenance?: ProvenanceRouteConfig } | undefined)?.provenance;
    if (config && config.envelope && !envelope) requireEnvelope(envelope);
    // An envelope is read from bytes in memory; a streamed body never is.
    if (config && config.envelope && config.streamBody) throw new TypeError(`provenance: route ${route.url} cannot both stream its body and carry an envelope`);
  });

  fastify.addHook('onClose', async () => {
    if (prepared.ownsReplayCache) await ctx.replayCache.close();
  });
}

function mediaTypeOf(request: FastifyRequest): string {
  return (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

function requireEnvelope<T>(reader: T | null): T {
  // A route that asks for an envelope on a plugin without envelope keys is a programming error.
  if (!reader) throw new TypeError('provenance: a route asks for { envelope: true } but the plugin has no envelope option');
  return reader;
}

/** The plugin; register it in the scope whose routes it protects. */
export default fp(provenancePlugin, { fastify: '5.x', name: 'stella-provenance' });
export { provenancePlugin };
export type { VerifiedProvenance, PeerIdentity };
// What a caller of this adapter needs from the modules it loads anyway (the pure index stays free of them).
export { tlsPeerIdentity } from './options.js';
export type { ProvenanceBaseOptions } from './options.js';
export { DECISIONS_METRIC } from './decisions.js';
