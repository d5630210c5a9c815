import { describe, it, before, after } from 'node:test';
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { createSigner, IN_TOTO_PAYLOAD_TYPE, hmacKeyFromSecret, parseEnvelope, serializeEnvelope, signEnvelope } from '../../src/dsse/index.js';
import { verifyReceipt } from '../../src/evidence/receipt.js';
import { TRAVERSAL_RECEIPT_PREDICATE_TYPE } from '../../src/evidence/receipt.js';
import { LAST_HOP, send, sha256Hex, signedEnvelope, stamp } from './support/fixture.js';
import { lockerWorld, NOW_MS, type LockerWorld } from './support/locker.js';

interface IngestAnswer {
  sha256: string;
  scanId: string;
  created: boolean;
  receipt: unknown;
}

async function ingest(world: LockerWorld, body: Buffer, scanId = 'scan-0001') {
  return send(world.app, stamp(world.topology, world.keys, { method: 'POST', url: '/api/v1/evidence', scanId, body, nowMs: NOW_MS }));
}

function assertProblem(response: { statusCode: number; headers: Record<string, unknown>; json: () => unknown }, status: number, code: string): void {
  assert.equal(response.statusCode, status);
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
  assert.equal((response.json() as { code: string }).code, code);
}

describe('Evidence Locker ingest', () => {
  let world: LockerWorld;
  before(async () => {
    world = await lockerWorld();
  });
  after(() => world.dispose());

  it('stores a verified envelope and answers 201 with a receipt that verifies for that envelope', async () => {
    const body = await signedEnvelope(world.keys, { scanId: 'scan-0001', nowMs: NOW_MS });
    const response = await ingest(world, body);
    assert.equal(response.statusCode, 201);
    const answer = response.json() as IngestAnswer;
    assert.equal(answer.sha256, sha256Hex(body));
    assert.equal(answer.created, true);
    assert.equal(response.headers.location, `/api/v1/evidence/${answer.sha256}`);
    const verified = await verifyReceipt(parseEnvelope(answer.receipt), { publicKey: world.keys.receiptPublic, expectedEnvelopeSha256: sha256Hex(body) });
    assert.deepEqual(verified.predicate.hops.map((h) => [h.id, h.seq, h.peerId]), [['gw-edge', 1, 'scanner-01'], ['gw-internal', 2, 'waf']]);
    assert.equal(verified.predicate.scanId, 'scan-0001');
    assert.equal(verified.predicate.receivedAt, new Date(NOW_MS).toISOString());
    assert.deepEqual(verified.predicate.verification.envelope.acceptedKeyids, ['scanner-01-hmac']);
    const stored = await world.store.getEvidence(answer.sha256);
    assert.deepEqual(Buffer.from(stored!.envelope), body);
  });

  it('answers 200 with the original receipt when the same envelope arrives again through the chain', async () => {
    const body = await signedEnvelope(world.keys, { scanId: 'scan-0002', nowMs: NOW_MS });
    const first = await ingest(world, body, 'scan-0002');
    const second = await ingest(world, body, 'scan-0002');
    assert.equal(first.statusCode, 201);
    assert.equal(second.statusCode, 200);
    assert.deepEqual((second.json() as IngestAnswer).receipt, (first.json() as IngestAnswer).receipt);
    assert.equal((second.json() as IngestAnswer).created, false);
    assert.equal((await world.store.listByScan('scan-0002')).length, 1);
  });

  it('writes one row and hands out one receipt when the same envelope arrives many times at once', async () => {
    const body = await signedEnvelope(world.keys, { scanId: 'scan-0003', nowMs: NOW_MS });
    const answers = await Promise.all(Array.from({ length: 8 }, () => ingest(world, body, 'scan-0003')));
    assert.deepEqual(answers.map((a) => a.statusCode).sort(), [200, 200, 200, 200, 200, 200, 200, 201]);
    assert.equal(new Set(answers.map((a) => JSON.stringify((a.json() as IngestAnswer).receipt))).size, 1);
    assert.equal((await world.store.listByScan('scan-0003')).length, 1);
  });

  it('counts ingests by outcome in /metrics', async () => {
    const response = await world.app.inject({ method: 'GET', url: '/metrics', headers: LAST_HOP });
    assert.equal(response.statusCode, 200);
    assert.match(response.body, /stella_evidence_ingests_total\{[^}]*outcome="created"[^}]*\} [1-9]/);
    assert.match(response.body, /stella_evidence_ingests_total\{[^}]*outcome="duplicate"[^}]*\} [1-9]/);
    assert.match(response.body, /stella_http_requests_total\{[^}]*route="\/api\/v1\/evidence"/);
  });
});

