/**
 * The in-process replay cache (docs/provenance.md#rules-for-every-hop, rule 5: one instance). Bounded: expired entries are swept
 * when the cache is full; when every entry is still live the cache fails closed (throws), because
 * evicting a live nonce would re-open a replay window.
 */
import { StellaError } from '../../errors/base.js';
import { PROVENANCE_RUNTIME_ERRORS } from '../errors.js';
import type { ReplayCache } from './cache.js';

/** Default bound: at 120 s of window this holds ~800 accepted requests per second. */
export const DEFAULT_MAX_REPLAY_ENTRIES = 100_000;

/** Options of {@link MemoryReplayCache}. */
export interface MemoryReplayCacheOptions {
  maxEntries?: number;
  /** Clock in ms; injected for tests. */
  now?: () => number;
}

/** An unexpired entry had to be dropped to admit a new one; the request is refused (5xx). */
export class ReplayCacheFullError extends StellaError {
  readonly code = 'replay-cache-full';

  constructor(maxEntries: number) {
    super(`replay cache full: ${maxEntries} live nonces`);
  }

  /** {@link PROVENANCE_RUNTIME_ERRORS}. */
  get registry(): typeof PROVENANCE_RUNTIME_ERRORS {
    return PROVENANCE_RUNTIME_ERRORS;
  }
}

/** A Map of `hop nonce` → expiry; insertion order doubles as the sweep order. */
export class MemoryReplayCache implements ReplayCache {
  readonly #entries = new Map<string, number>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(options: MemoryReplayCacheOptions = {}) {
    const maxEntries = options.maxEntries ?? DEFAULT_MAX_REPLAY_ENTRIES;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError('maxEntries must be a positive integer');
    this.#maxEntries = maxEntries;
    this.#now = options.now ?? Date.now;
  }

  /** Number of entries held (live or not yet swept). */
  get size(): number {
    return this.#entries.size;
  }

  async checkAndRemember(hop: string, nonce: string, expiresAtMs: number): Promise<boolean> {
    // Synchronous body: no await between the check and the set, so it is atomic in one process.
    const key = `${hop} ${nonce}`;
    const now = this.#now();
    const seen = this.#entries.get(key);
    if (seen !== undefined && seen > now) return false;
    if (seen !== undefined) this.#entries.delete(key);
    if (this.#entries.size >= this.#maxEntries) this.#sweep(now);
    if (this.#entries.size >= this.#maxEntries) throw new ReplayCacheFullError(this.#maxEntries);
    this.#entries.set(key, expiresAtMs);
    return true;
  }

  async forget(hop: string, nonce: string): Promise<void> {
    this.#entries.delete(`${hop} ${nonce}`);
  }

  async close(): Promise<void> {
    this.#entries.clear();
  }

  #sweep(now: number): void {
    for (const [key, expiresAt] of this.#entries) if (expiresAt <= now) this.#entries.delete(key);
  }
}
