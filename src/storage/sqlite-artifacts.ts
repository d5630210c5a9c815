/**
 * The artifact part of the SQLite store (docs/services.md#artifacts): streamed uploads staged under
 * an upload id, their commit, their clean-up, and chunked reads. Used by `sqlite.ts` only.
 */
import type Database from 'better-sqlite3';
import { SELECT_ARTIFACT_REF, artifactRefFromRow, type ArtifactRefRow } from './rows.js';
import { createStaging, newUploadId, STALE_UPLOAD_MS, type ArtifactReference, type ArtifactStaging } from './staging.js';
import { StorageError, isSha256Hex, type PutArtifactResult, type StoredArtifact } from './types.js';

/** What these functions need of the store: its handle, its error guard, its clock. */
export interface SqliteArtifactIo {
  readonly db: Database.Database;
  /** Runs `work`, turning driver failures into a typed storage error. */
  readonly guard: <T>(work: () => T) => T;
  readonly now: () => number;
}

/** `EvidenceStore.stageArtifact` on SQLite. */
export function stageSqliteArtifact(io: SqliteArtifactIo, sha256: string): ArtifactStaging {
  if (!isSha256Hex(sha256)) throw new TypeError('stageArtifact: sha256 must be 64 lowercase hex characters');
  const { db, guard } = io;
  const uploadId = newUploadId();
  const stored = guard(() => {
    // Garbage of crashed uploads goes while the store runs too, not only at open.
    dropStaleSqliteUploads(io);
    db.prepare('INSERT INTO artifact_uploads (blob, started_at) VALUES (?, ?)').run(uploadId, io.now());
    return db.prepare('SELECT 1 FROM artifacts WHERE sha256 = ?').get(sha256) !== undefined;
  });
  const insertChunk = db.prepare('INSERT INTO artifact_chunks (blob, idx, bytes) VALUES (?, ?, ?)');
  return createStaging({
    uploadId,
    writeChunks: !stored,
    // better-sqlite3 binds a blob as a copy (SQLITE_TRANSIENT) within the synchronous run().
    copiesChunk: true,
    writeChunk: async (idx, bytes) =>
      guard(() => {
        // A staged chunk need not be durable on its own: the commit's fsync of the WAL (FULL)
        // covers every frame before it, so chunks commit without one (docs/services.md#artifacts).
        db.pragma('synchronous = NORMAL');
        try {
          insertChunk.run(uploadId, idx, bytes);
        } finally {
          db.pragma('synchronous = FULL');
        }
      }),
    promote: async (ref, staged) => guard(() => db.transaction(() => promote(db, uploadId, !stored, ref, staged)).immediate()),
    drop: async () => guard(() => db.transaction(() => dropUpload(db, uploadId)).immediate()),
  });
}

/** The commit of a staged upload: bytes (unless one copy exists), reference, upload registration gone. */
function promote(db: Database.Database, uploadId: string, wrote: boolean, ref: ArtifactReference, staged: { size: number; chunks: number }): PutArtifactResult {
  const existing = db.prepare(`${SELECT_ARTIFACT_REF} WHERE r.scan_id = ? AND r.sha256 = ?`).get(ref.scanId, ref.sha256) as ArtifactRefRow | undefined;
  let bytesWritten = false;
  if (wrote) {
    bytesWritten = db.prepare('INSERT INTO artifacts (sha256, size, chunks, stored_at, blob) VALUES (?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING').run(ref.sha256, staged.size, staged.chunks, ref.storedAt, uploadId).changes === 1;
  } else if (db.prepare('SELECT 1 FROM artifacts WHERE sha256 = ?').get(ref.sha256) === undefined) {
    throw new StorageError('storage-unavailable', `artifact ${ref.sha256} was deleted while a copy of it was uploaded; send it again`);
  }
  // Another upload stored the same bytes first (or this scan already had them): keep one copy.
  if (bytesWritten) db.prepare('DELETE FROM artifact_uploads WHERE blob = ?').run(uploadId);
  else dropUpload(db, uploadId);
  if (existing) return { created: false, bytesWritten: false, ref: artifactRefFromRow(existing) };
  db.prepare('INSERT INTO artifact_refs (scan_id, sha256, scanner_id, evidence_sha256, referenced_at) VALUES (?, ?, ?, ?, ?)').run(ref.scanId, ref.sha256, ref.scannerId, ref.evidenceSha256, ref.storedAt);
  const row = db.prepare(`${SELECT_ARTIFACT_REF} WHERE r.scan_id = ? AND r.sha256 = ?`).get(ref.scanId, ref.sha256) as ArtifactRefRow;
  return { created: true, bytesWritten, ref: artifactRefFromRow(row) };
}

function dropUpload(db: Database.Database, uploadId: string): void {
  db.prepare('DELETE FROM artifact_chunks WHERE blob = ?').run(uploadId);
  db.prepare('DELETE FROM artifact_uploads WHERE blob = ?').run(uploadId);
}

/** Deletes uploads older than {@link STALE_UPLOAD_MS}: cut short by a crash, never reachable. */
export function dropStaleSqliteUploads(io: SqliteArtifactIo): void {
  const before = io.now() - STALE_UPLOAD_MS;
  const stale = io.db.prepare('SELECT blob FROM artifact_uploads WHERE started_at < ?').all(before) as { blob: string }[];
  if (stale.length > 0) io.db.transaction(() => stale.forEach(({ blob }) => dropUpload(io.db, blob))).immediate();
}

/** `EvidenceStore.getArtifact` on SQLite: one chunk per read, a large artifact never held whole. */
export function readSqliteArtifact(io: SqliteArtifactIo, sha256: string): StoredArtifact | null {
  const { db, guard } = io;
  const row = guard(() => db.prepare('SELECT size, chunks, blob FROM artifacts WHERE sha256 = ?').get(sha256) as { size: number; chunks: number; blob: string } | undefined);
  if (!row) return null;
  const selectChunk = db.prepare('SELECT bytes FROM artifact_chunks WHERE blob = ? AND idx = ?');
  return {
    sha256,
    size: row.size,
    async *chunks() {
      for (let idx = 0; idx < row.chunks; idx++) {
        const chunk = guard(() => selectChunk.get(row.blob, idx) as { bytes: Buffer } | undefined);
        if (!chunk) throw new StorageError('storage-corrupt', `artifact ${sha256} lacks chunk ${idx}`);
        yield chunk.bytes;
      }
    },
  };
}
