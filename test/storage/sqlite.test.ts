import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openSqlite } from '../../src/io/sqlite-driver.js';
import { openSqliteStore } from '../../src/storage/sqlite.js';
import { STALE_UPLOAD_MS } from '../../src/storage/staging.js';
import { StorageError } from '../../src/storage/types.js';
import { tempDir } from '../support/tmp.js';
import { readAll, sampleArtifact, sampleRecord, storeContract } from './contract.js';

storeContract('SQLite', {
  async open() {
    const dir = tempDir('stella-sqlite-');
    const file = join(dir.path, 'nested', 'evidence.db');
    return { store: openSqliteStore({ file }), openSibling: async () => openSqliteStore({ file }), dispose: async () => dir.remove() };
  },
});

describe('SQLite evidence store', () => {
  it('keeps the artifacts of the chunk layout before staged uploads readable after the upgrade', async () => {
    const dir = tempDir('stella-sqlite-');
    try {
      const file = join(dir.path, 'e.db');
      const store = openSqliteStore({ file });
      const bytes = Buffer.from('an artifact stored by the release before staged uploads');
      const artifact = sampleArtifact(bytes, { scanId: 'scan-old' });
      await store.putArtifact(artifact);
      await store.close();
      // Back to the version-4 layout: chunks keyed by the digest, no upload table.
      const db = openSqlite(file);
      db.exec(`CREATE TABLE old_chunks (sha256 TEXT NOT NULL REFERENCES artifacts (sha256), idx INTEGER NOT NULL, bytes BLOB NOT NULL, PRIMARY KEY (sha256, idx)) WITHOUT ROWID;
        INSERT INTO old_chunks SELECT a.sha256, c.idx, c.bytes FROM artifact_chunks c JOIN artifacts a USING (blob);
        DROP TABLE artifact_chunks; ALTER TABLE old_chunks RENAME TO artifact_chunks; DROP TABLE artifact_uploads;
        ALTER TABLE artifacts DROP COLUMN blob; ALTER TABLE evidence DROP COLUMN provenance_v2; PRAGMA user_version = 4;`);
      db.close();
      const upgraded = openSqliteStore({ file });
      assert.ok((await readAll((await upgraded.getArtifact(artifact.sha256))!)).equals(bytes));
      await upgraded.close();
    } finally {
      dir.remove();
    }
  });

  it('deletes the chunks of an upload cut short once it is older than any request may last', async () => {
    const dir = tempDir('stella-sqlite-');
    try {
      const file = join(dir.path, 'e.db');
      let now = 1_800_000_000_000;
      const store = openSqliteStore({ file, now: () => now });
      const artifact = sampleArtifact(Buffer.alloc(3 * 1024 * 1024, 7), { scanId: 'scan-cut' });
      const staging = await store.stageArtifact(artifact.sha256);
      await staging.write(Buffer.from(artifact.bytes));
      // The process dies here: neither commit nor discard.
      await store.close();
      const count = (): number[] => {
        const db = openSqlite(file, { readonly: true });
        try {
          return [(db.prepare('SELECT count(*) AS n FROM artifact_uploads').get() as { n: number }).n, (db.prepare('SELECT count(*) AS n FROM artifact_chunks').get() as { n: number }).n];
        } finally {
          db.close();
        }
      };
      assert.deepEqual(count(), [1, 3], 'three full chunks were written under the upload');
      const early = openSqliteStore({ file, now: () => now + STALE_UPLOAD_MS - 1 });
      assert.equal(await early.getArtifact(artifact.sha256), null, 'never visible');
      await early.close();
      assert.deepEqual(count(), [1, 3], 'a young upload may still be running in another process');
      now += STALE_UPLOAD_MS + 1;
      const late = openSqliteStore({ file, now: () => now });
      await late.close();
      assert.deepEqual(count(), [0, 0]);
    } finally {
      dir.remove();
    }
  });

  it('opens the file in WAL mode with synchronous FULL so a commit is durable when it returns', async () => {
    const dir = tempDir('stella-sqlite-');
    try {
      const file = join(dir.path, 'e.db');
      const store = openSqliteStore({ file });
      await store.putEvidence(sampleRecord());
      await store.close();
      const db = openSqlite(file, { readonly: true });
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('user_version', { simple: true }), 6);
      db.close();
    } finally {
      dir.remove();
    }
  });

  it('attributes rows stored before scan ownership to hop 1 and gives each old scan to the scanner of its oldest row', async () => {
    const dir = tempDir('stella-sqlite-');
    try {
      const file = join(dir.path, 'e.db');
      const store = openSqliteStore({ file });
      const oldest = sampleRecord({ scanId: 'old-scan' });
      const later = sampleRecord({ scanId: 'old-scan', hops: [{ ...oldest.hops[0]!, peerId: 'scanner-02' }], scannerId: 'scanner-01' });
      await store.putEvidence(oldest);
      await store.putEvidence(later);
      await store.close();
      // Back to the version-1 schema, as a locker of the previous release left it.
      const db = openSqlite(file);
      db.exec('DROP TABLE scan_owners; ALTER TABLE evidence DROP COLUMN scanner_id; ALTER TABLE evidence DROP COLUMN request; ALTER TABLE evidence DROP COLUMN provenance_v2; DROP TABLE artifact_refs; DROP TABLE artifact_chunks; DROP TABLE artifact_uploads; DROP TABLE artifacts; PRAGMA user_version = 1;');
      db.close();
      const upgraded = openSqliteStore({ file });
      assert.equal((await upgraded.getEvidence(oldest.sha256))?.scannerId, 'scanner-01');
      assert.equal((await upgraded.getEvidence(later.sha256))?.scannerId, 'scanner-02');
      assert.equal(await upgraded.getScanOwner('old-scan'), 'scanner-01');
      await upgraded.close();
    } finally {
      dir.remove();
    }
  });

  it('keeps the rows across a reopen and migrates only once', async () => {
    const dir = tempDir('stella-sqlite-');
    try {
      const file = join(dir.path, 'e.db');
      const record = sampleRecord();
      const first = openSqliteStore({ file });
      await first.putEvidence(record);
      await first.close();
      const second = openSqliteStore({ file });
      assert.deepEqual(await second.getEvidence(record.sha256), record);
      await second.close();
    } finally {
      dir.remove();
    }
  });

  it('fails with storage-unavailable when the file cannot be opened', () => {
    const dir = tempDir('stella-sqlite-');
    try {
      // The parent "folder" is a regular file, so neither mkdir nor open can succeed.
      writeFileSync(join(dir.path, 'plain'), 'x');
      assert.throws(() => openSqliteStore({ file: join(dir.path, 'plain', 'e.db') }), (e: unknown) => e instanceof StorageError && e.code === 'storage-unavailable');
    } finally {
      dir.remove();
    }
  });
});
