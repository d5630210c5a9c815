/**
 * The v2 profile against an independent RFC 9421 implementation (docs/provenance.md#part-2-version-2):
 * `http-message-signatures` verifies every label of chains the product stamps — one label at a
 * time — and the product's verifier accepts a chain that library signed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KeyObject } from 'node:crypto';
import { createSigner, httpbis } from 'http-message-signatures';
import { MemoryReplayCache } from '../../src/provenance/replay/memory.js';
import { checkHeaders } from '../../src/provenance/verify.js';
import { chainVersions } from '../../src/provenance/options.js';
import { stampingHops } from '../../src/topology/resolve.js';
import { V2_PARAMS, V2_TAG } from '../../src/provenance/v2/profile.js';
import { splitDictionary } from '../../src/provenance/v2/fields.js';
import { buildV2Request, fixtureV2Key, fixtureV2Keyring, fixtureV2Topology, HOP_ALGS, NOW_MS, NOW_S, SCANNER_CERT, SERVICE } from '../provenance/support/fixture.js';
import { verifyEveryLabel, verifyLabel, type PublicKeys } from './support/rfc9421.js';

const topology = fixtureV2Topology();
const service = topology.services.find((s) => s.id === SERVICE)!;

function publicKeys(): PublicKeys {
  const keys = new Map<string, { alg: string; key: KeyObject }>();
  for (const hop of Object.keys(HOP_ALGS)) for (const v of ['old', 'new']) keys.set(`${hop}-${v}`, { alg: HOP_ALGS[hop]!, key: fixtureV2Key(hop, `${hop}-${v}`).verifying });
  return keys;
}

describe('v2 interop with http-message-signatures', () => {
  it('verifies every label of a chain the product stamped (Ed25519, ECDSA P-256 raw r‖s, HMAC), each on its own', async () => {
    for (const options of [{}, { method: 'GET', url: '/api/v1/evidence', body: null }, { url: '/a/b%2Fc?q=1&r=%20' }]) {
      const built = buildV2Request(topology, options);
      assert.deepEqual(await verifyEveryLabel(built, publicKeys()), [
        ['stella-1-gw-edge', true],
        ['stella-2-gw-mid1', true],
        ['stella-3-gw-internal', true],
      ]);
    }
  });

  it('reports false for the one label whose covered value changed, and for each later label when an earlier signature changed', async () => {
    const built = buildV2Request(topology);
    const keys = publicKeys();
    const otherScan = { ...built, headers: { ...built.headers, 'x-stella-scan-id': 'scan-other' } };
    for (const label of ['stella-1-gw-edge', 'stella-2-gw-mid1', 'stella-3-gw-internal']) assert.equal(await verifyLabel(otherScan, label, keys), false, label);
    // Swap hop 1's signature for another valid Ed25519 signature: hop 1 fails, hop 2 (which covers it) fails, hop 3 still verifies.
    const other = buildV2Request(topology);
    const edgeOther = splitDictionary(other.headers.signature!)[0]!.raw;
    const sigs = splitDictionary(built.headers.signature!).map((m, i) => (i === 0 ? edgeOther : m.raw)).join(', ');
    const swapped = { ...built, headers: { ...built.headers, signature: sigs } };
    assert.deepEqual(await verifyEveryLabel(swapped, keys), [
      ['stella-1-gw-edge', false],
      ['stella-2-gw-mid1', false],
      ['stella-3-gw-internal', true],
    ]);
  });

  it('the product accepts a chain the library signed with the profile\'s components and parameters', async () => {
    const built = buildV2Request(topology); // for the request facts and peers
    const headers: Record<string, string> = { 'x-stella-scan-id': built.headers['x-stella-scan-id']!, 'content-digest': built.headers['content-digest']! };
    const peers = [SCANNER_CERT, ...splitDictionary(built.headers['signature-input']!).slice(1).map((m) => /peer="([^"]+)"/.exec(m.raw)![1]!)];
    const peerIds = ['scanner-01', 'waf', 'gw-mid1'];
    let previous: string | null = null;
    const stamping = stampingHops(service);
    for (const [i, hop] of stamping.entries()) {
      const label = `stella-${i + 1}-${hop.id}`;
      const fields = ['@method', '@path', '@query', 'content-digest', 'x-stella-scan-id', ...(previous ? [`signature;key="${previous}"`] : [])];
      const key = fixtureV2Key(hop.id, `${hop.id}-new`);
      const signed = await httpbis.signMessage(
        {
          key: createSigner(key.signing, HOP_ALGS[hop.id]!, `${hop.id}-new`),
          name: label,
          fields,
          params: [...V2_PARAMS],
          paramValues: { created: new Date((NOW_S - 1) * 1000), nonce: `${i}`.repeat(32), keyid: `${hop.id}-new`, alg: HOP_ALGS[hop.id]!, tag: V2_TAG, peer: peers[i]!, 'peer-id': peerIds[i]! },
        },
        { method: 'POST', url: `https://gateway.test${built.url}`, headers: { ...headers } },
      );
      headers['signature-input'] = String(signed.headers['Signature-Input'] ?? signed.headers['signature-input']);
      headers.signature = String(signed.headers.Signature ?? signed.headers.signature);
      previous = label;
    }
    const ctx = { topology, service, keys: new Map(), v2Keys: fixtureV2Keyring(topology), versions: chainVersions(stamping, false), replayCache: new MemoryReplayCache(), now: () => NOW_MS };
    const peer = { cn: 'gw-internal', fingerprint: `sha256:${'a'.repeat(64)}`, spiffeId: 'spiffe://stella.local/gateway/gw-internal' };
    const checked = checkHeaders({ method: 'POST', url: built.url, headers, peer }, ctx);
    assert.deepEqual(checked.hops.map((h) => [h.id, h.alg]), [
      ['gw-edge', 'ed25519'],
      ['gw-mid1', 'ecdsa-p256-sha256'],
      ['gw-internal', 'hmac-sha256'],
    ]);
  });
});
