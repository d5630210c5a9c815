/**
 * The shared evidence store (docs/services.md): PostgreSQL through `pg`, for several locker instances on
 * one database. Idempotency rests on the primary key and `ON CONFLICT DO NOTHING`: a concurrent
 * insert of the same digest waits for the first transaction and then yields to it, so every
 * instance answers with the one original row. A commit returns after PostgreSQL flushed its WAL
 * (`synchronous_commit` is forced `on` per session), so 201 means durable.
 */
import pg from 'pg';
import {
  ScanConflictError,
  StorageError,
  assertEvidenceRecord,
  assertNewArtifact,
  type ArtifactRef,
  type NewArtifact,
  type PutArtifactResult,
  type StoredArtifact,
  type CompleteResult,
  type EvidenceRecord,
  type EvidenceStore,
  type NewScan,
  type PutResult,
  type ScanCompletion,
  type ScanRecord,
} from './types.js';
import { putArtifactByStaging, type ArtifactStaging } from './staging.js';
import { dropStalePostgresUploads, readPostgresArtifact, stagePostgresArtifact, type PostgresArtifactIo } from './postgres-artifacts.js';
import { SELECT_ARTIFACT_REF as SELECT_REF, artifactRefFromRow, completionFromRow, EVIDENCE_COLUMNS, evidenceFromRow, evidenceValues, scanFromRow, type ArtifactRefRow, type EvidenceRow, type ScanRow } from './rows.js';

/** Connections per store instance; small, the services are I/O bound on fsync not CPU. */
export const DEFAULT_PG_POOL_SIZE = 10;
/** Arbitrary but fixed key of the advisory lock that serializes migrations across instances. */
const MIGRATION_LOCK_KEY = 0x5e11a_0001;

/** Versioned migrations; `schema_migrations` records which ran. Append only, never edit. */
const MIGRATIONS: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `CREATE TABLE evidence (
            id BIGSERIAL PRIMARY KEY,
            sha256 TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64),
            scan_id TEXT NOT NULL,
            service_id TEXT NOT NULL,
            payload_type TEXT NOT NULL,
            envelope BYTEA NOT NULL,
            hops TEXT NOT NULL,
            receipt TEXT NOT NULL,
            received_at TEXT NOT NULL
          );
          CREATE INDEX evidence_by_scan ON evidence (scan_id, id);
          CREATE TABLE scans (
            scan_id TEXT PRIMARY KEY,
            status TEXT NOT NULL CHECK (status IN ('registered', 'completed')),
            scanner_id TEXT NOT NULL,
            registration TEXT NOT NULL,
            registered_at TEXT NOT NULL,
            completion_sha256 TEXT,
            completion_envelope BYTEA,
            completion_report TEXT,
            completed_at TEXT
          );`,
  },
  {
    // Scan ownership (docs/services.md#who-may-write-and-read): existing rows are attributed to
    // hop 1's peer-id, and each existing scan to the scanner of its oldest row.
    version: 2,
    sql: `ALTER TABLE evidence ADD COLUMN scanner_id TEXT NOT NULL DEFAULT '';
          UPDATE evidence SET scanner_id = COALESCE(hops::jsonb->0->>'peerId', '');
          CREATE TABLE scan_owners (
            scan_id TEXT PRIMARY KEY,
            scanner_id TEXT NOT NULL,
            claimed_at TEXT NOT NULL
          );
          INSERT INTO scan_owners (scan_id, scanner_id, claimed_at)
            SELECT DISTINCT ON (scan_id) scan_id, scanner_id, received_at FROM evidence ORDER BY scan_id, id
          ON CONFLICT DO NOTHING;`,
  },
  {
    // The request facts the hop MACs cover (docs/services.md#offline-verification); old rows keep NULL.
    version: 3,
    sql: 'ALTER TABLE evidence ADD COLUMN request TEXT;',
  },
  {
    // Artifacts (docs/services.md#artifacts): one copy per SHA-256 in 1 MiB BYTEA chunk rows
    // (TOAST keeps each out of line), and each scan's reference to it.
    version: 4,
    sql: `CREATE TABLE artifacts (
            sha256 TEXT PRIMARY KEY CHECK (length(sha256) = 64),
            size BIGINT NOT NULL,
            chunks INTEGER NOT NULL,
            stored_at TEXT NOT NULL
          );
          CREATE TABLE artifact_chunks (
            sha256 TEXT NOT NULL REFERENCES artifacts (sha256),
            idx INTEGER NOT NULL,
            bytes BYTEA NOT NULL,
            PRIMARY KEY (sha256, idx)
          );
          ALTER TABLE artifact_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;
          CREATE TABLE artifact_refs (
            id BIGSERIAL PRIMARY KEY,
            scan_id TEXT NOT NULL,
            sha256 TEXT NOT NULL REFERENCES artifacts (sha256),
            scanner_id TEXT NOT NULL,
            evidence_sha256 TEXT NOT NULL,
            referenced_at TEXT NOT NULL,
            UNIQUE (scan_id, sha256)
          );
          CREATE INDEX artifact_refs_by_sha256 ON artifact_refs (sha256);`,
  },
  {
    // Streamed uploads (docs/services.md#artifacts): chunks are keyed by an upload id (`blob`) and
    // reached only through `artifacts.blob`, so an upload is written where it will stay and made the
    // artifact by one small commit. Chunks stored before keep their digest as their blob id.
    version: 5,
    sql: `CREATE TABLE artifact_uploads (
            blob TEXT PRIMARY KEY,
            started_at BIGINT NOT NULL
          );
          ALTER TABLE artifacts ADD COLUMN blob TEXT;
          UPDATE artifacts SET blob = sha256;
          ALTER TABLE artifacts ALTER COLUMN blob SET NOT NULL;
          ALTER TABLE artifact_chunks DROP CONSTRAINT artifact_chunks_sha256_fkey;
          ALTER TABLE artifact_chunks RENAME COLUMN sha256 TO blob;`,
  },
  {
    // The v2 members as received (docs/provenance.md#part-2-version-2), so a stored chain can be
    // re-verified with public keys alone; v1 rows keep NULL.
    version: 6,
    sql: 'ALTER TABLE evidence ADD COLUMN provenance_v2 TEXT;',
  },
];

