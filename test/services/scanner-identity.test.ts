/**
 * Scanner identity end to end at the services (docs/services.md#who-may-write-and-read): the key
 * that signs, the certificate the edge saw and the scan must be the same scanner; reads and the
 * operational endpoints answer only the identities the topology names.
 */
import { describe, it, before, after } from 'node:test';
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { parseEnvelope } from '../../src/dsse/index.js';
import { verifyReceipt } from '../../src/evidence/receipt.js';
import { LAST_HOP, OTHER_SCANNER_ID, AUDITOR_ID, SCANNER_ID, TEST_PEER_HEADER, TEST_PEER_SPIFFE_HEADER, TEST_SCANNERS, scannerCert, send, sha256Hex, signedEnvelope, stamp, type TestScanner } from './support/fixture.js';
import { lockerWorld, NOW_MS, type LockerWorld } from './support/locker.js';
import { webServiceWorld, type WebServiceWorld } from './support/webservice.js';

type Response = { statusCode: number; headers: Record<string, unknown>; json: () => unknown; body: string };

function assertProblem(response: Response, status: number, code: string): void {
  assert.equal(response.statusCode, status, response.body);
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
  assert.equal((response.json() as { code: string }).code, code);
}

/** POST an envelope over `scanner`'s certificate, signed with `signWith`'s key. */
async function ingest(world: LockerWorld, options: { scanId: string; scanner: TestScanner; signWith?: TestScanner }): Promise<{ response: Response; body: Buffer }> {
  const body = await signedEnvelope(world.keys, { scanId: options.scanId, nowMs: NOW_MS, scanner: options.scanner, ...(options.signWith ? { signWith: options.signWith } : {}) });
  const response = await send(world.app, stamp(world.topology, world.keys, { method: 'POST', url: '/api/v1/evidence', scanId: options.scanId, body, nowMs: NOW_MS, scanner: options.scanner }));
  return { response, body };
}

function get(world: LockerWorld, url: string, scanId: string, scanner: TestScanner): Promise<Response> {
  return send(world.app, stamp(world.topology, world.keys, { method: 'GET', url, scanId, nowMs: NOW_MS, scanner }));
}

