import { describe, it, after } from 'node:test';
import { strict as assert } from 'node:assert';
import pg from 'pg';
import { openPostgresStore } from '../../src/storage/postgres.js';
import { openStoreForService } from '../../src/storage/index.js';
import { StorageError } from '../../src/storage/types.js';
import { createTestDatabase, terminateConnections, withApplicationName, type TestDatabase } from '../support/postgres.js';
import { letTimePass } from '../support/wait.js';
import { sampleArtifact, sampleRecord, storeContract } from './contract.js';
import { STALE_UPLOAD_MS } from '../../src/storage/staging.js';

storeContract('PostgreSQL', {
  async open() {
    const db = await createTestDatabase();
    return { store: await openPostgresStore({ url: db.url }), openSibling: () => openPostgresStore({ url: db.url }), dispose: () => db.drop() };
  },
});

describe('PostgreSQL evidence store', () => {
  const databases: TestDatabase[] = [];
  after(async () => {
    for (const db of databases) await db.drop();
  });

  it('runs each migration once when several instances start together on one database', async () => {
    const db = await createTestDatabase();
    databases.push(db);
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore({ url: db.url })));
    const record = sampleRecord();
    await stores[0]!.putEvidence(record);
    assert.deepEqual(await stores[3]!.getEvidence(record.sha256), record);
    await Promise.all(stores.map((s) => s.close()));
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    await client.end();
    assert.deepEqual(rows.map((r) => r.version), [1, 2, 3, 4, 5, 6]);
  });

  it('survives the server ending its idle connections, and serves the next read on a new one', async () => {
    const db = await createTestDatabase();
    databases.push(db);
    const store = await openPostgresStore({ url: withApplicationName(db.url, 'store-terminated') });
    try {
      const record = sampleRecord();
      await store.putEvidence(record);
      assert.ok((await terminateConnections(db.url, 'store-terminated')) > 0, 'the pool held idle connections to end');
      // The pool hears of it asynchronously, and nothing outside it can see when: the test is that
      // hearing it is harmless (an unheard pool 'error' would end this process here).
      await letTimePass(100, 'the pool to hear of its ended connections');
      assert.deepEqual(await store.getEvidence(record.sha256), record);
    } finally {
      await store.close();
    }
  });

  it('deletes the chunks of an upload cut short once it is older than any request may last, never showing them', async () => {
    const db = await createTestDatabase();
    databases.push(db);
    const start = 1_800_000_000_000;
    const store = await openPostgresStore({ url: db.url, now: () => start });
    const artifact = sampleArtifact(Buffer.alloc(2 * 1024 * 1024 + 3, 9), { scanId: 'scan-cut' });
    const staging = await store.stageArtifact(artifact.sha256);
    await staging.write(Buffer.from(artifact.bytes));
    // The process dies here: neither commit nor discard.
    await store.close();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const count = async (): Promise<number[]> => [
      Number((await client.query('SELECT count(*) AS n FROM artifact_uploads')).rows[0].n),
      Number((await client.query('SELECT count(*) AS n FROM artifact_chunks')).rows[0].n),
    ];
    try {
      assert.deepEqual(await count(), [1, 2], 'two full chunks were written under the upload');
      const early = await openPostgresStore({ url: db.url, now: () => start + STALE_UPLOAD_MS - 1 });
      assert.equal(await early.getArtifact(artifact.sha256), null, 'never visible');
      await early.close();
      assert.deepEqual(await count(), [1, 2], 'a young upload may still be running at another instance');
      const late = await openPostgresStore({ url: db.url, now: () => start + STALE_UPLOAD_MS + 1 });
      await late.close();
      assert.deepEqual(await count(), [0, 0]);
    } finally {
      await client.end();
    }
  });

  it('reads the connection URL from the environment when the topology says env:NAME', async () => {
    const db = await createTestDatabase();
    databases.push(db);
    const store = await openStoreForService({ id: 'evidence-locker', storage: { kind: 'postgres', url: 'env:STELLA_TEST_LOCKER_DB' } }, '/tmp', { STELLA_TEST_LOCKER_DB: db.url });
    assert.equal(store.kind, 'postgres');
    await store.ping();
    await store.close();
  });

  it('fails with storage-config when the named environment variable is missing', async () => {
    await assert.rejects(
      openStoreForService({ id: 'evidence-locker', storage: { kind: 'postgres', url: 'env:STELLA_NOT_SET' } }, '/tmp', {}),
      (e: unknown) => e instanceof StorageError && e.code === 'storage-config',
    );
  });

  it('fails with storage-unavailable when the server cannot be reached', async () => {
    await assert.rejects(
      openPostgresStore({ url: 'postgres://postgres@127.0.0.1:1/none' }),
      (e: unknown) => e instanceof StorageError && e.code === 'storage-unavailable',
    );
  });
});
