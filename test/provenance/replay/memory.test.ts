import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryReplayCache, ReplayCacheFullError } from '../../../src/provenance/replay/memory.js';
import { replayCacheContract } from './support/contract.js';

describe('MemoryReplayCache', () => {
  describe('the replay cache contract', () => {
    replayCacheContract(async (options) => new MemoryReplayCache(options), { bounded: true });
  });
  it('accepts a pair once and reports it as a replay until it expires', async () => {
    let now = 1_000;
    const cache = new MemoryReplayCache({ now: () => now });
    assert.equal(await cache.checkAndRemember('gw-edge', 'aa', 2_000), true);
    assert.equal(await cache.checkAndRemember('gw-edge', 'aa', 2_000), false);
    assert.equal(await cache.checkAndRemember('gw-other', 'aa', 2_000), true);
    now = 2_000;
    assert.equal(await cache.checkAndRemember('gw-edge', 'aa', 3_000), true);
  });
  it('forgets a released pair', async () => {
    const cache = new MemoryReplayCache({ now: () => 0 });
    await cache.checkAndRemember('h', 'n', 10);
    await cache.forget('h', 'n');
    assert.equal(await cache.checkAndRemember('h', 'n', 10), true);
  });
  it('sweeps expired entries when full and fails closed when every entry is live', async () => {
    let now = 0;
    const cache = new MemoryReplayCache({ maxEntries: 2, now: () => now });
    await cache.checkAndRemember('h', 'a', 10);
    await cache.checkAndRemember('h', 'b', 100);
    await assert.rejects(cache.checkAndRemember('h', 'c', 100), ReplayCacheFullError);
    now = 50;
    assert.equal(await cache.checkAndRemember('h', 'c', 100), true);
    assert.equal(cache.size, 2);
    assert.equal(await cache.checkAndRemember('h', 'b', 100), false);
  });
  it('refuses a bound that is not a positive integer', () => {
    assert.throws(() => new MemoryReplayCache({ maxEntries: 0 }), TypeError);
  });
});
