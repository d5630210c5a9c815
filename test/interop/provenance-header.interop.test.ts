/**
 * `X-Stella-Provenance` read and written by another RFC 9651 implementation, structured-field-values
 * (the product parses with structured-headers): what the product serializes decodes to the same
 * records there, and what that library encodes — legal spellings the product never writes
 * included — parses to the same records here (docs/provenance.md#grammar-of-x-stella-provenance).
 */
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { decodeList, encodeList, Item } from 'structured-field-values';
import { stampRecord } from '../../src/provenance/chain.js';
import { parseProvenanceHeader, serializeProvenanceHeader } from '../../src/provenance/codec.js';
import type { HopRecord, RequestFacts } from '../../src/provenance/record.js';

const LIMITS = { maxHeaderBytes: 65536, maxHops: 32 };
const request: RequestFacts = { method: 'POST', pathAndQuery: '/api/v1/evidence', scanId: 'scan-1', contentDigest: null };

const hex = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b).toString('hex'));
const hopId = fc.stringMatching(/^[a-z][a-z0-9.-]{0,20}$/);
const recordArb = fc.record({
  hop: hopId,
  ts: fc.integer({ min: 0, max: 99_999_999_999 }),
  nonce: hex(16),
  peer: hex(32).map((h) => `sha256:${h}`),
  peerId: fc.stringMatching(/^[A-Za-z0-9._-]{1,30}$/),
  kid: fc.stringMatching(/^[A-Za-z0-9._:-]{1,30}$/),
});

/** A chain of real records (MACs computed) from arbitrary fields. */
function chain(fields: { hop: string; ts: number; nonce: string; peer: string; peerId: string; kid: string }[]): HopRecord[] {
  const records: HopRecord[] = [];
  fields.forEach((f, i) => records.push(stampRecord({ ...f, seq: i + 1, key: randomBytes(32), request, previous: records[i - 1] ?? null })));
  return records;
}

/** A record as structured-field-values decodes it: token, params with a byte sequence for `mac`. */
function fromForeign(item: Item): HopRecord {
  const p = item.params as Record<string, unknown>;
  assert.equal(typeof item.value, 'symbol', 'the hop id is a Token');
  return { hop: Symbol.keyFor(item.value as symbol)!, seq: p.seq as number, ts: p.ts as number, nonce: p.nonce as string, peer: p.peer as string, peerId: p['peer-id'] as string, kid: p.kid as string, mac: new Uint8Array(p.mac as Uint8Array) };
}

function toForeign(r: HopRecord): Item {
  return new Item(Symbol.for(r.hop), { seq: r.seq, ts: r.ts, nonce: r.nonce, peer: r.peer, 'peer-id': r.peerId, kid: r.kid, mac: new Uint8Array(r.mac) });
}

const plain = (r: HopRecord) => ({ ...r, mac: Buffer.from(r.mac).toString('base64') });

describe('X-Stella-Provenance and another RFC 9651 implementation (property)', () => {
  it('what the product writes, structured-field-values reads as the same records', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 1, maxLength: 6 }), (fields) => {
        const records = chain(fields);
        const decoded = decodeList(serializeProvenanceHeader(records)).map(fromForeign);
        assert.deepEqual(decoded.map(plain), records.map(plain));
      }),
      { numRuns: 200 },
    );
  });

  it('what structured-field-values writes, the product parses as the same records', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 1, maxLength: 6 }), (fields) => {
        const records = chain(fields);
        const header = encodeList(records.map(toForeign));
        assert.deepEqual(parseProvenanceHeader(header, LIMITS).map(plain), records.map(plain));
      }),
      { numRuns: 200 },
    );
  });

  it('both read the legal spellings the product never writes: whitespace around list members, parameters in another order', () => {
    const [first, second] = chain([
      { hop: 'gw-edge', ts: 1796601600, nonce: 'aa'.repeat(16), peer: `sha256:${'ab'.repeat(32)}`, peerId: 'scanner-01', kid: 'edge-1' },
      { hop: 'gw-internal', ts: 1796601601, nonce: 'bb'.repeat(16), peer: `sha256:${'cd'.repeat(32)}`, peerId: 'gw-edge', kid: 'internal-1' },
    ]);
    const reordered = (r: HopRecord): string =>
      `${r.hop};kid="${r.kid}";mac=:${Buffer.from(r.mac).toString('base64')}:;seq=${r.seq};ts=${r.ts};nonce="${r.nonce}";peer="${r.peer}";peer-id="${r.peerId}"`;
    const header = `${reordered(first!)} ,\t${reordered(second!)}`;
    assert.deepEqual(decodeList(header).map(fromForeign).map(plain), [first!, second!].map(plain));
    assert.deepEqual(parseProvenanceHeader(header, LIMITS).map(plain), [first!, second!].map(plain));
  });
});
