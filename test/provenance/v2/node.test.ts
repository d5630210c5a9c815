/**
 * The plain Node adapter (what the guard in front of a registry runs) checking v2 on a real
 * server: an accepted chain reaches the handler with its members, a tampered one is refused with
 * the v1 code and never reaches it.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNodeGuard, TEST_PEER_HEADER, type NodeGuard } from '../support/app.js';
import { buildV2Request, fixtureV2Keyring, fixtureV2Topology } from '../support/fixture.js';

const topology = fixtureV2Topology('v2', true);

describe('createProvenanceMiddleware with v2 on a real Node server', () => {
  let guarded: NodeGuard;
  before(async () => {
    guarded = await startNodeGuard({ topology, hopKeys: new Map(), v2Keys: fixtureV2Keyring(topology) }, (r) => ({ hops: r.provenance?.hops.map((h) => [h.id, h.alg]), v2: r.provenance?.v2 !== undefined }));
  });
  after(() => guarded.close());

  const post = (headers: Record<string, string>, body: Buffer | null) => fetch(`${guarded.base}/api/v1/evidence?x=1`, { method: 'POST', headers: { ...headers, [TEST_PEER_HEADER]: 'gw-internal' }, ...(body ? { body } : {}) });

  it('hands an accepted v2 chain to the handler, each hop with its algorithm', async () => {
    const built = buildV2Request(topology);
    const res = await post(built.headers, built.body);
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), { hops: [['gw-edge', 'ed25519'], ['gw-mid1', 'ecdsa-p256-sha256'], ['gw-internal', 'hmac-sha256']], v2: true });
  });

  it('refuses a tampered member (401 provenance-tampered) and a v1-only request (401 provenance-missing) before the handler', async () => {
    const before = guarded.handled;
    const built = buildV2Request(topology);
    const tampered = await post({ ...built.headers, 'x-stella-scan-id': 'scan-other' }, built.body);
    assert.equal(tampered.status, 401);
    assert.equal(((await tampered.json()) as { code: string }).code, 'provenance-tampered');
    const { 'signature-input': _i, signature: _s, ...v1Only } = built.headers;
    const missing = await post({ ...v1Only, 'x-stella-provenance': 'gw-edge;seq=1' }, built.body);
    assert.equal(missing.status, 401);
    assert.equal(((await missing.json()) as { code: string }).code, 'provenance-missing');
    assert.equal(guarded.handled, before);
  });
});
