/** Stable codes of the evidence area (receipts and offline re-verification). */
import { StellaError } from '../errors/base.js';

/** Every code an {@link EvidenceError} can carry, with its meaning. The only list of them. */
export const EVIDENCE_ERROR_CODES = {
  'receipt-invalid': 'the receipt does not verify with the locker key, or is not a traversal receipt',
  'receipt-subject-mismatch': 'the receipt verifies but names another envelope digest',
  'evidence-mismatch': 'a stored record disagrees with itself (digest, hop chain or receipt)',
} as const satisfies Record<string, string>;

export type EvidenceErrorCode = keyof typeof EVIDENCE_ERROR_CODES;

/** Bad evidence data: a receipt or a stored record that does not verify. */
export class ReceiptError extends StellaError {
  constructor(
    readonly code: EvidenceErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
