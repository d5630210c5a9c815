/**
 * Bounded worker disk (docs/scanner.md#outbox-size-and-pruning): delivered items lose their bytes
 * after the retention (their digest and receipt stay, so nothing is delivered twice), the outbox
 * file and its companions are the scanner user's alone, and `status` says what the outbox holds.
 */
import { after, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openSqlite } from '../../src/io/sqlite-driver.js';
import { Outbox } from '../../src/scanner/outbox.js';
import { sweepSpool } from '../../src/scanner/spool.js';
import { tempDir } from '../support/tmp.js';
import { inProcess } from './support/cli.js';

const mode = (path: string): number => statSync(path).mode & 0o777;

describe('outbox retention', () => {
  const tmp = tempDir('stella-retention-');
  after(() => tmp.remove());
  let clock = 1_000_000;
  const now = (): number => clock;

  function delivered(box: Outbox, name: string, size: number): number {
    const { item } = box.enqueue({ scanId: 'scan-r', name, bytes: randomBytes(size) });
    box.saveEnvelope(item.id, Buffer.from('{"payloadType":"x"}'), `sha256:${'ab'.repeat(32)}`);
    box.markDelivered(item.id, '{"receipt":true}', 201);
    return item.id;
  }

  it('drops the bytes of items delivered before the cut-off and nothing else', () => {
    const box = Outbox.open(join(tmp.path, 'prune.db'), { now });
    try {
      const old = delivered(box, 'old.bin', 4096);
      clock += 10_000;
      const recent = delivered(box, 'recent.bin', 2048);
      const pending = box.enqueue({ scanId: 'scan-r', name: 'pending.bin', bytes: randomBytes(1024) }).item.id;
      const rejected = box.enqueue({ scanId: 'scan-r', name: 'rejected.bin', bytes: randomBytes(512) }).item.id;
      box.markRejected(rejected, { code: 'envelope-invalid', message: 'no', status: 401 });

      const pruned = box.prune(clock - 5_000);
      assert.deepEqual(pruned, { items: 1, bytes: 4096 + '{"payloadType":"x"}'.length });
      assert.equal(box.get(old)?.bytes.length, 0);
      assert.equal(box.get(old)?.envelope, null);
      assert.equal(box.get(old)?.receipt, '{"receipt":true}', 'the receipt, the proof, stays');
      assert.equal(box.get(old)?.state, 'delivered');
      assert.equal(box.get(recent)?.bytes.length, 2048);
      assert.equal(box.get(pending)?.bytes.length, 1024);
      assert.equal(box.get(rejected)?.bytes.length, 512);
      assert.deepEqual(box.prune(clock - 5_000), { items: 0, bytes: 0 }, 'a second prune finds nothing');

      const { size } = box.summary(0);
      assert.deepEqual(size.artifactBytes, { pending: 1024, delivered: 2048, rejected: 512 });
      assert.equal(size.prunedItems, 1);
      assert.ok(size.fileBytes > 0);
    } finally {
      box.close();
    }
  });

  it('still recognises a pruned artifact when the same file is submitted again', () => {
    const box = Outbox.open(join(tmp.path, 'again.db'), { now });
    try {
      const bytes = randomBytes(300);
      const { item } = box.enqueue({ scanId: 'scan-a', name: 'sbom.json', bytes });
      box.markDelivered(item.id, '{}', 201);
      box.prune(clock);
      const again = box.enqueue({ scanId: 'scan-a', name: 'sbom.json', bytes });
      assert.equal(again.created, false);
      assert.equal(again.item.state, 'delivered');
      assert.deepEqual(box.due(10, clock + 1), []);
    } finally {
      box.close();
    }
  });

  it('shrinks the file after pruning and vacuuming', () => {
    const file = join(tmp.path, 'vacuum.db');
    const box = Outbox.open(file, { now });
    try {
      for (let i = 0; i < 8; i++) delivered(box, `big-${i}.bin`, 256 * 1024);
      box.vacuum();
      const before = statSync(file).size;
      box.prune(clock);
      box.vacuum();
      const afterBytes = statSync(file).size;
      assert.ok(afterBytes < before / 8, `${afterBytes} bytes after, ${before} before`);
    } finally {
      box.close();
    }
  });

  it('creates the outbox, its WAL and its lock readable by the owner only', () => {
    const file = join(tmp.path, 'modes', 'outbox.db');
    const box = Outbox.open(file, { now });
    try {
      box.enqueue({ scanId: 's', name: 'x', bytes: Buffer.from('1') });
      assert.equal(mode(file), 0o600);
      assert.equal(mode(`${file}-wal`), 0o600);
      assert.equal(mode(`${file}.lock`), 0o600);
    } finally {
      box.close();
    }
  });

  it('tightens an outbox file created earlier with a wider mode', () => {
    const file = join(tmp.path, 'wide.db');
    writeFileSync(file, '', { mode: 0o644 });
    Outbox.open(file, { now }).close();
    assert.equal(mode(file), 0o600);
  });

  it('migrates a version 1 outbox and keeps its items', () => {
    const file = join(tmp.path, 'v1.db');
    const old = openSqlite(file);
    old.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, scan_id TEXT NOT NULL, name TEXT NOT NULL, artifact_sha256 TEXT NOT NULL, bytes BLOB NOT NULL,
      state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, enqueued_ms INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL, envelope BLOB, envelope_sha256 TEXT,
      client_fingerprint TEXT, last_status INTEGER, last_error_code TEXT, last_error_message TEXT, receipt TEXT, delivered_ms INTEGER, UNIQUE (scan_id, artifact_sha256, name));
      INSERT INTO items (scan_id, name, artifact_sha256, bytes, state, enqueued_ms, next_attempt_ms, delivered_ms, receipt) VALUES ('s', 'a', '${'0'.repeat(64)}', x'0102', 'delivered', 1, 1, 1, '{}');
      PRAGMA user_version = 1;`);
    old.close();
    const box = Outbox.open(file, { now });
    try {
      assert.deepEqual(box.prune(clock), { items: 1, bytes: 2 });
      assert.equal(box.summary(0).size.prunedItems, 1);
    } finally {
      box.close();
    }
  });

  it('keeps files the spool rejects readable by the owner only', async () => {
    const spool = join(tmp.path, 'spool');
    mkdirSync(spool);
    writeFileSync(join(spool, 'stray.json'), '{}', { mode: 0o644 });
    const box = Outbox.open(join(tmp.path, 'spool.db'), { now });
    try {
      const sweep = await sweepSpool(spool, box, { settleMs: 0 });
      assert.equal(sweep.invalid.length, 1);
      assert.equal(mode(join(spool, '.rejected')), 0o700);
      const [moved] = readdirSync(join(spool, '.rejected'));
      assert.equal(mode(join(spool, '.rejected', moved!)), 0o600);
    } finally {
      box.close();
    }
  });

  it('scanner prune drops delivered bytes with --all or --older-than, and exits 2 for bad usage or an outbox in use', async () => {
    const file = join(tmp.path, 'cli.db');
    const box = Outbox.open(file);
    const { item } = box.enqueue({ scanId: 'scan-cli', name: 'a.bin', bytes: randomBytes(5000) });
    box.markDelivered(item.id, '{}', 201);
    // In use by a worker: prune must not write beside it.
    assert.equal((await inProcess(['scanner', 'prune', '--outbox', file, '--all'])).code, 2);
    box.close();
    assert.equal((await inProcess(['scanner', 'prune', '--outbox', file])).code, 2);
    assert.equal((await inProcess(['scanner', 'prune', '--outbox', file, '--all', '--older-than', '1d'])).code, 2);
    assert.equal((await inProcess(['scanner', 'prune', '--outbox', file, '--older-than', 'soon'])).code, 2);
    assert.equal((await inProcess(['scanner', 'prune', '--outbox', join(tmp.path, 'absent.db'), '--all'])).code, 2);
    assert.equal((await inProcess(['scanner', 'prune', '--outbox', file, '--older-than', '1d'])).code, 0);
    const kept = Outbox.open(file, { readonly: true });
    assert.equal(kept.summary(0).size.artifactBytes.delivered, 5000, 'delivered just now: younger than a day');
    kept.close();
    assert.equal((await inProcess(['scanner', 'prune', '--outbox', file, '--all'])).code, 0);
    const pruned = Outbox.open(file, { readonly: true });
    assert.equal(pruned.summary(0).size.artifactBytes.delivered, 0);
    assert.equal(pruned.summary(0).size.prunedItems, 1);
    pruned.close();
  });
});
