/**
 * The durable outbox of the scanner worker (docs/scanner.md): every artifact is committed here — its
 * bytes, scan id and delivery state — before any attempt to send it, so nothing is lost while a
 * gateway or the locker is down, or when the worker is killed.
 *
 * SQLite (better-sqlite3 12, or 13 on Node.js 24: src/io/sqlite-driver.ts) in WAL mode with
 * `synchronous=FULL`: a returned `enqueue` or state change has reached the disk. The worker is the only writer of an outbox; `scanner status`
 * may read it concurrently (WAL lets readers run beside the writer).
 *
 * Exactly-once towards the locker (which is idempotent by envelope SHA-256, docs/scanner.md) rests on two
 * facts kept here: the signed envelope is frozen in the item *before* the first send, so a retry
 * (after a crash too) resends the same bytes; and `enqueue` is idempotent per (scan id, artifact
 * digest, name), so re-submitting a file after a crash finds the existing item. See
 * docs/scanner.md "Exactly once" for the case where the client certificate changes.
 *
 * Both facts assume one writer: two workers on one outbox could each sign the same item with
 * different certificates. A writer therefore holds `<file>.lock` (its pid); a lock left by a dead
 * process (kill -9) is taken over, a live one makes `open` fail with `SCANNER_OUTBOX`.
 */
import type Database from 'better-sqlite3';
import { openSqlite } from '../io/sqlite-driver.js';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ScannerError } from './errors.js';
import { takeWriterLock } from './lock.js';

/** Delivery state of an outbox item. `pending` includes "in flight": a crash leaves it pending. */
export type OutboxState = 'pending' | 'delivered' | 'rejected';
/** Every state, in the order `scanner status` prints them. */
export const OUTBOX_STATES: readonly OutboxState[] = ['pending', 'delivered', 'rejected'];

/**
 * Schema version. 2 adds `pruned_ms`: when `prune` dropped the bytes and envelope of a delivered
 * item (the row, its digest and receipt stay, so a re-submitted file is still recognised).
 */
const SCHEMA_VERSION = 2;
/** Mode of the outbox file, its WAL/SHM (SQLite gives them the database file's mode) and its lock: artifacts and receipts are the scanner's. */
export const OUTBOX_FILE_MODE = 0o600;
/** How long delivered items keep their bytes when nothing else is configured (docs/scanner.md#outbox-size-and-pruning). */
export const DEFAULT_RETENTION_MS = 7 * 24 * 3_600_000;
const SCHEMA = `
CREATE TABLE IF NOT EXISTS items (
  id                 INTEGER PRIMARY KEY,
  scan_id            TEXT    NOT NULL,
  name               TEXT    NOT NULL,
  artifact_sha256    TEXT    NOT NULL,
  bytes              BLOB    NOT NULL,
  state              TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'rejected')),
  attempts           INTEGER NOT NULL DEFAULT 0,
  enqueued_ms        INTEGER NOT NULL,
  next_attempt_ms    INTEGER NOT NULL,
  envelope           BLOB,
  envelope_sha256    TEXT,
  client_fingerprint TEXT,
  last_status        INTEGER,
  last_error_code    TEXT,
  last_error_message TEXT,
  receipt            TEXT,
  delivered_ms       INTEGER,
  pruned_ms          INTEGER,
  UNIQUE (scan_id, artifact_sha256, name)
);
CREATE INDEX IF NOT EXISTS items_due ON items (state, next_attempt_ms);
`;

/** One artifact in the outbox. */
export interface OutboxItem {
  id: number;
  scanId: string;
  name: string;
  /** Lower-case hex SHA-256 of {@link bytes}. */
  artifactSha256: string;
  bytes: Buffer;
  state: OutboxState;
  /** Attempts started so far (counted before sending, so a crash mid-send counts). */
  attempts: number;
  enqueuedMs: number;
  nextAttemptMs: number;
  /** The signed DSSE envelope, frozen before its first send; null until then. */
  envelope: Buffer | null;
  envelopeSha256: string | null;
  /** `sha256:<hex>` of the client certificate named in the envelope's traversal intent. */
  clientFingerprint: string | null;
  lastStatus: number | null;
  lastErrorCode: string | null;
  lastErrorMessage: string | null;
  /** The locker's receipt (DSSE envelope JSON), once delivered. */
  receipt: string | null;
  deliveredMs: number | null;
}

