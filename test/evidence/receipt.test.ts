import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { createSigner, generateKey, parseEnvelope, parseKeyFile, serializeEnvelope, signEnvelope, IN_TOTO_PAYLOAD_TYPE } from '../../src/dsse/index.js';
import { buildReceipt, verifyReceipt, TRAVERSAL_RECEIPT_PREDICATE_TYPE, type ReceiptInput } from '../../src/evidence/receipt.js';
import { ReceiptError } from '../../src/evidence/errors.js';

function keyPair() {
  const pem = generateKey('ed25519');
  const priv = parseKeyFile(Buffer.from(pem.private));
  const pub = parseKeyFile(Buffer.from(pem.public!));
  return { priv, pub };
}

const envelopeSha256 = createHash('sha256').update('an envelope').digest('hex');
const input: ReceiptInput = {
  envelopeSha256,
  service: 'evidence-locker',
  topology: 'demo',
  scanId: 'scan-1',
  receivedAt: '2026-11-28T19:00:00.000Z',
  hops: [
    { id: 'gw-edge', seq: 1, ts: 1795891200, peer: `sha256:${'a'.repeat(64)}`, peerId: 'scanner-01', kid: 'edge-1' },
    { id: 'gw-internal', seq: 2, ts: 1795891201, peer: `sha256:${'b'.repeat(64)}`, peerId: 'waf', kid: 'int-1' },
  ],
  verification: { provenance: 'verified', binding: 'verified', envelope: { result: 'verified', payloadType: IN_TOTO_PAYLOAD_TYPE, threshold: 1, acceptedKeyids: ['scanner-01-hmac'] } },
};

describe('traversal receipt', () => {
  it('verifies with the locker public key and returns the predicate it was built from', async () => {
    const { priv, pub } = keyPair();
    const receipt = await buildReceipt(input, createSigner(priv, 'locker'));
    const roundTrip = parseEnvelope(serializeEnvelope(receipt));
    const verified = await verifyReceipt(roundTrip, { publicKey: pub, expectedEnvelopeSha256: envelopeSha256 });
    const { envelopeSha256: _digest, ...predicate } = input;
    assert.deepEqual(verified.predicate, predicate);
    assert.equal(verified.envelopeSha256, envelopeSha256);
    const statement = JSON.parse(roundTrip.payload.toString('utf8')) as { predicateType: string; subject: { digest: { sha256: string } }[] };
    assert.equal(statement.predicateType, TRAVERSAL_RECEIPT_PREDICATE_TYPE);
    assert.equal(statement.subject[0]?.digest.sha256, envelopeSha256);
  });

  it('rejects a receipt for another envelope with receipt-subject-mismatch', async () => {
    const { priv, pub } = keyPair();
    const receipt = await buildReceipt(input, createSigner(priv));
    await assert.rejects(
      verifyReceipt(receipt, { publicKey: pub, expectedEnvelopeSha256: 'f'.repeat(64) }),
      (e: unknown) => e instanceof ReceiptError && e.code === 'receipt-subject-mismatch',
    );
  });

  it('rejects a receipt signed by another key with receipt-invalid', async () => {
    const signedBy = keyPair();
    const other = keyPair();
    const receipt = await buildReceipt(input, createSigner(signedBy.priv));
    await assert.rejects(
      verifyReceipt(receipt, { publicKey: other.pub, expectedEnvelopeSha256: envelopeSha256 }),
      (e: unknown) => e instanceof ReceiptError && e.code === 'receipt-invalid',
    );
  });

  it('rejects a receipt whose payload was altered after signing with receipt-invalid', async () => {
    const { priv, pub } = keyPair();
    const receipt = await buildReceipt(input, createSigner(priv));
    const text = receipt.payload.toString('utf8').replace('"scan-1"', '"scan-2"');
    const tampered = { ...receipt, payload: Buffer.from(text) };
    await assert.rejects(
      verifyReceipt(tampered, { publicKey: pub, expectedEnvelopeSha256: envelopeSha256 }),
      (e: unknown) => e instanceof ReceiptError && e.code === 'receipt-invalid',
    );
  });

  it('rejects a validly signed statement of another predicate type with receipt-invalid', async () => {
    const { priv, pub } = keyPair();
    const statement = { _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'x', digest: { sha256: envelopeSha256 } }], predicateType: 'https://example.com/other', predicate: {} };
    const env = await signEnvelope(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement)), [createSigner(priv)]);
    await assert.rejects(
      verifyReceipt(env, { publicKey: pub, expectedEnvelopeSha256: envelopeSha256 }),
      (e: unknown) => e instanceof ReceiptError && e.code === 'receipt-invalid',
    );
  });

  it('refuses to sign a receipt with a key that is not Ed25519', async () => {
    const hmac = parseKeyFile(Buffer.from(generateKey('hmac-sha256').private));
    await assert.rejects(buildReceipt(input, createSigner(hmac)), TypeError);
  });
});
