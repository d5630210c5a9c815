/**
 * The embedded evidence store (docs/services.md): one SQLite file, WAL journal, through the driver
 * of the running Node.js line (src/io/sqlite-driver.ts: better-sqlite3 12, or 13 on Node.js 24).
 *
 * Durability: `synchronous = FULL` makes every commit fsync the WAL before `run()` returns, so a
 * promise of this store resolves only once the row is on disk — the locker may send 201 then.
 * better-sqlite3 is synchronous, so writes of one process are serialized by the event loop;
 * several processes on one file are serialized by SQLite's lock (`busy_timeout`).
 */
import type Database from 'better-sqlite3';
import { openDurableSqlite } from '../io/sqlite.js';
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
import { dropStaleSqliteUploads, readSqliteArtifact, stageSqliteArtifact, type SqliteArtifactIo } from './sqlite-artifacts.js';
import { SELECT_ARTIFACT_REF, artifactRefFromRow, completionFromRow, EVIDENCE_COLUMNS, evidenceFromRow, evidenceValues, scanFromRow, type ArtifactRefRow, type EvidenceRow, type ScanRow } from './rows.js';

/** How long a writer waits for another process's lock before failing. */
export const DEFAULT_SQLITE_BUSY_TIMEOUT_MS = 5000;

/** Versioned schema: index i holds the statements that bring `user_version` from i to i+1. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE evidence (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     sha256 TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64),
     scan_id TEXT NOT NULL,
     service_id TEXT NOT NULL,
     payload_type TEXT NOT NULL,
     envelope BLOB NOT NULL,
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
     completion_envelope BLOB,
     completion_report TEXT,
     completed_at TEXT
   );`,
  // Scan ownership (docs/services.md#who-may-write-and-read): existing rows are attributed to
  // hop 1's peer-id, and each existing scan to the scanner of its oldest row.
  `ALTER TABLE evidence ADD COLUMN scanner_id TEXT NOT NULL DEFAULT '';
   UPDATE evidence SET scanner_id = COALESCE(json_extract(hops, '$[0].peerId'), '');
   CREATE TABLE scan_owners (
     scan_id TEXT PRIMARY KEY,
     scanner_id TEXT NOT NULL,
     claimed_at TEXT NOT NULL
   );
   INSERT OR IGNORE INTO scan_owners (scan_id, scanner_id, claimed_at)
     SELECT scan_id, scanner_id, received_at FROM evidence ORDER BY id;`,
  // The request facts the hop MACs cover (docs/services.md#offline-verification); old rows keep NULL.
  `ALTER TABLE evidence ADD COLUMN request TEXT;`,
  // Artifacts (docs/services.md#artifacts): one copy per SHA-256 in 1 MiB chunk rows, and each
  // scan's reference to it.
  `CREATE TABLE artifacts (
     sha256 TEXT PRIMARY KEY CHECK (length(sha256) = 64),
     size INTEGER NOT NULL,
     chunks INTEGER NOT NULL,
     stored_at TEXT NOT NULL
   );
   CREATE TABLE artifact_chunks (
     sha256 TEXT NOT NULL REFERENCES artifacts (sha256),
     idx INTEGER NOT NULL,
     bytes BLOB NOT NULL,
     PRIMARY KEY (sha256, idx)
   ) WITHOUT ROWID;
   CREATE TABLE artifact_refs (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     scan_id TEXT NOT NULL,
     sha256 TEXT NOT NULL REFERENCES artifacts (sha256),
     scanner_id TEXT NOT NULL,
     evidence_sha256 TEXT NOT NULL,
     referenced_at TEXT NOT NULL,
     UNIQUE (scan_id, sha256)
   );
   CREATE INDEX artifact_refs_by_sha256 ON artifact_refs (sha256);`,
  // Streamed uploads (docs/services.md#artifacts): chunks are keyed by an upload id (`blob`) and
  // reached only through `artifacts.blob`, so an upload is written where it will stay and made the
  // artifact by one small commit. Chunks stored before keep their digest as their blob id.
  `CREATE TABLE artifact_uploads (
     blob TEXT PRIMARY KEY,
     started_at INTEGER NOT NULL
   );
   ALTER TABLE artifacts ADD COLUMN blob TEXT;
   UPDATE artifacts SET blob = sha256;
   CREATE TABLE artifact_blob_chunks (
     blob TEXT NOT NULL,
     idx INTEGER NOT NULL,
     bytes BLOB NOT NULL,
     PRIMARY KEY (blob, idx)
   ) WITHOUT ROWID;
   INSERT INTO artifact_blob_chunks (blob, idx, bytes) SELECT sha256, idx, bytes FROM artifact_chunks;
   DROP TABLE artifact_chunks;
   ALTER TABLE artifact_blob_chunks RENAME TO artifact_chunks;`,
  // The v2 members as received (docs/provenance.md#part-2-version-2), so a stored chain can be
  // re-verified with public keys alone; v1 rows keep NULL.
  `ALTER TABLE evidence ADD COLUMN provenance_v2 TEXT;`,
];

export interface SqliteStoreOptions {
  /** Path of the database file; its folder is created when missing. */
  readonly file: string;
  readonly busyTimeoutMs?: number;
  /** Clock in ms for upload start times and their clean-up; default `Date.now`. */
  readonly now?: () => number;
}

