/**
 * Differential test of the fast readers (src/provenance/canonical.ts, the plain Content-Digest form
 * in digest.ts) against the general `structured-headers` path they front: over 100,000 random and
 * mutated provenance headers the fast reader accepts only what the general path accepts, with the
 * same records, and `parseProvenanceHeader` as a whole answers exactly as the general path does
 * (same records, or the same code and status). The plain digest reader gets 20,000 more.
 */
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readCanonicalRecords } from '../../src/provenance/canonical.js';
import { parseGeneral, parseProvenanceHeader, serializeProvenanceHeader, type CodecLimits } from '../../src/provenance/codec.js';
import { checkContentDigest, contentDigestOf, readGeneral } from '../../src/provenance/digest.js';
import { ProvenanceError } from '../../src/provenance/problems.js';
import type { HopRecord } from '../../src/provenance/record.js';

const hex = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: min, maxLength: max });
const record: fc.Arbitrary<HopRecord> = fc.record({
  hop: fc.stringMatching(/^[a-z][a-z0-9.-]{0,12}$/),
  seq: fc.integer({ min: 1, max: 10 }),
  ts: fc.oneof(fc.integer({ min: 0, max: 2 ** 40 }), fc.constantFrom(0, 999_999_999_999_999)),
  nonce: hex(16, 64),
  peer: hex(64, 64).map((h) => `sha256:${h}`),
  peerId: fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/),
  kid: fc.stringMatching(/^[A-Za-z0-9._:-]{1,12}$/),
  mac: fc.uint8Array({ minLength: 32, maxLength: 32 }),
});
// Mostly roomy limits (so valid headers reach the readers), sometimes tight ones.
const limits: fc.Arbitrary<CodecLimits> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ maxHeaderBytes: 8192, maxHops: 10 }) },
  { weight: 1, arbitrary: fc.record({ maxHeaderBytes: fc.constantFrom(600, 8192), maxHops: fc.integer({ min: 1, max: 10 }) }) },
);

/** A serialized list whose `, ` separators are replaced by other whitespace RFC 9651 allows or not. */
const separator = fc.constantFrom(', ', ',', ',  ', ' ,', ',\t', '\t, ', ', ,', ';', ' ');
const validish = fc.tuple(fc.array(record, { minLength: 1, maxLength: 6 }), fc.array(separator, { minLength: 5, maxLength: 5 }), fc.boolean()).map(([records, seps, plain]) => {
  const members = serializeProvenanceHeader(records).split(', ');
  return plain ? members.join(', ') : members.reduce((out, m, i) => `${out}${seps[i - 1]!}${m}`);
});

// Edits rich in RFC 9651 syntax and in our parameter names, so mutants hit every branch.
const piece = fc.oneof(
  fc.constantFrom(';', ',', '=', ':', '"', '\\', ' ', '\t', '0', '1', '9', '-', '.', '*', '(', ')', '?1', 'A', '=:', '+', '/', 'é', '\n'),
  fc.constantFrom(';seq=1', ';ts=0', ';mac=:', ';kid="k"', ';nonce=', ';peer-id="a"', ';seq=01', ';ts=1.5', ';extra=1', 'gw-a'),
  fc.string({ maxLength: 3 }),
);
const mutated = fc
  .tuple(validish, fc.array(fc.tuple(fc.nat(), fc.nat(3), piece), { minLength: 1, maxLength: 4 }))
  .map(([header, edits]) => edits.reduce((h, [at, drop, insert]) => h.slice(0, at % (h.length + 1)) + insert + h.slice((at % (h.length + 1)) + drop), header));
/** Parameters swapped or duplicated: still RFC 9651, sometimes still canonical, often not ours. */
const reshuffled = fc.tuple(validish, fc.nat(), fc.nat(), fc.boolean()).map(([header, a, b, duplicate]) => {
  const parts = header.split(';');
  const i = 1 + (a % (parts.length - 1 || 1));
  const j = 1 + (b % (parts.length - 1 || 1));
  if (duplicate) parts.splice(j, 0, parts[i]!);
  else [parts[i], parts[j]] = [parts[j]!, parts[i]!];
  return parts.join(';');
});
/** One MAC's last base64 character replaced: non-zero unused bits are valid base64 but not canonical. */
const BASE64_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=:-_';
const macBits = fc.tuple(validish, fc.nat(), fc.constantFrom(...BASE64_CHARS.split(''))).map(([header, which, char]) => {
  const ends = [...header.matchAll(/mac=:[^:]{43}/g)].map((m) => m.index + m[0].length - 1);
  const at = ends[which % ends.length]!;
  return header.slice(0, at) + char + header.slice(at + 1);
});
const randomText = fc.string({ unit: fc.constantFrom(...'gw-edge;seq=1ts0nonce"peer:sha256,mac=:AB+/= \t'.split('')), maxLength: 200 });

type Outcome = { records: HopRecord[] } | { code: string; status: number };

