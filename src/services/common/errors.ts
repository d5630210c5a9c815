/**
 * One error handler and one not-found handler for both services: every refusal leaves as RFC 9457
 * `application/problem+json` with a stable `code` (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes, docs/services.md). Fastify's own client
 * errors (body too large, bad JSON, schema validation, media type) are mapped onto the registry
 * so a client's mistake is never a 500.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PROBLEM_CONTENT_TYPE } from '../../errors/problem.js';
import { isProvenanceError } from '../../provenance/problems.js';
import { ReplayCacheUnavailableError } from '../../provenance/replay/cache.js';
import { ScanConflictError, StorageError } from '../../storage/types.js';
import { STORAGE_RETRY_AFTER_SECONDS, ServiceError, problemFor, type ServiceProblem, type ServiceProblemCode } from './problems.js';

/** The media type of every refusal (RFC 9457 §3), from src/errors/problem.ts. */
export { PROBLEM_CONTENT_TYPE };

/** Sends a problem document; a store outage tells the client when to retry (docs/services.md#problem-codes). */
export function sendProblem(reply: FastifyReply, problem: ServiceProblem | { status: number }): FastifyReply {
  if ('code' in problem && problem.code === 'storage-unavailable') reply.header('retry-after', String(STORAGE_RETRY_AFTER_SECONDS));
  return reply.code(problem.status).header('content-type', PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
}

/** Fastify error codes that are the client's doing, and the service code each becomes. */
const FASTIFY_CLIENT_ERRORS: Readonly<Record<string, ServiceProblemCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload-too-large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported-media-type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid-request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid-request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid-request',
  FST_ERR_VALIDATION: 'invalid-request',
};

/** Maps any thrown value to the problem the client receives. */
export function problemOf(error: unknown): ServiceProblem {
  if (error instanceof ServiceError) return error.toProblem();
  if (isProvenanceError(error)) return error.toProblem();
  if (error instanceof ScanConflictError) return problemFor('scan-conflict', error.message);
  if (error instanceof StorageError) return problemFor('storage-unavailable', 'the evidence store did not answer; retry later');
  if (error instanceof ReplayCacheUnavailableError) return problemFor('storage-unavailable', 'the replay cache did not answer; retry later');
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.validation) return problemFor('invalid-request', fastifyError.message ?? 'invalid request');
  const mapped = typeof fastifyError.code === 'string' ? FASTIFY_CLIENT_ERRORS[fastifyError.code] : undefined;
  if (mapped) return problemFor(mapped, fastifyError.message ?? mapped);
  // JSON syntax errors from the body parser carry statusCode 400 but no FST code.
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return problemFor(fastifyError.statusCode === 413 ? 'payload-too-large' : fastifyError.statusCode === 415 ? 'unsupported-media-type' : 'invalid-request', fastifyError.message ?? 'invalid request');
  }
  return problemFor('internal-error', 'the request could not be completed');
}

/** Installs the handlers on an app (call before routes are added). */
export function installProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const problem = problemOf(error);
    if (problem.status >= 500) request.log.error({ err: error, code: problem.code }, 'request failed');
    else request.log.info({ code: problem.code, detail: problem.detail }, 'request refused');
    return sendProblem(reply, problem);
  });
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => sendProblem(reply, problemFor('not-found', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`)));
}
