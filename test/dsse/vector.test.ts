/**
 * The ECDSA P-256 test vector of the DSSE spec (secure-systems-lab/dsse protocol.md, "Test
 * Vectors"), checked as published (raw r‖s) and re-encoded as DER.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { createVerifier, keyFromKeyObject, pae, parseEnvelope, verifyEnvelope } from '../../src/dsse/index.js';
import type { Envelope } from '../../src/dsse/index.js';
import { codeOf, p1363ToDer } from './support/keys.js';

const X = 46950820868899156662930047687818585632848591499744589407958293238635476079160n;
const Y = 5640078356564379163099075877009565129882514886557779369047442380624545832820n;
const D = 97358161215184420915383655311931858321456579547487070936769975997791359926199n;
const ENVELOPE = `{"payload": "aGVsbG8gd29ybGQ=",
 "payloadType": "http://example.com/HelloWorld",
 "signatures": [{"sig": "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA=="}]}`;
const TYPE = 'http://example.com/HelloWorld';

const b64url = (n: bigint): string => Buffer.from(n.toString(16).padStart(64, '0'), 'hex').toString('base64url');
const jwk = { kty: 'EC', crv: 'P-256', x: b64url(X), y: b64url(Y) };
const publicKey = keyFromKeyObject(createPublicKey({ key: jwk, format: 'jwk' }));

function withSig(env: Envelope, sig: Buffer): Envelope {
  return { ...env, signatures: [{ keyid: '', sig }] };
}

describe('the DSSE spec ECDSA P-256 test vector', () => {
  const env = parseEnvelope(ENVELOPE);
  const raw = env.signatures[0]?.sig ?? Buffer.alloc(0);

  it('has the published PAE', () => {
    assert.equal(pae(env.payloadType, env.payload).toString(), 'DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  });

  it('uses a key pair whose private scalar matches the published public point', () => {
    const privateKey = createPrivateKey({ key: { ...jwk, d: b64url(D) }, format: 'jwk' });
    assert.equal(keyFromKeyObject(privateKey).keyId, publicKey.keyId);
    assert.equal(publicKey.algorithm, 'ecdsa-p256-sha256');
  });

  it('verifies with the signature as published (raw r‖s)', async () => {
    assert.equal(raw.length, 64);
    const result = await verifyEnvelope(env, { payloadType: TYPE, verifiers: [createVerifier(publicKey)] });
    assert.equal(result.payload.toString(), 'hello world');
    assert.deepEqual(result.accepted.map((a) => a.keyId), [publicKey.keyId]);
  });

  it('verifies with the same signature DER-encoded', async () => {
    const der = p1363ToDer(raw);
    assert.equal(der[0], 0x30);
    const result = await verifyEnvelope(withSig(env, der), { payloadType: TYPE, verifiers: [createVerifier(publicKey)] });
    assert.equal(result.accepted.length, 1);
  });

  it('rejects the vector signature with one bit flipped, in both encodings', async () => {
    const flipped = Buffer.from(raw);
    flipped[10] = (flipped[10] ?? 0) ^ 1;
    for (const sig of [flipped, p1363ToDer(flipped)]) {
      const code = await codeOf(() => verifyEnvelope(withSig(env, sig), { payloadType: TYPE, verifiers: [createVerifier(publicKey)] }));
      assert.equal(code, 'DSSE_THRESHOLD_NOT_MET');
    }
  });
});
