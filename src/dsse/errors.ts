/**
 * The DSSE area's error class and its one registry of stable codes (docs/dsse.md: "fail with typed errors
 * that carry stable codes"). Callers branch on `error.code`; messages are for humans only.
 */
import { StellaError } from '../errors/base.js';
import { defineErrors, type CodeOf } from '../errors/registry.js';

/**
 * Every code a {@link DsseError} can carry (docs/CONVENTIONS.md#the-error-registry). This is the
 * only list of them; `docs/dsse.md` mirrors the titles and a test checks the two agree.
 */
export const DSSE_ERRORS = defineErrors('dsse', {
  DSSE_MALFORMED: { title: 'the envelope, a field of it or its base64 is not well-formed', exit: 'failed', retryable: false },
  DSSE_TOO_LARGE: { title: 'the envelope exceeds a size limit (bytes, signatures, payload type or keyid length, JSON nesting depth)', exit: 'failed', retryable: false },
  DSSE_DUPLICATE_KEY: { title: 'the envelope or its Statement repeats a key in one JSON object, so readers could disagree on its meaning', exit: 'failed', retryable: false },
  DSSE_NO_SIGNATURES: { title: 'the envelope carries no signature', exit: 'failed', retryable: false },
  DSSE_THRESHOLD_NOT_MET: { title: 'fewer distinct trusted keys verified the envelope than the threshold asks', exit: 'failed', retryable: false },
  DSSE_PAYLOAD_TYPE_MISMATCH: { title: 'the payload type differs from the one the verifier expects', exit: 'failed', retryable: false },
  DSSE_KEY_INVALID: { title: 'a key file or key is unusable (format, type, curve or size)', exit: 'usage', retryable: false },
  DSSE_STATEMENT_INVALID: { title: 'the payload is not a valid in-toto Statement v1 or traversal intent', exit: 'failed', retryable: false },
});

/** code → entry of {@link DSSE_ERRORS} (the name docs and tests know the table by). */
export const DSSE_ERROR_CODES = DSSE_ERRORS.codes;

/** One of the stable codes of {@link DSSE_ERRORS}. */
export type DsseErrorCode = CodeOf<typeof DSSE_ERRORS>;

/**
 * Raised for bad DSSE data: malformed or oversized envelopes, failed verification, unusable keys,
 * invalid in-toto statements. Caller mistakes (wrong argument types) are `TypeError`s instead.
 */
export class DsseError extends StellaError {
  /** The stable code, one of {@link DSSE_ERRORS}. */
  readonly code: DsseErrorCode;

  constructor(code: DsseErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** {@link DSSE_ERRORS}. */
  get registry(): typeof DSSE_ERRORS {
    return DSSE_ERRORS;
  }
}