/** What the outbox occupies on disk, for `scanner status` (docs/scanner.md#outbox-size-and-pruning). */
export interface OutboxSize {
  /** Bytes of the database file and of its WAL beside it. */
  fileBytes: number;
  walBytes: number;
  /** Artifact bytes still kept, by state (pruned items keep none). */
  artifactBytes: Record<OutboxState, number>;
  /** Delivered items whose bytes were pruned. */
  prunedItems: number;
}

/** What {@link Outbox.prune} freed. */
export interface PruneResult {
  items: number;
  /** Artifact and envelope bytes dropped (the file shrinks by about this much after a vacuum). */
  bytes: number;
}

/** Counts per state and the most recent errors, for `scanner status`. */
export interface OutboxSummary {
  counts: Record<OutboxState, number>;
  /** When the oldest pending item was accepted (Unix ms), or null when none is pending: the worker's backlog age. */
  oldestPendingMs: number | null;
  size: OutboxSize;
  lastErrors: { id: number; scanId: string; name: string; state: OutboxState; attempts: number; code: string; message: string | null; status: number | null }[];
}

interface Row {
  id: number; scan_id: string; name: string; artifact_sha256: string; bytes: Buffer; state: OutboxState; attempts: number;
  enqueued_ms: number; next_attempt_ms: number; envelope: Buffer | null; envelope_sha256: string | null; client_fingerprint: string | null;
  last_status: number | null; last_error_code: string | null; last_error_message: string | null; receipt: string | null; delivered_ms: number | null;
}

function toItem(r: Row): OutboxItem {
  return {
    id: r.id, scanId: r.scan_id, name: r.name, artifactSha256: r.artifact_sha256, bytes: r.bytes, state: r.state, attempts: r.attempts,
    enqueuedMs: r.enqueued_ms, nextAttemptMs: r.next_attempt_ms, envelope: r.envelope, envelopeSha256: r.envelope_sha256,
    clientFingerprint: r.client_fingerprint, lastStatus: r.last_status, lastErrorCode: r.last_error_code,
    lastErrorMessage: r.last_error_message, receipt: r.receipt, deliveredMs: r.delivered_ms,
  };
}

/** Options of {@link Outbox.open}. */
export interface OutboxOptions {
  /** Clock in Unix milliseconds; injected for tests. */
  now?: () => number;
  /** Open for reading only (`scanner status`): never creates the file or the schema, takes no lock. */
  readonly?: boolean;
}

/** The durable queue of artifacts to deliver. Create with {@link Outbox.open}. */
export class Outbox {
  private constructor(
    private readonly db: Database.Database,
    private readonly now: () => number,
    private readonly unlock: () => void,
    private readonly file: string,
  ) {}

