import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkTopology } from '../../src/topology/parse.js';
import { resolveTopology } from '../../src/topology/resolve.js';

/** A linear chain of `opaque.length` hops; `opaque[i]` makes hop i an opaque WAF. */
function chain(opaque: boolean[], maxHops: number): unknown {
  return {
    apiVersion: 'stella-gateway/v1',
    kind: 'Topology',
    name: 'p',
    trustDomain: 'stella.local',
    pki: { dir: 'pki' },
    scanners: [{ id: 's', signing: { keys: [{ kid: 'k', file: 'k' }] } }],
    hops: opaque.map((o, i) => ({
      id: `h${i}`,
      kind: o ? 'apache-modsecurity' : 'haproxy',
      listen: `127.0.0.1:${8000 + i}`,
      stamp: o ? false : { via: 'native', keys: [{ kid: `k${i}`, file: 'k' }] },
      next: i + 1 < opaque.length ? `h${i + 1}` : 'svc',
    })),
    services: [{ id: 'svc', kind: 'scanner-webservice', listen: '127.0.0.1:9000' }],
    provenance: { maxHops },
  };
}

describe('chain rules (property)', () => {
  it('accepts a linear chain exactly when its edge stamps and it fits maxHops, numbering stamping hops 1, 2, …', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 12 }), (opaque, maxHops) => {
        const result = checkTopology(chain(opaque, maxHops));
        const expectValid = !opaque[0] && opaque.length <= maxHops;
        assert.equal(result.ok, expectValid);
        if (!result.ok) return;
        const resolved = resolveTopology(result.topology, '/t');
        const seqs = resolved.services[0]!.chain.map((h) => h.stampSeq);
        let n = 0;
        assert.deepEqual(seqs, opaque.map((o) => (o ? null : ++n)));
      }),
    );
  });
});
