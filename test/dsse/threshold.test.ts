import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSigner, createVerifier, encodeBase64, parseEnvelope, signEnvelope, verifyEnvelope } from '../../src/dsse/index.js';
import type { Envelope } from '../../src/dsse/index.js';
import { codeOf, makeKey } from './support/keys.js';

const TYPE = 'application/vnd.in-toto+json';
const body = Buffer.from('{"_type":"x"}');
const alice = makeKey('ed25519');
const bob = makeKey('ecdsa-p256-sha256');
const mac = makeKey('hmac-sha256');
const otherMac = makeKey('hmac-sha256');

function withKeyids(env: Envelope, keyids: string[]): Envelope {
  return { ...env, signatures: env.signatures.map((s, i) => ({ sig: s.sig, keyid: keyids[i] ?? s.keyid })) };
}

describe('threshold verification', () => {
  it('does not let two signatures by the same key meet threshold 2', async () => {
    const env = await signEnvelope(TYPE, body, [createSigner(alice.signing, 'a1'), createSigner(alice.signing, 'a2')]);
    const verifiers = [createVerifier(alice.verifying, 'a1'), createVerifier(alice.verifying, 'a2'), createVerifier(bob.verifying)];
    assert.equal(await codeOf(() => verifyEnvelope(env, { payloadType: TYPE, verifiers, threshold: 2 })), 'DSSE_THRESHOLD_NOT_MET');
  });

  it('meets threshold 2 with two distinct keys and lists both', async () => {
    const env = await signEnvelope(TYPE, body, [createSigner(alice.signing), createSigner(bob.signing)]);
    const result = await verifyEnvelope(env, { payloadType: TYPE, verifiers: [createVerifier(alice.verifying), createVerifier(bob.verifying)], threshold: 2 });
    assert.deepEqual(result.accepted.map((a) => a.keyId).sort(), [alice.verifying.keyId, bob.verifying.keyId].sort());
  });

  it('counts signatures without keyids', async () => {
    const signed = await signEnvelope(TYPE, body, [createSigner(alice.signing), createSigner(bob.signing)]);
    const env = withKeyids(signed, ['', '']);
    const result = await verifyEnvelope(env, { payloadType: TYPE, verifiers: [createVerifier(alice.verifying), createVerifier(bob.verifying)], threshold: 2 });
    assert.equal(result.accepted.length, 2);
  });

  it('tries every key when no verifier carries the signature keyid', async () => {
    const env = withKeyids(await signEnvelope(TYPE, body, [createSigner(alice.signing)]), ['unknown-hint']);
    const result = await verifyEnvelope(env, { payloadType: TYPE, verifiers: [createVerifier(bob.verifying), createVerifier(alice.verifying)] });
    assert.deepEqual(result.accepted.map((a) => a.keyId), [alice.verifying.keyId]);
  });

  it('never trusts a keyid: a signature naming a trusted key but made by another is not counted', async () => {
    const stranger = makeKey('ed25519');
    const env = await signEnvelope(TYPE, body, [createSigner(stranger.signing, 'alice')]);
    assert.equal(await codeOf(() => verifyEnvelope(env, { payloadType: TYPE, verifiers: [createVerifier(alice.verifying, 'alice')] })), 'DSSE_THRESHOLD_NOT_MET');
  });

  it('counts one HMAC key as one signer by default', async () => {
    const env = await signEnvelope(TYPE, body, [createSigner(mac.signing), createSigner(alice.signing)]);
    const result = await verifyEnvelope(env, { payloadType: TYPE, verifiers: [createVerifier(mac.verifying), createVerifier(alice.verifying)], threshold: 2 });
    assert.equal(result.accepted.length, 2);
  });

  it('does not count MAC signatures when macCountsAsSigner is false, but still lists them', async () => {
    const env = await signEnvelope(TYPE, body, [createSigner(mac.signing), createSigner(otherMac.signing), createSigner(alice.signing)]);
    const verifiers = [createVerifier(mac.verifying), createVerifier(otherMac.verifying), createVerifier(alice.verifying)];
    const code = await codeOf(() => verifyEnvelope(env, { payloadType: TYPE, verifiers, threshold: 2, macCountsAsSigner: false }));
    assert.equal(code, 'DSSE_THRESHOLD_NOT_MET');
    const one = await verifyEnvelope(env, { payloadType: TYPE, verifiers, threshold: 1, macCountsAsSigner: false });
    assert.equal(one.accepted.length, 3);
  });

  it('counts one key once even when two verifiers hold it under different keyids', async () => {
    const env = await signEnvelope(TYPE, body, [createSigner(mac.signing, 'x'), createSigner(mac.signing, 'y')]);
    const verifiers = [createVerifier(mac.verifying, 'x'), createVerifier(mac.verifying, 'y')];
    assert.equal(await codeOf(() => verifyEnvelope(env, { payloadType: TYPE, verifiers, threshold: 2 })), 'DSSE_THRESHOLD_NOT_MET');
    assert.equal((await verifyEnvelope(env, { payloadType: TYPE, verifiers })).accepted.length, 1);
  });

  it('skips an empty sig, a null keyid or a sig that is not base64 and lets the threshold decide, as DSSE verification asks', async () => {
    const signed = await signEnvelope(TYPE, body, [createSigner(alice.signing, 'alice'), createSigner(bob.signing, 'bob')]);
    const [a, b] = signed.signatures.map((s) => ({ keyid: s.keyid, sig: encodeBase64(s.sig) }));
    const text = (signatures: unknown[]) => JSON.stringify({ payloadType: TYPE, payload: encodeBase64(body), signatures });
    const verifiers = [createVerifier(alice.verifying, 'alice'), createVerifier(bob.verifying, 'bob')];
    const junk = [{ keyid: 'alice', sig: '' }, { keyid: null, sig: 'AA EC' }, { sig: 12 }, null];
    // The junk entries come first, so the good ones are reached only if the bad ones were skipped.
    const two = await verifyEnvelope(parseEnvelope(Buffer.from(text([...junk, a, { ...b, keyid: null }]))), { payloadType: TYPE, verifiers, threshold: 2 });
    assert.deepEqual(two.accepted.map((k) => k.keyId).sort(), [alice.verifying.keyId, bob.verifying.keyId].sort());
    const one = parseEnvelope(Buffer.from(text([...junk, a])));
    assert.equal((await verifyEnvelope(one, { payloadType: TYPE, verifiers })).accepted.length, 1);
    assert.equal(await codeOf(() => verifyEnvelope(one, { payloadType: TYPE, verifiers, threshold: 2 })), 'DSSE_THRESHOLD_NOT_MET');
    assert.equal(await codeOf(() => verifyEnvelope(parseEnvelope(text(junk)), { payloadType: TYPE, verifiers })), 'DSSE_THRESHOLD_NOT_MET');
  });
});
