import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DsseError, parseEnvelope, serializeEnvelope } from '../../src/dsse/index.js';
import { codeOf } from './support/keys.js';

const example = { payloadType: 'http://example.com/HelloWorld', payload: 'aGVsbG8gd29ybGQ=', signatures: [{ keyid: 'k1', sig: 'AAEC' }] };

describe('parseEnvelope', () => {
  it('reads an object, a JSON string and UTF-8 bytes alike', () => {
    const fromObject = parseEnvelope(example);
    assert.deepEqual(parseEnvelope(JSON.stringify(example)), fromObject);
    assert.deepEqual(parseEnvelope(Buffer.from(JSON.stringify(example))), fromObject);
    assert.equal(fromObject.payload.toString(), 'hello world');
    assert.deepEqual(fromObject.signatures, [{ keyid: 'k1', sig: Buffer.from([0, 1, 2]) }]);
  });

  it('reads a missing keyid as the empty string and ignores unknown fields', () => {
    const env = parseEnvelope({ ...example, extra: 1, signatures: [{ sig: 'AAEC', note: 'x' }] });
    assert.equal(env.signatures[0]?.keyid, '');
  });

  it('keeps a signature entry it cannot use as an empty sig with no keyid hint, so verification skips it', () => {
    // docs/dsse.md "Envelope and PAE": one bad entry never fails the envelope; the threshold decides.
    const env = parseEnvelope({
      ...example,
      signatures: [{ keyid: null, sig: 'AAEC' }, { keyid: 'k2', sig: '' }, { keyid: 7, sig: 'AA EC' }, { sig: 5 }, null, 'x', { keyid: 'k3' }],
    });
    assert.deepEqual(
      env.signatures.map((s) => [s.keyid, s.sig.toString('hex')]),
      [['', '000102'], ['k2', ''], ['', ''], ['', ''], ['', ''], ['', ''], ['k3', '']],
    );
  });

  it('parses an envelope without signatures, which verification then rejects', () => {
    assert.equal(parseEnvelope({ ...example, signatures: [] }).signatures.length, 0);
  });

  it('ignores fields inherited from the prototype', async () => {
    const sneaky = Object.create({ payloadType: 't', payload: '', signatures: [] }) as object;
    assert.equal(await codeOf(() => parseEnvelope(sneaky)), 'DSSE_MALFORMED');
  });

  for (const [name, input] of [
    ['a non-object', [example]],
    ['invalid JSON', '{"payloadType":'],
    ['invalid UTF-8 bytes', Buffer.from([0x7b, 0xff, 0x7d])],
    ['a numeric payloadType', { ...example, payloadType: 7 }],
    ['a missing payload', { payloadType: 't', signatures: [] }],
    ['signatures that are not an array', { ...example, signatures: {} }],
    ['a payload with a character outside base64', { ...example, payload: 'aGVsbG8*' }],
    ['a payload type with a lone surrogate', { ...example, payloadType: 'a\uDC00' }],
  ] as const) {
    it(`rejects ${name} with DSSE_MALFORMED`, async () => {
      assert.equal(await codeOf(() => parseEnvelope(input)), 'DSSE_MALFORMED');
    });
  }

  it('rejects an envelope above the byte limit before parsing it', async () => {
    const text = JSON.stringify(example);
    assert.equal(await codeOf(() => parseEnvelope(text, { maxEnvelopeBytes: text.length - 1 })), 'DSSE_TOO_LARGE');
    assert.equal(await codeOf(() => parseEnvelope(Buffer.from(text), { maxEnvelopeBytes: 10 })), 'DSSE_TOO_LARGE');
    assert.equal(await codeOf(() => parseEnvelope(example, { maxEnvelopeBytes: 10 })), 'DSSE_TOO_LARGE');
    assert.equal(parseEnvelope(text, { maxEnvelopeBytes: text.length }).payloadType, example.payloadType);
  });

  it('rejects too many signatures, a long payload type and a long keyid with DSSE_TOO_LARGE', async () => {
    const many = { ...example, signatures: Array.from({ length: 3 }, () => ({ sig: 'AAEC' })) };
    assert.equal(await codeOf(() => parseEnvelope(many, { maxSignatures: 2 })), 'DSSE_TOO_LARGE');
    assert.equal(await codeOf(() => parseEnvelope({ ...example, payloadType: 'é'.repeat(5) }, { maxPayloadTypeBytes: 9 })), 'DSSE_TOO_LARGE');
    assert.equal(await codeOf(() => parseEnvelope({ ...example, signatures: [{ keyid: 'k'.repeat(9), sig: 'AAEC' }] }, { maxKeyidBytes: 8 })), 'DSSE_TOO_LARGE');
  });

  it('treats a bad limit as a caller error', () => {
    assert.throws(() => parseEnvelope(example, { maxSignatures: -1 }), TypeError);
  });

  it('never throws anything but a DsseError for random JSON values, texts or bytes', () => {
    const envelopeLike = fc.record(
      {
        payloadType: fc.oneof(fc.string(), fc.jsonValue()),
        payload: fc.oneof(fc.base64String(), fc.string(), fc.jsonValue()),
        signatures: fc.oneof(fc.array(fc.record({ keyid: fc.oneof(fc.string(), fc.jsonValue()), sig: fc.oneof(fc.base64String(), fc.string()) }, { requiredKeys: [] })), fc.jsonValue()),
      },
      { requiredKeys: [] },
    );
    const input = fc.oneof(fc.jsonValue(), envelopeLike, envelopeLike.map((v) => JSON.stringify(v)), fc.string(), fc.uint8Array());
    fc.assert(
      fc.property(input, (value) => {
        try {
          const env = parseEnvelope(value);
          assert.equal(typeof env.payloadType, 'string');
        } catch (error) {
          assert.ok(error instanceof DsseError, `threw ${String(error)}`);
          assert.ok(['DSSE_MALFORMED', 'DSSE_TOO_LARGE'].includes(error.code));
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('serializeEnvelope', () => {
  it('writes standard padded base64 and always a keyid, and parses back to the same envelope', () => {
    const env = parseEnvelope({ payloadType: 't', payload: '-_8', signatures: [{ sig: 'AAEC' }] });
    const json = serializeEnvelope(env);
    assert.deepEqual(JSON.parse(json), { payloadType: 't', payload: '+/8=', signatures: [{ keyid: '', sig: 'AAEC' }] });
    assert.deepEqual(parseEnvelope(json), env);
  });
});
