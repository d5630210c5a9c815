/**
 * Differential test of the v2 fast reader (src/provenance/v2/canonical.ts) against the general
 * `structured-headers` path it fronts: over 100,000+ random and mutated `Signature-Input` /
 * `Signature` pairs the fast reader accepts only what the general path accepts, with the same
 * members, and `parseV2Fields` as a whole answers exactly as the general path does (the same
 * members, or the same code, status and message).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { serializeItem } from 'structured-headers';
import { ProvenanceError } from '../../../src/provenance/problems.js';
import { V2_ALGORITHMS } from '../../../src/provenance/v2/algorithms.js';
import { readCanonicalV2 } from '../../../src/provenance/v2/canonical.js';
import { parseV2Fields, parseV2General, type V2Limits } from '../../../src/provenance/v2/fields.js';
import { v2Label, type V2Member, type V2StampAlg } from '../../../src/provenance/v2/profile.js';
import { v2SignatureParams } from '../../../src/provenance/v2/sign.js';

const hex = (length: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
const hop = fc.stringMatching(/^[a-z][a-z0-9.-]{0,10}$/);
const alg = fc.constantFrom(...(Object.keys(V2_ALGORITHMS) as V2StampAlg[]));

/** One member as a hop would stamp it, before serialization; the signature may have a wrong length. */
const memberFacts = fc.record({
  hop,
  created: fc.oneof(fc.integer({ min: 0, max: 2 ** 40 }), fc.constantFrom(0, 999_999_999_999_999)),
  nonce: hex(32),
  keyid: fc.stringMatching(/^[A-Za-z0-9._:-]{1,12}$/),
  alg,
  peer: hex(64).map((h) => `sha256:${h}`),
  peerId: fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/),
  coversContentDigest: fc.boolean(),
  signatureBytes: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom(31, 32, 33, 63, 64, 65) }),
  seed: fc.uint8Array({ minLength: 65, maxLength: 65 }),
});
type MemberFacts = typeof memberFacts extends fc.Arbitrary<infer T> ? T : never;

/** The two fields of a chain of members, serialized by the RFC 9651 serializer as the hops do; seq and previous labels as in a chain. */
function serializeChain(chain: MemberFacts[]): { input: string[]; sig: string[] } {
  const input: string[] = [];
  const sig: string[] = [];
  let previous: string | null = null;
  chain.forEach((m, i) => {
    const label = v2Label(i + 1, m.hop);
    input.push(`${label}=${v2SignatureParams(m, m.coversContentDigest, previous)}`);
    const bytes = m.seed.slice(0, m.signatureBytes ?? V2_ALGORITHMS[m.alg].signatureBytes);
    sig.push(`${label}=${serializeItem(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer)}`);
    previous = label;
  });
  return { input, sig };
}

// Mostly roomy limits (so valid fields reach the readers), sometimes tight ones.
const limits: fc.Arbitrary<V2Limits> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ maxHeaderBytes: 8192, maxHops: 10 }) },
  { weight: 1, arbitrary: fc.record({ maxHeaderBytes: fc.constantFrom(700, 8192), maxHops: fc.integer({ min: 1, max: 10 }) }) },
);

/** Separators RFC 9651 allows between Dictionary members, and some it does not. */
const separator = fc.constantFrom(', ', ',', ',  ', ' ,', ',\t', '\t, ', ', ,', ';', ' ');
/** A member of another signature (RFC 9421 §4.1 lets several share the fields). */
const FOREIGN = { input: 'sig1=("@method" "@path");created=1618884473;keyid="test-key"', sig: 'sig1=:AAAA:' };

const join = (members: string[], seps: string[], plain: boolean): string =>
  plain || members.length === 0 ? members.join(', ') : members.reduce((out, m, i) => `${out}${seps[(i - 1) % seps.length]!}${m}`);

const mostly = fc.nat(3).map((n) => n > 0);
/**
 * How far to move every seq (labels and the labels members name): mostly not at all, else to the
 * edges of the label rule (seq 0, up to 999 and past it), or 'zero' for a leading zero.
 */
