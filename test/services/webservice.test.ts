import { describe, it, before, after } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { hmacKeyFromSecret } from '../../src/dsse/index.js';
import { send, sha256Hex, signedEnvelope, stamp } from './support/fixture.js';
import { NOW_MS } from './support/locker.js';
import { webServiceWorld, type WebServiceWorld } from './support/webservice.js';

interface ScanAnswer {
  scanId: string;
  status: string;
  scannerId: string;
  completion: { envelopeSha256: string; report: { subject: { name: string }[] } } | null;
}

function assertProblem(response: { statusCode: number; headers: Record<string, unknown>; json: () => unknown }, status: number, code: string): void {
  assert.equal(response.statusCode, status);
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
  assert.equal((response.json() as { code: string }).code, code);
}

describe('Scanner WebService', () => {
  let world: WebServiceWorld;
  before(async () => {
    world = await webServiceWorld();
  });
  after(() => world.dispose());

  const register = (scanId: string, body: unknown = { scanId, target: 'registry.local/app:1' }, headerScanId = scanId) =>
    send(world.app, stamp(world.topology, world.keys, { method: 'POST', url: '/api/v1/scans', scanId: headerScanId, body: Buffer.from(JSON.stringify(body)), nowMs: NOW_MS }));
  const read = (scanId: string, headerScanId = scanId) => send(world.app, stamp(world.topology, world.keys, { method: 'GET', url: `/api/v1/scans/${scanId}`, scanId: headerScanId, nowMs: NOW_MS }));
  const complete = (scanId: string, body: Buffer) =>
    send(world.app, stamp(world.topology, world.keys, { method: 'POST', url: `/api/v1/scans/${scanId}/complete`, scanId, body, nowMs: NOW_MS }));

  it('registers a scan with 201, naming the scanner from the first hop record', async () => {
    const response = await register('scan-w1');
    assert.equal(response.statusCode, 201);
    const scan = response.json() as ScanAnswer;
    assert.equal(scan.status, 'registered');
    assert.equal(scan.scannerId, 'scanner-01');
    assert.equal(response.headers.location, '/api/v1/scans/scan-w1');
  });

  it('answers a repeated identical registration with 200 and the first one', async () => {
    await register('scan-w2');
    const again = await register('scan-w2');
    assert.equal(again.statusCode, 200);
    assert.equal((again.json() as ScanAnswer).scanId, 'scan-w2');
  });

  it('refuses a registration of a known scan with other data with 409 scan-conflict', async () => {
    await register('scan-w3');
    assertProblem(await register('scan-w3', { scanId: 'scan-w3', target: 'something else' }), 409, 'scan-conflict');
  });

  it('refuses a body scan id that differs from X-Stella-Scan-Id with 422 binding-mismatch and stores nothing', async () => {
    assertProblem(await register('scan-w4', { scanId: 'scan-other' }, 'scan-w4'), 422, 'binding-mismatch');
    assert.equal(await world.store.getScan('scan-w4'), null);
    assert.equal(await world.store.getScan('scan-other'), null);
  });

  it('refuses a registration body without a scan id with 400 invalid-request', async () => {
    assertProblem(await register('scan-w5', { target: 'x' }), 400, 'invalid-request');
    assert.equal(await world.store.getScan('scan-w5'), null);
  });

  it('reads a registered scan and answers 404 scan-not-found for an unknown one', async () => {
    await register('scan-w6');
    const response = await read('scan-w6');
    assert.equal(response.statusCode, 200);
    assert.equal((response.json() as ScanAnswer).status, 'registered');
    assertProblem(await read('scan-never'), 404, 'scan-not-found');
  });

  it('refuses to read another scan than the stamped one with 422 binding-mismatch', async () => {
    assertProblem(await read('scan-w6', 'scan-w1'), 422, 'binding-mismatch');
  });

  it('completes a scan with a signed report, idempotently, and refuses a second different report with 409', async () => {
    await register('scan-w7');
    const report = await signedEnvelope(world.keys, { scanId: 'scan-w7', nowMs: NOW_MS, artifact: 'report.json' });
    const done = await complete('scan-w7', report);
    assert.equal(done.statusCode, 200);
    const scan = done.json() as ScanAnswer;
    assert.equal(scan.status, 'completed');
    assert.equal(scan.completion?.envelopeSha256, sha256Hex(report));
    assert.equal(scan.completion?.report.subject[0]?.name, 'report.json');
    assert.equal((await complete('scan-w7', report)).statusCode, 200);
    const other = await signedEnvelope(world.keys, { scanId: 'scan-w7', nowMs: NOW_MS, artifact: 'other.json' });
    assertProblem(await complete('scan-w7', other), 409, 'scan-conflict');
    assert.equal((await world.store.getScan('scan-w7'))?.completion?.envelopeSha256, sha256Hex(report));
  });

  it('refuses to complete an unregistered scan with 404 scan-not-found', async () => {
    const report = await signedEnvelope(world.keys, { scanId: 'scan-w8', nowMs: NOW_MS });
    assertProblem(await complete('scan-w8', report), 404, 'scan-not-found');
  });

  it('refuses a completion report signed by an unknown key with 401 envelope-invalid and leaves the scan open', async () => {
    await register('scan-w9');
    const report = await signedEnvelope({ ...world.keys, scanners: new Map([...world.keys.scanners, ['scanner-01', hmacKeyFromSecret(randomBytes(32))] as const]) }, { scanId: 'scan-w9', nowMs: NOW_MS });
    assertProblem(await complete('scan-w9', report), 401, 'envelope-invalid');
    assert.equal((await world.store.getScan('scan-w9'))?.status, 'registered');
  });

  it('refuses a registration without provenance with 401 provenance-missing', async () => {
    const response = await world.app.inject({ method: 'POST', url: '/api/v1/scans', headers: { 'content-type': 'application/json', 'x-test-peer-cn': 'gw-internal' }, payload: { scanId: 'scan-w10' } });
    assertProblem(response, 401, 'provenance-missing');
    assert.equal(await world.store.getScan('scan-w10'), null);
  });

  it('serves the same health probes as the locker', async () => {
    const live = await world.app.inject({ method: 'GET', url: '/healthz/live' });
    assert.deepEqual(live.json(), { service: 'scanner-webservice', status: 'live' });
    const traversal = await send(world.app, stamp(world.topology, world.keys, { method: 'GET', url: '/healthz/traversal', scanId: 'probe', nowMs: NOW_MS }));
    assert.equal(traversal.statusCode, 200);
    assert.deepEqual((traversal.json() as { hops: { id: string }[] }).hops.map((h) => h.id), ['gw-edge', 'gw-internal']);
  });
});
