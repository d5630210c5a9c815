/**
 * docs/provenance.md, Part 2: the `vector-v2` blocks are recomputed from their inputs with the
 * product's code (signature base, member, both fields), verified by the product's verifier, and
 * the Ed25519 one by `openssl pkeyutl` too, so the page cannot drift from the implementation.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { signatureBase } from '../../src/provenance/v2/base.js';
import { parseV2Fields } from '../../src/provenance/v2/fields.js';
import { isV2Alg, V2_ALGORITHMS } from '../../src/provenance/v2/algorithms.js';
import { appendV2Stamp, stampV2 } from '../../src/provenance/v2/sign.js';
import { requireProgram } from '../support/programs.js';
import { tempDir } from '../support/tmp.js';

const doc = readFileSync(new URL('../../docs/provenance.md', import.meta.url), 'utf8');

/** Every ```vector-v2 block: key → values (a key may repeat, e.g. `base`). */
function vectors(): Map<string, string[]>[] {
  return [...doc.matchAll(/```vector-v2\n([\s\S]*?)```/g)].map((m) => {
    const map = new Map<string, string[]>();
    for (const line of m[1]!.trimEnd().split('\n')) {
      const at = line.indexOf(' =');
      const key = line.slice(0, at);
      map.set(key, [...(map.get(key) ?? []), line.slice(at + 2).replace(/^ /, '')]);
    }
    return map;
  });
}

function keyOf(alg: string, text: string): { signing: KeyObject; verifying: KeyObject } {
  if (alg === 'hmac-sha256') {
    const secret = createSecretKey(Buffer.from(text, 'base64'));
    return { signing: secret, verifying: secret };
  }
  const signing = createPrivateKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'pkcs8' });
  return { signing, verifying: createPublicKey(signing) };
}

describe('docs/provenance.md, version 2 test vectors', () => {
  const all = vectors();
  it('carries two vectors, one per kind of hop key', () => assert.deepEqual(all.map((v) => v.get('alg')![0]), ['ed25519', 'hmac-sha256']));

  for (const v of all) {
    const get = (k: string): string => {
      const value = v.get(k)?.[0];
      assert.ok(value !== undefined, `vector lacks ${k}`);
      return value;
    };
    describe(`vector "${get('name')}"`, () => {
      const alg = get('alg');
      assert.ok(isV2Alg(alg));
      const key = keyOf(alg, get('private-key'));
      const request = { method: get('method'), pathAndQuery: get('path'), scanId: get('scan-id'), contentDigest: get('content-digest') || null };
      const previousFields = { signatureInput: get('previous-signature-input') || null, signature: get('previous-signature') || null };
      const previousMember = previousFields.signature ? parseV2Fields(previousFields.signatureInput!, previousFields.signature, { maxHeaderBytes: 8192, maxHops: 8 }).at(-1)! : null;
      const stamp = stampV2({
        hop: get('hop'),
        seq: Number(get('seq')),
        created: Number(get('created')),
        nonce: get('nonce'),
        peer: get('peer'),
        peerId: get('peer-id'),
        keyid: get('keyid'),
        alg,
        key: key.signing,
        request,
        previous: previousMember ? { label: previousMember.label, signatureValue: previousMember.signatureValue } : null,
      });
      const base = v.get('base')!.join('\n');

      it('has the signature base the code builds', () => {
        const built = signatureBase(request, { coversContentDigest: request.contentDigest !== null, previous: previousMember ? { label: previousMember.label, signatureValue: previousMember.signatureValue } : null, signatureParams: stamp.signatureParams });
        assert.equal(built.toString('utf8'), base);
      });

      it('has the Signature-Input and Signature the code appends', () => {
        assert.deepEqual(appendV2Stamp(previousFields, stamp), { signatureInput: get('signature-input'), signature: get('signature') });
      });

      it('verifies with the public key (or the secret) given', () => {
        const member = parseV2Fields(get('signature-input'), get('signature'), { maxHeaderBytes: 8192, maxHops: 8 }).at(-1)!;
        if (get('public-key')) assert.deepEqual(createPublicKey({ key: Buffer.from(get('public-key'), 'base64'), format: 'der', type: 'spki' }).export({ format: 'der', type: 'spki' }), key.verifying.export({ format: 'der', type: 'spki' }));
        assert.equal(V2_ALGORITHMS[alg].verify(key.verifying, Buffer.from(base, 'utf8'), member.signature), true);
      });

      if (alg === 'ed25519') {
        it('verifies with openssl pkeyutl too (an independent Ed25519)', () => {
          const openssl = requireProgram('openssl');
          const dir = tempDir('stella-v2-doc-');
          try {
            const member = parseV2Fields(get('signature-input'), get('signature'), { maxHeaderBytes: 8192, maxHops: 8 }).at(-1)!;
            writeFileSync(join(dir.path, 'pub.pem'), `-----BEGIN PUBLIC KEY-----\n${get('public-key')}\n-----END PUBLIC KEY-----\n`);
            writeFileSync(join(dir.path, 'base'), base);
            writeFileSync(join(dir.path, 'sig'), member.signature);
            const out = execFileSync(openssl, ['pkeyutl', '-verify', '-pubin', '-inkey', join(dir.path, 'pub.pem'), '-rawin', '-in', join(dir.path, 'base'), '-sigfile', join(dir.path, 'sig')], { encoding: 'utf8' });
            assert.match(out, /Signature Verified Successfully/);
          } finally {
            dir.remove();
          }
        });
      }
    });
  }
});
