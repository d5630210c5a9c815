/**
 * Gateway and locker outages during `scanner run` (docs/services.md, docs/faults.md): the worker daemon runs over a
 * spool folder against the real chain (NGINX → Apache+ModSecurity → HAProxy → locker); artifacts
 * are dropped before, during a WAF outage and during a locker outage. After both come back, every
 * artifact is in the locker exactly once (one row whose signed statement names it), and every
 * outbox item is delivered with a receipt.
 */
import { describe, it, after } from 'node:test';
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openSqlite } from '../../src/io/sqlite-driver.js';
import { REFERENCE_TOPOLOGY, startChain, type Chain } from '../support/chain.js';
import { letTimePass, waitFor } from '../support/wait.js';
import { startScannerDaemon, type ScannerDaemon } from './support/daemon.js';
import { recordFault } from './support/figures.js';

const PER_PHASE = 8;
const OUTAGE_MS = 3_000;
const SETTLE_TIMEOUT_MS = 120_000;

/** Drops `count` artifacts into `<spool>/<scanId>/` the way a producer must (write, then rename). */
function drop(spool: string, scanId: string, count: number): Map<string, string> {
  const dir = join(spool, scanId);
  mkdirSync(dir, { recursive: true });
  const dropped = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const bytes = Buffer.from(JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.5', serialNumber: `urn:uuid:${scanId}-${i}`, components: [] }));
    const name = `sbom-${i}.json`;
    writeFileSync(join(dir, `.${name}`), bytes);
    renameSync(join(dir, `.${name}`), join(dir, name));
    dropped.set(createHash('sha256').update(bytes).digest('hex'), `${scanId}/${name}`);
  }
  return dropped;
}

/** The artifact digests named by the signed statements of every stored envelope. */
function storedArtifacts(dbFile: string): string[] {
  const db = openSqlite(dbFile, { readonly: true });
  try {
    const rows = db.prepare('SELECT envelope FROM evidence').all() as { envelope: Buffer }[];
    return rows.map((row) => {
      const envelope = JSON.parse(row.envelope.toString('utf8')) as { payload: string };
      const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as { subject: { digest: { sha256: string } }[] };
      return statement.subject[0]!.digest.sha256;
    });
  } finally {
    db.close();
  }
}

describe('scanner run through gateway and locker outages', () => {
  let chain: Chain | undefined;
  let daemon: ScannerDaemon | undefined;
  after(async () => {
    await daemon?.close();
    await chain?.close();
  });

  it('delivers every artifact exactly once after the WAF and then the locker were down', { timeout: 300_000 }, async () => {
    chain = await startChain(REFERENCE_TOPOLOGY);
    const dep = chain.deployment;
    const service = chain.topology.services[0]!;
    assert.equal(service.storage?.kind, 'sqlite');
    const dbFile = service.storage.kind === 'sqlite' ? service.storage.file : '';
    daemon = await startScannerDaemon(chain, { timeoutMs: 10_000 }, { pollIntervalMs: 100, settleMs: 0, idlePollMs: 200, backoff: { baseMs: 200, capMs: 1_500 } });
    const { outbox: box, spool, events } = daemon;
    const delivered = () => box.summary().counts.delivered;
    const expected = new Map<string, string>();

    for (const [k, v] of drop(spool, 'outage-before', PER_PHASE)) expected.set(k, v);
    await waitFor(() => delivered() === expected.size, { what: 'the first artifacts', timeout: SETTLE_TIMEOUT_MS, interval: 100 });

    await dep.stopGateway('waf');
    for (const [k, v] of drop(spool, 'outage-waf', PER_PHASE)) expected.set(k, v);
    await letTimePass(OUTAGE_MS, 'the WAF stays down while the scanner keeps trying');
    const deliveredDuringWafOutage = delivered() - PER_PHASE;
    await dep.restartGateway('waf');
    await waitFor(() => delivered() === expected.size, { what: 'deliveries after the WAF came back', timeout: SETTLE_TIMEOUT_MS, interval: 100 });

    await dep.stopService(service.id);
    for (const [k, v] of drop(spool, 'outage-locker', PER_PHASE)) expected.set(k, v);
    await letTimePass(OUTAGE_MS, 'the locker stays down while the scanner keeps trying');
    const deliveredDuringLockerOutage = delivered() - 2 * PER_PHASE;
    await dep.restartService(service.id);
    await waitFor(() => delivered() === expected.size, { what: 'deliveries after the locker came back', timeout: SETTLE_TIMEOUT_MS, interval: 100 });

    await daemon.stop();
    const summary = box.summary();
    const stored = storedArtifacts(dbFile);
    const counts = new Map<string, number>();
    for (const sha of stored) counts.set(sha, (counts.get(sha) ?? 0) + 1);
    const missing = [...expected.keys()].filter((sha) => !counts.has(sha)).length;
    const duplicated = [...counts.values()].filter((n) => n > 1).length;
    const retries = events.filter((e) => e.type === 'retry').length;
    const rejected = events.filter((e) => e.type === 'rejected');
    recordFault({
      case: 'Gateway and locker outages during scanner run',
      target: 'every artifact stored exactly once',
      met: missing === 0 && duplicated === 0 && stored.length === expected.size && rejected.length === 0,
      figures: { artifacts: expected.size, stored: stored.length, missing, duplicated, rejected: rejected.length, retries, outageMs: OUTAGE_MS },
    });
    assert.equal(deliveredDuringWafOutage, 0, 'nothing can be delivered while the WAF is down');
    assert.equal(deliveredDuringLockerOutage, 0, 'nothing can be delivered while the locker is down');
    assert.ok(retries > 0, 'the outages must have been seen as retries');
    assert.deepEqual(rejected.map((e) => e.type === 'rejected' && `${e.error.code} ${e.error.status}`), []);
    assert.deepEqual(summary.counts, { pending: 0, delivered: expected.size, rejected: 0 });
    assert.equal(missing, 0);
    assert.equal(duplicated, 0);
    assert.equal(stored.length, expected.size);
    for (const item of [...expected.values()].map((path) => path.split('/'))) {
      const [scanId, name] = item as [string, string];
      const [row] = box.itemsOfScan(scanId).filter((i) => i.name === name);
      assert.ok(row?.receipt, `${scanId}/${name} has a receipt in the outbox`);
    }
  });
});
