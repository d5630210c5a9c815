/**
 * The PKI area's error class and its ONE registry of stable codes (docs/operations/certificates.md, STYLE "one table per
 * concept"). Each code carries the HTTP status the enrollment endpoint answers with, so the
 * endpoint, the CLI and the docs (docs/operations/certificates.md) read the same table.
 */
import { StellaError } from '../errors/base.js';

/** Every PKI error code with its HTTP status and a one-line meaning. */
export const PKI_ERROR_CODES = {
  PKI_NOT_INITIALIZED: { status: 500, title: 'the PKI directory holds no CA (run `pki init`)' },
  PKI_ALREADY_INITIALIZED: { status: 409, title: 'the PKI directory already holds a CA' },
  PKI_STATE_CORRUPT: { status: 500, title: 'the CA state file cannot be read' },
  PKI_LOCKED: { status: 503, title: 'another writer holds the PKI directory lock' },
  PKI_INVALID_NAME: { status: 400, title: 'role, name, DNS or IP SAN is not acceptable' },
  PKI_INVALID_LIFETIME: { status: 400, title: 'a lifetime or duration is not acceptable' },
  PKI_INVALID_SERIAL: { status: 400, title: 'a serial number is not hexadecimal' },
  PKI_UNKNOWN_SERIAL: { status: 404, title: 'no certificate with this serial was issued here' },
  PKI_CERT_INVALID: { status: 400, title: 'a certificate or key cannot be parsed' },
  PKI_KEY_MISMATCH: { status: 400, title: 'the private key does not belong to the certificate' },
  PKI_CHAIN_INVALID: { status: 401, title: 'the certificate does not chain to the trust bundle' },
  PKI_CERT_EXPIRED: { status: 401, title: 'the certificate is expired or not yet valid' },
  PKI_IDENTITY_MISMATCH: { status: 403, title: 'the certificate or CSR names another identity' },
  PKI_REVOKED: { status: 403, title: 'the certificate is revoked' },
  PKI_CSR_INVALID: { status: 400, title: 'the CSR cannot be parsed or its signature does not verify' },
  PKI_WEAK_KEY: { status: 400, title: 'the key type or size is below policy' },
  PKI_TOKEN_INVALID: { status: 401, title: 'the bootstrap token is missing or unknown' },
  PKI_TOKEN_USED: { status: 401, title: 'the bootstrap token was already used' },
  PKI_TOKEN_EXPIRED: { status: 401, title: 'the bootstrap token has expired' },
  PKI_CLIENT_CERT_REQUIRED: { status: 401, title: 'renewal needs the current certificate over mTLS' },
  PKI_ENROLLMENT_FAILED: { status: 502, title: 'the enrollment endpoint refused or could not be reached' },
  PKI_SOURCE_FAILED: { status: 500, title: 'the certificate source could not provide material' },
} as const satisfies Record<string, { status: number; title: string }>;

/** A stable PKI error code. */
export type PkiErrorCode = keyof typeof PKI_ERROR_CODES;

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

  /** The HTTP status of this code in {@link PKI_ERROR_CODES}. */
  get status(): number {
    return PKI_ERROR_CODES[this.code].status;
  }
}

/** Narrows an unknown value to a {@link PkiError}. */
export function isPkiError(value: unknown): value is PkiError {
  return value instanceof PkiError;
}
