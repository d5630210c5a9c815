/**
 * The shared replay cache (docs/provenance.md#rules-for-every-hop, rule 5): several service instances on one PostgreSQL database
 * see each other's nonces. Atomicity comes from the primary key: `INSERT … ON CONFLICT` either
 * inserts the pair, takes over an expired row, or returns nothing (a replay).
 */
import pg from 'pg';
import { DEFAULT_REPLAY_CLEANUP_INTERVAL_MS, ReplayCacheUnavailableError, type ReplayCache } from './cache.js';

export { DEFAULT_REPLAY_CLEANUP_INTERVAL_MS } from './cache.js';

/** Migrations, applied in order, each once (recorded in `stella_provenance_migrations`). */
export const REPLAY_MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS stella_provenance_replay (
     hop text NOT NULL,
     nonce text NOT NULL,
     expires_at_ms bigint NOT NULL,
     PRIMARY KEY (hop, nonce)
   );
   CREATE INDEX IF NOT EXISTS stella_provenance_replay_expiry ON stella_provenance_replay (expires_at_ms);`,
];

/**
 * Options of {@link PostgresReplayCache}: a pool to share, or a URL for a pool it owns. A shared
 * pool's 'error' events are its owner's to handle.
 */
export interface PostgresReplayCacheOptions {
  pool?: pg.Pool;
  connectionString?: string;
  /** Clock in ms; the same clock decides expiry on every instance that uses it. */
  now?: () => number;
  /** 0 turns the periodic sweep off (call `sweep()` yourself). */
  cleanupIntervalMs?: number;
}

/** Replay cache in a PostgreSQL table. Call {@link PostgresReplayCache.migrate} once before use. */
export class PostgresReplayCache implements ReplayCache {
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;
  readonly #now: () => number;
  readonly #timer: NodeJS.Timeout | null;

  constructor(options: PostgresReplayCacheOptions) {
    if (!options.pool && !options.connectionString) throw new TypeError('PostgresReplayCache needs a pool or a connectionString');
    this.#pool = options.pool ?? new pg.Pool({ connectionString: options.connectionString, max: 4 });
    this.#ownsPool = !options.pool;
    // An idle client losing its connection (server restart, failover, pg_terminate_backend) makes
    // the pool emit 'error'; unheard, that would end the process. The next query reports it.
    if (this.#ownsPool) this.#pool.on('error', () => undefined);
    this.#now = options.now ?? Date.now;
    const interval = options.cleanupIntervalMs ?? DEFAULT_REPLAY_CLEANUP_INTERVAL_MS;
    this.#timer = interval > 0 ? setInterval(() => void this.sweep().catch(() => undefined), interval) : null;
    this.#timer?.unref();
  }

  /** Applies pending migrations; safe to run from several instances at once (advisory lock). */
  async migrate(): Promise<void> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("SELECT pg_advisory_xact_lock(hashtext('stella_provenance_migrations'))");
      await client.query('CREATE TABLE IF NOT EXISTS stella_provenance_migrations (version integer PRIMARY KEY)');
      const { rows } = await client.query<{ version: number }>('SELECT version FROM stella_provenance_migrations');
      const applied = new Set(rows.map((r) => r.version));
      for (const [index, sql] of REPLAY_MIGRATIONS.entries()) {
        if (applied.has(index + 1)) continue;
        await client.query(sql);
        await client.query('INSERT INTO stella_provenance_migrations (version) VALUES ($1)', [index + 1]);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** @throws ReplayCacheUnavailableError when PostgreSQL does not answer. */
  async checkAndRemember(hop: string, nonce: string, expiresAtMs: number): Promise<boolean> {
    const result = await this.#query(
      `INSERT INTO stella_provenance_replay (hop, nonce, expires_at_ms) VALUES ($1, $2, $3)
       ON CONFLICT (hop, nonce) DO UPDATE SET expires_at_ms = EXCLUDED.expires_at_ms
         WHERE stella_provenance_replay.expires_at_ms <= $4
       RETURNING 1`,
      [hop, nonce, Math.ceil(expiresAtMs), Math.floor(this.#now())],
    );
    return result.rowCount === 1;
  }

  async forget(hop: string, nonce: string): Promise<void> {
    await this.#query('DELETE FROM stella_provenance_replay WHERE hop = $1 AND nonce = $2', [hop, nonce]);
  }

  async #query(sql: string, values: unknown[]): Promise<pg.QueryResult> {
    try {
      return await this.#pool.query(sql, values);
    } catch (error) {
      throw new ReplayCacheUnavailableError(`replay cache: PostgreSQL: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Deletes expired rows; returns how many. */
  async sweep(): Promise<number> {
    const result = await this.#pool.query('DELETE FROM stella_provenance_replay WHERE expires_at_ms <= $1', [Math.floor(this.#now())]);
    return result.rowCount ?? 0;
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#ownsPool) await this.#pool.end();
  }
}
