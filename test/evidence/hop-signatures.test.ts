import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hopSignatureProblems } from '../../src/evidence/hop-signatures.js';
import { ANY_KID } from '../../src/provenance/v2/keys.js';
import { buildV2Request, fixtureV2Key, fixtureV2Keyring, fixtureV2Topology, NOW_S } from '../provenance/support/fixture.js';

const topology = fixtureV2Topology();
const keys = fixtureV2Keyring(topology);

function stored(built = buildV2Request(topology)) {
  const members = built.headers['signature-input']!.split(/, (?=stella-)/);
  const peerIds = ['scanner-01', 'waf', 'gw-mid1'];
  return {
    scanId: built.request.scanId,
    request: { method: built.request.method, pathAndQuery: built.request.pathAndQuery, contentDigest: built.request.contentDigest },
    provenanceV2: { signatureInput: built.headers['signature-input']!, signature: built.headers.signature! },
    hops: ['gw-edge', 'gw-mid1', 'gw-internal'].map((id, i) => ({ id, seq: i + 1, ts: NOW_S - 2, peer: /peer="([^"]+)"/.exec(members[i]!)![1]!, peerId: peerIds[i]!, kid: `${id}-new` })),
  };
}

describe('hopSignatureProblems (offline v2 check)', () => {
  it('verifies every member of a stored chain and names the HMAC hops', () => {
    assert.deepEqual(hopSignatureProblems(stored(), keys), { problems: [], hmacHops: ['gw-internal'] });
  });

  it('names the member that no longer verifies when a stored request fact changed, and every later one', () => {
    const record = { ...stored(), scanId: 'scan-other' };
    const { problems } = hopSignatureProblems(record, keys);
    assert.deepEqual(problems, ['hop gw-edge: signature does not verify with key "gw-edge-new"', 'hop gw-mid1: signature does not verify with key "gw-mid1-new"', 'hop gw-internal: signature does not verify with key "gw-internal-new"']);
  });

  it('reports a hop whose key was not given, a stored hop that differs from its member, and a record without members', () => {
    const partial = new Map(keys);
    partial.delete('gw-mid1');
    assert.deepEqual(hopSignatureProblems(stored(), partial).problems, ['hop gw-mid1: no key "gw-mid1-new" was given']);
    const record = stored();
    const moved = { ...record, hops: record.hops.map((h, i) => (i === 0 ? { ...h, peerId: 'scanner-02' } : h)) };
    assert.deepEqual(hopSignatureProblems(moved, keys).problems, ['hop gw-edge: the member differs from the stored hop gw-edge']);
    assert.match(hopSignatureProblems({ ...record, provenanceV2: undefined }, keys).problems[0]!, /no v2 members/);
  });

  it('accepts an auditor\'s key filed for any keyid, and only the right one', () => {
    const auditor = new Map([...keys].map(([hop, k]) => [hop, { alg: k.alg, keys: new Map([[ANY_KID, k.keys.get(`${hop}-new`)!]]) }]));
    assert.deepEqual(hopSignatureProblems(stored(), auditor).problems, []);
    auditor.set('gw-edge', { alg: 'ed25519', keys: new Map([[ANY_KID, fixtureV2Key('gw-edge', 'gw-edge-old').verifying]]) });
    assert.deepEqual(hopSignatureProblems(stored(), auditor).problems, ['hop gw-edge: signature does not verify with key "gw-edge-new"']);
  });
});
