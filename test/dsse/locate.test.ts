/**
 * The byte path of parseEnvelope (payload located in the bytes and decoded a slice at a time,
 * src/dsse/locate.ts) must answer exactly what parsing the whole text answers: the same envelope,
 * or a DsseError with the same code. The reference is parseEnvelope(text) on the string.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DsseError, parseEnvelope, type Envelope, type EnvelopeLimits } from '../../src/dsse/index.js';
import { locatePayload } from '../../src/dsse/locate.js';

type Outcome = { ok: Envelope } | { code: string };

function outcome(run: () => Envelope): Outcome {
  try {
    return { ok: run() };
  } catch (error) {
    if (!(error instanceof DsseError)) throw error;
    return { code: error.code };
  }
}

function assertSameOutcome(text: string, limits?: Partial<EnvelopeLimits>): void {
  const reference = outcome(() => parseEnvelope(text, limits));
  const bytes = outcome(() => parseEnvelope(Buffer.from(text, 'utf8'), limits));
  if ('ok' in reference && 'ok' in bytes) {
    assert.equal(bytes.ok.payloadType, reference.ok.payloadType);
    assert.ok(bytes.ok.payload.equals(reference.ok.payload), 'same payload bytes');
    assert.deepEqual(
      bytes.ok.signatures.map((s) => [s.keyid, s.sig.toString('hex')]),
      reference.ok.signatures.map((s) => [s.keyid, s.sig.toString('hex')]),
    );
  } else {
    assert.deepEqual(bytes, reference, text.length > 300 ? `${text.slice(0, 300)}…` : text);
  }
}

const space = fc.stringMatching(/^[ \t\n\r]{0,3}$/);

/** A JSON text of `value` with random insignificant whitespace around every token. */
function spaced(value: unknown, ws: () => string): string {
  if (Array.isArray(value)) return `[${ws()}${value.map((v) => `${spaced(v, ws)}${ws()}`).join(`,${ws()}`)}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}${ws()}:${ws()}${spaced(v, ws)}${ws()}`);
    return `{${ws()}${members.join(`,${ws()}`)}}`;
  }
  return JSON.stringify(value);
}

/** Keys as they may be spelled in the text: plain, or with an escape JSON.parse reads as the same key. */
const keySpelling = (key: string) => fc.constantFrom(JSON.stringify(key), JSON.stringify(key).replace(/^"(.)/, (_, c: string) => `"\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));

