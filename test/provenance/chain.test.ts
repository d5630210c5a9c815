import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stampRecord, verifyChain } from '../../src/provenance/chain.js';
import { ProvenanceError, type ProvenanceCode } from '../../src/provenance/problems.js';
import type { HopRecord, RequestFacts } from '../../src/provenance/record.js';
import { buildRequest, fixtureKeys, fixtureTopology, NOW_MS, NOW_S, SERVICE } from './support/fixture.js';

const topology = fixtureTopology();
const keys = fixtureKeys(topology);
const service = topology.services.find((s) => s.id === SERVICE)!;

function facts(built: ReturnType<typeof buildRequest>): RequestFacts {
  return { method: built.method, pathAndQuery: built.url, scanId: built.headers['x-stella-scan-id']!, contentDigest: built.headers['content-digest'] ?? null };
}
function verify(records: HopRecord[], request: RequestFacts, now = NOW_MS) {
  return verifyChain(records, { topology, service, keys, request, now });
}
function fails(fn: () => unknown, code: ProvenanceCode): void {
  assert.throws(fn, (e: unknown) => e instanceof ProvenanceError && e.code === code, code);
}

describe('verifyChain', () => {
  it('returns every hop with its age in seconds', () => {
    const built = buildRequest(topology, keys, { tsS: [NOW_S - 5, NOW_S - 4, NOW_S - 4] });
    const hops = verify(built.records, facts(built));
    assert.deepEqual(hops.map((h) => [h.id, h.seq, h.ageSeconds, h.result]), [
      ['gw-edge', 1, 5, 'verified'],
      ['gw-mid1', 2, 4, 'verified'],
      ['gw-internal', 3, 4, 'verified'],
    ]);
  });

  it('requires the edge peer-id to be a scanner of that edge', () => {
    const built = buildRequest(topology, keys);
    const request = facts(built);
    const edge = built.records[0]!;
    const forged = stampRecord({ ...edge, peerId: 'gw-mid1', key: keys.get('gw-edge')!.get('gw-edge-new')!, request, previous: null });
    fails(() => verify([forged, ...built.records.slice(1)], request), 'topology-mismatch');
  });

  it('checks the topology before the MACs and the MACs before the clock', () => {
    const stale = buildRequest(topology, keys, { tsS: NOW_S - 1000 });
    const request = facts(stale);
    fails(() => verify(stale.records, request), 'provenance-stale');
    const tamperedAndStale = stale.records.map((r, i) => (i === 1 ? { ...r, nonce: 'f'.repeat(16) } : r));
    fails(() => verify(tamperedAndStale, request), 'provenance-tampered');
    fails(() => verify(tamperedAndStale.slice(1), request), 'topology-mismatch');
  });

  it('lets ts go back along the chain by up to clockSkewSeconds (30 here), and refuses one second more', () => {
    for (const [tsS, ok] of [
      [[NOW_S - 1, NOW_S - 2, NOW_S - 2], true],
      [[NOW_S, NOW_S - 30, NOW_S], true],
      [[NOW_S, NOW_S - 31, NOW_S], false],
      [[NOW_S - 10, NOW_S - 10, NOW_S - 41], false],
    ] as const) {
      const built = buildRequest(topology, keys, { tsS: [...tsS] });
      if (ok) assert.equal(verify(built.records, facts(built)).length, 3, String(tsS));
      else fails(() => verify(built.records, facts(built)), 'provenance-stale');
    }
  });

  it('makes record n cover record n-1: a re-stamped earlier record breaks the next MAC', () => {
    const built = buildRequest(topology, keys);
    const request = facts(built);
    const edge = built.records[0]!;
    const restamped = stampRecord({ ...edge, nonce: 'a'.repeat(32), key: keys.get('gw-edge')!.get('gw-edge-new')!, request, previous: null });
    fails(() => verify([restamped, ...built.records.slice(1)], request), 'provenance-tampered');
  });

  it('binds every record to the method, path, scan id and Content-Digest', () => {
    const built = buildRequest(topology, keys);
    const request = facts(built);
    for (const change of [{ method: 'PUT' }, { pathAndQuery: '/other' }, { scanId: 'scan-9' }, { contentDigest: null }]) {
      fails(() => verify(built.records, { ...request, ...change }), 'provenance-tampered');
    }
    assert.equal(verify(built.records, request).length, 3);
  });
});