describe('Evidence Locker refusals store nothing', () => {
  let world: LockerWorld;
  before(async () => {
    world = await lockerWorld({ maxBodyBytes: 4096 });
  });
  after(() => world.dispose());

  async function assertNothingStored(scanId: string): Promise<void> {
    assert.deepEqual(await world.store.listByScan(scanId), []);
  }

  it('refuses a request without provenance headers with 401 provenance-missing', async () => {
    const body = await signedEnvelope(world.keys, { scanId: 'scan-r1', nowMs: NOW_MS });
    const response = await world.app.inject({ method: 'POST', url: '/api/v1/evidence', headers: { 'content-type': 'application/json', 'x-test-peer-cn': 'gw-internal' }, payload: body });
    assertProblem(response, 401, 'provenance-missing');
    await assertNothingStored('scan-r1');
  });

  it('refuses a body changed after stamping with 422 binding-mismatch', async () => {
    const body = await signedEnvelope(world.keys, { scanId: 'scan-r2', nowMs: NOW_MS });
    const request = stamp(world.topology, world.keys, { method: 'POST', url: '/api/v1/evidence', scanId: 'scan-r2', body, nowMs: NOW_MS });
    const other = await signedEnvelope(world.keys, { scanId: 'scan-r2', nowMs: NOW_MS });
    assertProblem(await send(world.app, request, { body: other }), 422, 'binding-mismatch');
    await assertNothingStored('scan-r2');
  });

  it('refuses an envelope signed by an unknown key with 401 envelope-invalid', async () => {
    const stranger = { ...world.keys, scanners: new Map([...world.keys.scanners, ['scanner-01', hmacKeyFromSecret(randomBytes(32))] as const]) };
    const body = await signedEnvelope(stranger, { scanId: 'scan-r3', nowMs: NOW_MS });
    assertProblem(await ingest(world, body, 'scan-r3'), 401, 'envelope-invalid');
    await assertNothingStored('scan-r3');
  });

  it('refuses a body that is JSON but no DSSE envelope with 401 envelope-invalid', async () => {
    assertProblem(await ingest(world, Buffer.from('{"not":"an envelope"}'), 'scan-r4'), 401, 'envelope-invalid');
    await assertNothingStored('scan-r4');
  });

  it('refuses a replayed request (same hop-1 nonce) with 409 provenance-replayed and keeps one row', async () => {
    const body = await signedEnvelope(world.keys, { scanId: 'scan-r5', nowMs: NOW_MS });
    const request = stamp(world.topology, world.keys, { method: 'POST', url: '/api/v1/evidence', scanId: 'scan-r5', body, nowMs: NOW_MS });
    assert.equal((await send(world.app, request)).statusCode, 201);
    assertProblem(await send(world.app, request), 409, 'provenance-replayed');
    assert.equal((await world.store.listByScan('scan-r5')).length, 1);
  });

  it('refuses a body above the service limit with 413 payload-too-large', async () => {
    const payload = Buffer.from(JSON.stringify({ payloadType: IN_TOTO_PAYLOAD_TYPE, payload: 'A'.repeat(8000), signatures: [] }));
    assertProblem(await ingest(world, payload, 'scan-r6'), 413, 'payload-too-large');
    await assertNothingStored('scan-r6');
  });

  it('refuses a text/plain body with 415 unsupported-media-type', async () => {
    const body = await signedEnvelope(world.keys, { scanId: 'scan-r7', nowMs: NOW_MS });
    const request = stamp(world.topology, world.keys, { method: 'POST', url: '/api/v1/evidence', scanId: 'scan-r7', body, nowMs: NOW_MS, contentType: 'text/plain' });
    assertProblem(await send(world.app, request), 415, 'unsupported-media-type');
    await assertNothingStored('scan-r7');
  });

  it('refuses a request from a peer that is not the last hop with 403 untrusted-peer', async () => {
    const body = await signedEnvelope(world.keys, { scanId: 'scan-r8', nowMs: NOW_MS });
    const request = stamp(world.topology, world.keys, { method: 'POST', url: '/api/v1/evidence', scanId: 'scan-r8', body, nowMs: NOW_MS });
    assertProblem(await send(world.app, request, { headers: { 'x-test-peer-cn': 'gw-edge' } }), 403, 'untrusted-peer');
    await assertNothingStored('scan-r8');
  });

  it('refuses an envelope whose intent names another certificate with 422 binding-mismatch', async () => {
    const body = await signedEnvelope(world.keys, { scanId: 'scan-r9', nowMs: NOW_MS, clientCert: `sha256:${'0'.repeat(64)}` });
    assertProblem(await ingest(world, body, 'scan-r9'), 422, 'binding-mismatch');
    await assertNothingStored('scan-r9');
  });

  it('refuses a validly signed envelope of another payload type with 401 envelope-invalid', async () => {
    const env = await signEnvelope('text/plain', Buffer.from('hello'), [createSigner(world.keys.scanner, 'scanner-01-hmac')]);
    assertProblem(await ingest(world, Buffer.from(serializeEnvelope(env)), 'scan-r10'), 401, 'envelope-invalid');
    await assertNothingStored('scan-r10');
  });
});

