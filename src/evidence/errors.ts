/** Stable codes of the evidence area (receipts and offline re-verification). */
import { StellaError } from '../errors/base.js';
import { defineErrors, type CodeOf } from '../errors/registry.js';

/** Every code a {@link ReceiptError} can carry, with its meaning. The only list of them. */
export const EVIDENCE_ERRORS = defineErrors('evidence', {
  'receipt-invalid': { title: 'the receipt does not verify with the locker key, or is not a traversal receipt', exit: 'failed', retryable: false },
  'receipt-subject-mismatch': { title: 'the receipt verifies but names another envelope digest', exit: 'failed', retryable: false },
  'evidence-mismatch': { title: 'a stored record disagrees with itself (digest, hop chain or receipt)', exit: 'failed', retryable: false },
});

/** code → entry of {@link EVIDENCE_ERRORS}. */
export const EVIDENCE_ERROR_CODES = EVIDENCE_ERRORS.codes;

/** A stable evidence code. */
export type EvidenceErrorCode = CodeOf<typeof EVIDENCE_ERRORS>;

/** Bad evidence data: a receipt or a stored record that does not verify. */
export class ReceiptError extends StellaError {
  constructor(
    readonly code: EvidenceErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** {@link EVIDENCE_ERRORS}. */
  get registry(): typeof EVIDENCE_ERRORS {
    return EVIDENCE_ERRORS;
  }
}
