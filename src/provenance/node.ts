/**
 * The receiving middleware for plain Node servers and Connect/Express-style stacks:
 * `(req, res, next) => void`, the same checks in the same order as the Fastify plugin
 * (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes). It reads the body itself (bounded) unless an earlier layer left the raw bytes
 * in `req.rawBody`, and sets `req.rawBody` and `req.provenance` before calling `next()`.
 *
 * @example
 * const guard = createProvenanceMiddleware({ topology, serviceId: 'evidence-locker', hopKeys });
 * https.createServer(tlsOptions, (req, res) => guard(req, res, (err) => (err ? fail(res, err) : handle(req, res))));
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WIRE_HEADERS } from '../conventions/index.js';
import { PROBLEM_CONTENT_TYPE, problemDocument } from '../errors/problem.js';
import { PROVENANCE_RUNTIME_ERRORS } from './errors.js';
import type { DecisionLog } from './decisions.js';
import { headerText, prepareProvenance, tlsPeerIdentity, type ProvenanceBaseOptions } from './options.js';
import { isProvenanceError, type ProvenanceError } from './problems.js';
import { checkHeaders, checkRequest, type PeerIdentity, type StreamedBody, type VerifiedProvenance } from './verify.js';

/** A request after the middleware ran. */
export interface ProvenanceIncomingMessage extends IncomingMessage {
  provenance?: VerifiedProvenance | null;
  rawBody?: Buffer | null;
}

/** Options of {@link createProvenanceMiddleware}. */
export interface ProvenanceMiddlewareOptions extends ProvenanceBaseOptions {
  /** Default: the verified client certificate of `req.socket`. */
  peerIdentity?: (req: IncomingMessage) => PeerIdentity | null;
  /** Whether a request carries a DSSE envelope; default: every request, when `envelope` is set. */
  envelopeFor?: (req: IncomingMessage) => boolean;
  /** Where decisions are logged (a pino logger); none by default. */
  logger?: DecisionLog;
  /** The request's id, logged as `reqId` with its decision (docs/operations/running.md#the-request-id). */
  requestId?: (req: IncomingMessage) => string;
  /**
   * How the body is taken in; default: read into memory up to the service's `maxBodyBytes`. The
   * guard streams it to a spool file instead and hands back its length and SHA-256
   * (docs/services.md#the-guard); `req.rawBody` is then left null.
   */
  readBody?: (req: IncomingMessage, maxBytes: number) => Promise<Buffer | StreamedBody | 'too-large'>;
}

/** The middleware, with `close()` for the replay cache it may own. */
export interface ProvenanceMiddleware {
  (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void): void;
  close(): Promise<void>;
}

/** Builds the middleware. @throws TypeError for bad options (at build time, not per request). */
export function createProvenanceMiddleware(options: ProvenanceMiddlewareOptions): ProvenanceMiddleware {
  const prepared = prepareProvenance(options);
  const { ctx, recorder } = prepared;
  const peerIdentity = options.peerIdentity ?? ((req: IncomingMessage) => tlsPeerIdentity(req.socket));
  const envelopeFor = options.envelopeFor ?? (() => prepared.envelope !== null);
  if (options.envelopeFor && !prepared.envelope) throw new TypeError('provenance: envelopeFor needs the envelope option');
  const log = prepared.logDecisions ? (options.logger ?? null) : null;
  const requestId = options.requestId;
  // Same key as Fastify's request logs, so one query finds a request in every part's log.
  const logFor = (req: IncomingMessage): DecisionLog | null => {
    if (!log || !requestId) return log;
    const reqId = requestId(req);
    return { info: (obj, msg) => log.info({ reqId, ...obj }, msg), warn: (obj, msg) => log.warn({ reqId, ...obj }, msg) };
  };
  const maxBodyBytes = ctx.service.maxBodyBytes;
  const takeBody = options.readBody ?? readBody;
  if (options.readBody && prepared.envelope) throw new TypeError('provenance: readBody cannot be combined with envelope (an envelope is verified from its bytes)');

  const refuse = (req: IncomingMessage, res: ServerResponse, error: ProvenanceError): void => {
    const scanId = headerText(req.headers[WIRE_HEADERS.scanId]);
    recorder.record({ code: error.code, service: ctx.service.id, hops: error.hopIds, scanId, detail: error.message }, logFor(req));
    sendProblem(res, error.status, JSON.stringify(error.toProblem()));
  };

  const run = async (req: ProvenanceIncomingMessage, res: ServerResponse): Promise<boolean> => {
    req.provenance = null;
    const checked = checkHeaders({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, peer: peerIdentity(req) }, ctx);
    const body = req.rawBody instanceof Buffer ? req.rawBody : await takeBody(req, maxBodyBytes);
    if (body === 'too-large') {
      sendProblem(res, 413, JSON.stringify(problemDocument(PROVENANCE_RUNTIME_ERRORS, 'payload-too-large', `body exceeds ${maxBodyBytes} bytes`)));
      return false;
    }
    req.rawBody = Buffer.isBuffer(body) ? body : null;
    const verified = await checkRequest(checked, { body, envelope: envelopeFor(req) ? prepared.envelope : null }, ctx);
    req.provenance = verified;
    recorder.record({ code: 'accepted', service: ctx.service.id, hops: verified.hops.map((h) => h.id), scanId: verified.scanId }, logFor(req));
    return true;
  };

  const middleware = ((req, res, next) => {
    run(req, res).then(
      (ok) => ok && next(),
      (error: unknown) => (isProvenanceError(error) ? refuse(req, res, error) : next(error)),
    );
  }) as ProvenanceMiddleware;
  middleware.close = async () => {
    if (prepared.ownsReplayCache) await ctx.replayCache.close();
  };
  return middleware;
}

function sendProblem(res: ServerResponse, status: number, body: string): void {
  res.statusCode = status;
  res.setHeader('content-type', PROBLEM_CONTENT_TYPE);
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

/** Reads the whole body, or `'too-large'` once it passes the limit (the rest is discarded). */
function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    if (req.readableEnded) return resolve(Buffer.alloc(0));
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
// What a caller of this adapter needs from the modules it loads anyway (the pure index stays free of them).
export { tlsPeerIdentity } from './options.js';
export type { ProvenanceBaseOptions } from './options.js';
export { DECISIONS_METRIC } from './decisions.js';
