import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../../src/storage/sqlite.js';
import { StorageError } from '../../src/storage/types.js';
import { tempDir } from '../support/tmp.js';
import { sampleRecord, storeContract } from './contract.js';

storeContract('SQLite', {
  async open() {
    const dir = tempDir('stella-sqlite-');
    const file = join(dir.path, 'nested', 'evidence.db');
    return { store: openSqliteStore({ file }), openSibling: async () => openSqliteStore({ file }), dispose: async () => dir.remove() };
  },
});

describe('SQLite evidence store', () => {
  it('opens the file in WAL mode with synchronous FULL so a commit is durable when it returns', async () => {
    const dir = tempDir('stella-sqlite-');
    try {
      const file = join(dir.path, 'e.db');
      const store = openSqliteStore({ file });
      await store.putEvidence(sampleRecord());
      await store.close();
      const db = new Database(file, { readonly: true });
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('user_version', { simple: true }), 5);
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
      const db = new Database(file);
      db.exec('DROP TABLE scan_owners; ALTER TABLE evidence DROP COLUMN scanner_id; ALTER TABLE evidence DROP COLUMN request; ALTER TABLE evidence DROP COLUMN provenance_v2; DROP TABLE artifact_refs; DROP TABLE artifact_chunks; DROP TABLE artifacts; PRAGMA user_version = 1;');
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
