/**
 * The problem codes of the services (docs/services.md) — the one registry mapping each code to its HTTP
 * status and title. Provenance codes (docs/provenance.md) live in `src/provenance/problems.ts`; the error
 * handler renders both kinds as RFC 9457 `application/problem+json` with a `code` member, built by
 * `problemDocument` (src/errors/problem.ts).
 *
 * No client mistake maps to a 5xx: 503 means the database is down, 500 a bug of ours.
 */
import { StellaError } from '../../errors/base.js';
import { problemDocument, type ProblemDocument } from '../../errors/problem.js';
import { defineErrors, type CodeOf } from '../../errors/registry.js';
import { PROVENANCE_RUNTIME_ERRORS } from '../../provenance/errors.js';
import { STORAGE_ERRORS } from '../../storage/errors.js';

/**
 * code → HTTP status and RFC 9457 `title`, in the order of docs/services.md#problem-codes.
 * `scan-conflict` and `storage-unavailable` are the store's own entries, answered as they are, and
 * `payload-too-large` the provenance adapter's (it refuses a body over the limit before the service).
 */
export const SERVICE_ERRORS = defineErrors('services', {
  'invalid-request': { status: 400, title: 'The request does not match the API description', exit: 'failed', retryable: false },
  'identity-not-allowed': { status: 403, title: 'The client identity is not named for this endpoint in the topology', exit: 'failed', retryable: false },
  'not-found': { status: 404, title: 'No such route', exit: 'failed', retryable: false },
  'evidence-not-found': { status: 404, title: 'No evidence is stored under this digest, or none the requesting scanner may read', exit: 'failed', retryable: false },
  'artifact-not-found': { status: 404, title: 'No artifact with this digest is referenced by the scan, or none the requesting scanner may read', exit: 'failed', retryable: false },
  'scan-not-found': { status: 404, title: 'No scan is registered under this id, or none the requesting scanner may read', exit: 'failed', retryable: false },
  'scan-conflict': STORAGE_ERRORS.codes['scan-conflict'],
  'payload-too-large': PROVENANCE_RUNTIME_ERRORS.codes['payload-too-large'],
  'unsupported-media-type': { status: 415, title: 'The request body has a media type the route does not take', exit: 'failed', retryable: false },
  'not-ready': { status: 503, title: 'The service is not ready', exit: 'failed', retryable: true },
  'storage-unavailable': STORAGE_ERRORS.codes['storage-unavailable'],
  'upstream-unavailable': { status: 502, title: 'The service behind the guard did not answer', exit: 'failed', retryable: true },
  'internal-error': { status: 500, title: 'Unexpected server error', exit: 'failed', retryable: false },
});

/** code → entry of {@link SERVICE_ERRORS} (the name docs and tests know the table by). */
export const SERVICE_PROBLEMS = SERVICE_ERRORS.codes;

/**
 * Why a service or guard cannot start (docs/operations/running.md#when-a-command-fails); never an
 * HTTP answer.
 */
export const SERVICE_START_ERRORS = defineErrors('service-start', {
  'service-config': { title: 'a key, file or setting the service needs is missing or unusable', exit: 'usage', retryable: false },
});

/** The `Retry-After` of a `storage-unavailable` answer: a database fail-over or restart takes seconds. */
export const STORAGE_RETRY_AFTER_SECONDS = 5;

/** A stable service problem code. */
export type ServiceProblemCode = CodeOf<typeof SERVICE_ERRORS>;

/** Every service code, in registry order. */
export const SERVICE_PROBLEM_CODES: readonly ServiceProblemCode[] = SERVICE_ERRORS.list;

/** An RFC 9457 problem document as the services send it. */
export type ServiceProblem = ProblemDocument;

/** A request the service refuses; `status` comes from the registry, never from the thrower. */
export class ServiceError extends StellaError {
  readonly code: ServiceProblemCode;

  constructor(code: ServiceProblemCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** {@link SERVICE_ERRORS}. */
  get registry(): typeof SERVICE_ERRORS {
    return SERVICE_ERRORS;
  }

  /** The HTTP status the registry assigns to this code. */
  get status(): number {
    return SERVICE_PROBLEMS[this.code].status;
  }

  /** The RFC 9457 body. */
  toProblem(): ServiceProblem {
    return problemFor(this.code, this.message);
  }
}

/** Builds the problem document of a service code. */
export function problemFor(code: ServiceProblemCode, detail: string): ServiceProblem {
  return problemDocument(SERVICE_ERRORS, code, detail);
}
