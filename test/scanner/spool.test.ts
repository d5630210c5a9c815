import { after, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Outbox } from '../../src/scanner/outbox.js';
import { sweepSpool } from '../../src/scanner/spool.js';
import { tempDir } from '../support/tmp.js';

describe('sweepSpool', () => {
  const tmp = tempDir('stella-spool-');
  after(() => tmp.remove());
  const spool = join(tmp.path, 'spool');
  const put = (path: string, text: string): string => {
    const full = join(spool, path);
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, text);
    return full;
  };

  it('moves settled files of <scan-id>/ folders into the outbox and removes them from the spool', async () => {
    const outbox = Outbox.open(join(tmp.path, 'a.db'));
    try {
      put('scan-1/sbom.json', '{"a":1}');
      put('scan-1/findings.json', '{"b":2}');
      const sweep = await sweepSpool(spool, outbox, { settleMs: 0 });
      assert.deepEqual(sweep.accepted.map((a) => [a.scanId, a.name, a.created]).sort(), [['scan-1', 'findings.json', true], ['scan-1', 'sbom.json', true]]);
      assert.deepEqual(readdirSync(join(spool, 'scan-1')), []);
      assert.deepEqual(outbox.itemsOfScan('scan-1').map((i) => i.bytes.toString()).sort(), ['{"a":1}', '{"b":2}']);
    } finally {
      outbox.close();
    }
  });

  it('leaves files being written (dot-names, *.part, modified within the settle time) for a later sweep', async () => {
    const outbox = Outbox.open(join(tmp.path, 'b.db'));
    try {
      put('scan-2/.hidden.json', '1');
      put('scan-2/big.json.part', '2');
      const fresh = put('scan-2/fresh.json', '3');
      const now = Date.now();
      utimesSync(fresh, new Date(now), new Date(now));
      const sweep = await sweepSpool(spool, outbox, { settleMs: 60_000, now: () => now + 1_000 });
      assert.deepEqual(sweep.accepted, []);
      assert.deepEqual(readdirSync(join(spool, 'scan-2')).sort(), ['.hidden.json', 'big.json.part', 'fresh.json']);
      const later = await sweepSpool(spool, outbox, { settleMs: 60_000, now: () => now + 61_000 });
      assert.deepEqual(later.accepted.map((a) => a.name), ['fresh.json']);
    } finally {
      outbox.close();
    }
  });

  it('sets aside files outside a scan folder and folders whose name is not a scan id', async () => {
    const outbox = Outbox.open(join(tmp.path, 'c.db'));
    try {
      put('loose.json', '{}');
      put('not a scan id/x.json', '{}');
      const sweep = await sweepSpool(spool, outbox, { settleMs: 0 });
      assert.equal(sweep.invalid.length, 2);
      assert.equal(existsSync(join(spool, 'loose.json')), false);
      assert.equal(readdirSync(join(spool, '.rejected')).length, 2);
      assert.equal(outbox.summary().counts.pending, 0);
    } finally {
      outbox.close();
    }
  });

  it('recognises a file enqueued before a crash prevented its removal, and does not enqueue it twice', async () => {
    const outbox = Outbox.open(join(tmp.path, 'd.db'));
    try {
      outbox.enqueue({ scanId: 'scan-3', name: 'again.json', bytes: Buffer.from('{"c":3}') });
      put('scan-3/again.json', '{"c":3}');
      const sweep = await sweepSpool(spool, outbox, { settleMs: 0 });
      assert.deepEqual(sweep.accepted.map((a) => a.created), [false]);
      assert.equal(outbox.itemsOfScan('scan-3').length, 1);
      assert.deepEqual(readdirSync(join(spool, 'scan-3')), []);
    } finally {
      outbox.close();
    }
  });
});