export interface PostgresStoreOptions {
  /** A `postgres://` connection URL. */
  readonly url: string;
  readonly poolSize?: number;
  /** Clock in ms for upload start times and their clean-up; default `Date.now`. */
  readonly now?: () => number;
}

const COLUMNS = EVIDENCE_COLUMNS.join(', ');

/** Connects, runs pending migrations (once across concurrent instances) and returns the store. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<EvidenceStore> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? DEFAULT_PG_POOL_SIZE,
    // A server may default to asynchronous commit; the 201 contract needs it on (docs/services.md).
    options: '-c synchronous_commit=on',
  });
  // An idle client losing its connection must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  try {
    await migrate(pool);
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new StorageError('storage-unavailable', `cannot open PostgreSQL store: ${(error as Error).message}`, { cause: error });
  }
  const store = new PostgresStore(pool, options.now ?? Date.now);
  await store.dropStaleUploads().catch(() => undefined);
  return store;
}

async function migrate(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Transaction-scoped: released at COMMIT/ROLLBACK even if this process dies.
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((r) => r.version));
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [migration.version]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

class PostgresStore implements EvidenceStore {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #now: () => number;
  #closed = false;

  constructor(pool: pg.Pool, now: () => number) {
    this.#pool = pool;
    this.#now = now;
  }

  async putEvidence(record: EvidenceRecord): Promise<PutResult> {
    assertEvidenceRecord(record);
    return this.#guard(async () => {
      const client = await this.#pool.connect();
      try {
        await client.query('BEGIN');
        // Claim the scan first. A concurrent claim of the same new scan id waits on the primary
        // key for the other transaction and then yields to it; the SELECT (a new statement under
        // READ COMMITTED) then sees the winner, so exactly one scanner owns the scan.
        await client.query('INSERT INTO scan_owners (scan_id, scanner_id, claimed_at) VALUES ($1, $2, $3) ON CONFLICT (scan_id) DO NOTHING', [
          record.scanId,
          record.scannerId,
          record.receivedAt,
        ]);
        const owner = (await client.query<{ scanner_id: string }>('SELECT scanner_id FROM scan_owners WHERE scan_id = $1', [record.scanId])).rows[0]?.scanner_id;
        if (owner !== record.scannerId) {
          await client.query('ROLLBACK');
          throw new ScanConflictError(record.scanId, owner ?? '(none)', record.scannerId);
        }
        const inserted = await client.query(
          `INSERT INTO evidence (${COLUMNS}) VALUES (${EVIDENCE_COLUMNS.map((_c, i) => `$${i + 1}`).join(', ')})
           ON CONFLICT (sha256) DO NOTHING RETURNING sha256`,
          evidenceValues(record),
        );
        await client.query('COMMIT');
        if (inserted.rowCount === 1) return { created: true, record };
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
      // The conflicting transaction has committed (ON CONFLICT waited for it), and this new
      // statement takes a fresh snapshot under READ COMMITTED, so the row is visible.
      const existing = await this.#pool.query<EvidenceRow>(`SELECT ${COLUMNS} FROM evidence WHERE sha256 = $1`, [record.sha256]);
      const row = existing.rows[0];
      if (!row) throw new StorageError('storage-corrupt', `evidence ${record.sha256} conflicted but cannot be read`);
      return { created: false, record: evidenceFromRow(row) };
    });
  }

  async getScanOwner(scanId: string): Promise<string | null> {
    return this.#guard(async () => {
      const { rows } = await this.#pool.query<{ scanner_id: string }>('SELECT scanner_id FROM scan_owners WHERE scan_id = $1', [scanId]);
      return rows[0]?.scanner_id ?? null;
    });
  }

  async getEvidence(sha256: string): Promise<EvidenceRecord | null> {
    return this.#guard(async () => {
      const { rows } = await this.#pool.query<EvidenceRow>(`SELECT ${COLUMNS} FROM evidence WHERE sha256 = $1`, [sha256]);
      return rows[0] ? evidenceFromRow(rows[0]) : null;
    });
  }

  async listByScan(scanId: string): Promise<EvidenceRecord[]> {
    return this.#guard(async () => {
      const { rows } = await this.#pool.query<EvidenceRow>(`SELECT ${COLUMNS} FROM evidence WHERE scan_id = $1 ORDER BY id`, [scanId]);
      return rows.map(evidenceFromRow);
    });
  }

  async registerScan(scan: NewScan): Promise<{ created: boolean; record: ScanRecord }> {
    return this.#guard(async () => {
      const inserted = await this.#pool.query(
        `INSERT INTO scans (scan_id, status, scanner_id, registration, registered_at) VALUES ($1, 'registered', $2, $3, $4)
         ON CONFLICT (scan_id) DO NOTHING`,
        [scan.scanId, scan.scannerId, JSON.stringify(scan.registration), scan.registeredAt],
      );
      const row = await this.#scanRow(scan.scanId);
      if (!row) throw new StorageError('storage-corrupt', `scan ${scan.scanId} was written but cannot be read`);
      return { created: inserted.rowCount === 1, record: scanFromRow(row) };
    });
  }

  async getScan(scanId: string): Promise<ScanRecord | null> {
    return this.#guard(async () => {
      const row = await this.#scanRow(scanId);
      return row ? scanFromRow(row) : null;
    });
  }

  async completeScan(scanId: string, completion: ScanCompletion): Promise<CompleteResult> {
    return this.#guard(async () => {
      const updated = await this.#pool.query(
        `UPDATE scans SET status = 'completed', completion_sha256 = $1, completion_envelope = $2, completion_report = $3, completed_at = $4
         WHERE scan_id = $5 AND status = 'registered'`,
        [completion.envelopeSha256, Buffer.from(completion.envelope), JSON.stringify(completion.report), completion.completedAt, scanId],
      );
      return completionFromRow((await this.#scanRow(scanId)) ?? null, updated.rowCount === 1, completion.envelopeSha256);
    });
  }

  async putArtifact(artifact: NewArtifact): Promise<PutArtifactResult> {
    assertNewArtifact(artifact);
    return putArtifactByStaging(await this.stageArtifact(artifact.sha256), artifact);
  }

  async stageArtifact(sha256: string): Promise<ArtifactStaging> {
    return stagePostgresArtifact(this.#io(), sha256);
  }

  /** Deletes uploads older than `STALE_UPLOAD_MS` (staging.ts): cut short by a crash, never reachable. */
  async dropStaleUploads(): Promise<void> {
    await dropStalePostgresUploads(this.#io());
  }

  async getArtifact(sha256: string): Promise<StoredArtifact | null> {
    return readPostgresArtifact(this.#io(), sha256);
  }

  /** What the artifact functions of `postgres-artifacts.ts` use of this store. */
  #io(): PostgresArtifactIo {
    return { pool: this.#pool, guard: (work) => this.#guard(work), now: this.#now };
  }

  async getArtifactRef(scanId: string, sha256: string): Promise<ArtifactRef | null> {
    return this.#guard(async () => {
      const row = (await this.#pool.query<ArtifactRefRow>(`${SELECT_REF} WHERE r.scan_id = $1 AND r.sha256 = $2`, [scanId, sha256])).rows[0];
      return row ? artifactRefFromRow(row) : null;
    });
  }

  async listArtifactsByScan(scanId: string): Promise<ArtifactRef[]> {
    return this.#guard(async () => (await this.#pool.query<ArtifactRefRow>(`${SELECT_REF} WHERE r.scan_id = $1 ORDER BY r.id`, [scanId])).rows.map(artifactRefFromRow));
  }

  async ping(): Promise<void> {
    await this.#guard(() => this.#pool.query('SELECT 1'));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }

  async #scanRow(scanId: string): Promise<ScanRow | undefined> {
    const { rows } = await this.#pool.query<ScanRow>('SELECT * FROM scans WHERE scan_id = $1', [scanId]);
    return rows[0];
  }

  async #guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof StorageError || error instanceof ScanConflictError || error instanceof TypeError) throw error;
      throw new StorageError('storage-unavailable', `PostgreSQL: ${(error as Error).message}`, { cause: error });
    }
  }
}
