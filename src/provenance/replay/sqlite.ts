/**
 * The durable replay cache of a service on SQLite storage (docs/provenance.md#5-replay-and-clock-rules): a nonce that was
 * accepted is still remembered after the process restarts, so a captured request cannot replay
 * against a restarted locker. Same durability rules as the evidence store (src/storage/sqlite.ts):
 * WAL journal, `synchronous = FULL`, so `checkAndRemember` resolves only once the pair is on disk.
 *
 * Its own file, not a table in the evidence database (docs/services.md, "Storage"): the check runs
 * on every request before its body is read, and would otherwise queue for the evidence file's one
 * write lock behind group-committed envelopes; and the evidence file is the archive that is backed
 * up and kept, which two-minute nonces have no place in.
 *
 * Atomicity comes from the primary key, as in the PostgreSQL cache: one `INSERT … ON CONFLICT`
 * statement inserts the pair, takes over an expired row, or changes nothing (a replay) — also
 * between several processes on one file, which SQLite's lock serialises.
 */
import type Database from 'better-sqlite3';
import { basename, dirname, extname, join } from 'node:path';
import { openDurableSqlite } from '../../io/sqlite.js';
import { DEFAULT_REPLAY_CLEANUP_INTERVAL_MS, ReplayCacheUnavailableError, type ReplayCache } from './cache.js';
import { DEFAULT_MAX_REPLAY_ENTRIES, ReplayCacheFullError } from './memory.js';

/** How long a writer waits for another process's lock on the file before failing (5xx). */
export const DEFAULT_SQLITE_REPLAY_BUSY_TIMEOUT_MS = 5000;

/** Versioned schema: index i brings `user_version` from i to i+1. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE replay (
     hop TEXT NOT NULL,
     nonce TEXT NOT NULL,
     expires_at_ms INTEGER NOT NULL,
     PRIMARY KEY (hop, nonce)
   ) WITHOUT ROWID;
   CREATE INDEX replay_by_expiry ON replay (expires_at_ms);`,
];

/** Options of {@link SqliteReplayCache}. */
export interface SqliteReplayCacheOptions {
  /** Path of the cache's database file; its folder is created when missing. */
  file: string;
  /** Bound on stored pairs; when every one is live the cache fails closed (throws). */
  maxEntries?: number;
  /** Clock in ms; injected for tests. */
  now?: () => number;
  /** 0 turns the periodic sweep off (call `sweep()` yourself). */
  cleanupIntervalMs?: number;
  busyTimeoutMs?: number;
}

/**
 * Where the replay cache of an evidence store file lives: beside it, `<name>.replay<ext>`
 * (`var/evidence-locker.db` → `var/evidence-locker.replay.db`).
 */
export function replayFileFor(storeFile: string): string {
  const ext = extname(storeFile);
  return join(dirname(storeFile), `${basename(storeFile, ext)}.replay${ext}`);
}

/** Replay cache in a SQLite file. Opening migrates the schema. */
export class SqliteReplayCache implements ReplayCache {
  readonly #db: Database.Database;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #timer: NodeJS.Timeout | null;
  readonly #reserve: Database.Statement<[string, string, number, number]>;
  readonly #forget: Database.Statement<[string, string]>;
  readonly #sweep: Database.Statement<[number]>;
  readonly #count: Database.Statement<[], { n: number }>;
  readonly #live: Database.Statement<[string, string, number], { n: number }>;
  readonly #pending: { hop: string; nonce: string; expiresAtMs: number; resolve: (fresh: boolean) => void; reject: (error: unknown) => void }[] = [];
  /** Rows this process believes the file holds: exact after open and every sweep, an upper bound in between. */
  #estimate: number;

