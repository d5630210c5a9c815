/**
 * The problem codes of the services (docs/services.md) — the one registry mapping each code to its HTTP
 * status and title. Provenance codes (docs/provenance.md) live in `src/provenance/problems.ts`; the error
 * handler renders both kinds as RFC 9457 `application/problem+json` with a `code` member.
 *
 * No client mistake maps to a 5xx: 503 means the database is down, 500 a bug of ours.
 */
import { StellaError } from '../../errors/base.js';
import { PROBLEM_TYPE_BASE } from '../../provenance/problems.js';

/** code → HTTP status and RFC 9457 `title`. */
export const SERVICE_PROBLEMS = {
  'invalid-request': { status: 400, title: 'The request does not match the API description' },
  'identity-not-allowed': { status: 403, title: 'The client identity is not named for this endpoint in the topology' },
  'not-found': { status: 404, title: 'No such route' },
  'evidence-not-found': { status: 404, title: 'No evidence is stored under this digest, or none the requesting scanner may read' },
  'artifact-not-found': { status: 404, title: 'No artifact with this digest is referenced by the scan, or none the requesting scanner may read' },
  'scan-not-found': { status: 404, title: 'No scan is registered under this id, or none the requesting scanner may read' },
  'scan-conflict': { status: 409, title: 'The scan belongs to another scanner, exists with different data, or was completed with another report' },
  'payload-too-large': { status: 413, title: 'The request body exceeds the size limit of the service' },
  'unsupported-media-type': { status: 415, title: 'The request body has a media type the route does not take' },
  'not-ready': { status: 503, title: 'The service is not ready' },
  'storage-unavailable': { status: 503, title: 'The evidence store is unavailable' },
  'upstream-unavailable': { status: 502, title: 'The service behind the guard did not answer' },
  'internal-error': { status: 500, title: 'Unexpected server error' },
} as const satisfies Record<string, { status: number; title: string }>;

/** The `Retry-After` of a `storage-unavailable` answer: a database fail-over or restart takes seconds. */
export const STORAGE_RETRY_AFTER_SECONDS = 5;

/** A stable service problem code. */
export type ServiceProblemCode = keyof typeof SERVICE_PROBLEMS;

/** Every service code, in registry order. */
export const SERVICE_PROBLEM_CODES = Object.keys(SERVICE_PROBLEMS) as ServiceProblemCode[];

/** An RFC 9457 problem document as the services send it. */
export interface ServiceProblem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
}

/** A request the service refuses; `status` comes from the registry, never from the thrower. */
export class ServiceError extends StellaError {
  readonly code: ServiceProblemCode;

  constructor(code: ServiceProblemCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
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
  const entry = SERVICE_PROBLEMS[code];
  return { type: `${PROBLEM_TYPE_BASE}${code}`, title: entry.title, status: entry.status, code, detail };
}