function outcome(parse: () => HopRecord[]): Outcome {
  try {
    // Compare contents, not whether a MAC is a view or owns its buffer.
    return { records: parse().map((r) => ({ ...r, mac: Uint8Array.from(r.mac) })) };
  } catch (error) {
    assert.ok(error instanceof ProvenanceError, String(error));
    return { code: error.code, status: error.status };
  }
}

/** The general path as parseProvenanceHeader ran it before the fast reader: size limit, then parse. */
function general(value: string, lim: CodecLimits): Outcome {
  return outcome(() => {
    if (Buffer.byteLength(value, 'utf8') > lim.maxHeaderBytes) throw new ProvenanceError('provenance-malformed', 'too long');
    return parseGeneral(value, lim);
  });
}

let fastAccepted = 0;
function agree(value: string, lim: CodecLimits): void {
  const expected = general(value, lim);
  // parseProvenanceHeader applies the size limit before either reader.
  const fast = Buffer.byteLength(value, 'utf8') > lim.maxHeaderBytes ? null : readCanonicalRecords(value, lim.maxHops);
  if (fast !== null) {
    fastAccepted++;
    assert.deepEqual(outcome(() => fast), expected, `the fast reader accepted what the general path answers differently: ${JSON.stringify(value)}`);
  }
  assert.deepEqual(outcome(() => parseProvenanceHeader(value, lim)), expected, JSON.stringify(value));
}

describe('the canonical fast reader against the general path (differential, 100,000+ headers)', () => {
  it('takes every header in the form the hops write, with the same records', () => {
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 10 }), (records) => {
        const fast = readCanonicalRecords(serializeProvenanceHeader(records), 10);
        assert.deepEqual(fast?.map((r) => ({ ...r, mac: Uint8Array.from(r.mac) })), records.map((r) => ({ ...r })));
      }),
      { numRuns: 5_000 },
    );
  });
  it('agrees on 40,000 headers with other separators, some of them not RFC 9651 or not canonical', () => {
    fc.assert(fc.property(validish, limits, (value, lim) => agree(value, lim)), { numRuns: 40_000 });
  });
  it('agrees on 40,000 mutated headers', () => {
    fc.assert(fc.property(mutated, limits, (value, lim) => agree(value, lim)), { numRuns: 40_000 });
  });
  it('agrees on 10,000 headers with parameters swapped or duplicated', () => {
    fc.assert(fc.property(reshuffled, limits, (value, lim) => agree(value, lim)), { numRuns: 10_000 });
  });
  it('agrees on 10,000 headers with a MAC whose unused bits are set or whose last character is foreign', () => {
    fc.assert(fc.property(macBits, limits, (value, lim) => agree(value, lim)), { numRuns: 10_000 });
  });
  it('agrees on 10,000 random strings of header characters', () => {
    fc.assert(fc.property(randomText, limits, (value, lim) => agree(value, lim)), { numRuns: 10_000 });
  });
  it('was exercised: the fast reader took a good share of the inputs', () => {
    assert.ok(fastAccepted > 10_000, `the fast reader accepted only ${fastAccepted} inputs`);
  });
});

describe('the plain Content-Digest reader against the general path (differential, 20,000 cases)', () => {
  const other = Buffer.from('{"hello":"world"}');
  const digestPiece = fc.constantFrom('=', ':', ' ', ',', ';', 'A', '/', '+', 'sha-512=:AA==:', 'sha-256', '"', '\t');
  /** A body and a Content-Digest value: the body's own, a mutant of it, or unpadded. */
  const digestCase = fc.uint8Array({ minLength: 0, maxLength: 40 }).chain((bytes) => {
    const own = contentDigestOf(bytes);
    return fc.tuple(
      fc.constant(Buffer.from(bytes)),
      fc.oneof(
        fc.constant(own),
        fc.tuple(fc.nat(), fc.nat(2), digestPiece).map(([at, drop, insert]) => own.slice(0, at % (own.length + 1)) + insert + own.slice((at % (own.length + 1)) + drop)),
        fc.constant(own.replace(/=+:$/, ':')),
        fc.constantFrom(...BASE64_CHARS.split('')).map((c) => `${own.slice(0, -3)}${c}${own.slice(-2)}`),
        fc.constant(`sha-512=:AA==:, ${own}`),
      ),
    );
  });
  it('gives the same verdict and reason as the general path, for the matching body and another', () => {
    fc.assert(
      fc.property(digestCase, ([bytes, value]) => {
        for (const body of [bytes, other]) assert.equal(checkContentDigest(value, body), expectedFor(readGeneral(value), body), value);
      }),
      { numRuns: 20_000 },
    );
  });
});

function expectedFor(general: Uint8Array | string, body: Buffer): string | null {
  if (typeof general === 'string') return general;
  return Buffer.compare(Buffer.from(general), createHash('sha256').update(body).digest()) === 0 ? null : 'Content-Digest does not match the body';
}
