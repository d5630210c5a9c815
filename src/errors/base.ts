/**
 * The root of every domain error the product raises.
 *
 * Each area derives one class from this and names the registry its codes come from
 * (`src/errors/registry.ts`), so a caller branches on `error.code` without parsing messages and
 * reads the code's HTTP status, CLI exit class and retryability from one place: {@link StellaError.spec}.
 * Caller mistakes (wrong argument types) stay plain `TypeError`s.
 */
import type { AnyErrorRegistry, ErrorSpec } from './registry.js';

export abstract class StellaError extends Error {
  /** A stable, documented code such as `DSSE_MALFORMED` or `provenance-tampered`. */
  abstract readonly code: string;
  /** The registry {@link code} is defined in. */
  abstract readonly registry: AnyErrorRegistry;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }

  /** This code's registry entry: title, HTTP status (if any), CLI exit class, retryability. */
  get spec(): ErrorSpec {
    const spec = this.registry.codes[this.code];
    if (!spec) throw new TypeError(`${this.name}: code ${this.code} is not in the ${this.registry.namespace} registry`);
    return spec;
  }
}

/** Narrows an unknown thrown value to a {@link StellaError}. */
export function isStellaError(value: unknown): value is StellaError {
  return value instanceof StellaError;
}
