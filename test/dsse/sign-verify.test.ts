import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sign as cryptoSign } from 'node:crypto';
import { ALGORITHM_NAMES, pae, createSigner, createVerifier, parseEnvelope, serializeEnvelope, signEnvelope, verifyEnvelope } from '../../src/dsse/index.js';
import type { Envelope } from '../../src/dsse/index.js';
import { codeOf, keysByAlgorithm, makeKey } from './support/keys.js';

const keys = keysByAlgorithm();
const keyOf = (alg: (typeof ALGORITHM_NAMES)[number]) => {
  const key = keys.get(alg);
  assert.ok(key);
  return key;
};

describe('signEnvelope and verifyEnvelope', () => {
  for (const alg of ALGORITHM_NAMES) {
    it(`round-trip through JSON for ${alg} with any payload type and body`, async () => {
      const key = keyOf(alg);
      await fc.assert(
        fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.uint8Array({ maxLength: 512 }), async (type, body) => {
          const env = await signEnvelope(type, body, [createSigner(key.signing)]);
          const parsed = parseEnvelope(serializeEnvelope(env));
          const result = await verifyEnvelope(parsed, { payloadType: type, verifiers: [createVerifier(key.verifying)] });
          assert.deepEqual(result.payload, Buffer.from(body));
          assert.deepEqual(result.accepted, [{ keyid: key.verifying.keyId, keyId: key.verifying.keyId, algorithm: alg }]);
        }),
        { numRuns: alg === 'rsa-pss-sha256' ? 25 : 60 },
      );
    });

    it(`rejects any single-byte change of payload, payload type or signature for ${alg}`, async () => {
      const key = keyOf(alg);
      const verifiers = [createVerifier(key.verifying)];
      await fc.assert(
        fc.asyncProperty(
          fc.string({ minLength: 1, maxLength: 20 }).filter((t) => /^[\x20-\x7e]+$/.test(t)),
          fc.uint8Array({ minLength: 1, maxLength: 256 }),
          fc.constantFrom('payload', 'payloadType', 'sig'),
          fc.nat(),
          fc.integer({ min: 1, max: 255 }),
          async (type, body, field, at, delta) => {
            const env = await signEnvelope(type, body, [createSigner(key.signing)]);
            const sig = Buffer.from(env.signatures[0]?.sig ?? []);
            let tampered: Envelope = { ...env, signatures: [{ keyid: '', sig }] };
            if (field === 'payload') {
              const payload = Buffer.from(env.payload);
              payload[at % payload.length] = ((payload[at % payload.length] ?? 0) + delta) & 0xff;
              tampered = { ...tampered, payload };
            } else if (field === 'sig') {
              sig[at % sig.length] = ((sig[at % sig.length] ?? 0) + delta) & 0xff;
            } else {
              const bytes = Buffer.from(type, 'latin1');
              bytes[at % bytes.length] = (((bytes[at % bytes.length] ?? 0) + delta) & 0x7f) || 1;
              fc.pre(bytes.toString('latin1') !== type);
              tampered = { ...tampered, payloadType: bytes.toString('latin1') };
            }
            // The verifier is told the tampered type, so only the signature can reject it.
            const code = await codeOf(() => verifyEnvelope(tampered, { payloadType: tampered.payloadType, verifiers }));
            assert.equal(code, 'DSSE_THRESHOLD_NOT_MET');
          },
        ),
        { numRuns: alg === 'rsa-pss-sha256' ? 30 : 100 },
      );
    });
  }

  for (const alg of ['ecdsa-p256-sha256', 'ecdsa-p384-sha384'] as const) {
    it(`accepts ${alg} signatures as raw r‖s (IEEE P1363) as well as DER`, async () => {
      const key = keyOf(alg);
      assert.ok(key.signing.type === 'private');
      const hash = alg === 'ecdsa-p256-sha256' ? 'sha256' : 'sha384';
      const body = Buffer.from('p1363');
      const raw = cryptoSign(hash, pae('t', body), { key: key.signing.privateKey, dsaEncoding: 'ieee-p1363' });
      assert.equal(raw.length, alg === 'ecdsa-p256-sha256' ? 64 : 96);
      const env: Envelope = { payloadType: 't', payload: body, signatures: [{ keyid: '', sig: raw }] };
      const result = await verifyEnvelope(env, { payloadType: 't', verifiers: [createVerifier(key.verifying)] });
      assert.equal(result.accepted[0]?.algorithm, alg);
    });
  }

  it('rejects another payload type than expected with DSSE_PAYLOAD_TYPE_MISMATCH', async () => {
    const key = keyOf('ed25519');
    const env = await signEnvelope('a', Buffer.from('x'), [createSigner(key.signing)]);
    assert.equal(await codeOf(() => verifyEnvelope(env, { payloadType: 'b', verifiers: [createVerifier(key.verifying)] })), 'DSSE_PAYLOAD_TYPE_MISMATCH');
  });

  it('rejects an empty signature list with DSSE_NO_SIGNATURES', async () => {
    const key = keyOf('ed25519');
    const env: Envelope = { payloadType: 'a', payload: Buffer.from('x'), signatures: [] };
    assert.equal(await codeOf(() => verifyEnvelope(env, { payloadType: 'a', verifiers: [createVerifier(key.verifying)] })), 'DSSE_NO_SIGNATURES');
  });

  it('rejects a signature by an untrusted key', async () => {
    const env = await signEnvelope('a', Buffer.from('x'), [createSigner(makeKey('ed25519').signing)]);
    assert.equal(await codeOf(() => verifyEnvelope(env, { payloadType: 'a', verifiers: [createVerifier(keyOf('ed25519').verifying)] })), 'DSSE_THRESHOLD_NOT_MET');
  });

  it('treats a missing verifier list, a bad threshold and a public signing key as caller errors', async () => {
    const key = keyOf('ed25519');
    const env = await signEnvelope('a', Buffer.from('x'), [createSigner(key.signing)]);
    await assert.rejects(verifyEnvelope(env, { payloadType: 'a', verifiers: [] }), TypeError);
    await assert.rejects(verifyEnvelope(env, { payloadType: 'a', verifiers: [createVerifier(key.verifying)], threshold: 0 }), TypeError);
    await assert.rejects(signEnvelope('a', Buffer.from('x'), []), TypeError);
    assert.throws(() => createSigner(key.verifying), TypeError);
  });

  it('signs HMAC over the PAE in two parts with the same signature as over the whole PAE, alone and beside an Ed25519 signer', async () => {
    const hmac = createSigner(keyOf('hmac-sha256').signing);
    const ed = createSigner(keyOf('ed25519').signing);
    assert.equal(typeof hmac.signParts, 'function');
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 30 }), fc.uint8Array({ maxLength: 300 }), async (type, body) => {
        const whole = await hmac.sign(pae(type, body));
        const alone = await signEnvelope(type, body, [hmac]);
        const mixed = await signEnvelope(type, body, [ed, hmac]);
        assert.deepEqual(alone.signatures, [{ keyid: hmac.keyid, sig: whole }]);
        assert.deepEqual(mixed.signatures[1], { keyid: hmac.keyid, sig: whole });
        assert.deepEqual(alone.payload, Buffer.from(body));
        const verifiers = [createVerifier(keyOf('hmac-sha256').verifying), createVerifier(keyOf('ed25519').verifying)];
        assert.equal((await verifyEnvelope(alone, { payloadType: type, verifiers })).accepted.length, 1);
        assert.equal((await verifyEnvelope(mixed, { payloadType: type, verifiers, threshold: 2 })).accepted.length, 2);
      }),
      { numRuns: 100 },
    );
  });

  it('runs the methods of a wrapped HMAC signer or verifier, not the synchronous HMAC of the object it copied', async () => {
    const key = keyOf('hmac-sha256');
    const genuine = createSigner(key.signing);
    const body = Buffer.from('wrapped');
    const expected = (await signEnvelope('t', body, [genuine])).signatures[0]!.sig;
    // A caller's wrapper (a KMS proxy, an audit hook) overrides signParts: its answer must count.
    const wrapped = { ...genuine, signParts: async () => Buffer.alloc(32, 7) };
    assert.deepEqual((await signEnvelope('t', body, [wrapped])).signatures[0]!.sig, Buffer.alloc(32, 7));
    const env = await signEnvelope('t', body, [genuine]);
    assert.deepEqual(env.signatures[0]!.sig, expected);
    const verifier = createVerifier(key.verifying);
    const refusing = { ...verifier, verify: async () => false };
    assert.equal(await codeOf(() => verifyEnvelope(env, { payloadType: 't', verifiers: [refusing] })), 'DSSE_THRESHOLD_NOT_MET');
    assert.equal((await verifyEnvelope(env, { payloadType: 't', verifiers: [verifier] })).accepted.length, 1);
  });

  it('refuses a payload type with a lone surrogate on the two-part path too', async () => {
    await assert.rejects(signEnvelope('a\uD800', Buffer.from('x'), [createSigner(keyOf('hmac-sha256').signing)]), TypeError);
  });

  it('verifies the current bytes of a parsed payload read in place, so a change made after parsing is caught', async () => {
    const key = keyOf('hmac-sha256');
    const verifiers = [createVerifier(key.verifying)];
    const json = serializeEnvelope(await signEnvelope('a', Buffer.from('original'), [createSigner(key.signing)]));
    const intact = parseEnvelope(json);
    assert.equal((await verifyEnvelope(intact, { payloadType: 'a', verifiers })).payload.toString(), 'original');
    const changed = parseEnvelope(json);
    changed.payload[0] = 0x4f; // 'O'
    assert.equal(await codeOf(() => verifyEnvelope(changed, { payloadType: 'a', verifiers })), 'DSSE_THRESHOLD_NOT_MET');
  });

  it('rebuilds the PAE when the payload type of a parsed envelope was changed', async () => {
    const key = keyOf('hmac-sha256');
    const verifiers = [createVerifier(key.verifying)];
    const parsed = parseEnvelope(serializeEnvelope(await signEnvelope('a', Buffer.from('x'), [createSigner(key.signing)])));
    // Same byte length as 'a', so only a header comparison can tell the cached PAE is stale.
    assert.equal(await codeOf(() => verifyEnvelope({ ...parsed, payloadType: 'b' }, { payloadType: 'b', verifiers })), 'DSSE_THRESHOLD_NOT_MET');
    assert.equal((await verifyEnvelope(parsed, { payloadType: 'a', verifiers })).payload.toString(), 'x');
  });

  it('verifies an envelope whose payload is a fresh copy (no remembered PAE)', async () => {
    const key = keyOf('ed25519');
    const env = await signEnvelope('a', Buffer.from('copy me'), [createSigner(key.signing)]);
    const copy = { ...env, payload: Buffer.from(env.payload) };
    assert.equal((await verifyEnvelope(copy, { payloadType: 'a', verifiers: [createVerifier(key.verifying)] })).payload.toString(), 'copy me');
  });
});
