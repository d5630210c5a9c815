/**
 * The `stamp.profile` / `stamp.signing` rules of docs/provenance.md#part-2-version-2 as validation sees
 * them: what each profile needs, and what a native hop can sign.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkTopology } from '../../src/topology/parse.js';
import type { TopologyProblem } from '../../src/topology/errors.js';
import { topologyHead } from '../support/topology.js';

type Doc = Record<string, unknown> & { hops: Record<string, unknown>[] };

/** HAProxy edge (stamping both) → HAProxy → locker. Each test changes one hop's stamp. */
function valid(): Doc {
  return {
    ...topologyHead(),
    hops: [
      { id: 'gw-edge', kind: 'haproxy', listen: '127.0.0.1:8443', stamp: { via: 'native', profile: 'both', keys: [{ kid: 'e1', file: './keys/e.key' }], signing: { alg: 'ecdsa-p256-sha256', keys: [{ kid: 'e-v2', file: './keys/e.v2.pem', publicFile: './keys/e.v2.pub.pem' }] } }, next: 'gw-internal' },
      { id: 'gw-internal', kind: 'haproxy', listen: '127.0.0.1:8445', stamp: { via: 'native', keys: [{ kid: 'i1', file: './keys/i.key' }] }, next: 'evidence-locker' },
    ],
    services: [{ id: 'evidence-locker', kind: 'evidence-locker', listen: '127.0.0.1:9443', receiptKey: './keys/r.pem' }],
  };
}

const ecdsa = { alg: 'ecdsa-p256-sha256', keys: [{ kid: 'i-v2', file: './keys/i.v2.pem', publicFile: './keys/i.v2.pub.pem' }] };

function problems(hopIndex: number, stamp: Record<string, unknown>): TopologyProblem[] {
  const doc = valid();
  doc.hops[hopIndex]!.stamp = stamp;
  const result = checkTopology(doc);
  return result.ok ? [] : result.problems;
}

describe('validateTopology: stamp.profile and stamp.signing', () => {
  it('accepts a native HAProxy hop stamping v2 with ECDSA P-256 and no v1 key', () => {
    assert.deepEqual(problems(1, { via: 'native', profile: 'v2', signing: ecdsa }), []);
  });

  it('accepts both profiles with an HMAC v2 key', () => {
    assert.deepEqual(problems(1, { via: 'native', profile: 'both', keys: [{ kid: 'i1', file: './keys/i.key' }], signing: { alg: 'hmac-sha256', keys: [{ kid: 'i-v2', file: './keys/i.v2.key' }] } }), []);
  });

  it('refuses Ed25519 on a native HAProxy hop, naming what it can sign', () => {
    assert.deepEqual(problems(1, { via: 'native', profile: 'v2', signing: { ...ecdsa, alg: 'ed25519' } }), [
      { path: 'hops[1].stamp.signing.alg', message: 'a native haproxy hop cannot sign ed25519; use ecdsa-p256-sha256 or hmac-sha256' },
    ]);
  });

  it('refuses v2 on a native NGINX hop, which stamps v1 only', () => {
    const doc = valid();
    doc.hops[0]!.kind = 'nginx';
    const result = checkTopology(doc);
    assert.deepEqual(result.ok ? [] : result.problems, [
      { path: 'hops[0].stamp.profile', message: 'a native nginx hop stamps v1 only; use via: forward-auth for v2' },
    ]);
  });

  it('needs signing for v2 and both, and MAC keys for v1 and both', () => {
    assert.deepEqual(problems(1, { via: 'native', profile: 'v2' }), [{ path: 'hops[1].stamp.signing', message: 'required for profile v2 (alg and keys)' }]);
    assert.deepEqual(problems(1, { via: 'native', profile: 'both', signing: ecdsa }), [{ path: 'hops[1].stamp.keys', message: 'a hop stamping both needs at least one MAC key' }]);
    assert.deepEqual(problems(1, { via: 'native' }), [{ path: 'hops[1].stamp.keys', message: 'a hop stamping v1 needs at least one MAC key' }]);
  });

  it('refuses a signing block the profile would not use, and duplicate signing kids', () => {
    assert.deepEqual(problems(1, { via: 'native', keys: [{ kid: 'i1', file: './keys/i.key' }], signing: ecdsa }), [{ path: 'hops[1].stamp.signing', message: 'only used with profile v2 or both' }]);
    const twice = { ...ecdsa, keys: [...ecdsa.keys, { kid: 'i-v2', file: './keys/other.pem', publicFile: './keys/other.pub.pem' }] };
    assert.deepEqual(problems(1, { via: 'native', profile: 'v2', signing: twice }), [{ path: 'hops[1].stamp.signing.keys[1].kid', message: 'duplicate kid "i-v2"' }]);
  });

  it('refuses a hop stamping v2 behind a stamping hop that stamps v1 only, whose member it would have to cover', () => {
    const doc = valid();
    doc.hops[0]!.stamp = { via: 'native', keys: [{ kid: 'e1', file: './keys/e.key' }] };
    doc.hops[1]!.stamp = { via: 'native', profile: 'v2', signing: ecdsa };
    const result = checkTopology(doc);
    assert.deepEqual(result.ok ? [] : result.problems, [
      { path: 'hops[1].stamp.profile', message: 'stamps v2, but gw-edge before it stamps v1 only: its member would cover a signature that never exists' },
      { path: 'services[0]', message: 'the stamping hops in front of "evidence-locker" share no provenance version (gw-edge: v1, gw-internal: v2); make the v1 ones both, or the v2 ones both' },
    ]);
    doc.hops[0]!.stamp = { via: 'native', profile: 'both', keys: [{ kid: 'e1', file: './keys/e.key' }], signing: { ...ecdsa, keys: [{ kid: 'e-v2', file: './keys/e.v2.pem', publicFile: './keys/e.v2.pub.pem' }] } };
    assert.ok(checkTopology(doc).ok, 'an edge stamping both lets the next hop stamp v2');
  });

  it('refuses an unknown profile or algorithm by shape', () => {
    const found = problems(1, { via: 'native', profile: 'v3', signing: { ...ecdsa, alg: 'rsa-pss-sha256' } });
    assert.deepEqual(found.map((p) => p.path).sort(), ['hops[1].stamp.profile', 'hops[1].stamp.signing.alg']);
  });
});
