/**
 * serializeEnvelopeBytes must write exactly the bytes of serializeEnvelope (the envelope JSON the
 * worker posts and freezes in its outbox), for any envelope and across its 48 KiB encoding steps.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseEnvelope, serializeEnvelope, serializeEnvelopeBytes, type Envelope } from '../../src/dsse/index.js';

const envelope = fc.record({
  payloadType: fc.string({ unit: 'grapheme', maxLength: 40 }),
  payload: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  signatures: fc.array(fc.record({ keyid: fc.string({ maxLength: 20 }), sig: fc.uint8Array({ minLength: 1, maxLength: 96 }).map((b) => Buffer.from(b)) }), { maxLength: 3 }),
});

describe('serializeEnvelopeBytes', () => {
  it('writes the same bytes as serializeEnvelope for any envelope, quotes and non-ASCII types included', () => {
    fc.assert(
      fc.property(envelope, (env: Envelope) => {
        assert.ok(serializeEnvelopeBytes(env).equals(Buffer.from(serializeEnvelope(env), 'utf8')));
      }),
      { numRuns: 1000 },
    );
  });

  it('writes the same bytes for payloads around and across the encoding steps, from a view into a larger buffer', () => {
    const step = 3 << 14;
    const big = Buffer.alloc(3 * step + 10);
    for (let i = 0; i < big.length; i++) big[i] = (i * 193 + 11) & 0xff;
    for (const length of [0, 1, 2, 3, step - 1, step, step + 1, 2 * step + 2, 3 * step + 1]) {
      const env: Envelope = { payloadType: 'application/vnd.in-toto+json', payload: big.subarray(7, 7 + length), signatures: [{ keyid: 'k', sig: Buffer.from([1, 2, 3]) }] };
      const bytes = serializeEnvelopeBytes(env);
      assert.ok(bytes.equals(Buffer.from(serializeEnvelope(env), 'utf8')), `payload of ${length} bytes`);
      assert.ok(parseEnvelope(bytes).payload.equals(env.payload));
    }
  });
});
