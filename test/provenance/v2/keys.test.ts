import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKey } from '../../../src/dsse/index.js';
import { HopKeyError } from '../../../src/provenance/keys.js';
import { loadHopKeyring } from '../../../src/provenance/keys.js';
import { loadV2Keyring, loadV2SigningKey } from '../../../src/provenance/v2/keys.js';
import { resolveTopology } from '../../../src/topology/resolve.js';
import { topologySchema, type TopologyInput } from '../../../src/topology/schema.js';
import { tempDir } from '../../support/tmp.js';
import { topologyHead } from '../../support/topology.js';

const dir = tempDir('stella-v2-keys-');
after(() => dir.remove());
const edge = generateKey('ed25519');
const ecdsa = generateKey('ecdsa-p256-sha256');
writeFileSync(join(dir.path, 'edge.pub.pem'), edge.public!);
writeFileSync(join(dir.path, 'edge.pem'), edge.private, { mode: 0o600 });
writeFileSync(join(dir.path, 'ecdsa.pub.pem'), ecdsa.public!);
writeFileSync(join(dir.path, 'mid.hmac'), generateKey('hmac-sha256').private);

function topology(signing: { alg: 'ed25519' | 'ecdsa-p256-sha256' | 'hmac-sha256'; keys: { kid: string; file: string; publicFile?: string }[] }) {
  const input: TopologyInput = {
    ...topologyHead({ kid: 's1', file: './s1.hmac' }),
    hops: [{ id: 'gw-edge', kind: 'caddy', listen: '127.0.0.1:8443', stamp: { via: 'forward-auth', profile: 'v2', stamper: { socket: './s.sock' }, signing }, next: 'evidence-locker' }],
    services: [{ id: 'evidence-locker', kind: 'evidence-locker', listen: '127.0.0.1:9443' }],
  };
  return resolveTopology(topologySchema.parse(input), dir.path);
}
const refused = (promise: Promise<unknown>, pattern: RegExp) => assert.rejects(promise, (e: unknown) => e instanceof HopKeyError && e.code === 'hop-key-invalid' && pattern.test(e.message));

describe('v2 hop keys', () => {
  it('a verifier reads only the public file of an asymmetric hop: its private key file need not even exist', async () => {
    const ring = await loadV2Keyring(topology({ alg: 'ed25519', keys: [{ kid: 'e1', file: 'absent.pem', publicFile: 'edge.pub.pem' }] }));
    assert.equal(ring.get('gw-edge')?.alg, 'ed25519');
    assert.equal(ring.get('gw-edge')?.keys.get('e1')?.type, 'public');
    // A v2-only hop has no v1 MAC keys, and the v1 keyring leaves it out.
    assert.equal((await loadHopKeyring(topology({ alg: 'ed25519', keys: [{ kid: 'e1', file: 'absent.pem', publicFile: 'edge.pub.pem' }] }))).size, 0);
  });

  it('an HMAC hop\'s verifier reads its secret', async () => {
    const ring = await loadV2Keyring(topology({ alg: 'hmac-sha256', keys: [{ kid: 'm1', file: 'mid.hmac' }] }));
    assert.equal(ring.get('gw-edge')?.keys.get('m1')?.type, 'secret');
  });

  it('refuses a public key of another algorithm, a private key as the public file, a missing publicFile, and an unreadable secret', async () => {
    await refused(loadV2Keyring(topology({ alg: 'ed25519', keys: [{ kid: 'e1', file: 'x', publicFile: 'ecdsa.pub.pem' }] })), /not a ed25519 public key/);
    await refused(loadV2Keyring(topology({ alg: 'ed25519', keys: [{ kid: 'e1', file: 'x', publicFile: 'edge.pem' }] })), /not a ed25519 public key/);
    await refused(loadV2Keyring(topology({ alg: 'ed25519', keys: [{ kid: 'e1', file: 'x' }] })), /publicFile: required/);
    await refused(loadV2Keyring(topology({ alg: 'hmac-sha256', keys: [{ kid: 'm1', file: 'absent.hmac' }] })), /cannot read/);
  });

  it('the hop signs with its LAST key, a private key; a public key is refused as a signing key', async () => {
    const t = topology({ alg: 'ed25519', keys: [{ kid: 'old', file: 'absent.pem', publicFile: 'edge.pub.pem' }, { kid: 'new', file: 'edge.pem', publicFile: 'edge.pub.pem' }] });
    const key = await loadV2SigningKey(t.hops[0]!);
    assert.deepEqual([key.alg, key.kid, key.key.type], ['ed25519', 'new', 'private']);
    await refused(loadV2SigningKey(topology({ alg: 'ed25519', keys: [{ kid: 'e1', file: 'edge.pub.pem', publicFile: 'edge.pub.pem' }] }).hops[0]!), /not a ed25519 private key/);
  });
});
