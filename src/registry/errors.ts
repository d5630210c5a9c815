/**
 * What the scanner's registry client refuses in what a registry sent (docs/scanner.md#registry):
 * one class, one table. Transport failures and refused requests are the worker's
 * {@link ScannerError}s (`SCANNER_REJECTED` with the guard's problem code, `SCANNER_NETWORK`, …),
 * classified by the same functions as its locker requests.
 */
import { StellaError } from '../errors/base.js';
import { defineErrors, type CodeOf } from '../errors/registry.js';

/** Every code a {@link RegistryError} can carry: what a registry sent is refused, never retried. */
export const REGISTRY_ERRORS = defineErrors('registry', {
  /** Content whose SHA-256 is not the digest it was asked for or announced under. */
  REGISTRY_DIGEST_MISMATCH: { title: 'the content does not hash to its digest', exit: 'failed', retryable: false },
  /** A manifest that is not an image manifest of the expected shape. */
  REGISTRY_MANIFEST_INVALID: { title: 'the manifest is not a usable image manifest', exit: 'failed', retryable: false },
  /** Content larger than the client's limit (or than its descriptor said). */
  REGISTRY_TOO_LARGE: { title: 'the content exceeds the size limit', exit: 'failed', retryable: false },
});

/** code → entry of {@link REGISTRY_ERRORS}. */
export const REGISTRY_ERROR_CODES = REGISTRY_ERRORS.codes;

/** A stable registry client code. */
export type RegistryErrorCode = CodeOf<typeof REGISTRY_ERRORS>;

/** The registry client's one error class. */
export class RegistryError extends StellaError {
  readonly code: RegistryErrorCode;

  constructor(code: RegistryErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** {@link REGISTRY_ERRORS}. */
  get registry(): typeof REGISTRY_ERRORS {
    return REGISTRY_ERRORS;
  }
}