const seqShift = fc.oneof({ weight: 8, arbitrary: fc.constant<number | 'zero'>(0) }, { weight: 1, arbitrary: fc.constantFrom<number | 'zero'>(-1, 990, 994, 995, 'zero') });
function renumber(fields: { input: string[]; sig: string[] }, shift: number | 'zero'): { input: string[]; sig: string[] } {
  if (shift === 0) return fields;
  const move = (text: string): string => text.replace(/stella-([0-9]+)-/g, (_, seq: string) => `stella-${shift === 'zero' ? `0${seq}` : Number(seq) + shift}-`);
  const input = fields.input.map(move);
  // A first member past seq 1 must name a previous one (the profile's rule), or nothing would pass.
  if (typeof shift === 'number' && shift > 0) input[0] = input[0]!.replace('"x-stella-scan-id")', `"x-stella-scan-id" "signature";key="stella-${shift}-gw-before")`);
  return { input, sig: fields.sig.map(move) };
}
const validish = fc
  // The hops' own `, ` three times in four, so a good share stays in the fast reader's form.
  .tuple(fc.array(memberFacts, { minLength: 1, maxLength: 6 }), fc.array(separator, { minLength: 3, maxLength: 3 }), mostly, mostly, fc.nat(), fc.nat(20), seqShift)
  .map(([chain, seps, plainInput, plainSig, at, twist, shift]) => {
    const { input, sig } = renumber(serializeChain(chain), shift);
    // Sometimes the chain is bent the way a forger or a foreign signer would bend it.
    if (twist === 0) {
      input.splice(at % (input.length + 1), 0, FOREIGN.input);
      sig.splice(at % (sig.length + 1), 0, FOREIGN.sig);
    } else if (twist === 1 && input.length > 1) {
      const i = at % (input.length - 1);
      [input[i], input[i + 1]] = [input[i + 1]!, input[i]!];
    } else if (twist === 2 && sig.length > 1) {
      const i = at % (sig.length - 1);
      [sig[i], sig[i + 1]] = [sig[i + 1]!, sig[i]!];
    } else if (twist === 3) {
      input.push(input[at % input.length]!);
      sig.push(sig[at % sig.length]!);
    } else if (twist === 4) {
      sig.pop();
    } else if (twist === 5) {
      // A seq 1 member that names a previous one, or a later one that names none.
      input[0] = input[0]!.replace('"x-stella-scan-id")', '"x-stella-scan-id" "signature";key="stella-1-gw")');
      if (input.length > 1) input[1] = input[1]!.replace(/ "signature";key="[^"]*"/, '');
    }
    return { signatureInput: join(input, seps, plainInput), signature: join(sig, seps, plainSig) };
  });

// Edits rich in RFC 9651 syntax and in the profile's names, so mutants hit every branch.
const piece = fc.oneof(
  fc.constantFrom(';', ',', '=', ':', '"', '\\', ' ', '\t', '(', ')', '0', '1', '9', '-', '.', '*', '?1', 'A', '=:', '+', '/', '==', 'é', '\n'),
  fc.constantFrom(';created=1', ';alg="ed25519"', ';tag="x"', ';keyid="k"', ';nonce=', ';peer-id="a"', ';created=01', ';created=1.5', ';extra=1', ' "content-digest"', ' "signature";key="stella-1-a"', 'stella-2-'),
  fc.string({ maxLength: 3 }),
);
const edit = (value: string, [at, drop, insert]: [number, number, string]): string => value.slice(0, at % (value.length + 1)) + insert + value.slice((at % (value.length + 1)) + drop);
const mutated = fc
  .tuple(validish, fc.array(fc.tuple(fc.boolean(), fc.tuple(fc.nat(), fc.nat(3), piece)), { minLength: 1, maxLength: 4 }))
  .map(([fields, edits]) =>
    edits.reduce((f, [inInput, e]) => (inInput ? { ...f, signatureInput: edit(f.signatureInput, e) } : { ...f, signature: edit(f.signature, e) }), fields),
  );
