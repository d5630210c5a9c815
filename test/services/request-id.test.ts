/**
 * The services keep a usable X-Request-Id, replace an unusable one, and echo it on every answer —
 * the ones the provenance checks, the schema and the router refuse included
 * (docs/operations/running.md#the-request-id).
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { signedEnvelope, send, stamp, TEST_PEER_HEADER } from './support/fixture.js';
import { lockerWorld, NOW_MS, type LockerWorld } from './support/locker.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('the request id at a service', () => {
  let world: LockerWorld;
  before(async () => {
    world = await lockerWorld();
  });
  after(() => world.dispose());

  it('echoes a usable id on a 201', async () => {
    const body = await signedEnvelope(world.keys, { scanId: 'scan-rid-1', nowMs: NOW_MS });
    const request = stamp(world.topology, world.keys, { method: 'POST', url: '/api/v1/evidence', scanId: 'scan-rid-1', body, nowMs: NOW_MS });
    const response = await send(world.app, request, { headers: { 'x-request-id': 'c8715a3a3b1a0092c9cb94542d2cec3a' } });
    assert.equal(response.statusCode, 201, response.body);
    assert.equal(response.headers['x-request-id'], 'c8715a3a3b1a0092c9cb94542d2cec3a');
  });

  it('replaces an id with a space, a control character, non-ASCII or over 128 characters by a UUID', async () => {
    for (const bad of ['a b', 'a\u0001b', 'café', 'x'.repeat(129)]) {
      const response = await world.app.inject({ method: 'GET', url: '/healthz/live', headers: { 'x-request-id': bad } });
      assert.equal(response.statusCode, 200);
      assert.match(String(response.headers['x-request-id']), UUID, JSON.stringify(bad));
    }
  });

  it('makes one when none arrived, a new one per request', async () => {
    const first = await world.app.inject({ method: 'GET', url: '/healthz/live' });
    const second = await world.app.inject({ method: 'GET', url: '/healthz/live' });
    assert.match(String(first.headers['x-request-id']), UUID);
    assert.notEqual(first.headers['x-request-id'], second.headers['x-request-id']);
  });

  it('echoes it on refusals: provenance (401), an unknown route (404), a body the schema refuses (400)', async () => {
    const missing = await world.app.inject({ method: 'GET', url: `/api/v1/evidence/${'0'.repeat(64)}`, headers: { [TEST_PEER_HEADER]: 'gw-internal', 'x-stella-scan-id': 'scan-rid-2', 'x-request-id': 'rid-401' } });
    assert.equal(missing.statusCode, 401);
    assert.equal(missing.json<{ code: string }>().code, 'provenance-missing');
    assert.equal(missing.headers['x-request-id'], 'rid-401');

    const unknown = await send(world.app, stamp(world.topology, world.keys, { method: 'GET', url: '/nowhere', scanId: 'scan-rid-4', nowMs: NOW_MS }), { headers: { 'x-request-id': 'rid-404' } });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.headers['x-request-id'], 'rid-404');

    const body = Buffer.from('{"not":"an envelope"}');
    const request = stamp(world.topology, world.keys, { method: 'POST', url: '/api/v1/evidence', scanId: 'scan-rid-3', body, nowMs: NOW_MS });
    const invalid = await send(world.app, request, { headers: { 'x-request-id': 'rid-400' } });
    assert.ok(invalid.statusCode >= 400 && invalid.statusCode < 500, invalid.body);
    assert.equal(invalid.headers['x-request-id'], 'rid-400');
  });
});
