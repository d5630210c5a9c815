import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HopKeyError, loadHopKeyring, parseMacKey, stampingKey } from '../../src/provenance/keys.js';
import { fixtureTopology } from './support/fixture.js';
import { tempDir } from '../support/tmp.js';

const secret = Buffer.from(Array.from({ length: 32 }, (_, i) => 250 - i));

describe('parseMacKey', () => {
  it('reads standard and URL-safe base64 with surrounding whitespace', () => {
    assert.deepEqual(parseMacKey(`  ${secret.toString('base64')}\n`, 'k'), secret);
    assert.deepEqual(parseMacKey(secret.toString('base64url'), 'k'), secret);
  });
  const bad: [string, string][] = [
    ['a character outside the alphabet', `${secret.toString('base64').slice(0, 10)}*${secret.toString('base64').slice(11)}`],
    ['mixed alphabets', `${secret.toString('base64').replace(/.$/, '')}-_+/`],
    ['a key of 31 bytes', secret.subarray(0, 31).toString('base64')],
    ['inner whitespace', `${secret.toString('base64').slice(0, 20)} ${secret.toString('base64').slice(20)}`],
    ['a PEM file', '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----'],
  ];
  for (const [name, text] of bad) {
    it(`rejects ${name} with hop-key-invalid`, () => {
      assert.throws(() => parseMacKey(text, 'k'), (e: unknown) => e instanceof HopKeyError && e.code === 'hop-key-invalid');
    });
  }
});

describe('loadHopKeyring', () => {
  const dir = tempDir('stella-keys-');
  after(() => dir.remove());

  function topologyWithFiles() {
    const topology = fixtureTopology(2);
    for (const hop of topology.hops) {
      if (hop.stamp === false) continue;
      hop.stamp.keys = hop.stamp.keys.map((k, i) => ({ ...k, file: join(dir.path, `${hop.id}-${i}.key`) }));
    }
    return topology;
  }

  it('reads every key of every stamping hop, in order, the last one stamping', async () => {
    const topology = topologyWithFiles();
    for (const hop of topology.hops) if (hop.stamp !== false) hop.stamp.keys.forEach((k, i) => writeFileSync(k.file, Buffer.alloc(32, i + 1).toString('base64')));
    const ring = await loadHopKeyring(topology);
    assert.deepEqual([...ring.keys()], ['gw-edge', 'gw-internal']);
    assert.deepEqual([...ring.get('gw-edge')!.keys()], ['gw-edge-old', 'gw-edge-new']);
    const stamping = stampingKey(ring, 'gw-edge');
    assert.equal(stamping.kid, 'gw-edge-new');
    assert.deepEqual(stamping.secret, Buffer.alloc(32, 2));
  });

  it('fails with hop-key-invalid naming the file when a key file is missing', async () => {
    const topology = topologyWithFiles();
    const edge = topology.hops[0]!;
    if (edge.stamp === false) throw new Error('fixture edge stamps');
    edge.stamp.keys[0]!.file = join(dir.path, 'absent.key');
    await assert.rejects(loadHopKeyring(topology), (e: unknown) => e instanceof HopKeyError && e.code === 'hop-key-invalid' && e.message.includes('absent.key'));
  });
});
