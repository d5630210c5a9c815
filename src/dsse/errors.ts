/**
 * The DSSE area's error class and its one table of stable codes (docs/dsse.md: "fail with typed errors
 * that carry stable codes"). Callers branch on `error.code`; messages are for humans only.
 */
import { StellaError } from '../errors/base.js';

/**
 * Every code a {@link DsseError} can carry, with what it means. This is the only list of them;
 * `docs/dsse.md` mirrors it and a test checks the two agree.
 */
export const DSSE_ERROR_CODES = {
  DSSE_MALFORMED: 'the envelope, a field of it or its base64 is not well-formed',
  DSSE_TOO_LARGE: 'the envelope exceeds a size limit (bytes, signatures, payload type or keyid length, JSON nesting depth)',
  DSSE_DUPLICATE_KEY: 'the envelope or its Statement repeats a key in one JSON object, so readers could disagree on its meaning',
  DSSE_NO_SIGNATURES: 'the envelope carries no signature',
  DSSE_THRESHOLD_NOT_MET: 'fewer distinct trusted keys verified the envelope than the threshold asks',
  DSSE_PAYLOAD_TYPE_MISMATCH: 'the payload type differs from the one the verifier expects',
  DSSE_KEY_INVALID: 'a key file or key is unusable (format, type, curve or size)',
  DSSE_STATEMENT_INVALID: 'the payload is not a valid in-toto Statement v1 or traversal intent',
} as const satisfies Record<string, string>;

/** One of the stable codes of {@link DSSE_ERROR_CODES}. */
export type DsseErrorCode = keyof typeof DSSE_ERROR_CODES;

/**
 * Raised for bad DSSE data: malformed or oversized envelopes, failed verification, unusable keys,
 * invalid in-toto statements. Caller mistakes (wrong argument types) are `TypeError`s instead.
 */
export class DsseError extends StellaError {
  /** The stable code, one of {@link DSSE_ERROR_CODES}. */
  readonly code: DsseErrorCode;

  constructor(code: DsseErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
