import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { MAX_RETRY_AFTER_MS, backoffDelayMs, parseRetryAfter, retryDelayMs } from '../../src/scanner/backoff.js';

describe('backoffDelayMs', () => {
  it('doubles the ceiling per attempt from the base and scales it by the random draw (full jitter)', () => {
    const policy = { baseMs: 500, capMs: 60_000 };
    assert.deepEqual([1, 2, 3, 4].map((n) => backoffDelayMs(n, 0.5, policy)), [250, 500, 1000, 2000]);
  });

  it('never exceeds the cap, however many attempts failed', () => {
    assert.equal(backoffDelayMs(1000, 0.999999, { baseMs: 500, capMs: 60_000 }), 59_999);
  });

  it('stays within [0, min(cap, base·2^(n-1))) for every attempt and draw', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.integer({ min: 1, max: 10_000 }), (n, r, base) => {
        const cap = base * 100;
        const d = backoffDelayMs(n, r, { baseMs: base, capMs: cap });
        const ceiling = Math.min(cap, base * 2 ** Math.min(n - 1, 52));
        return Number.isInteger(d) && d >= 0 && (d < ceiling || (d === 0 && ceiling === 0));
      }),
    );
  });

  it('refuses an attempt number below 1 and a draw outside [0, 1)', () => {
    assert.throws(() => backoffDelayMs(0, 0.5), TypeError);
    assert.throws(() => backoffDelayMs(1, 1), TypeError);
  });
});

describe('retryDelayMs', () => {
  it('waits at least as long as Retry-After asks', () => {
    assert.equal(retryDelayMs(1, 0, 7000), 7000);
  });

  it('keeps the jittered delay when it is longer than Retry-After', () => {
    assert.equal(retryDelayMs(5, 0.5, 100, { baseMs: 1000, capMs: 60_000 }), 8000);
  });

  it('clamps an absurd Retry-After so one server cannot park the outbox for days', () => {
    assert.equal(retryDelayMs(1, 0, 86_400_000), MAX_RETRY_AFTER_MS);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-28T12:00:00Z');
  it('reads delay-seconds', () => assert.equal(parseRetryAfter('120', now), 120_000));
  it('reads an HTTP-date relative to now', () => assert.equal(parseRetryAfter('Sat, 28 Nov 2026 12:00:30 GMT', now), 30_000));
  it('treats an HTTP-date in the past as no wait', () => assert.equal(parseRetryAfter('Sat, 28 Nov 2026 11:00:00 GMT', now), 0));
  it('ignores absent and malformed values', () => {
    assert.equal(parseRetryAfter(undefined, now), undefined);
    assert.equal(parseRetryAfter('-5', now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
  });
});
