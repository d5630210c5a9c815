/**
 * The scanner worker's error codes (docs/scanner.md "Scanner worker"): one class, one table.
 *
 * Each code says whether a delivery that failed with it may be retried. The rule is the one of
 * docs/scanner.md: network trouble, timeouts, 5xx and 429 are transient (the outbox keeps the item and
 * retries with backoff); a 4xx rejection from the chain is final (the item is marked rejected with
 * the problem `code` the service or gateway answered, e.g. `binding-mismatch`).
 */
import { SCAN_ID_SOURCE } from '../conventions/index.js';
import { StellaError } from '../errors/base.js';
import { defineErrors, type CodeOf } from '../errors/registry.js';

/**
 * Every code a {@link ScannerError} can carry, with whether a delivery failing with it is retried
 * (`retryable`). Configuration codes end a CLI command with exit 2.
 */
export const SCANNER_ERRORS = defineErrors('scanner', {
  /** The edge could not be reached or the connection broke (refused, reset, TLS handshake). */
  SCANNER_NETWORK: { title: 'the edge could not be reached or the connection broke', exit: 'failed', retryable: true },
  /** No complete answer within `timeoutMs`. */
  SCANNER_TIMEOUT: { title: 'no answer within the request timeout', exit: 'failed', retryable: true },
  /** The chain answered 5xx or 429: the item stays pending and is retried (Retry-After honoured). */
  SCANNER_UNAVAILABLE: { title: 'the chain answered 5xx or 429', exit: 'failed', retryable: true },
  /** A 4xx answer: final, never retried. The item's code is the problem `code` when one was sent. */
  SCANNER_REJECTED: { title: 'the chain rejected the request (4xx)', exit: 'failed', retryable: false },
  /** A 2xx answer without a usable receipt envelope. */
  SCANNER_RESPONSE_MALFORMED: { title: 'the locker answered 2xx without a usable receipt', exit: 'failed', retryable: false },
  /** The receipt did not verify with the configured locker key or does not cover the envelope sent. */
  SCANNER_RECEIPT_INVALID: { title: 'the receipt does not verify or covers another envelope', exit: 'failed', retryable: false },
  /** An artifact file could not be read. */
  SCANNER_ARTIFACT_UNREADABLE: { title: 'the artifact file could not be read', exit: 'failed', retryable: false },
  /** A scan id that does not match docs/provenance.md's `X-Stella-Scan-Id` pattern. */
  SCANNER_SCAN_ID_INVALID: { title: `scan id does not match ${SCAN_ID_SOURCE}`, exit: 'usage', retryable: false },
  /** The topology has no such scanner, edge or key, or a key/certificate file is unusable. */
  SCANNER_CONFIG: { title: 'the scanner configuration is unusable', exit: 'usage', retryable: false },
  /** The outbox database could not be opened or has an unknown schema. */
  SCANNER_OUTBOX: { title: 'the outbox database is unusable', exit: 'usage', retryable: false },
});

/** code → entry of {@link SCANNER_ERRORS} (the name docs and tests know the table by). */
export const SCANNER_ERROR_CODES = SCANNER_ERRORS.codes;

/** A stable scanner error code. */
export type ScannerErrorCode = CodeOf<typeof SCANNER_ERRORS>;

/** Details a delivery failure carries besides its code. */
export interface ScannerErrorDetails {
  /** HTTP status the chain answered, when there was an answer. */
  status?: number;
  /** The `code` member of an RFC 9457 problem body (e.g. `binding-mismatch`), when one was sent. */
  problemCode?: string;
  /** Milliseconds the server asked us to wait (Retry-After), when it did. */
  retryAfterMs?: number;
  /** The answer's `X-Request-Id` (docs/operations/running.md#the-request-id), when it carried an acceptable one. */
  requestId?: string;
  cause?: unknown;
}

/** The scanner worker's one error class. */
export class ScannerError extends StellaError {
  readonly code: ScannerErrorCode;
  readonly status: number | undefined;
  readonly problemCode: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly requestId: string | undefined;

  constructor(code: ScannerErrorCode, message: string, details: ScannerErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.status = details.status;
    this.problemCode = details.problemCode;
    this.retryAfterMs = details.retryAfterMs;
    this.requestId = details.requestId;
  }

  /** {@link SCANNER_ERRORS}. */
  get registry(): typeof SCANNER_ERRORS {
    return SCANNER_ERRORS;
  }

  /** Whether the outbox should try this delivery again later. */
  get retryable(): boolean {
    return SCANNER_ERRORS.codes[this.code].retryable;
  }

  /**
   * The code recorded on an outbox item: the service's problem code for a rejection (what an
   * operator searches the locker's logs for), this error's own code otherwise.
   */
  get outcomeCode(): string {
    return this.problemCode ?? this.code;
  }
}

/** Narrows an unknown value to a {@link ScannerError}. */
export function isScannerError(value: unknown): value is ScannerError {
  return value instanceof ScannerError;
}
