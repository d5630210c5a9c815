/**
 * Service replicas (docs/topology.md#replicas) through the reference chain: two Evidence Locker
 * processes (`serve --replica 0|1`, one SQLite file in WAL mode on one host) behind HAProxy, the
 * last hop, which balances over both. Stopping one keeps delivery working, and the probe reports
 * the stopped replica red.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parse, stringify } from 'yaml';
import { probeTopology } from '../../src/probes/probe.js';
import { tempDir } from '../support/tmp.js';
import { REFERENCE_TOPOLOGY, startChain, type Chain } from './support/harness.js';
import { startWorker, type ChainWorker } from './support/client.js';

const dir = tempDir('stella-e2e-replicas-');
let chain: Chain;
let worker: ChainWorker;

before(async () => {
  // The reference topology with a second locker replica; the harness moves every listener to a free port.
  const document = parse(readFileSync(REFERENCE_TOPOLOGY, 'utf8')) as { services: { id: string; listen: string; replicas?: string[] }[] };
  const locker = document.services.find((s) => s.id === 'evidence-locker')!;
  locker.replicas = [locker.listen.replace(/:(\d+)$/, (_m, port: string) => `:${Number(port) + 100}`)];
  mkdirSync(join(dir.path, 'src'), { recursive: true });
  const file = join(dir.path, 'src', 'topology-replicas.yaml');
  writeFileSync(file, stringify(document));
  chain = await startChain(file);
  worker = await startWorker(chain);
});
after(async () => {
  await worker?.close();
  await chain?.close();
  dir.remove();
});

/** Evidence rows stored under `scanId`, read from the one SQLite file both replicas share. */
function stored(scanId: string): number {
  const storage = chain.topology.services[0]?.storage;
  if (storage?.kind !== 'sqlite') throw new TypeError('the reference locker stores in SQLite');
  const db = new Database(storage.file, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM evidence WHERE scan_id = ?').get(scanId) as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('two Evidence Locker replicas behind HAProxy', () => {
  it('runs both, and the probe shows each replica and the service green', async () => {
    assert.ok(chain.deployment.services.get('evidence-locker'), 'replica 0 runs');
    assert.ok(chain.deployment.services.get('evidence-locker#1'), 'replica 1 runs');
    const result = await probeTopology(chain.topology);
    const rows = Object.fromEntries(result.rows.map((r) => [r.id, r]));
    assert.equal(rows['evidence-locker#0']?.status, 'ok', rows['evidence-locker#0']?.detail);
    assert.equal(rows['evidence-locker#1']?.status, 'ok', rows['evidence-locker#1']?.detail);
    assert.equal(rows['evidence-locker']?.status, 'ok', rows['evidence-locker']?.detail);
    assert.ok(result.ok, JSON.stringify(result.rows));
  });

  it('keeps delivering with one replica stopped, and the probe reports that replica red', { timeout: 120_000 }, async () => {
    await chain.deployment.stopService('evidence-locker', 1);
    // Straight after the stop: HAProxy's health check has not seen it yet, so requests still meet
    // the stopped replica and must be redispatched to the other one.
    const results = [];
    for (let i = 0; i < 6; i++) results.push(...(await worker.submit(`scan-e2e-replica-${i}`, { [`sbom-${i}.json`]: JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.6', serialNumber: `urn:uuid:00000000-0000-4000-8000-00000000000${i}` }) })));
    for (const result of results) assert.equal(result.state, 'delivered', `${result.code}: ${result.message}\n${chain.logTails()}`);
    for (let i = 0; i < 6; i++) assert.equal(stored(`scan-e2e-replica-${i}`), 1);

    const probe = await probeTopology(chain.topology);
    const rows = Object.fromEntries(probe.rows.map((r) => [r.id, r]));
    assert.equal(rows['evidence-locker#1']?.status, 'fail');
    assert.match(rows['evidence-locker#1']?.detail ?? '', /replica 1: no TLS at 127\.0\.0\.1:\d+/);
    assert.equal(rows['evidence-locker#0']?.status, 'ok');
    assert.equal(rows['evidence-locker']?.status, 'ok', 'the service still answers through the chain');
    assert.equal(probe.ok, false, 'a red replica makes the probe fail');
  });
});
