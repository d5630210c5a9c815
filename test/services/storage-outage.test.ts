/**
 * A PostgreSQL outage is the store's, not the client's and not a bug: the locker answers
 * `503 storage-unavailable` with `Retry-After` (docs/services.md#problem-codes) — from the replay cache,
 * which answers first, and from the store — and stores nothing; once the database is back the same
 * evidence is stored.
 */
import { describe, it, before, after } from 'node:test';
import { strict as assert } from 'node:assert';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { createSigner } from '../../src/dsse/index.js';
import { MemoryReplayCache } from '../../src/provenance/replay/memory.js';
import { PostgresReplayCache } from '../../src/provenance/replay/postgres.js';
import type { ReplayCache } from '../../src/provenance/replay/cache.js';
import { STORAGE_RETRY_AFTER_SECONDS } from '../../src/services/common/problems.js';
import { buildLockerApp } from '../../src/services/locker/app.js';
import { openPostgresStore } from '../../src/storage/postgres.js';
import type { EvidenceStore } from '../../src/storage/types.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { provenanceOptions, send, signedEnvelope, stamp, serviceTopology, testKeys } from './support/fixture.js';
import { NOW_MS } from './support/locker.js';

/** Takes the database away from every client (new and open connections), or gives it back. */
async function setReachable(url: string, reachable: boolean): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS ${reachable ? 'true' : 'false'}`);
    if (!reachable) await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
  } finally {
    await client.end();
  }
}

describe('an Evidence Locker whose PostgreSQL is down', () => {
  const topology = serviceTopology('evidence-locker');
  const keys = testKeys();
  let db: TestDatabase;
  let store: EvidenceStore;
  const apps: FastifyInstance[] = [];
  const build = async (replayCache: ReplayCache): Promise<FastifyInstance> => {
    const app = await buildLockerApp({
      topology,
      serviceId: 'evidence-locker',
      store,
      receiptSigner: createSigner(keys.receiptPrivate, 'locker-receipt'),
      provenance: { ...provenanceOptions(keys, () => NOW_MS), replayCache },
      now: () => NOW_MS,
    });
    app.addHook('onClose', async () => replayCache.close());
    apps.push(app);
    return app;
  };

  before(async () => {
    db = await createTestDatabase();
    store = await openPostgresStore({ url: db.url });
  });
  after(async () => {
    await setReachable(db.url, true);
    await Promise.all(apps.map((a) => a.close()));
    await store.close();
    await db.drop();
  });

  it('answers 503 storage-unavailable with Retry-After from the replay cache and the store, stores nothing, and stores once it is back', async () => {
    const replayCache = new PostgresReplayCache({ connectionString: db.url, now: () => NOW_MS, cleanupIntervalMs: 0 });
    await replayCache.migrate();
    // The same store behind a cache that needs no database: the store's own outage answer.
    const pgLocker = await build(replayCache);
    const memoryLocker = await build(new MemoryReplayCache({ now: () => NOW_MS }));
    const body = await signedEnvelope(keys, { scanId: 'scan-outage', nowMs: NOW_MS });
    const post = () => stamp(topology, keys, { method: 'POST', url: '/api/v1/evidence', scanId: 'scan-outage', body, nowMs: NOW_MS });

    await setReachable(db.url, false);
    for (const [name, app] of [['replay cache', pgLocker], ['store', memoryLocker]] as const) {
      const answer = await send(app, post());
      assert.equal(answer.statusCode, 503, `${name}: ${answer.body}`);
      assert.equal((answer.json() as { code: string }).code, 'storage-unavailable', name);
      assert.equal(answer.headers['retry-after'], String(STORAGE_RETRY_AFTER_SECONDS), name);
    }

    await setReachable(db.url, true);
    const stored = await send(pgLocker, post());
    assert.equal(stored.statusCode, 201, stored.body);
    assert.equal((await store.listByScan('scan-outage')).length, 1);
  });
});
