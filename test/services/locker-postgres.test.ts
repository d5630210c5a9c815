/**
 * Several lockers on one PostgreSQL (docs/services.md, docs/provenance.md#rules-for-every-hop, rule 5): the same envelope sent to two instances
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
import { ARTIFACT_FIXTURES } from '../fixtures/artifacts.js';
import { provenanceOptions, send, sha256Hex, signedEnvelope, stamp, serviceTopology, testKeys } from './support/fixture.js';
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

  it('stores each artifact kind once across both instances, reads it back from the other, and refuses other bytes', async () => {
    for (const fixture of ARTIFACT_FIXTURES) {
      const scanId = `scan-pg-artifact-${fixture.kind}`;
      const statement = await signedEnvelope(keys, { scanId, nowMs: NOW_MS, artifactBytes: fixture.bytes });
      assert.equal((await send(lockers[0]!, stamp(topology, keys, { method: 'POST', url: '/api/v1/evidence', scanId, body: statement, nowMs: NOW_MS }))).statusCode, 201);
      const url = `/api/v1/artifacts/${sha256Hex(fixture.bytes)}`;
      const uploads = await Promise.all(
        [0, 1, 0, 1].map((i) => send(lockers[i]!, stamp(topology, keys, { method: 'POST', url, scanId, body: fixture.bytes, nowMs: NOW_MS, contentType: 'application/octet-stream' }))),
      );
      assert.deepEqual(uploads.map((u) => u.statusCode).sort(), [200, 200, 200, 201]);
      const read = await send(lockers[1]!, stamp(topology, keys, { method: 'GET', url, scanId, nowMs: NOW_MS }));
      assert.equal(read.statusCode, 200);
      assert.ok(read.rawPayload.equals(fixture.bytes));
    }
    const other = Buffer.from('not the signed bytes');
    const mismatch = await send(lockers[1]!, stamp(topology, keys, { method: 'POST', url: `/api/v1/artifacts/${sha256Hex(ARTIFACT_FIXTURES[0]!.bytes)}`, scanId: 'scan-pg-artifact-cyclonedx', body: other, nowMs: NOW_MS, contentType: 'application/octet-stream' }));
    assert.equal(mismatch.statusCode, 422);
    assert.equal((mismatch.json() as { code: string }).code, 'binding-mismatch');
    assert.equal(await stores[0]!.getArtifact(sha256Hex(other)), null);
  });
});
