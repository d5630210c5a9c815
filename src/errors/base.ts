/**
 * The root of every domain error the product raises.
 *
 * Each area (DSSE, PKI, topology, provenance, services) derives one class from this with its own
 * registry of stable codes, so a caller can branch on `error.code` without parsing messages.
 * Caller mistakes (wrong argument types) stay plain `TypeError`s.
 */
export abstract class StellaError extends Error {
  /** A stable, documented code such as `DSSE_MALFORMED` or `provenance-tampered`. */
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Narrows an unknown thrown value to a {@link StellaError}. */
export function isStellaError(value: unknown): value is StellaError {
  return value instanceof StellaError;
}
