import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ReplayCacheUnavailableError } from '../../../src/provenance/replay/cache.js';
import { SqliteReplayCache, replayFileFor } from '../../../src/provenance/replay/sqlite.js';
import { buildRequest, fixtureKeys, fixtureTopology, NOW_MS } from '../support/fixture.js';
import { buildTestApp, send } from '../support/app.js';
import { tempDir } from '../../support/tmp.js';
import { replayCacheContract } from './support/contract.js';

describe('SqliteReplayCache', () => {
  let tmp: ReturnType<typeof tempDir>;
  let n = 0;
  const freshFile = (): string => join(tmp.path, `cache-${++n}.db`);
  before(() => {
    tmp = tempDir('replay-sqlite-');
  });
  after(() => tmp.remove());

  describe('the replay cache contract', () => {
    replayCacheContract(async (options) => new SqliteReplayCache({ file: freshFile(), cleanupIntervalMs: 0, ...options }), { bounded: true });
  });

  it('still knows an accepted nonce after the file is closed and opened again', async () => {
    const file = freshFile();
    const first = new SqliteReplayCache({ file, now: () => 1_000, cleanupIntervalMs: 0 });
    assert.equal(await first.checkAndRemember('gw-edge', 'kept', 5_000), true);
    await first.close();
    const second = new SqliteReplayCache({ file, now: () => 2_000, cleanupIntervalMs: 0 });
    try {
      assert.equal(await second.checkAndRemember('gw-edge', 'kept', 5_000), false);
      assert.equal(second.size, 1);
    } finally {
      await second.close();
    }
  });

  it('reports a file it can no longer use as replay-cache-unavailable (a 503 at the services), not as a bug', async () => {
    const cache = new SqliteReplayCache({ file: freshFile(), now: () => 1_000, cleanupIntervalMs: 0 });
    await cache.close();
    await assert.rejects(cache.checkAndRemember('gw-edge', 'late', 5_000), (error: unknown) => error instanceof ReplayCacheUnavailableError && error.code === 'replay-cache-unavailable');
    await assert.rejects(cache.forget('gw-edge', 'late'), ReplayCacheUnavailableError);
  });

  it('commits the reservations of one event-loop turn together: each durable, a pair used twice in the batch a replay', async () => {
    const file = freshFile();
    const first = new SqliteReplayCache({ file, now: () => 1_000, cleanupIntervalMs: 0 });
    const nonces = Array.from({ length: 40 }, (_, i) => `n${i}`);
    const fresh = await Promise.all([...nonces, 'n7', 'n39'].map((nonce) => first.checkAndRemember('gw-edge', nonce, 60_000)));
    assert.deepEqual(fresh, [...nonces.map(() => true), false, false]);
    await first.close();
    const second = new SqliteReplayCache({ file, now: () => 2_000, cleanupIntervalMs: 0 });
    try {
      assert.equal(second.size, 40);
      assert.deepEqual(await Promise.all(nonces.map((nonce) => second.checkAndRemember('gw-edge', nonce, 60_000))), nonces.map(() => false));
    } finally {
      await second.close();
    }
  });

  it('fails closed for the overflowing reservations of a batch only', async () => {
    const cache = new SqliteReplayCache({ file: freshFile(), now: () => 1_000, cleanupIntervalMs: 0, maxEntries: 3 });
    try {
      const outcomes = await Promise.allSettled(['a', 'b', 'c', 'd', 'a'].map((nonce) => cache.checkAndRemember('gw-edge', nonce, 60_000)));
      assert.deepEqual(
        outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).name)),
        [true, true, true, 'ReplayCacheFullError', false],
      );
      assert.equal(cache.size, 3);
    } finally {
      await cache.close();
    }
  });

  it('shares nonces between two instances on one file, and sweeps only expired rows', async () => {
    const file = freshFile();
    let now = 0;
    const a = new SqliteReplayCache({ file, now: () => now, cleanupIntervalMs: 0 });
    const b = new SqliteReplayCache({ file, now: () => now, cleanupIntervalMs: 0 });
    try {
      assert.equal(await a.checkAndRemember('gw-edge', 'x', 100), true);
      assert.equal(await b.checkAndRemember('gw-edge', 'x', 100), false);
      await b.checkAndRemember('gw-edge', 'y', 300);
      now = 200;
      assert.equal(await a.sweep(), 1);
      assert.equal(a.size, 1);
      assert.equal(await a.checkAndRemember('gw-edge', 'y', 300), false);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('rejects a replay sent to a restarted service, with nothing handled', async () => {
    const topology = fixtureTopology();
    const keys = fixtureKeys(topology);
    const file = freshFile();
    const built = buildRequest(topology, keys);
    const cacheA = new SqliteReplayCache({ file, now: () => NOW_MS, cleanupIntervalMs: 0 });
    const a = await buildTestApp({ replayCache: cacheA });
    try {
      assert.equal((await send(a.app, built)).statusCode, 200);
    } finally {
      await a.app.close();
      await cacheA.close();
    }
    const cacheB = new SqliteReplayCache({ file, now: () => NOW_MS, cleanupIntervalMs: 0 });
    const b = await buildTestApp({ replayCache: cacheB });
    try {
      const replay = await send(b.app, built);
      assert.equal(replay.statusCode, 409);
      assert.equal((replay.json() as { code: string }).code, 'provenance-replayed');
      assert.equal(b.handled(), 0);
      assert.equal((await send(b.app, buildRequest(topology, keys))).statusCode, 200);
    } finally {
      await b.app.close();
      await cacheB.close();
    }
  });

  it('refuses to open where it cannot write, and refuses a bound that is not a positive integer', async () => {
    const locked = join(tmp.path, 'locked');
    await mkdir(locked);
    await chmod(locked, 0o500);
    try {
      if (process.getuid?.() !== 0) assert.throws(() => new SqliteReplayCache({ file: join(locked, 'x.db') }), /unable to open|readonly|SQLITE_CANTOPEN/i);
    } finally {
      await chmod(locked, 0o700);
    }
    assert.throws(() => new SqliteReplayCache({ file: freshFile(), maxEntries: 0 }), TypeError);
  });

  it('lives beside the evidence file', () => {
    assert.equal(replayFileFor('/srv/var/evidence-locker.db'), '/srv/var/evidence-locker.replay.db');
    assert.equal(replayFileFor('/srv/var/store'), '/srv/var/store.replay');
  });
});