  constructor(options: SqliteReplayCacheOptions) {
    const maxEntries = options.maxEntries ?? DEFAULT_MAX_REPLAY_ENTRIES;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError('maxEntries must be a positive integer');
    this.#maxEntries = maxEntries;
    this.#now = options.now ?? Date.now;
    // An accepted nonce lost on power loss would re-open its replay window: durable like the store.
    const db = openDurableSqlite({ file: options.file, busyTimeoutMs: options.busyTimeoutMs ?? DEFAULT_SQLITE_REPLAY_BUSY_TIMEOUT_MS, migrations: MIGRATIONS });
    this.#db = db;
    this.#reserve = db.prepare(
      `INSERT INTO replay (hop, nonce, expires_at_ms) VALUES (?, ?, ?)
       ON CONFLICT (hop, nonce) DO UPDATE SET expires_at_ms = excluded.expires_at_ms WHERE replay.expires_at_ms <= ?`,
    );
    this.#forget = db.prepare('DELETE FROM replay WHERE hop = ? AND nonce = ?');
    this.#sweep = db.prepare('DELETE FROM replay WHERE expires_at_ms <= ?');
    this.#count = db.prepare('SELECT count(*) AS n FROM replay');
    this.#live = db.prepare('SELECT 1 AS n FROM replay WHERE hop = ? AND nonce = ? AND expires_at_ms > ?');
    this.#estimate = this.#count.get()!.n;
    const interval = options.cleanupIntervalMs ?? DEFAULT_REPLAY_CLEANUP_INTERVAL_MS;
    this.#timer = interval > 0 ? setInterval(() => void this.sweep().catch(() => undefined), interval) : null;
    this.#timer?.unref();
  }

  /**
   * Group commit, as the evidence store does (src/storage/sqlite.ts): reservations that arrive in
   * the same turn of the event loop share one transaction, so one fsync makes them all durable.
   * Each promise resolves only after that commit returned: a nonce is on disk before its request
   * goes on (docs/provenance.md#5-replay-and-clock-rules).
   * @throws ReplayCacheUnavailableError when the file cannot be read or written (a failing disk, a closed cache).
   */
  async checkAndRemember(hop: string, nonce: string, expiresAtMs: number): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.#pending.push({ hop, nonce, expiresAtMs, resolve, reject });
      if (this.#pending.length === 1) setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    const batch = this.#pending.splice(0);
    if (batch.length === 0) return; // close() flushed it already
    let results: (boolean | ReplayCacheFullError)[];
    try {
      results = this.#guard(() => this.#db.transaction(() => batch.map((r) => this.#reserveOne(r.hop, r.nonce, r.expiresAtMs))).immediate());
    } catch (error) {
      for (const r of batch) r.reject(error);
      return;
    }
    batch.forEach((r, i) => {
      const result = results[i]!;
      if (result instanceof ReplayCacheFullError) r.reject(result);
      else r.resolve(result);
    });
  }

  /** One reservation inside the batch's transaction; a second use of a pair in one batch is a replay. */
  #reserveOne(hop: string, nonce: string, expiresAtMs: number): boolean | ReplayCacheFullError {
    // Synchronous between the bound check and the insert: atomic within this process.
    const now = Math.floor(this.#now());
    if (this.#estimate >= this.#maxEntries) {
      this.#sweepNow(now);
      // A replay of a live pair adds no row: it is still answered as a replay, not as "full".
      if (this.#estimate >= this.#maxEntries) {
        if (this.#live.get(hop, nonce, now)) return false;
        return new ReplayCacheFullError(this.#maxEntries);
      }
    }
    const changed = this.#reserve.run(hop, nonce, Math.ceil(expiresAtMs), now).changes === 1;
    // An upper bound if the batch's commit fails after this: the next sweep re-counts.
    if (changed) this.#estimate += 1;
    return changed;
  }

  async forget(hop: string, nonce: string): Promise<void> {
    this.#guard(() => this.#forget.run(hop, nonce));
  }

  /** A failure of the file is the store's, not a bug: the services answer 503 (docs/services.md#problem-codes). */
  #guard<T>(step: () => T): T {
    try {
      return step();
    } catch (error) {
      if (error instanceof ReplayCacheFullError) throw error;
      throw new ReplayCacheUnavailableError(`replay cache: SQLite: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Deletes expired rows; returns how many. */
  async sweep(): Promise<number> {
    return this.#db.open ? this.#sweepNow(Math.floor(this.#now())) : 0;
  }

  /** Number of stored pairs (live or not yet swept). */
  get size(): number {
    return this.#count.get()!.n;
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#pending.length > 0 && this.#db.open) this.#flush();
    if (this.#db.open) this.#db.close();
  }

  #sweepNow(now: number): number {
    const removed = this.#sweep.run(now).changes;
    // Other processes on the file insert too: re-count rather than trust the estimate.
    this.#estimate = this.#count.get()!.n;
    return removed;
  }
}
