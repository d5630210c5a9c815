/**
 * The PKI area's error class and its ONE registry of stable codes (docs/operations/certificates.md, STYLE "one table per
 * concept"). Each code carries the HTTP status the enrollment endpoint answers with, so the
 * endpoint, the CLI and the docs (docs/operations/certificates.md) read the same table.
 */
import { StellaError } from '../errors/base.js';
import { defineErrors, type CodeOf } from '../errors/registry.js';

/**
 * Every PKI error code with its HTTP status and a one-line meaning
 * (docs/CONVENTIONS.md#the-error-registry). `usage` marks the codes a `pki` command ends with
 * exit 2: the directory or an argument is wrong, not a certificate.
 */
export const PKI_ERRORS = defineErrors('pki', {
  PKI_NOT_INITIALIZED: { status: 500, title: 'the PKI directory holds no CA (run `pki init`)', exit: 'usage', retryable: false },
  PKI_ALREADY_INITIALIZED: { status: 409, title: 'the PKI directory already holds a CA', exit: 'usage', retryable: false },
  PKI_STATE_CORRUPT: { status: 500, title: 'the CA state file cannot be read', exit: 'usage', retryable: false },
  PKI_LOCKED: { status: 503, title: 'another writer holds the PKI directory lock', exit: 'failed', retryable: true },
  PKI_INVALID_NAME: { status: 400, title: 'role, name, DNS or IP SAN is not acceptable', exit: 'usage', retryable: false },
  PKI_INVALID_LIFETIME: { status: 400, title: 'a lifetime or duration is not acceptable', exit: 'usage', retryable: false },
  PKI_INVALID_SERIAL: { status: 400, title: 'a serial number is not hexadecimal', exit: 'usage', retryable: false },
  PKI_UNKNOWN_SERIAL: { status: 404, title: 'no certificate with this serial was issued here', exit: 'failed', retryable: false },
  PKI_CERT_INVALID: { status: 400, title: 'a certificate or key cannot be parsed', exit: 'failed', retryable: false },
  PKI_KEY_MISMATCH: { status: 400, title: 'the private key does not belong to the certificate', exit: 'failed', retryable: false },
  PKI_CHAIN_INVALID: { status: 401, title: 'the certificate does not chain to the trust bundle', exit: 'failed', retryable: false },
  PKI_CERT_EXPIRED: { status: 401, title: 'the certificate is expired or not yet valid', exit: 'failed', retryable: false },
  PKI_IDENTITY_MISMATCH: { status: 403, title: 'the certificate or CSR names another identity', exit: 'failed', retryable: false },
  PKI_REVOKED: { status: 403, title: 'the certificate is revoked', exit: 'failed', retryable: false },
  PKI_CSR_INVALID: { status: 400, title: 'the CSR cannot be parsed or its signature does not verify', exit: 'failed', retryable: false },
  PKI_WEAK_KEY: { status: 400, title: 'the key type or size is below policy', exit: 'failed', retryable: false },
  PKI_TOKEN_INVALID: { status: 401, title: 'the bootstrap token is missing or unknown', exit: 'failed', retryable: false },
  PKI_TOKEN_USED: { status: 401, title: 'the bootstrap token was already used', exit: 'failed', retryable: false },
  PKI_TOKEN_EXPIRED: { status: 401, title: 'the bootstrap token has expired', exit: 'failed', retryable: false },
  PKI_CLIENT_CERT_REQUIRED: { status: 401, title: 'renewal needs the current certificate over mTLS', exit: 'failed', retryable: false },
  PKI_ENROLLMENT_FAILED: { status: 502, title: 'the enrollment endpoint refused or could not be reached', exit: 'failed', retryable: true },
  PKI_SOURCE_FAILED: { status: 500, title: 'the certificate source could not provide material', exit: 'failed', retryable: false },
});

/** code → entry of {@link PKI_ERRORS} (the name docs and tests know the table by). */
export const PKI_ERROR_CODES = PKI_ERRORS.codes;

/** A stable PKI error code. */
export type PkiErrorCode = CodeOf<typeof PKI_ERRORS>;

/**
 * Every domain failure of `src/pki`. Branch on `code`; `status` is what the enrollment endpoint
 * answers with.
 */
export class PkiError extends StellaError {
  readonly code: PkiErrorCode;

  constructor(code: PkiErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** {@link PKI_ERRORS}. */
  get registry(): typeof PKI_ERRORS {
    return PKI_ERRORS;
  }

  /** The HTTP status of this code in {@link PKI_ERROR_CODES}. */
  get status(): number {
    return PKI_ERROR_CODES[this.code].status;
  }
}

/** Narrows an unknown value to a {@link PkiError}. */
export function isPkiError(value: unknown): value is PkiError {
  return value instanceof PkiError;
}
