/**
 * Several lockers on one PostgreSQL (SPEC §8, §4 rule 5): the same envelope sent to two instances
 * at once is stored once with one receipt, and a replayed request is caught by the other instance.
 */
import { describe, it, before, after } from 'node:test';
import { strict as assert } from 'node:assert';
import type { FastifyInstance } from 'fastify';
import { createSigner } from '../../src/dsse/index.js';
import { PostgresReplayCache } from '../../src/provenance/replay/postgres.js';
import { buildLockerApp } from '../../src/services/locker/app.js';
import { openPostgresStore } from '../../src/storage/postgres.js';
import type { EvidenceStore } from '../../src/storage/types.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { provenanceOptions, send, signedEnvelope, stamp, serviceTopology, testKeys } from './support/fixture.js';
import { NOW_MS } from './support/locker.js';

describe('two Evidence Lockers on one PostgreSQL', () => {
  const topology = serviceTopology('evidence-locker');
  const keys = testKeys();
  let db: TestDatabase;
  let lockers: FastifyInstance[] = [];
  let stores: EvidenceStore[] = [];

  before(async () => {
    db = await createTestDatabase();
    stores = await Promise.all([openPostgresStore({ url: db.url }), openPostgresStore({ url: db.url })]);
    lockers = await Promise.all(
      stores.map(async (store) => {
        const replayCache = new PostgresReplayCache({ connectionString: db.url, now: () => NOW_MS, cleanupIntervalMs: 0 });
        await replayCache.migrate();
        const app = await buildLockerApp({
          topology,
          serviceId: 'evidence-locker',
          store,
          receiptSigner: createSigner(keys.receiptPrivate, 'locker-receipt'),
          provenance: { ...provenanceOptions(keys, () => NOW_MS), replayCache },
          now: () => NOW_MS,
        });
        app.addHook('onClose', async () => replayCache.close());
        return app;
      }),
    );
  });
  after(async () => {
    await Promise.all(lockers.map((l) => l.close()));
    await Promise.all(stores.map((s) => s.close()));
    await db.drop();
  });

  it('stores an envelope sent to both instances at once exactly once, with one receipt', async () => {
    const body = await signedEnvelope(keys, { scanId: 'scan-pg', nowMs: NOW_MS });
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => send(lockers[i % 2]!, stamp(topology, keys, { method: 'POST', url: '/api/v1/evidence', scanId: 'scan-pg', body, nowMs: NOW_MS }))),
    );
    const statuses = answers.map((a) => a.statusCode);
    assert.equal(statuses.filter((s) => s === 201).length, 1, `statuses ${statuses.join(',')}`);
    assert.equal(statuses.filter((s) => s === 200).length, 5);
    assert.equal(new Set(answers.map((a) => JSON.stringify((a.json() as { receipt: unknown }).receipt))).size, 1);
    assert.equal((await stores[1]!.listByScan('scan-pg')).length, 1);
  });

  it('refuses a request replayed to the other instance with 409 provenance-replayed', async () => {
    const body = await signedEnvelope(keys, { scanId: 'scan-pg-replay', nowMs: NOW_MS });
    const request = stamp(topology, keys, { method: 'POST', url: '/api/v1/evidence', scanId: 'scan-pg-replay', body, nowMs: NOW_MS });
    assert.equal((await send(lockers[0]!, request)).statusCode, 201);
    const replay = await send(lockers[1]!, request);
    assert.equal(replay.statusCode, 409);
    assert.equal((replay.json() as { code: string }).code, 'provenance-replayed');
  });
});
