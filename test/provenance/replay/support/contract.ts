/**
 * The behaviour every replay cache shares (src/provenance/replay/cache.ts, docs/provenance.md#5-replay-and-clock-rules),
 * run against each implementation by its own test file.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { ReplayCache } from '../../../../src/provenance/replay/cache.js';
import { ReplayCacheFullError } from '../../../../src/provenance/replay/memory.js';

/** Builds a fresh, empty cache on an injected clock. */
export type ReplayCacheFactory = (options: { now: () => number; maxEntries?: number }) => Promise<ReplayCache>;

/** Registers the shared cases; `bounded` when the implementation takes `maxEntries`. */
export function replayCacheContract(factory: ReplayCacheFactory, options: { bounded: boolean }): void {
  const withCache = async (now: () => number, work: (cache: ReplayCache) => Promise<void>, maxEntries?: number): Promise<void> => {
    const cache = await factory({ now, ...(maxEntries ? { maxEntries } : {}) });
    try {
      await work(cache);
    } finally {
      await cache.close();
    }
  };

  it('accepts a pair once and reports it as a replay until it expires, per hop', async () => {
    let now = 1_000;
    await withCache(() => now, async (cache) => {
      assert.equal(await cache.checkAndRemember('gw-edge', 'aa', 2_000), true);
      assert.equal(await cache.checkAndRemember('gw-edge', 'aa', 2_000), false);
      assert.equal(await cache.checkAndRemember('gw-other', 'aa', 2_000), true);
      now = 1_999;
      assert.equal(await cache.checkAndRemember('gw-edge', 'aa', 3_000), false);
      now = 2_000;
      assert.equal(await cache.checkAndRemember('gw-edge', 'aa', 3_000), true);
      assert.equal(await cache.checkAndRemember('gw-edge', 'aa', 3_000), false);
    });
  });

  it('forgets a released pair, and only that pair', async () => {
    await withCache(() => 0, async (cache) => {
      await cache.checkAndRemember('h', 'n', 10);
      await cache.checkAndRemember('h', 'm', 10);
      await cache.forget('h', 'n');
      await cache.forget('h', 'never-seen');
      assert.equal(await cache.checkAndRemember('h', 'n', 10), true);
      assert.equal(await cache.checkAndRemember('h', 'm', 10), false);
    });
  });

  it('lets exactly one of many concurrent identical reservations win', async () => {
    await withCache(() => 0, async (cache) => {
      const results = await Promise.all(Array.from({ length: 8 }, () => cache.checkAndRemember('gw-edge', 'race', 60_000)));
      assert.equal(results.filter(Boolean).length, 1);
    });
  });

  if (options.bounded) {
    it('sweeps expired pairs when full and fails closed when every pair is live', async () => {
      let now = 0;
      await withCache(() => now, async (cache) => {
        await cache.checkAndRemember('h', 'a', 10);
        await cache.checkAndRemember('h', 'b', 100);
        await assert.rejects(cache.checkAndRemember('h', 'c', 100), ReplayCacheFullError);
        // The refused pair was not recorded.
        now = 50;
        assert.equal(await cache.checkAndRemember('h', 'c', 100), true);
        assert.equal(await cache.checkAndRemember('h', 'b', 100), false);
      }, 2);
    });
  }
}
