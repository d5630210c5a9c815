import { describe, it, before, after } from 'node:test';
import { strict as assert } from 'node:assert';
import { certificateCheck } from '../../src/services/common/health.js';
import { LAST_HOP, send, signedEnvelope, stamp } from './support/fixture.js';
import { lockerWorld, NOW_MS, type LockerWorld } from './support/locker.js';

function problemCode(response: { json: () => unknown }): string {
  return (response.json() as { code: string }).code;
}

describe('service health probes', () => {
  let world: LockerWorld;
  before(async () => {
    world = await lockerWorld();
  });
  after(() => world.dispose());

  it('answers /healthz/live without provenance', async () => {
    const response = await world.app.inject({ method: 'GET', url: '/healthz/live' });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { service: 'evidence-locker', status: 'live' });
  });

  it('answers /healthz/ready with the database and key checks passed', async () => {
    const response = await world.app.inject({ method: 'GET', url: '/healthz/ready', headers: LAST_HOP });
    assert.equal(response.statusCode, 200);
    const body = response.json() as { status: string; checks: Record<string, { ok: boolean; detail: string }> };
    assert.equal(body.status, 'ready');
    assert.equal(body.checks.database?.ok, true);
    assert.match(body.checks.keys?.detail ?? '', /ed25519/);
  });

  it('walks the full provenance validation on /healthz/traversal and answers with the verified chain', async () => {
    const response = await send(world.app, stamp(world.topology, world.keys, { method: 'GET', url: '/healthz/traversal', scanId: 'probe-1', nowMs: NOW_MS }));
    assert.equal(response.statusCode, 200);
    const body = response.json() as { status: string; hops: { id: string; seq: number; ageSeconds: number; peerId: string; result: string }[] };
    assert.equal(body.status, 'verified');
    assert.deepEqual(body.hops, [
      { id: 'gw-edge', seq: 1, ageSeconds: 1, peerId: 'scanner-01', kid: 'edge-1', result: 'verified' },
      { id: 'gw-internal', seq: 2, ageSeconds: 1, peerId: 'waf', kid: 'internal-1', result: 'verified' },
    ]);
  });

  it('refuses /healthz/traversal without provenance with 401 provenance-missing', async () => {
    const response = await world.app.inject({ method: 'GET', url: '/healthz/traversal', headers: { 'x-test-peer-cn': 'gw-internal' } });
    assert.equal(response.statusCode, 401);
    assert.equal(problemCode(response), 'provenance-missing');
  });

  it('refuses /healthz/traversal with a forged record with 401 provenance-tampered', async () => {
    const request = stamp(world.topology, world.keys, { method: 'GET', url: '/healthz/traversal', scanId: 'probe-2', nowMs: NOW_MS });
    const forged = request.headers['x-stella-provenance']!.replace(/mac=:([A-Za-z0-9+/]{4})/, 'mac=:AAAA');
    assert.notEqual(forged, request.headers['x-stella-provenance']);
    const response = await send(world.app, request, { headers: { 'x-stella-provenance': forged } });
    assert.equal(response.statusCode, 401);
    assert.equal(problemCode(response), 'provenance-tampered');
  });

  it('serves Prometheus metrics, including provenance decisions', async () => {
    const response = await world.app.inject({ method: 'GET', url: '/metrics', headers: LAST_HOP });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /^text\/plain/);
    assert.match(response.body, /stella_http_requests_total/);
    assert.match(response.body, /provenance-missing/);
  });
});

describe('service readiness failures', () => {
  it('answers 503 not-ready when the certificate is not valid', async () => {
    const world = await lockerWorld({ readiness: [certificateCheck(() => ({ ready: false, reason: 'certificate expired' }))] });
    try {
      const response = await world.app.inject({ method: 'GET', url: '/healthz/ready', headers: LAST_HOP });
      assert.equal(response.statusCode, 503);
      assert.equal(problemCode(response), 'not-ready');
      assert.match((response.json() as { detail: string }).detail, /certificate: certificate expired/);
    } finally {
      await world.dispose();
    }
  });

  it('answers 503 not-ready and refuses ingest with 503 storage-unavailable when the database is gone', async () => {
    const world = await lockerWorld();
    try {
      await world.store.close();
      const ready = await world.app.inject({ method: 'GET', url: '/healthz/ready', headers: LAST_HOP });
      assert.equal(ready.statusCode, 503);
      assert.equal(problemCode(ready), 'not-ready');
      const body = await signedEnvelope(world.keys, { scanId: 'scan-down', nowMs: NOW_MS });
      const response = await send(world.app, stamp(world.topology, world.keys, { method: 'POST', url: '/api/v1/evidence', scanId: 'scan-down', body, nowMs: NOW_MS }));
      assert.equal(response.statusCode, 503);
      assert.equal(problemCode(response), 'storage-unavailable');
    } finally {
      await world.dispose();
    }
  });
});
