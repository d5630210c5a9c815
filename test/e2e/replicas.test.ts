/**
 * Service replicas (docs/topology.md#replicas) on the real programs: two Evidence Locker processes
 * (`serve --replica 0|1`, one SQLite file in WAL mode on one host) behind the last hop, which
 * balances over both — HAProxy in the reference chain, NGINX, Caddy, the Apache WAF. Stopping one keeps
 * delivery working, and the probe reports the stopped replica red.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openSqlite } from '../../src/io/sqlite-driver.js';
import { parse, stringify } from 'yaml';
import { probeTopology } from '../../src/probes/probe.js';
import { tempDir } from '../support/tmp.js';
import { CADDY_TOPOLOGY, REFERENCE_TOPOLOGY, startChain, type Chain } from '../support/chain.js';
import { startWorker, type ChainWorker } from './support/client.js';

/** A hop or service of the example topology, as far as the variants change it. */
type Part = { id: string; listen: string; next?: string; serverName?: string; replicas?: string[] };

/**
 * The last hops under test: HAProxy (the reference chain), NGINX and Caddy (the edge sends to the
 * lockers itself) and the Apache WAF (a balancer reaching each replica by the service's serverName).
 */
const VARIANTS: { lastHop: string; file?: string; attempts?: number; change: (doc: { hops: Part[]; services: Part[] }) => void }[] = [
  { lastHop: 'HAProxy', change: () => undefined },
  {
    lastHop: 'Caddy',
    file: CADDY_TOPOLOGY,
    // Caddy 2.6 cannot send a request body to a second replica: a POST that meets the stopped one
    // before the next health check fails with 502, and the worker's retry delivers it.
    attempts: 3,
    change: (doc) => {
      doc.hops = doc.hops.filter((h) => h.id === 'gw-edge').map((h) => ({ ...h, next: 'evidence-locker' }));
    },
  },
  {
    lastHop: 'NGINX',
    change: (doc) => {
      doc.hops = doc.hops.filter((h) => h.id === 'gw-edge').map((h) => ({ ...h, next: 'evidence-locker' }));
    },
  },
  {
    lastHop: 'the Apache WAF',
    change: (doc) => {
      doc.hops = doc.hops.filter((h) => h.id !== 'gw-internal').map((h) => (h.id === 'waf' ? { ...h, next: 'evidence-locker' } : h));
      // mod_proxy names the replicas by the service's serverName: it must resolve to their host.
      doc.services.find((s) => s.id === 'evidence-locker')!.serverName = 'localhost';
    },
  },
];

for (const variant of VARIANTS) {
  describe(`two Evidence Locker replicas behind ${variant.lastHop}`, () => {
    const dir = tempDir('stella-e2e-replicas-');
    let chain: Chain;
    let worker: ChainWorker;

    before(async () => {
      // The reference topology with a second locker replica; the harness moves every listener to a free port.
      const document = parse(readFileSync(variant.file ?? REFERENCE_TOPOLOGY, 'utf8')) as { hops: Part[]; services: Part[] };
      const locker = document.services.find((s) => s.id === 'evidence-locker')!;
      locker.replicas = [locker.listen.replace(/:(\d+)$/, (_m, port: string) => `:${Number(port) + 100}`)];
      variant.change(document);
      const file = join(dir.path, 'topology-replicas.yaml');
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
    const stored = (scanId: string): number => {
      const storage = chain.topology.services[0]?.storage;
      if (storage?.kind !== 'sqlite') throw new TypeError('the reference locker stores in SQLite');
      const db = openSqlite(storage.file, { readonly: true, fileMustExist: true });
      try {
        return (db.prepare('SELECT count(*) AS n FROM evidence WHERE scan_id = ?').get(scanId) as { n: number }).n;
      } finally {
        db.close();
      }
    };

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
      // Straight after the stop, before any health check or failure count has seen it: requests
      // still meet the stopped replica and must go to the other one.
      const results = [];
      for (let i = 0; i < 6; i++) {
        const sbom = JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.6', serialNumber: `urn:uuid:00000000-0000-4000-8000-00000000000${i}` });
        results.push(...(await worker.submit(`scan-e2e-replica-${i}`, { [`sbom-${i}.json`]: sbom }, { maxAttempts: variant.attempts ?? 1 })));
      }
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
}
