/**
 * The plain Node adapter (what the guard in front of a registry runs) checking v2 on a real
 * server: an accepted chain reaches the handler with its members, a tampered one is refused with
 * the v1 code and never reaches it.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { createProvenanceMiddleware, type ProvenanceIncomingMessage, type ProvenanceMiddleware } from '../../../src/provenance/node.js';
import { TEST_PEER_HEADER } from '../support/app.js';
import { buildV2Request, fixtureV2Keyring, fixtureV2Topology, NOW_MS, SERVICE } from '../support/fixture.js';

const topology = fixtureV2Topology('v2', true);

describe('createProvenanceMiddleware with v2 on a real Node server', () => {
  let server: Server;
  let guard: ProvenanceMiddleware;
  let base = '';
  let handled = 0;
  before(async () => {
    guard = createProvenanceMiddleware({
      topology,
      serviceId: SERVICE,
      hopKeys: new Map(),
      v2Keys: fixtureV2Keyring(topology),
      now: () => NOW_MS,
      metrics: { registry: new Registry() },
      peerIdentity: (req) => {
        const cn = req.headers[TEST_PEER_HEADER];
        return typeof cn === 'string' ? { cn, fingerprint: 'sha256:', spiffeId: `spiffe://${topology.trustDomain}/gateway/${cn}` } : null;
      },
    });
    server = createServer((req, res) =>
      guard(req, res, (error) => {
        if (error) {
          res.statusCode = 500;
          res.end();
          return;
        }
        handled += 1;
        const r = req as ProvenanceIncomingMessage;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ hops: r.provenance?.hops.map((h) => [h.id, h.alg]), v2: r.provenance?.v2 !== undefined }));
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await guard.close();
  });

  const post = (headers: Record<string, string>, body: Buffer | null) => fetch(`${base}/api/v1/evidence?x=1`, { method: 'POST', headers: { ...headers, [TEST_PEER_HEADER]: 'gw-internal' }, ...(body ? { body } : {}) });

  it('hands an accepted v2 chain to the handler, each hop with its algorithm', async () => {
    const built = buildV2Request(topology);
    const res = await post(built.headers, built.body);
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), { hops: [['gw-edge', 'ed25519'], ['gw-mid1', 'ecdsa-p256-sha256'], ['gw-internal', 'hmac-sha256']], v2: true });
  });

  it('refuses a tampered member (401 provenance-tampered) and a v1-only request (401 provenance-missing) before the handler', async () => {
    const before = handled;
    const built = buildV2Request(topology);
    const tampered = await post({ ...built.headers, 'x-stella-scan-id': 'scan-other' }, built.body);
    assert.equal(tampered.status, 401);
    assert.equal(((await tampered.json()) as { code: string }).code, 'provenance-tampered');
    const { 'signature-input': _i, signature: _s, ...v1Only } = built.headers;
    const missing = await post({ ...v1Only, 'x-stella-provenance': 'gw-edge;seq=1' }, built.body);
    assert.equal(missing.status, 401);
    assert.equal(((await missing.json()) as { code: string }).code, 'provenance-missing');
    assert.equal(handled, before);
  });
});