describe('Evidence Locker queries', () => {
  let world: LockerWorld;
  let body: Buffer;
  before(async () => {
    world = await lockerWorld();
    body = await signedEnvelope(world.keys, { scanId: 'scan-q', nowMs: NOW_MS });
    assert.equal((await ingest(world, body, 'scan-q')).statusCode, 201);
  });
  after(() => world.dispose());

  const get = (url: string, scanId = 'scan-q') => send(world.app, stamp(world.topology, world.keys, { method: 'GET', url, scanId, nowMs: NOW_MS }));

  it('returns the envelope, its hop chain and its receipt by digest', async () => {
    const response = await get(`/api/v1/evidence/${sha256Hex(body)}`);
    assert.equal(response.statusCode, 200);
    const view = response.json() as { envelope: unknown; hops: { id: string; nonce: string }[]; receipt: unknown; scanId: string };
    assert.deepEqual(view.envelope, JSON.parse(body.toString('utf8')));
    assert.deepEqual(view.hops.map((h) => h.id), ['gw-edge', 'gw-internal']);
    assert.equal(view.scanId, 'scan-q');
    const verified = await verifyReceipt(parseEnvelope(view.receipt), { publicKey: world.keys.receiptPublic, expectedEnvelopeSha256: sha256Hex(body) });
    assert.equal(verified.predicate.service, 'evidence-locker');
    const statement = JSON.parse(parseEnvelope(view.receipt).payload.toString('utf8')) as { predicateType: string };
    assert.equal(statement.predicateType, TRAVERSAL_RECEIPT_PREDICATE_TYPE);
  });

  it('answers 404 evidence-not-found for an unknown digest', async () => {
    assertProblem(await get(`/api/v1/evidence/${createHash('sha256').update('nothing').digest('hex')}`), 404, 'evidence-not-found');
  });

  it('answers 404 evidence-not-found for evidence of another scan, as the list route does', async () => {
    assertProblem(await get(`/api/v1/evidence/${sha256Hex(body)}`, 'scan-other'), 404, 'evidence-not-found');
  });

  it('answers 400 invalid-request for a digest that is not 64 lowercase hex', async () => {
    assertProblem(await get('/api/v1/evidence/NOT-A-DIGEST'), 400, 'invalid-request');
  });

  it('lists the evidence of a scan', async () => {
    const response = await get('/api/v1/scans/scan-q/evidence');
    assert.equal(response.statusCode, 200);
    const list = response.json() as { scanId: string; evidence: { sha256: string; envelope?: unknown }[] };
    assert.deepEqual(list.evidence.map((e) => e.sha256), [sha256Hex(body)]);
    assert.equal(list.evidence[0]!.envelope, undefined);
  });

  it('refuses to list a scan other than the one the request was stamped for with 422 binding-mismatch', async () => {
    assertProblem(await get('/api/v1/scans/scan-q/evidence', 'scan-other'), 422, 'binding-mismatch');
  });

  it('answers 404 not-found as a problem for an unknown route', async () => {
    assertProblem(await get('/api/v1/nothing-here'), 404, 'not-found');
  });
});
