/**
 * Replay caches for the first hop's (`hop`, `nonce`) pair (docs/provenance.md check 7, rule 5).
 */

import { StellaError } from '../../errors/base.js';
import { PROVENANCE_RUNTIME_ERRORS } from '../errors.js';

/**
 * The cache's store did not answer (a PostgreSQL outage, a failing disk). Not the client's doing
 * and not a bug: the services answer `503 storage-unavailable` with `Retry-After`
 * (docs/services.md#problem-codes), so the scanner retries instead of giving up.
 */
export class ReplayCacheUnavailableError extends StellaError {
  readonly code = 'replay-cache-unavailable';
  /** {@link PROVENANCE_RUNTIME_ERRORS}. */
  get registry(): typeof PROVENANCE_RUNTIME_ERRORS {
    return PROVENANCE_RUNTIME_ERRORS;
  }
}

/** Default period of the expiry sweep of the persistent caches (SQLite, PostgreSQL). */
export const DEFAULT_REPLAY_CLEANUP_INTERVAL_MS = 60_000;

/** Remembers nonces until they expire. Implementations must make `checkAndRemember` atomic. */
export interface ReplayCache {
  /**
   * Records (`hop`, `nonce`) until `expiresAtMs` unless it is already recorded and unexpired.
   * @returns true when the pair was new (the request may proceed), false when it is a replay.
   */
  checkAndRemember(hop: string, nonce: string, expiresAtMs: number): Promise<boolean>;
  /**
   * Releases a pair recorded by this request because a LATER check rejected the request, so a
   * request that was refused does not consume the nonce (docs/provenance.md, "Replay").
   */
  forget(hop: string, nonce: string): Promise<void>;
  /** Stops timers and releases connections the cache owns. */
  close(): Promise<void>;
}