describe('key ↔ scanner binding', () => {
  let world: LockerWorld;
  before(async () => {
    world = await lockerWorld();
  });
  after(() => world.dispose());

  it("refuses scanner-01's connection carrying an envelope signed only with scanner-02's key: 401 envelope-invalid, nothing stored", async () => {
    const { response, body } = await ingest(world, { scanId: 'bind-1', scanner: SCANNER_ID, signWith: OTHER_SCANNER_ID });
    assertProblem(response, 401, 'envelope-invalid');
    assert.match((response.json() as { detail: string }).detail, /scanner-01/);
    assert.equal(await world.store.getEvidence(sha256Hex(body)), null);
    assert.equal(await world.store.getScanOwner('bind-1'), null);
  });

  it("refuses the reverse too: scanner-02's connection with scanner-01's key", async () => {
    const { response, body } = await ingest(world, { scanId: 'bind-2', scanner: OTHER_SCANNER_ID, signWith: SCANNER_ID });
    assertProblem(response, 401, 'envelope-invalid');
    assert.equal(await world.store.getEvidence(sha256Hex(body)), null);
  });

  it('names the scanner in the receipt: id, SPIFFE ID, certificate SHA-256 and the key that verified', async () => {
    const { response, body } = await ingest(world, { scanId: 'bind-3', scanner: OTHER_SCANNER_ID });
    assert.equal(response.statusCode, 201, response.body);
    const receipt = await verifyReceipt(parseEnvelope((response.json() as { receipt: unknown }).receipt), { publicKey: world.keys.receiptPublic, expectedEnvelopeSha256: sha256Hex(body) });
    assert.deepEqual(receipt.predicate.scanner, {
      id: OTHER_SCANNER_ID,
      spiffeId: `spiffe://stella.local/scanner/${OTHER_SCANNER_ID}`,
      certificateSha256: scannerCert(OTHER_SCANNER_ID),
      keyids: [`${OTHER_SCANNER_ID}-hmac`],
    });
    assert.equal((await world.store.getEvidence(sha256Hex(body)))?.scannerId, OTHER_SCANNER_ID);
  });

  it('stores evidence iff the signing key belongs to the scanner whose certificate the edge saw (property, 3 scanners)', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...TEST_SCANNERS), fc.constantFrom(...TEST_SCANNERS), async (scanner, signWith) => {
        const scanId = `prop-${n++}`;
        const { response, body } = await ingest(world, { scanId, scanner, signWith });
        const stored = await world.store.getEvidence(sha256Hex(body));
        if (scanner === signWith) {
          assert.equal(response.statusCode, 201, response.body);
          assert.equal(stored?.scannerId, scanner);
        } else {
          assertProblem(response, 401, 'envelope-invalid');
          assert.equal(stored, null);
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('scan ownership and read scope', () => {
  let world: LockerWorld;
  let ownedSha = '';
  before(async () => {
    world = await lockerWorld({ access: { readers: [`spiffe://stella.local/scanner/${AUDITOR_ID}`] } });
    const { response, body } = await ingest(world, { scanId: 'owned-1', scanner: SCANNER_ID });
    assert.equal(response.statusCode, 201, response.body);
    ownedSha = sha256Hex(body);
  });
  after(() => world.dispose());

  it("refuses scanner-02 adding evidence to scanner-01's scan with 409 scan-conflict and stores nothing", async () => {
    const { response, body } = await ingest(world, { scanId: 'owned-1', scanner: OTHER_SCANNER_ID });
    assertProblem(response, 409, 'scan-conflict');
    assert.equal(await world.store.getEvidence(sha256Hex(body)), null);
    assert.equal(await world.store.getScanOwner('owned-1'), SCANNER_ID);
    assert.equal((await world.store.listByScan('owned-1')).length, 1);
  });

  it('lets the owner add more evidence to its scan', async () => {
    const { response } = await ingest(world, { scanId: 'owned-1', scanner: SCANNER_ID });
    assert.equal(response.statusCode, 201, response.body);
    assert.equal((await world.store.listByScan('owned-1')).length, 2);
  });

  it("answers scanner-02's read of scanner-01's evidence exactly like an absent digest (404 evidence-not-found)", async () => {
    const foreign = await get(world, `/api/v1/evidence/${ownedSha}`, 'owned-1', OTHER_SCANNER_ID);
    const absent = await get(world, `/api/v1/evidence/${'0'.repeat(64)}`, 'owned-1', OTHER_SCANNER_ID);
    assertProblem(foreign, 404, 'evidence-not-found');
    assertProblem(absent, 404, 'evidence-not-found');
    assert.equal((foreign.json() as { title: string }).title, (absent.json() as { title: string }).title);
  });

  it("answers scanner-02's listing of scanner-01's scan exactly like a scan nobody stored under (404 scan-not-found)", async () => {
    const foreign = await get(world, '/api/v1/scans/owned-1/evidence', 'owned-1', OTHER_SCANNER_ID);
    const absent = await get(world, '/api/v1/scans/nobody/evidence', 'nobody', OTHER_SCANNER_ID);
    assertProblem(foreign, 404, 'scan-not-found');
    assertProblem(absent, 404, 'scan-not-found');
  });

  it('lets the owner read by digest and by scan', async () => {
    const one = await get(world, `/api/v1/evidence/${ownedSha}`, 'owned-1', SCANNER_ID);
    assert.equal(one.statusCode, 200, one.body);
    assert.equal((one.json() as { scannerId: string }).scannerId, SCANNER_ID);
    const list = await get(world, '/api/v1/scans/owned-1/evidence', 'owned-1', SCANNER_ID);
    assert.equal((list.json() as { evidence: unknown[] }).evidence.length, 2);
  });

  it('lets a reader the topology names (auditor-01) read every scan', async () => {
    const one = await get(world, `/api/v1/evidence/${ownedSha}`, 'owned-1', AUDITOR_ID);
    assert.equal(one.statusCode, 200, one.body);
    const list = await get(world, '/api/v1/scans/owned-1/evidence', 'owned-1', AUDITOR_ID);
    assert.equal(list.statusCode, 200, list.body);
  });

  it('keeps exactly one owner when two scanners race on a new scan id', async () => {
    const results = await Promise.all(
      [SCANNER_ID, OTHER_SCANNER_ID, SCANNER_ID, OTHER_SCANNER_ID].map((scanner) => ingest(world, { scanId: 'race-1', scanner: scanner as TestScanner })),
    );
    const owner = await world.store.getScanOwner('race-1');
    assert.ok(owner === SCANNER_ID || owner === OTHER_SCANNER_ID);
    for (const [i, { response }] of results.entries()) {
      const scanner = i % 2 === 0 ? SCANNER_ID : OTHER_SCANNER_ID;
      if (scanner === owner) assert.equal(response.statusCode, 201, response.body);
      else assertProblem(response, 409, 'scan-conflict');
    }
    const stored = await world.store.listByScan('race-1');
    assert.equal(stored.length, 2);
    assert.ok(stored.every((r) => r.scannerId === owner));
  });
});

describe('operational endpoints and the TLS peer role', () => {
  let world: LockerWorld;
  before(async () => {
    world = await lockerWorld();
  });
  after(() => world.dispose());

  it('answers /metrics and /healthz/ready to the last hop (the default access.ops)', async () => {
    assert.equal((await world.app.inject({ method: 'GET', url: '/metrics', headers: LAST_HOP })).statusCode, 200);
    assert.equal((await world.app.inject({ method: 'GET', url: '/healthz/ready', headers: LAST_HOP })).statusCode, 200);
  });

  it('refuses /metrics and /healthz/ready to any other certificate of the CA with 403 identity-not-allowed', async () => {
    for (const url of ['/metrics', '/healthz/ready']) {
      const scannerPeer = { [TEST_PEER_HEADER]: SCANNER_ID, [TEST_PEER_SPIFFE_HEADER]: `spiffe://stella.local/scanner/${SCANNER_ID}` };
      assertProblem(await world.app.inject({ method: 'GET', url, headers: scannerPeer }) as unknown as Response, 403, 'identity-not-allowed');
      const otherHop = { [TEST_PEER_HEADER]: 'gw-edge' };
      assertProblem(await world.app.inject({ method: 'GET', url, headers: otherHop }) as unknown as Response, 403, 'identity-not-allowed');
      assertProblem(await world.app.inject({ method: 'GET', url }) as unknown as Response, 403, 'identity-not-allowed');
    }
  });

  it('refuses a scanner-role certificate whose CN is the last hop with 403 untrusted-peer, nothing stored', async () => {
    const body = await signedEnvelope(world.keys, { scanId: 'role-1', nowMs: NOW_MS });
    const request = stamp(world.topology, world.keys, { method: 'POST', url: '/api/v1/evidence', scanId: 'role-1', body, nowMs: NOW_MS });
    const response = await send(world.app, request, { headers: { [TEST_PEER_SPIFFE_HEADER]: 'spiffe://stella.local/scanner/gw-internal' } });
    assertProblem(response, 403, 'untrusted-peer');
    assert.equal(await world.store.getEvidence(sha256Hex(body)), null);
  });

  it('refuses a peer of another trust domain or without a SPIFFE ID with 403 untrusted-peer', async () => {
    for (const spiffe of ['spiffe://other.example/gateway/gw-internal', '']) {
      const request = stamp(world.topology, world.keys, { method: 'GET', url: '/api/v1/scans/x/evidence', scanId: 'x', nowMs: NOW_MS });
      assertProblem(await send(world.app, request, { headers: { [TEST_PEER_SPIFFE_HEADER]: spiffe } }), 403, 'untrusted-peer');
    }
  });

  it('answers /healthz/traversal only to scanners named in access.ops', async () => {
    const narrow = await lockerWorld({ access: { ops: [`spiffe://stella.local/scanner/${AUDITOR_ID}`, 'spiffe://stella.local/gateway/gw-internal'] } });
    try {
      const allowed = await send(narrow.app, stamp(narrow.topology, narrow.keys, { method: 'GET', url: '/healthz/traversal', scanId: 'probe-1', nowMs: NOW_MS, scanner: AUDITOR_ID }));
      assert.equal(allowed.statusCode, 200, allowed.body);
      const refused = await send(narrow.app, stamp(narrow.topology, narrow.keys, { method: 'GET', url: '/healthz/traversal', scanId: 'probe-2', nowMs: NOW_MS, scanner: SCANNER_ID }));
      assertProblem(refused, 403, 'identity-not-allowed');
    } finally {
      await narrow.dispose();
    }
  });
});

describe('Scanner WebService: the same scanner rules', () => {
  let world: WebServiceWorld;
  before(async () => {
    world = await webServiceWorld();
    const registered = await send(world.app, stamp(world.topology, world.keys, { method: 'POST', url: '/api/v1/scans', scanId: 'ws-1', body: Buffer.from('{"scanId":"ws-1"}'), nowMs: NOW_MS }));
    assert.equal(registered.statusCode, 201, registered.body);
  });
  after(() => world.dispose());

  it("answers scanner-02's read of scanner-01's scan with 404 scan-not-found", async () => {
    const response = await send(world.app, stamp(world.topology, world.keys, { method: 'GET', url: '/api/v1/scans/ws-1', scanId: 'ws-1', nowMs: NOW_MS, scanner: OTHER_SCANNER_ID }));
    assertProblem(response, 404, 'scan-not-found');
  });

  it("refuses scanner-02 completing scanner-01's scan with its own valid report: 409 scan-conflict, the scan stays open", async () => {
    const body = await signedEnvelope(world.keys, { scanId: 'ws-1', nowMs: NOW_MS, scanner: OTHER_SCANNER_ID });
    const response = await send(world.app, stamp(world.topology, world.keys, { method: 'POST', url: '/api/v1/scans/ws-1/complete', scanId: 'ws-1', body, nowMs: NOW_MS, scanner: OTHER_SCANNER_ID }));
    assertProblem(response, 409, 'scan-conflict');
    assert.equal((await world.store.getScan('ws-1'))?.status, 'registered');
  });

  it("refuses a completion report on scanner-01's connection signed with scanner-02's key: 401 envelope-invalid", async () => {
    const body = await signedEnvelope(world.keys, { scanId: 'ws-1', nowMs: NOW_MS, scanner: SCANNER_ID, signWith: OTHER_SCANNER_ID });
    const response = await send(world.app, stamp(world.topology, world.keys, { method: 'POST', url: '/api/v1/scans/ws-1/complete', scanId: 'ws-1', body, nowMs: NOW_MS }));
    assertProblem(response, 401, 'envelope-invalid');
    assert.equal((await world.store.getScan('ws-1'))?.status, 'registered');
  });
});
