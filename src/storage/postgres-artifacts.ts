/**
 * The artifact part of the PostgreSQL store (docs/services.md#artifacts): streamed uploads staged
 * under an upload id, their commit, their clean-up, and chunked reads. Used by `postgres.ts` only.
 */
import type pg from 'pg';
import { SELECT_ARTIFACT_REF as SELECT_REF, artifactRefFromRow, type ArtifactRefRow } from './rows.js';
import { createStaging, newUploadId, STALE_UPLOAD_MS, type ArtifactReference, type ArtifactStaging } from './staging.js';
import { StorageError, isSha256Hex, type StoredArtifact } from './types.js';

/** What these functions need of the store: its pool, its error guard, its clock. */
export interface PostgresArtifactIo {
  readonly pool: pg.Pool;
  /** Runs `work`, turning driver failures into a typed storage error. */
  readonly guard: <T>(work: () => Promise<T>) => Promise<T>;
  readonly now: () => number;
}

/** `EvidenceStore.stageArtifact` on PostgreSQL. */
export async function stagePostgresArtifact(io: PostgresArtifactIo, sha256: string): Promise<ArtifactStaging> {
  if (!isSha256Hex(sha256)) throw new TypeError('stageArtifact: sha256 must be 64 lowercase hex characters');
  const { pool, guard } = io;
  const uploadId = newUploadId();
  const stored = await guard(async () => {
    // Garbage of crashed uploads goes while the store runs too, not only at open.
    await dropStalePostgresUploads(io);
    await pool.query('INSERT INTO artifact_uploads (blob, started_at) VALUES ($1, $2)', [uploadId, io.now()]);
    return (await pool.query('SELECT 1 FROM artifacts WHERE sha256 = $1', [sha256])).rowCount === 1;
  });
  return createStaging({
    uploadId,
    writeChunks: !stored,
    copiesChunk: false,
    // A staged chunk need not be durable on its own: the commit (synchronous_commit on) flushes the
    // WAL up to its own record, past every chunk before it (docs/services.md#artifacts).
    writeChunk: (idx, bytes) =>
      transaction(io, async (client) => {
        await client.query('SET LOCAL synchronous_commit = off');
        await client.query('INSERT INTO artifact_chunks (blob, idx, bytes) VALUES ($1, $2, $3)', [uploadId, idx, bytes]);
      }),
    promote: async (ref, staged) => {
      const created = await transaction(io, (client) => promote(client, uploadId, !stored, ref, staged));
      const row = await guard(async () => (await pool.query<ArtifactRefRow>(`${SELECT_REF} WHERE r.scan_id = $1 AND r.sha256 = $2`, [ref.scanId, ref.sha256])).rows[0]);
      if (!row) throw new StorageError('storage-corrupt', `artifact ${ref.sha256} of scan ${ref.scanId} was written but cannot be read`);
      return { ...created, ref: artifactRefFromRow(row) };
    },
    drop: () => transaction(io, (client) => dropUpload(client, uploadId)),
  });
}

/**
 * The commit of a staged upload: bytes (unless one copy exists: a concurrent insert of the same
 * digest waits on the primary key, then yields), reference, upload registration gone.
 */
async function promote(client: pg.PoolClient, uploadId: string, wrote: boolean, ref: ArtifactReference, staged: { size: number; chunks: number }): Promise<{ created: boolean; bytesWritten: boolean }> {
  let bytesWritten = false;
  if (wrote) {
    const inserted = await client.query('INSERT INTO artifacts (sha256, size, chunks, stored_at, blob) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING', [ref.sha256, staged.size, staged.chunks, ref.storedAt, uploadId]);
    bytesWritten = inserted.rowCount === 1;
  } else if ((await client.query('SELECT 1 FROM artifacts WHERE sha256 = $1', [ref.sha256])).rowCount !== 1) {
    throw new StorageError('storage-unavailable', `artifact ${ref.sha256} was deleted while a copy of it was uploaded; send it again`);
  }
  if (bytesWritten) await client.query('DELETE FROM artifact_uploads WHERE blob = $1', [uploadId]);
  else await dropUpload(client, uploadId);
  const refInserted = await client.query(
    `INSERT INTO artifact_refs (scan_id, sha256, scanner_id, evidence_sha256, referenced_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (scan_id, sha256) DO NOTHING`,
    [ref.scanId, ref.sha256, ref.scannerId, ref.evidenceSha256, ref.storedAt],
  );
  return { created: refInserted.rowCount === 1, bytesWritten };
}

async function dropUpload(client: pg.PoolClient, uploadId: string): Promise<void> {
  await client.query('DELETE FROM artifact_chunks WHERE blob = $1', [uploadId]);
  await client.query('DELETE FROM artifact_uploads WHERE blob = $1', [uploadId]);
}

/** Deletes uploads older than {@link STALE_UPLOAD_MS}: cut short by a crash, never reachable. */
export async function dropStalePostgresUploads(io: PostgresArtifactIo): Promise<void> {
  const before = io.now() - STALE_UPLOAD_MS;
  const { rows } = await io.pool.query<{ blob: string }>('SELECT blob FROM artifact_uploads WHERE started_at < $1', [before]);
  for (const { blob } of rows) await transaction(io, (client) => dropUpload(client, blob));
}

/** One transaction on one pooled client; rolled back when `work` throws. */
async function transaction<T>(io: PostgresArtifactIo, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return io.guard(async () => {
    const client = await io.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  });
}

/** `EvidenceStore.getArtifact` on PostgreSQL: one chunk per query, a large artifact never held whole. */
export async function readPostgresArtifact(io: PostgresArtifactIo, sha256: string): Promise<StoredArtifact | null> {
  const { pool, guard } = io;
  const row = await guard(async () => (await pool.query<{ size: string; chunks: number; blob: string }>('SELECT size, chunks, blob FROM artifacts WHERE sha256 = $1', [sha256])).rows[0]);
  if (!row) return null;
  return {
    sha256,
    size: Number(row.size),
    async *chunks() {
      for (let idx = 0; idx < row.chunks; idx++) {
        const chunk = await guard(async () => (await pool.query<{ bytes: Buffer }>('SELECT bytes FROM artifact_chunks WHERE blob = $1 AND idx = $2', [row.blob, idx])).rows[0]);
        if (!chunk) throw new StorageError('storage-corrupt', `artifact ${sha256} lacks chunk ${idx}`);
        yield chunk.bytes;
      }
    },
  };
}
