/**
 * The problem codes of the provenance protocol (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes): the ONE registry that maps each
 * stable code to its HTTP status and title. The table in `docs/provenance.md` and the
 * {@link ProvenanceCode} type are checked against this object by `test/provenance/doc.test.ts`.
 *
 * Order matters: it is the order in which the receiving middleware runs its checks.
 */
import { StellaError } from '../errors/base.js';
import { PROBLEM_TYPE_BASE, problemDocument, type ProblemDocument } from '../errors/problem.js';
import { defineErrors, type CodeOf } from '../errors/registry.js';

/**
 * code → HTTP status and RFC 9457 `title`, in check order (docs/CONVENTIONS.md#the-error-registry).
 * None is retryable: the same request fails the same check again.
 */
export const PROVENANCE_ERRORS = defineErrors('provenance', {
  'untrusted-peer': { status: 403, title: 'The TLS peer is not the last hop of the topology', exit: 'failed', retryable: false },
  'provenance-missing': { status: 401, title: 'X-Stella-Scan-Id or X-Stella-Provenance is missing', exit: 'failed', retryable: false },
  'provenance-malformed': { status: 400, title: 'The provenance headers do not parse or exceed the limits', exit: 'failed', retryable: false },
  'topology-mismatch': { status: 403, title: 'The hop records do not match the topology', exit: 'failed', retryable: false },
  'provenance-tampered': { status: 401, title: 'A hop record MAC does not verify with a current key', exit: 'failed', retryable: false },
  'provenance-stale': { status: 401, title: 'A hop record timestamp is outside the allowed window', exit: 'failed', retryable: false },
  'provenance-replayed': { status: 409, title: 'The first hop nonce was already used', exit: 'failed', retryable: false },
  'binding-mismatch': { status: 422, title: 'The provenance is not bound to this body, scan or envelope', exit: 'failed', retryable: false },
  'envelope-invalid': { status: 401, title: 'The DSSE envelope does not verify', exit: 'failed', retryable: false },
});

/** code → entry of {@link PROVENANCE_ERRORS} (the name docs and tests know the table by). */
export const PROVENANCE_PROBLEMS = PROVENANCE_ERRORS.codes;

/** A stable provenance problem code. */
export type ProvenanceCode = CodeOf<typeof PROVENANCE_ERRORS>;

/** Every code, in check order. */
export const PROVENANCE_CODES: readonly ProvenanceCode[] = PROVENANCE_ERRORS.list;

/** Base of the `type` URI of each problem document; kept here for the package's existing importers. */
export { PROBLEM_TYPE_BASE };

/** An RFC 9457 problem document with the product's `code` extension member. */
export type ProvenanceProblem = ProblemDocument<ProvenanceCode>;

/**
 * A provenance check failed. `code` is one of {@link PROVENANCE_CODES}; `status` comes from the
 * registry, never from the thrower, so the two cannot disagree.
 */
export class ProvenanceError extends StellaError {
  readonly code: ProvenanceCode;
  /** Hop ids seen in the header so far (for the decision log); empty when none parsed. */
  hopIds: string[] = [];

  constructor(code: ProvenanceCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** {@link PROVENANCE_ERRORS}. */
  get registry(): typeof PROVENANCE_ERRORS {
    return PROVENANCE_ERRORS;
  }

  /** The HTTP status the registry assigns to this code. */
  get status(): number {
    return PROVENANCE_PROBLEMS[this.code].status;
  }

  /** The RFC 9457 body for this error. */
  toProblem(): ProvenanceProblem {
    return problemDocument(PROVENANCE_ERRORS, this.code, this.message);
  }
}

/** Narrows an unknown thrown value to a {@link ProvenanceError}. */
export function isProvenanceError(value: unknown): value is ProvenanceError {
  return value instanceof ProvenanceError;
}