const base64Like = fc.oneof(
  fc.base64String({ maxLength: 64 }),
  fc.base64String({ maxLength: 64 }).map((s) => s.replace(/=+$/, '')),
  fc.base64String({ maxLength: 64 }).map((s) => s.replace(/\+/g, '-').replace(/\//g, '_')),
  fc.base64String({ maxLength: 64 }).map((s) => s.replace(/\//g, '\\/')),
  fc.string({ maxLength: 16 }),
  // A raw control character JSON refuses inside a string, placed anywhere in otherwise good base64.
  fc.tuple(fc.base64String({ maxLength: 32 }), fc.nat(), fc.constantFrom('\u0000', '\t', '\n', '\u001f')).map(([b, at, c]) => b.slice(0, at % (b.length + 1)) + c + b.slice(at % (b.length + 1))),
);

/** Limits small enough that generated envelopes hit them, so the order of the checks shows. */
const limits = fc.option(fc.record({ maxSignatures: fc.integer({ min: 0, max: 3 }), maxPayloadTypeBytes: fc.integer({ min: 0, max: 40 }), maxKeyidBytes: fc.integer({ min: 0, max: 8 }) }), { nil: undefined });

/** One member of the top-level object as text: [spelled key, value text]. */
const member = fc.oneof(
  fc.tuple(keySpelling('payloadType'), fc.oneof(fc.constant('"application/vnd.in-toto+json"'), fc.string().map((s) => JSON.stringify(s)), fc.jsonValue().map((v) => JSON.stringify(v)))),
  fc.tuple(keySpelling('payload'), fc.oneof(base64Like.map((s) => `"${s}"`), fc.jsonValue().map((v) => JSON.stringify(v)))),
  fc.tuple(
    keySpelling('signatures'),
    fc.oneof(
      fc.array(fc.record({ keyid: fc.string({ maxLength: 8 }), sig: fc.base64String({ minLength: 4, maxLength: 24 }) }, { requiredKeys: ['sig'] }), { maxLength: 3 }).map((v) => JSON.stringify(v)),
      fc.jsonValue().map((v) => JSON.stringify(v)),
    ),
  ),
  fc.tuple(fc.string({ maxLength: 8 }).map((k) => JSON.stringify(k)), fc.jsonValue().map((v) => JSON.stringify(v))),
);

const envelopeText = fc
  .tuple(fc.array(member, { minLength: 0, maxLength: 6 }), fc.array(space, { minLength: 8, maxLength: 8 }))
  .map(([members, gaps]) => `${gaps[0]}{${gaps[1]}${members.map(([k, v], i) => `${k}${gaps[(i + 2) % 8]}:${gaps[(i + 3) % 8]}${v}${gaps[(i + 4) % 8]}`).join(`,${gaps[5]}`)}}${gaps[6]}`);

describe('parseEnvelope on bytes (payload decoded where it lies)', () => {
  it('answers like the whole-text parse for envelopes with any spelling, order, extra or repeated member', () => {
    fc.assert(fc.property(envelopeText, limits, assertSameOutcome), { numRuns: 4000 });
  });

  it('answers like the whole-text parse after any byte of a valid envelope is changed, removed or added', () => {
    const valid = fc
      .record({ payload: fc.base64String({ maxLength: 48 }), sigs: fc.array(fc.base64String({ minLength: 4, maxLength: 16 }), { maxLength: 2 }), extra: fc.jsonValue() })
      .chain(({ payload, sigs, extra }) =>
        fc.func(space).map((ws) => {
          let n = 0;
          return spaced({ payloadType: 't', extra, payload, signatures: sigs.map((sig) => ({ keyid: 'k', sig })) }, () => ws(n++));
        }),
      );
    const edit = fc.tuple(fc.nat(), fc.constantFrom('flip', 'drop', 'insert'), fc.constantFrom('"', '\\', '{', '}', '[', ']', ',', ':', ' ', 'A', '=', '\u00e9', '\u0001'));
    fc.assert(
      fc.property(valid, edit, (text, [at, kind, char]) => {
        const i = at % (text.length + 1);
        const edited = kind === 'drop' ? text.slice(0, i) + text.slice(i + 1) : kind === 'insert' ? text.slice(0, i) + char + text.slice(i) : text.slice(0, i) + char + text.slice(i + 1);
        assertSameOutcome(edited);
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses a raw control character in the payload as invalid JSON, before any limit, like the whole-text parse', () => {
    // Found in review: the emptied rest parsed, so a signature limit answered DSSE_TOO_LARGE first.
    const text = `{"payloadType":"t","payload":"aGk\n","signatures":[${Array(17).fill('{"sig":"AAAA"}').join(',')}]}`;
    assert.deepEqual(outcome(() => parseEnvelope(text)), { code: 'DSSE_MALFORMED' });
    assert.throws(() => parseEnvelope(Buffer.from(text)), { code: 'DSSE_MALFORMED', message: 'envelope is not valid JSON' });
  });

  it('answers a detached buffer with DSSE_MALFORMED, not a TypeError', () => {
    const buffer = new ArrayBuffer(8);
    const view = new Uint8Array(buffer);
    structuredClone(buffer, { transfer: [buffer] });
    assert.deepEqual(outcome(() => parseEnvelope(view)), { code: 'DSSE_MALFORMED' });
  });

  it('locates the payload only where whole-text parsing would read it', () => {
    const text = '{"payloadType":"t","nested":{"payload":"bm90IHRoaXM="},"payload":"aGk=","signatures":[]}';
    const range = locatePayload(Buffer.from(text));
    assert.ok(range);
    assert.equal(text.slice(range.start, range.end), 'aGk=');
    // Repeated or escaped top-level keys, escapes in the value, non-objects: the whole text decides.
    for (const other of ['{"payload":"aGk=","payload":"aGk="}', '{"p\\u0061yload":"aGk="}', '{"payload":"a\\u0047k="}', '["payload"]', '{"payload":1}', '{"payload":"aGk="} x']) {
      assert.equal(locatePayload(Buffer.from(other)), null, other);
    }
  });

  it('decodes a payload spanning several decoding slices to the same bytes', () => {
    const payload = Buffer.alloc(3 * 1024 * 1024 + 5, 0);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 131 + 7) & 0xff;
    for (const encoded of [payload.toString('base64'), payload.toString('base64url')]) {
      const text = JSON.stringify({ payloadType: 'application/octet-stream', payload: encoded, signatures: [{ keyid: 'k', sig: 'AAAA' }] });
      assert.ok(parseEnvelope(Buffer.from(text)).payload.equals(payload));
    }
    // '+' in the first slice and '-' in a later one mix the two alphabets: rejected like the string.
    const plain = payload.toString('base64').replace(/[+/]/g, 'A');
    const at = plain.length - 12;
    const mixed = JSON.stringify({ payloadType: 't', payload: `+${plain.slice(1, at)}-${plain.slice(at + 1)}`, signatures: [] });
    assert.deepEqual(outcome(() => parseEnvelope(Buffer.from(mixed))), { code: 'DSSE_MALFORMED' });
    assert.deepEqual(outcome(() => parseEnvelope(mixed)), { code: 'DSSE_MALFORMED' });
  });
});
