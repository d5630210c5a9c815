/**
 * The locker against inputs other implementations produce or an attacker crafts: envelopes and
 * Statements with a repeated key (docs/dsse.md "Unambiguous JSON"), signature entries DSSE says to
 * skip, a method outside the MAC grammar, and hop clocks that disagree within the skew. Every
 * refusal is asserted by status, code and that nothing was stored.
 */
import { describe, it, before, after } from 'node:test';
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { createSigner, encodeBase64, IN_TOTO_PAYLOAD_TYPE, signEnvelope, TRAVERSAL_INTENT_PREDICATE_TYPE } from '../../src/dsse/index.js';
import { SCANNER_CERT, send, signedEnvelope, stamp } from './support/fixture.js';
import { lockerWorld, NOW_MS, type LockerWorld } from './support/locker.js';

function assertProblem(response: { statusCode: number; headers: Record<string, unknown>; json: () => unknown }, status: number, code: string, detail?: RegExp): void {
  assert.equal(response.statusCode, status, JSON.stringify(response.json()));
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
  const problem = response.json() as { code: string; detail: string };
  assert.equal(problem.code, code);
  if (detail) assert.match(problem.detail, detail);
}

/** A Statement text with the traversal intent of `scanId`, built by hand so it can repeat a key. */
function statementText(scanId: string, predicateExtra = ''): string {
  const artifact = `sbom-${randomBytes(4).toString('hex')}`;
  const intent = {
    scanId,
    topology: 'demo',
    edgeHop: 'gw-edge',
    clientCertSha256: SCANNER_CERT,
    nonce: randomBytes(16).toString('hex'),
    issuedAt: new Date(NOW_MS).toISOString(),
  };
  const predicate = JSON.stringify(intent).slice(0, -1) + predicateExtra + '}';
  return `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"${artifact}","digest":{"sha256":"${createHash('sha256').update(artifact).digest('hex')}"}}],"predicateType":"${TRAVERSAL_INTENT_PREDICATE_TYPE}","predicate":${predicate}}`;
}

describe('Evidence Locker conformance', () => {
  let world: LockerWorld;
  before(async () => {
    world = await lockerWorld();
  });
  after(() => world.dispose());

  const ingest = (body: Buffer, scanId: string, tsS?: number[]) =>
    send(world.app, stamp(world.topology, world.keys, { method: 'POST', url: '/api/v1/evidence', scanId, body, nowMs: NOW_MS, ...(tsS ? { tsS } : {}) }));
  const assertNothingStored = async (scanId: string, body: Buffer): Promise<void> => {
    assert.deepEqual(await world.store.listByScan(scanId), []);
    assert.equal(await world.store.getEvidence(createHash('sha256').update(body).digest('hex')), null);
  };

  it('refuses an envelope that repeats payload with 401 envelope-invalid (DSSE_DUPLICATE_KEY) and stores nothing', async () => {
    const signed = await signedEnvelope(world.keys, { scanId: 'scan-dup-1', nowMs: NOW_MS });
    const other = encodeBase64(Buffer.from(statementText('scan-dup-1')));
    for (const body of [
      Buffer.from(`${signed.toString().slice(0, -1)},"payload":"${other}"}`),
      Buffer.from(`{"payload":"${other}",${signed.toString().slice(1)}`),
      Buffer.from(`${signed.toString().slice(0, -1)},"p\\u0061yload":"${other}"}`),
    ]) {
      assertProblem(await ingest(body, 'scan-dup-1'), 401, 'envelope-invalid', /^DSSE_DUPLICATE_KEY: /);
      await assertNothingStored('scan-dup-1', body);
    }
  });

  it('refuses a correctly signed Statement whose predicate repeats scanId with 401 envelope-invalid and stores nothing', async () => {
    const statement = Buffer.from(statementText('scan-dup-2', ',"scanId":"scan-dup-2"'));
    const envelope = await signEnvelope(IN_TOTO_PAYLOAD_TYPE, statement, [createSigner(world.keys.scanner, 'scanner-01-hmac')]);
    const body = Buffer.from(JSON.stringify({ payloadType: envelope.payloadType, payload: encodeBase64(envelope.payload), signatures: envelope.signatures.map((s) => ({ keyid: s.keyid, sig: encodeBase64(s.sig) })) }));
    assertProblem(await ingest(body, 'scan-dup-2'), 401, 'envelope-invalid', /^DSSE_DUPLICATE_KEY: statement: key "scanId"/);
    await assertNothingStored('scan-dup-2', body);
  });

  it('stores an envelope whose extra signature entries are empty or have a null keyid, the valid one meeting the threshold', async () => {
    const signed = JSON.parse((await signedEnvelope(world.keys, { scanId: 'scan-skip', nowMs: NOW_MS })).toString()) as { signatures: { keyid: string; sig: string }[] };
    signed.signatures = [{ keyid: 'scanner-01-hmac', sig: '' }, { ...signed.signatures[0]!, keyid: null as unknown as string }];
    const body = Buffer.from(JSON.stringify(signed));
    assert.equal((await ingest(body, 'scan-skip')).statusCode, 201);
    assert.equal((await world.store.listByScan('scan-skip')).length, 1);
  });

  it('refuses a method the MAC grammar cannot cover (M-SEARCH) with 400 provenance-malformed, not a 500', async () => {
    const request = stamp(world.topology, world.keys, { method: 'GET', url: '/api/v1/evidence?scanId=scan-msearch', scanId: 'scan-msearch', nowMs: NOW_MS });
    // Node's HTTP parser accepts M-SEARCH (SSDP); the MAC grammar is upper-case letters only.
    for (const url of [request.url, '/api/v1/evidence', '/no/such/route']) {
      const response = await world.app.inject({ method: 'M-SEARCH' as 'GET', url, headers: request.headers });
      assertProblem(response, 400, 'provenance-malformed', /method/);
    }
  });

  it('stores a request whose later hop stamped up to clockSkewSeconds earlier than the hop before it', async () => {
    const body = await signedEnvelope(world.keys, { scanId: 'scan-skew', nowMs: NOW_MS });
    const nowS = Math.floor(NOW_MS / 1000);
    assert.equal((await ingest(body, 'scan-skew', [nowS - 1, nowS - 2])).statusCode, 201);
    const late = await signedEnvelope(world.keys, { scanId: 'scan-skew-2', nowMs: NOW_MS });
    const skew = world.topology.provenance.clockSkewSeconds;
    assertProblem(await ingest(late, 'scan-skew-2', [nowS - 1, nowS - 2 - skew]), 401, 'provenance-stale');
    await assertNothingStored('scan-skew-2', late);
  });
});
