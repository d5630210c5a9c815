import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { PostgresReplayCache } from '../../../src/provenance/replay/postgres.js';
import { createTestDatabase, terminateConnections, withApplicationName, type TestDatabase } from '../../support/postgres.js';
import { letTimePass } from '../../support/wait.js';
import { buildRequest, fixtureKeys, fixtureTopology, NOW_MS } from '../support/fixture.js';
import { buildTestApp, send } from '../support/app.js';
import { replayCacheContract } from './support/contract.js';

describe('PostgresReplayCache', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await db.drop();
  });

  describe('the replay cache contract', () => {
    replayCacheContract(
      async ({ now }) => {
        // Each case starts from an empty table: a sweep at the end of time removes every row.
        const emptier = new PostgresReplayCache({ connectionString: db.url, now: () => Number.MAX_SAFE_INTEGER, cleanupIntervalMs: 0 });
        await emptier.migrate();
        await emptier.sweep();
        await emptier.close();
        return new PostgresReplayCache({ connectionString: db.url, now, cleanupIntervalMs: 0 });
      },
      { bounded: false },
    );
  });

  it('migrates idempotently, even from two instances at once', async () => {
    const a = new PostgresReplayCache({ connectionString: db.url, cleanupIntervalMs: 0 });
    const b = new PostgresReplayCache({ connectionString: db.url, cleanupIntervalMs: 0 });
    try {
      await Promise.all([a.migrate(), b.migrate()]);
      await a.migrate();
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      const { rows } = await client.query<{ version: number }>('SELECT version FROM stella_provenance_migrations');
      await client.end();
      assert.deepEqual(rows.map((r) => r.version), [1]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('accepts a pair once, takes over an expired row, forgets released pairs and sweeps', async () => {
    let now = 1_000;
    const cache = new PostgresReplayCache({ connectionString: db.url, now: () => now, cleanupIntervalMs: 0 });
    try {
      await cache.migrate();
      assert.equal(await cache.checkAndRemember('gw-edge', 'n1', 2_000), true);
      assert.equal(await cache.checkAndRemember('gw-edge', 'n1', 2_000), false);
      await cache.forget('gw-edge', 'n1');
      assert.equal(await cache.checkAndRemember('gw-edge', 'n1', 2_000), true);
      now = 2_000;
      assert.equal(await cache.checkAndRemember('gw-edge', 'n1', 3_000), true);
      await cache.checkAndRemember('gw-edge', 'n2', 2_500);
      now = 2_600;
      assert.equal(await cache.sweep(), 1);
    } finally {
      await cache.close();
    }
  });

  it('lets exactly one of many concurrent identical reservations win', async () => {
    const cache = new PostgresReplayCache({ connectionString: db.url, cleanupIntervalMs: 0 });
    try {
      await cache.migrate();
      const results = await Promise.all(Array.from({ length: 8 }, () => cache.checkAndRemember('gw-edge', 'race', Date.now() + 60_000)));
      assert.equal(results.filter(Boolean).length, 1);
    } finally {
      await cache.close();
    }
  });

  it('survives the server ending its idle connections, and answers the next check on a new one', async () => {
    const cache = new PostgresReplayCache({ connectionString: withApplicationName(db.url, 'replay-terminated'), cleanupIntervalMs: 0 });
    try {
      await cache.migrate();
      await Promise.all(['t1', 't2', 't3'].map((n) => cache.checkAndRemember('gw-edge', n, Date.now() + 60_000)));
      assert.ok((await terminateConnections(db.url, 'replay-terminated')) > 0, 'the pool held idle connections to end');
      // The pool hears of it asynchronously, and nothing outside it can see when: the test is that
      // hearing it is harmless (an unheard pool 'error' would end this process here).
      await letTimePass(100, 'the pool to hear of its ended connections');
      assert.equal(await cache.checkAndRemember('gw-edge', 't1', Date.now() + 60_000), false);
      assert.equal(await cache.checkAndRemember('gw-edge', 't4', Date.now() + 60_000), true);
    } finally {
      await cache.close();
    }
  });

  it('rejects a replay sent to a second plugin instance sharing the database', async () => {
    const topology = fixtureTopology();
    const keys = fixtureKeys(topology);
    const cacheA = new PostgresReplayCache({ connectionString: db.url, now: () => NOW_MS, cleanupIntervalMs: 0 });
    const cacheB = new PostgresReplayCache({ connectionString: db.url, now: () => NOW_MS, cleanupIntervalMs: 0 });
    await cacheA.migrate();
    await cacheB.migrate();
    const a = await buildTestApp({ replayCache: cacheA });
    const b = await buildTestApp({ replayCache: cacheB });
    try {
      const built = buildRequest(topology, keys);
      assert.equal((await send(a.app, built)).statusCode, 200);
      const replay = await send(b.app, built);
      assert.equal(replay.statusCode, 409);
      assert.equal((replay.json() as { code: string }).code, 'provenance-replayed');
      assert.equal(b.handled(), 0);
      assert.equal((await send(b.app, buildRequest(topology, keys))).statusCode, 200);
    } finally {
      await a.app.close();
      await b.app.close();
      await cacheA.close();
      await cacheB.close();
    }
  });
});
