import { after, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Outbox } from '../../src/scanner/outbox.js';
import { ScannerError } from '../../src/scanner/errors.js';
import { tempDir } from '../support/tmp.js';

describe('Outbox', () => {
  const tmp = tempDir('stella-outbox-');
  after(() => tmp.remove());
  let clock = 1_000;
  const now = (): number => clock;

  it('keeps bytes, state, envelope and errors across a close and reopen', () => {
    const file = join(tmp.path, 'restart.db');
    const first = Outbox.open(file, { now });
    const { item } = first.enqueue({ scanId: 'scan-1', name: 'a.json', bytes: Buffer.from('{"a":1}') });
    first.beginAttempt(item.id);
    first.saveEnvelope(item.id, Buffer.from('{"payloadType":"x"}'), 'sha256:' + 'ab'.repeat(32));
    first.scheduleRetry(item.id, { code: 'SCANNER_NETWORK', message: 'refused' }, 5_000);
    first.close();

    const again = Outbox.open(file, { now });
    const back = again.get(item.id);
    again.close();
    assert.equal(back?.state, 'pending');
    assert.equal(back?.bytes.toString(), '{"a":1}');
    assert.equal(back?.attempts, 1);
    assert.equal(back?.nextAttemptMs, 5_000);
    assert.equal(back?.envelope?.toString(), '{"payloadType":"x"}');
    assert.equal(back?.clientFingerprint, 'sha256:' + 'ab'.repeat(32));
    assert.equal(back?.lastErrorCode, 'SCANNER_NETWORK');
    assert.equal(back?.artifactSha256, '015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862');
  });

  it('enqueues the same bytes under the same name and scan only once', () => {
    const box = Outbox.open(join(tmp.path, 'dedupe.db'), { now });
    const a = box.enqueue({ scanId: 's', name: 'x', bytes: Buffer.from('1') });
    const b = box.enqueue({ scanId: 's', name: 'x', bytes: Buffer.from('1') });
    const c = box.enqueue({ scanId: 's2', name: 'x', bytes: Buffer.from('1') });
    box.close();
    assert.deepEqual([a.created, b.created, c.created], [true, false, true]);
    assert.equal(a.item.id, b.item.id);
    assert.notEqual(a.item.id, c.item.id);
  });

  it('hands out only pending items whose time has come, and reports the next due time', () => {
    const box = Outbox.open(join(tmp.path, 'due.db'), { now });
    clock = 10_000;
    const a = box.enqueue({ scanId: 's', name: 'a', bytes: Buffer.from('a') }).item;
    const b = box.enqueue({ scanId: 's', name: 'b', bytes: Buffer.from('b') }).item;
    const c = box.enqueue({ scanId: 's', name: 'c', bytes: Buffer.from('c') }).item;
    box.scheduleRetry(a.id, { code: 'SCANNER_UNAVAILABLE', message: '503', status: 503 }, 12_000);
    box.markRejected(b.id, { code: 'binding-mismatch', message: 'HTTP 422', status: 422 });
    assert.deepEqual(box.due(10, 10_000).map((i) => i.id), [c.id]);
    box.markDelivered(c.id, '{"receipt":1}', 201);
    assert.equal(box.nextDueMs(), 12_000);
    assert.deepEqual(box.due(10, 12_000).map((i) => i.id), [a.id]);
    const summary = box.summary();
    box.close();
    assert.deepEqual(summary.counts, { pending: 1, delivered: 1, rejected: 1 });
    assert.deepEqual(summary.lastErrors.map((e) => e.code), ['binding-mismatch', 'SCANNER_UNAVAILABLE']);
    // The backlog's age starts at the oldest pending item's acceptance (docs/scanner.md#commands).
    assert.equal(summary.oldestPendingMs, 10_000);
  });

  it('reports no oldest pending item when nothing is pending', () => {
    const box = Outbox.open(join(tmp.path, 'idle.db'), { now });
    clock = 20_000;
    const a = box.enqueue({ scanId: 's', name: 'a', bytes: Buffer.from('a') }).item;
    assert.equal(box.summary(0).oldestPendingMs, 20_000);
    box.markDelivered(a.id, '{"receipt":1}', 201);
    const summary = box.summary(0);
    box.close();
    assert.equal(summary.oldestPendingMs, null);
  });

  it('fails with SCANNER_OUTBOX on a file that is not a database', () => {
    const file = join(tmp.path, 'garbage.db');
    writeFileSync(file, 'this is not sqlite, not at all, not even close to a header');
    assert.throws(() => Outbox.open(file), (e: unknown) => e instanceof ScannerError && e.code === 'SCANNER_OUTBOX');
  });

  it('admits one writer: a second open fails with SCANNER_OUTBOX while the first is open, and succeeds after close', () => {
    const file = join(tmp.path, 'locked.db');
    const first = Outbox.open(file);
    assert.throws(() => Outbox.open(file), (e: unknown) => e instanceof ScannerError && e.code === 'SCANNER_OUTBOX' && /one worker per outbox/.test(e.message));
    const reader = Outbox.open(file, { readonly: true });
    reader.close();
    first.close();
    Outbox.open(file).close();
  });

  it('takes over a lock left by a process that no longer exists', () => {
    const file = join(tmp.path, 'stale.db');
    Outbox.open(file).close();
    // A pid far above Linux's pid_max: no process holds it.
    writeFileSync(`${file}.lock`, '999999999\n');
    const box = Outbox.open(file);
    box.close();
    assert.equal(existsSync(`${file}.lock`), false);
  });

  it('opens read-only without creating a missing file', () => {
    assert.throws(() => Outbox.open(join(tmp.path, 'missing.db'), { readonly: true }), (e: unknown) => e instanceof ScannerError && e.code === 'SCANNER_OUTBOX');
  });
});