/** Opens (and migrates) a SQLite evidence store. */
export function openSqliteStore(options: SqliteStoreOptions): EvidenceStore {
  let db: Database.Database;
  try {
    db = openDurableSqlite({ file: options.file, busyTimeoutMs: options.busyTimeoutMs ?? DEFAULT_SQLITE_BUSY_TIMEOUT_MS, migrations: MIGRATIONS, pragmas: ['foreign_keys = ON'] });
  } catch (error) {
    throw new StorageError('storage-unavailable', `cannot open SQLite store ${options.file}: ${(error as Error).message}`, { cause: error });
  }
  const store = new SqliteStore(db, options.now ?? Date.now);
  store.dropStaleUploads();
  return store;
}

class SqliteStore implements EvidenceStore {
  readonly kind = 'sqlite' as const;
  readonly #db: Database.Database;
  readonly #insertEvidence: Database.Statement;
  readonly #selectEvidence: Database.Statement<[string], EvidenceRow>;
  readonly #selectByScan: Database.Statement<[string], EvidenceRow>;
  readonly #selectOwner: Database.Statement<[string], { scanner_id: string }>;
  readonly #insertOwner: Database.Statement;
  readonly #insertScan: Database.Statement;
  readonly #selectScan: Database.Statement<[string], ScanRow>;
  readonly #completeScan: Database.Statement;
  readonly #pendingPuts: { record: EvidenceRecord; resolve: (result: PutResult) => void; reject: (error: unknown) => void }[] = [];
  readonly #now: () => number;