/** Parameters swapped or duplicated: still RFC 9651, sometimes still canonical, never the profile's order. */
const reshuffled = fc.tuple(validish, fc.nat(), fc.nat(), fc.boolean()).map(([fields, a, b, duplicate]) => {
  const parts = fields.signatureInput.split(';');
  const i = 1 + (a % (parts.length - 1 || 1));
  const j = 1 + (b % (parts.length - 1 || 1));
  if (duplicate) parts.splice(j, 0, parts[i]!);
  else [parts[i], parts[j]] = [parts[j]!, parts[i]!];
  return { ...fields, signatureInput: parts.join(';') };
});
/** One signature's last base64 character replaced: non-zero unused bits are valid base64 but not canonical. */
const BASE64_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=:-_';
const signatureBits = fc.tuple(validish, fc.nat(), fc.constantFrom(...BASE64_CHARS.split('')), fc.nat(2)).map(([fields, which, char, back]) => {
  const ends = [...fields.signature.matchAll(/=:[^:]+:/g)].map((m) => m.index + m[0].length - 2);
  const at = ends[which % ends.length]! - back;
  return { ...fields, signature: fields.signature.slice(0, at) + char + fields.signature.slice(at + 1) };
});
const fieldChars = fc.constantFrom(...'stella-1-gw=("@method" "@path")created;nonce="ab"alg=ed25519:AB+/=, \t'.split(''));
const randomText = fc.record({ signatureInput: fc.string({ unit: fieldChars, maxLength: 200 }), signature: fc.string({ unit: fieldChars, maxLength: 120 }) });

type Outcome = { members: V2Member[] } | { code: string; status: number; message: string };

function outcome(parse: () => V2Member[]): Outcome {
  try {
    return { members: parse() };
  } catch (error) {
    assert.ok(error instanceof ProvenanceError, String(error));
    return { code: error.code, status: error.status, message: error.message };
  }
}

const tooLong = (fields: { signatureInput: string; signature: string }, lim: V2Limits): boolean =>
  Buffer.byteLength(fields.signatureInput, 'utf8') > lim.maxHeaderBytes || Buffer.byteLength(fields.signature, 'utf8') > lim.maxHeaderBytes;

/** Per property: how often the fast reader took an input, and how often it left one to the general path that accepted it. */
const tally = new Map<string, { fast: number; generalOnly: number }>();
let current = '';
function agree(fields: { signatureInput: string; signature: string }, lim: V2Limits): void {
  const count = tally.get(current) ?? { fast: 0, generalOnly: 0 };
  tally.set(current, count);
  const whole = outcome(() => parseV2Fields(fields.signatureInput, fields.signature, lim));
  // parseV2Fields applies the size limit before either reader.
  if (tooLong(fields, lim)) {
    assert.equal('code' in whole && whole.code, 'provenance-malformed');
    return;
  }
  const expected = outcome(() => parseV2General(fields.signatureInput, fields.signature, lim));
  const fast = readCanonicalV2(fields.signatureInput, fields.signature, lim.maxHops);
  if (fast !== null) {
    count.fast++;
    assert.deepEqual({ members: fast }, expected, `the fast reader accepted what the general path answers differently: ${JSON.stringify(fields)}`);
  } else if ('members' in expected) {
    count.generalOnly++;
  }
  assert.deepEqual(whole, expected, JSON.stringify(fields));
}

