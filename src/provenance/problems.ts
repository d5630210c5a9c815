/**
 * The problem codes of the provenance protocol (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes): the ONE registry that maps each
 * stable code to its HTTP status and title. The table in `docs/provenance.md` and the
 * {@link ProvenanceCode} type are checked against this object by `test/provenance/problems.test.ts`.
 *
 * Order matters: it is the order in which the receiving middleware runs its checks.
 */
import { StellaError } from '../errors/base.js';

/** code → HTTP status and RFC 9457 `title`, in check order. */
export const PROVENANCE_PROBLEMS = {
  'untrusted-peer': { status: 403, title: 'The TLS peer is not the last hop of the topology' },
  'provenance-missing': { status: 401, title: 'X-Stella-Scan-Id or X-Stella-Provenance is missing' },
  'provenance-malformed': { status: 400, title: 'The provenance headers do not parse or exceed the limits' },
  'topology-mismatch': { status: 403, title: 'The hop records do not match the topology' },
  'provenance-tampered': { status: 401, title: 'A hop record MAC does not verify with a current key' },
  'provenance-stale': { status: 401, title: 'A hop record timestamp is outside the allowed window' },
  'provenance-replayed': { status: 409, title: 'The first hop nonce was already used' },
  'binding-mismatch': { status: 422, title: 'The provenance is not bound to this body, scan or envelope' },
  'envelope-invalid': { status: 401, title: 'The DSSE envelope does not verify' },
} as const satisfies Record<string, { status: number; title: string }>;

/** A stable provenance problem code. */
export type ProvenanceCode = keyof typeof PROVENANCE_PROBLEMS;

/** Every code, in check order. */
export const PROVENANCE_CODES = Object.keys(PROVENANCE_PROBLEMS) as ProvenanceCode[];

/** Base of the `type` URI of each problem document (RFC 9457 §3.1.1); the code is appended. */
export const PROBLEM_TYPE_BASE = 'https://stella-ops.org/problems/';

/** An RFC 9457 problem document with the product's `code` extension member. */
export interface ProvenanceProblem {
  type: string;
  title: string;
  status: number;
  code: ProvenanceCode;
  detail: string;
}

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

  /** The HTTP status the registry assigns to this code. */
  get status(): number {
    return PROVENANCE_PROBLEMS[this.code].status;
  }

  /** The RFC 9457 body for this error. */
  toProblem(): ProvenanceProblem {
    const { status, title } = PROVENANCE_PROBLEMS[this.code];
    return { type: `${PROBLEM_TYPE_BASE}${this.code}`, title, status, code: this.code, detail: this.message };
  }
}

/** Narrows an unknown thrown value to a {@link ProvenanceError}. */
export function isProvenanceError(value: unknown): value is ProvenanceError {
  return value instanceof ProvenanceError;
}
