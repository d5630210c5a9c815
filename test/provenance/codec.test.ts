import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { combineFieldLines, parseProvenanceHeader, serializeProvenanceHeader } from '../../src/provenance/codec.js';
import { ProvenanceError } from '../../src/provenance/problems.js';
import type { HopRecord } from '../../src/provenance/record.js';

const LIMITS = { maxHeaderBytes: 8192, maxHops: 8 };
const record: HopRecord = {
  hop: 'gw-edge',
  seq: 1,
  ts: 1795867200,
  nonce: '4f9c0d2e8a7b6c5d',
  peer: `sha256:${'ab'.repeat(32)}`,
  peerId: 'scanner-01',
  kid: 'edge-2026-11',
  mac: new Uint8Array(32).fill(7),
};
const valid = serializeProvenanceHeader([record]);

function rejects(value: string, limits = LIMITS): void {
  assert.throws(
    () => parseProvenanceHeader(value, limits),
    (e: unknown) => e instanceof ProvenanceError && e.code === 'provenance-malformed' && e.status === 400,
    value,
  );
}

describe('parseProvenanceHeader', () => {
  it('reads back what serializeProvenanceHeader wrote', () => {
    assert.deepEqual(parseProvenanceHeader(valid, LIMITS), [record]);
  });
  it('accepts parameters in any order', () => {
    const [hop, ...params] = valid.split(';');
    assert.deepEqual(parseProvenanceHeader([hop, ...params.reverse()].join(';'), LIMITS), [record]);
  });
  it('rejects a header longer than maxHeaderBytes', () => rejects(valid, { maxHeaderBytes: valid.length - 1, maxHops: 8 }));
  it('rejects more records than maxHops', () => rejects(Array(3).fill(valid).join(', '), { maxHeaderBytes: 8192, maxHops: 2 }));
  const bad: [string, string][] = [
    ['a Dictionary-looking member', valid.replace('gw-edge', 'gw-edge=1')],
    ['an Inner List', `(${valid.split(';')[0]});${valid.split(';').slice(1).join(';')}`],
    ['a String instead of a Token', valid.replace('gw-edge', '"gw-edge"')],
    ['an upper-case hop id', valid.replace('gw-edge', 'Gw-edge')],
    ['an unknown parameter', `${valid};extra=1`],
    ['a Boolean parameter', valid.replace('seq=1', 'seq')],
    ['seq 0', valid.replace('seq=1', 'seq=0')],
    ['seq above maxHops', valid.replace('seq=1', 'seq=9')],
    ['a negative ts', valid.replace('ts=1795867200', 'ts=-1')],
    ['a Decimal ts', valid.replace('ts=1795867200', 'ts=1795867200.0')],
    ['an upper-case nonce', valid.replace('4f9c0d2e8a7b6c5d', '4F9C0D2E8A7B6C5D')],
    ['a short nonce', valid.replace('4f9c0d2e8a7b6c5d', '4f9c0d2e8a7b6c5')],
    ['a peer without sha256:', valid.replace('sha256:', 'sha1:')],
    ['a peer-id with a space', valid.replace('scanner-01', 'scanner 01')],
    ['a kid with a pipe', valid.replace('edge-2026-11', 'edge|2026')],
    ['a 31-byte mac', serializeProvenanceHeader([{ ...record, mac: new Uint8Array(31) }])],
    ['unpadded base64 in mac', valid.replace(/=:$/, ':')],
    ['a mac as a String', valid.replace(/mac=:([^:]*):/, 'mac="$1"')],
    ['a trailing comma', `${valid},`],
    ['an empty list', ''],
    ['non-ASCII', valid.replace('scanner-01', 'scännér')],
  ];
  for (const [name, value] of bad) it(`rejects ${name}`, () => rejects(value));

  it('never throws anything but provenance-malformed for arbitrary strings (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        try {
          parseProvenanceHeader(s, LIMITS);
        } catch (e) {
          return e instanceof ProvenanceError && e.code === 'provenance-malformed';
        }
        return true;
      }),
      { numRuns: 3000 },
    );
  });

  it('round-trips every valid record list (property)', () => {
    const hex = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: min, maxLength: max });
    const arb = fc.array(
      fc.record({
        hop: fc.stringMatching(/^[a-z][a-z0-9.-]{0,20}$/),
        seq: fc.integer({ min: 1, max: 8 }),
        ts: fc.integer({ min: 0, max: 2 ** 40 }),
        nonce: hex(16, 64),
        peer: hex(64, 64).map((h) => `sha256:${h}`),
        peerId: fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/),
        kid: fc.stringMatching(/^[A-Za-z0-9._:-]{1,20}$/),
        mac: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      }),
      { minLength: 1, maxLength: 8 },
    );
    fc.assert(
      fc.property(arb, (records) => {
        assert.deepEqual(parseProvenanceHeader(serializeProvenanceHeader(records), { maxHeaderBytes: 65536, maxHops: 8 }), records.map((r) => ({ ...r })));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('combineFieldLines', () => {
  it('joins several field lines with ", " in order (RFC 9110 §5.3)', () => {
    assert.equal(combineFieldLines(['a', 'b, c']), 'a, b, c');
  });
  it('returns null for an absent header', () => {
    assert.equal(combineFieldLines(undefined), null);
    assert.equal(combineFieldLines([]), null);
  });
  it('rejects values that are not strings as provenance-malformed', () => {
    assert.throws(() => combineFieldLines(42), (e: unknown) => e instanceof ProvenanceError && e.code === 'provenance-malformed');
  });
});