  constructor(db: Database.Database, now: () => number) {
    this.#db = db;
    this.#now = now;
    const columns = EVIDENCE_COLUMNS.join(', ');
    this.#insertEvidence = db.prepare(
      `INSERT INTO evidence (${columns}) VALUES (${EVIDENCE_COLUMNS.map(() => '?').join(', ')}) ON CONFLICT (sha256) DO NOTHING`,
    );
    this.#selectOwner = db.prepare('SELECT scanner_id FROM scan_owners WHERE scan_id = ?');
    this.#insertOwner = db.prepare('INSERT INTO scan_owners (scan_id, scanner_id, claimed_at) VALUES (?, ?, ?)');
    this.#selectEvidence = db.prepare(`SELECT ${columns} FROM evidence WHERE sha256 = ?`);
    this.#selectByScan = db.prepare(`SELECT ${columns} FROM evidence WHERE scan_id = ? ORDER BY id`);
    this.#insertScan = db.prepare(
      `INSERT INTO scans (scan_id, status, scanner_id, registration, registered_at) VALUES (?, 'registered', ?, ?, ?)
       ON CONFLICT (scan_id) DO NOTHING`,
    );
    this.#selectScan = db.prepare('SELECT * FROM scans WHERE scan_id = ?');
    this.#completeScan = db.prepare(
      `UPDATE scans SET status = 'completed', completion_sha256 = ?, completion_envelope = ?, completion_report = ?, completed_at = ?
       WHERE scan_id = ? AND status = 'registered'`,
    );
  }

  /**
   * Group commit: puts that arrive in the same turn of the event loop share one transaction, so
   * one fsync (synchronous=FULL) acknowledges them all. Each promise resolves only after that
   * commit returned, i.e. after the row is durable (docs/services.md: acknowledged means durable).
   */
  async putEvidence(record: EvidenceRecord): Promise<PutResult> {
    assertEvidenceRecord(record);
    if (!this.#db.open) throw new StorageError('storage-unavailable', 'SQLite: the store is closed');
    return new Promise<PutResult>((resolve, reject) => {
      this.#pendingPuts.push({ record, resolve, reject });
      if (this.#pendingPuts.length === 1) setImmediate(() => this.#flushPuts());
    });
  }

  #flushPuts(): void {
    const batch = this.#pendingPuts.splice(0);
    if (batch.length === 0) return; // close() flushed it already
    let results: (PutResult | ScanConflictError)[];
    try {
      results = this.#guard(() => this.#db.transaction(() => batch.map(({ record }) => this.#putOne(record))).immediate());
    } catch (error) {
      for (const put of batch) put.reject(error);
      return;
    }
    batch.forEach((put, i) => {
      const result = results[i]!;
      if (result instanceof ScanConflictError) put.reject(result);
      else put.resolve(result);
    });
  }

  /**
   * One idempotent insert inside the batch's transaction; a repeat (even within the batch) reads
   * the original. The scan is claimed in the same transaction (BEGIN IMMEDIATE holds the write
   * lock, also against other processes), so exactly one scanner owns it.
   */
  #putOne(record: EvidenceRecord): PutResult | ScanConflictError {
    const owner = this.#selectOwner.get(record.scanId)?.scanner_id;
    if (owner === undefined) this.#insertOwner.run(record.scanId, record.scannerId, record.receivedAt);
    else if (owner !== record.scannerId) return new ScanConflictError(record.scanId, owner, record.scannerId);
    const info = this.#insertEvidence.run(...evidenceValues(record));
    if (info.changes === 1) return { created: true, record };
    const existing = this.#selectEvidence.get(record.sha256);
    if (!existing) throw new StorageError('storage-corrupt', `evidence ${record.sha256} conflicted but cannot be read`);
    return { created: false, record: evidenceFromRow(existing) };
  }

  async getEvidence(sha256: string): Promise<EvidenceRecord | null> {
    return this.#guard(() => {
      const row = this.#selectEvidence.get(sha256);
      return row ? evidenceFromRow(row) : null;
    });
  }

  async getScanOwner(scanId: string): Promise<string | null> {
    return this.#guard(() => this.#selectOwner.get(scanId)?.scanner_id ?? null);
  }

  async listByScan(scanId: string): Promise<EvidenceRecord[]> {
    return this.#guard(() => this.#selectByScan.all(scanId).map(evidenceFromRow));
  }

  async registerScan(scan: NewScan): Promise<{ created: boolean; record: ScanRecord }> {
    return this.#guard(() => {
      const info = this.#insertScan.run(scan.scanId, scan.scannerId, JSON.stringify(scan.registration), scan.registeredAt);
      const row = this.#selectScan.get(scan.scanId);
      if (!row) throw new StorageError('storage-corrupt', `scan ${scan.scanId} was written but cannot be read`);
      return { created: info.changes === 1, record: scanFromRow(row) };
    });
  }

  async getScan(scanId: string): Promise<ScanRecord | null> {
    return this.#guard(() => {
      const row = this.#selectScan.get(scanId);
      return row ? scanFromRow(row) : null;
    });
  }

  async completeScan(scanId: string, completion: ScanCompletion): Promise<CompleteResult> {
    return this.#guard(() => {
      const info = this.#completeScan.run(
        completion.envelopeSha256,
        Buffer.from(completion.envelope),
        JSON.stringify(completion.report),
        completion.completedAt,
        scanId,
      );
      const row = this.#selectScan.get(scanId);
      return completionFromRow(row ?? null, info.changes === 1, completion.envelopeSha256);
    });
  }

  async putArtifact(artifact: NewArtifact): Promise<PutArtifactResult> {
    assertNewArtifact(artifact);
    return putArtifactByStaging(await this.stageArtifact(artifact.sha256), artifact);
  }

  async stageArtifact(sha256: string): Promise<ArtifactStaging> {
    return stageSqliteArtifact(this.#io(), sha256);
  }

  /** Deletes uploads older than `STALE_UPLOAD_MS` (staging.ts): cut short by a crash, never reachable. */
  dropStaleUploads(): void {
    dropStaleSqliteUploads(this.#io());
  }

  async getArtifact(sha256: string): Promise<StoredArtifact | null> {
    return readSqliteArtifact(this.#io(), sha256);
  }

  /** What the artifact functions of `sqlite-artifacts.ts` use of this store. */
  #io(): SqliteArtifactIo {
    return { db: this.#db, guard: (work) => this.#guard(work), now: this.#now };
  }

  async getArtifactRef(scanId: string, sha256: string): Promise<ArtifactRef | null> {
    return this.#guard(() => {
      const row = this.#db.prepare(`${SELECT_ARTIFACT_REF} WHERE r.scan_id = ? AND r.sha256 = ?`).get(scanId, sha256) as ArtifactRefRow | undefined;
      return row ? artifactRefFromRow(row) : null;
    });
  }

  async listArtifactsByScan(scanId: string): Promise<ArtifactRef[]> {
    return this.#guard(() =>
      (this.#db.prepare(`${SELECT_ARTIFACT_REF} WHERE r.scan_id = ? ORDER BY r.id`).all(scanId) as ArtifactRefRow[]).map(artifactRefFromRow),
    );
  }

  async ping(): Promise<void> {
    this.#guard(() => this.#db.prepare('SELECT 1').get());
  }

  async close(): Promise<void> {
    // Puts already accepted are committed (or refused) before the handle goes.
    if (this.#pendingPuts.length > 0) this.#flushPuts();
    if (this.#db.open) this.#db.close();
  }

  /** Turns driver failures into a typed storage error (services answer 503, never 500). */
  #guard<T>(work: () => T): T {
    // better-sqlite3 reports a closed handle as a TypeError; to callers it is an unavailable store.
    if (!this.#db.open) throw new StorageError('storage-unavailable', 'SQLite: the store is closed');
    try {
      return work();
    } catch (error) {
      if (error instanceof StorageError || error instanceof TypeError) throw error;
      throw new StorageError('storage-unavailable', `SQLite: ${(error as Error).message}`, { cause: error });
    }
  }
}