describe('the v2 canonical fast reader against the general path (differential, 100,000+ field pairs)', () => {
  it('takes every pair of fields in the form the hops write, with the members the general path reads', () => {
    fc.assert(
      fc.property(fc.array(memberFacts.map((m) => ({ ...m, signatureBytes: null })), { minLength: 1, maxLength: 10 }), (chain) => {
        const { input, sig } = serializeChain(chain);
        const fast = readCanonicalV2(input.join(', '), sig.join(', '), 10);
        assert.notEqual(fast, null, input.join(', '));
        assert.deepEqual(fast, parseV2General(input.join(', '), sig.join(', '), { maxHops: 10 }));
      }),
      { numRuns: 5_000 },
    );
  });
  /**
   * Runs one property and checks it reached both sides: at least `fast` inputs taken by the fast
   * reader, and at least `generalOnly` valid ones it left to the general path.
   */
  const differential = (name: string, inputs: fc.Arbitrary<{ signatureInput: string; signature: string }>, numRuns: number, least: { fast: number; generalOnly: number }): void => {
    it(name, () => {
      current = name;
      fc.assert(fc.property(inputs, limits, (fields, lim) => agree(fields, lim)), { numRuns });
      const count = tally.get(name)!;
      assert.ok(count.fast >= least.fast && count.generalOnly >= least.generalOnly, `exercised too little: ${JSON.stringify(count)}, wanted ${JSON.stringify(least)}`);
    });
  };
  differential('agrees on 40,000 pairs with other separators, foreign members, reordered, repeated, missing or renumbered members', validish, 40_000, { fast: 10_000, generalOnly: 2_000 });
  differential('agrees on 40,000 mutated pairs', mutated, 40_000, { fast: 50, generalOnly: 10 });
  differential('agrees on 10,000 pairs with parameters swapped or duplicated', reshuffled, 10_000, { fast: 100, generalOnly: 0 });
  differential('agrees on 10,000 pairs with a signature whose unused bits are set or whose tail is foreign', signatureBits, 10_000, { fast: 100, generalOnly: 0 });
  differential('agrees on 10,000 random strings of field characters', randomText, 10_000, { fast: 0, generalOnly: 0 });

  it('agrees at the edges of every field format, and on a Signature label that extends the input label', () => {
    const member = (over: Partial<MemberFacts> = {}): MemberFacts => ({
      hop: 'gw-edge', created: 1_795_867_198, nonce: 'a'.repeat(32), keyid: 'k1', alg: 'ed25519', peer: `sha256:${'b'.repeat(64)}`, peerId: 'scanner-01',
      coversContentDigest: true, signatureBytes: null, seed: new Uint8Array(65).fill(7), ...over,
    });
    const cases: [string, MemberFacts, boolean][] = [
      ['hop id of 63 characters', member({ hop: `g${'w'.repeat(62)}` }), true],
      ['hop id of 64 characters', member({ hop: `g${'w'.repeat(63)}` }), false],
      ['keyid of 64 characters', member({ keyid: 'k'.repeat(64) }), true],
      ['keyid of 65 characters', member({ keyid: 'k'.repeat(65) }), false],
      ['peer-id of 64 characters', member({ peerId: 'p'.repeat(64) }), true],
      ['peer-id of 65 characters', member({ peerId: 'p'.repeat(65) }), false],
      ['created of 15 digits', member({ created: 999_999_999_999_999 }), true],
      // One more digit than an RFC 9651 Integer holds: the serializer cannot write it, so it is written by hand.
      ['created of 16 digits', member({ created: 999_999_999_999_999 }), false],
    ];
    for (const [what, facts, valid] of cases) {
      const { input, sig } = serializeChain([facts]);
      if (what === 'created of 16 digits') input[0] = input[0]!.replace('created=999999999999999', 'created=1000000000000000');
      const fields = { signatureInput: input[0]!, signature: sig[0]! };
      const lim = { maxHeaderBytes: 8192, maxHops: 10 };
      assert.equal('members' in outcome(() => parseV2General(fields.signatureInput, fields.signature, lim)), valid, what);
      assert.equal(readCanonicalV2(fields.signatureInput, fields.signature, 10) !== null, valid, what);
      agree(fields, lim);
    }
    const { input, sig } = serializeChain([member({ hop: 'gw-a' })]);
    const extended = { signatureInput: input[0]!, signature: sig[0]!.replace('stella-1-gw-a=', 'stella-1-gw-ab=') };
    assert.equal(readCanonicalV2(extended.signatureInput, extended.signature, 10), null);
    agree(extended, { maxHeaderBytes: 8192, maxHops: 10 });
  });
});
