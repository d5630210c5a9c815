/**
 * Two replicas of one locker (docs/topology.md#replicas) share the store and the replay cache
 * through one SQLite file each, as `serve --replica N` on one host does: what one replica stored
 * the other reads, and a request accepted at one is a replay at the other.
 */
import { describe, it, after } from 'node:test';
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { createSigner } from '../../src/dsse/index.js';
import { replayFileFor, SqliteReplayCache } from '../../src/provenance/replay/sqlite.js';
import { buildLockerApp } from '../../src/services/locker/app.js';
import { openSqliteStore } from '../../src/storage/sqlite.js';
import { tempDir } from '../support/tmp.js';
import { provenanceOptions, send, serviceTopology, signedEnvelope, stamp, testKeys } from './support/fixture.js';
import { NOW_MS } from './support/locker.js';

describe('two locker replicas on one host', () => {
  const dir = tempDir('stella-replicas-');
  after(() => dir.remove());

  it('share evidence and nonces: a request accepted at one replica is a replay at the other', async () => {
    const keys = testKeys();
    const topology = serviceTopology('evidence-locker', { replicas: ['127.0.0.1:9544'] });
    const file = join(dir.path, 'evidence.db');
    const caches: SqliteReplayCache[] = [];
    const replica = async () => {
      const replayCache = new SqliteReplayCache({ file: replayFileFor(file), now: () => NOW_MS });
      caches.push(replayCache);
      return buildLockerApp({
        topology,
        serviceId: 'evidence-locker',
        store: openSqliteStore({ file }),
        receiptSigner: createSigner(keys.receiptPrivate, 'locker-receipt'),
        provenance: { ...provenanceOptions(keys, () => NOW_MS), replayCache },
        now: () => NOW_MS,
      });
    };
    const [a, b] = [await replica(), await replica()];
    try {
      const body = await signedEnvelope(keys, { scanId: 'scan-replicas', nowMs: NOW_MS });
      const request = stamp(topology, keys, { method: 'POST', url: '/api/v1/evidence', scanId: 'scan-replicas', body, nowMs: NOW_MS });
      assert.equal((await send(a, request)).statusCode, 201);
      const replayed = await send(b, request);
      assert.equal(replayed.statusCode, 409, replayed.body);
      assert.equal((replayed.json() as { code: string }).code, 'provenance-replayed');
      // What replica 0 stored, replica 1 lists.
      const listed = await send(b, stamp(topology, keys, { method: 'GET', url: '/api/v1/scans/scan-replicas/evidence', scanId: 'scan-replicas', nowMs: NOW_MS }));
      assert.equal(listed.statusCode, 200, listed.body);
      assert.equal((listed.json() as { evidence: unknown[] }).evidence.length, 1);
    } finally {
      await a.close();
      await b.close();
      for (const cache of caches) await cache.close();
    }
  });
});
