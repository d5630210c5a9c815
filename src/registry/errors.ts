/**
 * What the scanner's registry client refuses in what a registry sent (docs/scanner.md#registry):
 * one class, one table. Transport failures and refused requests are the worker's
 * {@link ScannerError}s (`SCANNER_REJECTED` with the guard's problem code, `SCANNER_NETWORK`, …),
 * classified by the same functions as its locker requests.
 */
import { StellaError } from '../errors/base.js';

/** Every code a {@link RegistryError} can carry. */
export const REGISTRY_ERROR_CODES = {
  /** Content whose SHA-256 is not the digest it was asked for or announced under. */
  REGISTRY_DIGEST_MISMATCH: 'the content does not hash to its digest',
  /** A manifest that is not an image manifest of the expected shape. */
  REGISTRY_MANIFEST_INVALID: 'the manifest is not a usable image manifest',
  /** Content larger than the client's limit (or than its descriptor said). */
  REGISTRY_TOO_LARGE: 'the content exceeds the size limit',
} as const;

/** A stable registry client code. */
export type RegistryErrorCode = keyof typeof REGISTRY_ERROR_CODES;

/** The registry client's one error class. */
export class RegistryError extends StellaError {
  readonly code: RegistryErrorCode;

  constructor(code: RegistryErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