  /**
   * Opens (creating when needed) an outbox database.
   *
   * @throws ScannerError `SCANNER_OUTBOX` when the file cannot be opened or has a newer schema.
   */
  static open(file: string, options: OutboxOptions = {}): Outbox {
    let db: Database.Database | undefined;
    let unlock = (): void => undefined;
    try {
      if (!options.readonly) {
        mkdirSync(dirname(file), { recursive: true });
        unlock = takeWriterLock(file);
        // Created (empty: a valid new database) or tightened to 0600 before SQLite opens it, so the
        // WAL and SHM it creates get the same mode.
        writeFileSync(file, '', { flag: 'a', mode: OUTBOX_FILE_MODE });
        chmodSync(file, OUTBOX_FILE_MODE);
      }
      db = openSqlite(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
      db.pragma('busy_timeout = 5000');
      if (!options.readonly) {
        db.pragma('journal_mode = WAL');
        // FULL: a commit is on disk when it returns, so "enqueued" survives power loss (docs/scanner.md).
        db.pragma('synchronous = FULL');
        const version = db.pragma('user_version', { simple: true }) as number;
        if (version > SCHEMA_VERSION) throw new Error(`outbox schema version ${version} is newer than this worker's ${SCHEMA_VERSION}`);
        const handle = db;
        handle.transaction(() => {
          handle.exec(SCHEMA);
          if (version === 1) handle.exec('ALTER TABLE items ADD COLUMN pruned_ms INTEGER');
          handle.pragma(`user_version = ${SCHEMA_VERSION}`);
        }).immediate();
      } else {
        // Reading only: a file that is not an outbox is named as such, not met by a failed query later.
        const version = db.pragma('user_version', { simple: true }) as number;
        const items = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'items'").get();
        if (version < 1 || !items) throw new Error('the file is not an outbox (no items table); name the outbox of a scanner, e.g. <topology folder>/var/<scanner>.outbox.db');
        if (version > SCHEMA_VERSION) throw new Error(`outbox schema version ${version} is newer than this worker's ${SCHEMA_VERSION}`);
      }
    } catch (error) {
      db?.close();
      unlock();
      throw new ScannerError('SCANNER_OUTBOX', `cannot open outbox ${file}: ${(error as Error).message}`, { cause: error });
    }
    return new Outbox(db, options.now ?? Date.now, unlock, file);
  }

  /**
   * Commits an artifact. Idempotent per (scan id, artifact digest, name): a second call returns
   * the existing item (whatever its state) with `created: false`, so re-submitting after a crash
   * never delivers twice.
   */
  enqueue(input: { scanId: string; name: string; bytes: Uint8Array }): { item: OutboxItem; created: boolean } {
    const bytes = Buffer.from(input.bytes);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const now = this.now();
    const info = this.db
      .prepare(`INSERT INTO items (scan_id, name, artifact_sha256, bytes, state, enqueued_ms, next_attempt_ms)
                VALUES (?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT (scan_id, artifact_sha256, name) DO NOTHING`)
      .run(input.scanId, input.name, sha256, bytes, now, now);
    const row = this.db.prepare('SELECT * FROM items WHERE scan_id = ? AND artifact_sha256 = ? AND name = ?').get(input.scanId, sha256, input.name) as Row;
    return { item: toItem(row), created: info.changes === 1 };
  }

  /** One item by id, or undefined. */
  get(id: number): OutboxItem | undefined {
    const row = this.db.prepare('SELECT * FROM items WHERE id = ?').get(id) as Row | undefined;
    return row ? toItem(row) : undefined;
  }

  /** Pending items whose next attempt time has come, oldest first. */
  due(limit = 16, nowMs = this.now()): OutboxItem[] {
    const rows = this.db
      .prepare("SELECT * FROM items WHERE state = 'pending' AND next_attempt_ms <= ? ORDER BY next_attempt_ms, id LIMIT ?")
      .all(nowMs, limit) as Row[];
    return rows.map(toItem);
  }

  /** The earliest next-attempt time of any pending item, or null when nothing is pending. */
  nextDueMs(): number | null {
    const row = this.db.prepare("SELECT MIN(next_attempt_ms) AS t FROM items WHERE state = 'pending'").get() as { t: number | null };
    return row.t;
  }

  /** Counts an attempt as started; committed before the request leaves (a crash then counts it). */
  beginAttempt(id: number): void {
    this.db.prepare("UPDATE items SET attempts = attempts + 1 WHERE id = ? AND state = 'pending'").run(id);
  }

  /** Freezes the envelope to send (and resend) for this item. Committed before the first send. */
  saveEnvelope(id: number, envelope: Uint8Array, clientFingerprint: string): void {
    const bytes = Buffer.from(envelope);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    this.db.prepare('UPDATE items SET envelope = ?, envelope_sha256 = ?, client_fingerprint = ? WHERE id = ?').run(bytes, sha256, clientFingerprint, id);
  }

  /** Marks an item delivered; only called once its receipt is in hand (and verified, when configured). */
  markDelivered(id: number, receipt: string, status: number): void {
    this.db
      .prepare("UPDATE items SET state = 'delivered', receipt = ?, last_status = ?, delivered_ms = ?, last_error_code = NULL, last_error_message = NULL WHERE id = ?")
      .run(receipt, status, this.now(), id);
  }

  /** Marks an item rejected for good (a 4xx answer, or a receipt that does not verify). */
  markRejected(id: number, error: { code: string; message: string; status?: number | undefined }): void {
    this.db
      .prepare("UPDATE items SET state = 'rejected', last_error_code = ?, last_error_message = ?, last_status = ? WHERE id = ?")
      .run(error.code, error.message, error.status ?? null, id);
  }

  /** Records a transient failure and when to try again. */
  scheduleRetry(id: number, error: { code: string; message: string; status?: number | undefined }, nextAttemptMs: number): void {
    this.db
      .prepare("UPDATE items SET next_attempt_ms = ?, last_error_code = ?, last_error_message = ?, last_status = ? WHERE id = ? AND state = 'pending'")
      .run(nextAttemptMs, error.code, error.message, error.status ?? null, id);
  }

  /**
   * Drops the artifact bytes and the envelope of items delivered at or before `deliveredBeforeMs`
   * (the row stays: digest, state and receipt, so `enqueue` of the same file still finds it and
   * nothing is delivered twice). Pending and rejected items are never touched. The freed pages are
   * reused by later items; {@link vacuum} gives them back to the file system.
   */
  prune(deliveredBeforeMs: number): PruneResult {
    const select = "FROM items WHERE state = 'delivered' AND pruned_ms IS NULL AND delivered_ms <= ?";
    return this.db
      .transaction((): PruneResult => {
        const { n, bytes } = this.db.prepare(`SELECT COUNT(*) AS n, COALESCE(SUM(length(bytes) + COALESCE(length(envelope), 0)), 0) AS bytes ${select}`).get(deliveredBeforeMs) as { n: number; bytes: number };
        this.db.prepare(`UPDATE items SET bytes = x'', envelope = NULL, pruned_ms = ? WHERE id IN (SELECT id ${select})`).run(this.now(), deliveredBeforeMs);
        return { items: n, bytes };
      })
      .immediate();
  }

  /** Rewrites the file without its free pages and truncates the WAL (needs free disk of about the file's size). */
  vacuum(): void {
    this.db.exec('VACUUM');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /** Counts by state and the latest errors (newest first). */
  summary(lastErrors = 10): OutboxSummary {
    const counts: Record<OutboxState, number> = { pending: 0, delivered: 0, rejected: 0 };
    const artifactBytes: Record<OutboxState, number> = { pending: 0, delivered: 0, rejected: 0 };
    const perState = this.db.prepare('SELECT state, COUNT(*) AS n, COALESCE(SUM(length(bytes)), 0) AS bytes FROM items GROUP BY state').all() as { state: OutboxState; n: number; bytes: number }[];
    for (const r of perState) {
      counts[r.state] = r.n;
      artifactBytes[r.state] = r.bytes;
    }
    // `status` may read an outbox an older worker wrote (schema 1, no pruned_ms yet): nothing pruned then.
    const prunable = (this.db.prepare('PRAGMA table_info(items)').all() as { name: string }[]).some((c) => c.name === 'pruned_ms');
    const prunedItems = prunable ? (this.db.prepare('SELECT COUNT(*) AS n FROM items WHERE pruned_ms IS NOT NULL').get() as { n: number }).n : 0;
    const sizeOf = (path: string): number => {
      try {
        return statSync(path).size;
      } catch {
        return 0;
      }
    };
    const rows = this.db
      .prepare(`SELECT id, scan_id, name, state, attempts, last_error_code, last_error_message, last_status FROM items
                WHERE last_error_code IS NOT NULL ORDER BY id DESC LIMIT ?`)
      .all(lastErrors) as Pick<Row, 'id' | 'scan_id' | 'name' | 'state' | 'attempts' | 'last_error_code' | 'last_error_message' | 'last_status'>[];
    const oldest = this.db.prepare("SELECT MIN(enqueued_ms) AS ms FROM items WHERE state = 'pending'").get() as { ms: number | null };
    return {
      counts,
      oldestPendingMs: oldest.ms,
      size: { fileBytes: sizeOf(this.file), walBytes: sizeOf(`${this.file}-wal`), artifactBytes, prunedItems },
      lastErrors: rows.map((r) => ({
        id: r.id, scanId: r.scan_id, name: r.name, state: r.state, attempts: r.attempts,
        code: r.last_error_code ?? '', message: r.last_error_message, status: r.last_status,
      })),
    };
  }

  /** Every item of a scan, in enqueue order (for reports and tests). */
  itemsOfScan(scanId: string): OutboxItem[] {
    return (this.db.prepare('SELECT * FROM items WHERE scan_id = ? ORDER BY id').all(scanId) as Row[]).map(toItem);
  }

  /** Closes the database and releases the writer lock. */
  close(): void {
    this.db.close();
    this.unlock();
  }
}
