import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseDictionary } from 'structured-headers';
import { ProvenanceError } from '../../../src/provenance/problems.js';
import { pathAndQueryComponents, signatureBase } from '../../../src/provenance/v2/base.js';
import { appendMember, parseV2Fields, splitDictionary, stripV2Members } from '../../../src/provenance/v2/fields.js';
import { parseV2Label, v2Label } from '../../../src/provenance/v2/profile.js';
import { buildV2Request, fixtureV2Topology } from '../support/fixture.js';

const LIMITS = { maxHeaderBytes: 8192, maxHops: 8 };

describe('v2 labels', () => {
  it('are stella-<seq>-<hop id> and parse back; anything else is not a label of the profile', () => {
    assert.equal(v2Label(2, 'gw-internal'), 'stella-2-gw-internal');
    assert.deepEqual(parseV2Label('stella-12-gw-edge.a'), { seq: 12, hop: 'gw-edge.a' });
    for (const bad of ['stella-0-gw', 'stella-01-gw', 'stella-1-', 'stella-1-GW', 'sig1', 'stella-x']) assert.equal(parseV2Label(bad), null, bad);
  });
});

describe('the signature base (RFC 9421 §2.5)', () => {
  it('derives @path and @query as §2.2.6/§2.2.7 say: "?" alone without a query', () => {
    assert.deepEqual(pathAndQueryComponents('/a/b?x=1&y'), { path: '/a/b', query: '?x=1&y' });
    assert.deepEqual(pathAndQueryComponents('/a'), { path: '/a', query: '?' });
    assert.deepEqual(pathAndQueryComponents('/a?'), { path: '/a', query: '?' });
  });

  it('is the covered lines in order, then @signature-params, LF-separated without a trailing LF', () => {
    const base = signatureBase(
      { method: 'POST', pathAndQuery: '/api/v1/evidence?tenant=a', scanId: 'scan-1', contentDigest: 'sha-256=:AAAA:' },
      { coversContentDigest: true, previous: { label: 'stella-1-gw-edge', signatureValue: ':BBBB:' }, signatureParams: '("@method");created=1' },
    ).toString('utf8');
    assert.equal(
      base,
      ['"@method": POST', '"@path": /api/v1/evidence', '"@query": ?tenant=a', '"content-digest": sha-256=:AAAA:', '"x-stella-scan-id": scan-1', '"signature";key="stella-1-gw-edge": :BBBB:', '"@signature-params": ("@method");created=1'].join('\n'),
    );
  });
});

describe('splitDictionary', () => {
  it('splits only at the commas between members, keeps duplicates and each member\'s text', () => {
    const members = splitDictionary('a=1, b=("x" "y");p="c,d=2",  a=:AAAA:,c');
    assert.deepEqual(members.map((m) => [m.label, m.raw]), [
      ['a', 'a=1'],
      ['b', 'b=("x" "y");p="c,d=2"'],
      ['a', 'a=:AAAA:'],
      ['c', 'c'],
    ]);
  });

  it('finds exactly the members an RFC 9651 parser finds, for any dictionary of strings with commas (property)', () => {
    const key = fc.stringMatching(/^[a-z][a-z0-9-]{0,6}$/);
    const text = fc.stringMatching(/^[ -!#-[\]-~]{0,12}$/); // visible ASCII and SP without " and \
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(key, text), { minLength: 1, maxLength: 6, selector: (t) => t[0] }), (entries) => {
        const value = entries.map(([k, v]) => `${k}="${v}"`).join(', ');
        assert.deepEqual(splitDictionary(value).map((m) => m.label), entries.map(([k]) => k));
      }),
    );
  });

  it('accepts exactly what the RFC 9651 parser accepts, and finds its keys (differential property, junk included)', () => {
    const piece = fc.oneof(
      fc.stringMatching(/^[a-z]{1,3}$/).map((k) => `${k}=1`),
      fc.tuple(fc.stringMatching(/^[a-z]{1,3}$/), fc.stringMatching(/^[ -!#-[\]-~]{0,8}$/)).map(([k, v]) => `${k}="${v}"`),
      fc.stringMatching(/^[a-z]{1,3}$/).map((k) => `${k}=("a" "b,c");p=:AAAA:`),
      fc.constantFrom(',', '"', '(', ' ', '=', ';', 'A', '\t', ''),
    );
    fc.assert(
      fc.property(fc.array(piece, { minLength: 1, maxLength: 6 }), fc.constantFrom(', ', ',', ' ,  '), (pieces, separator) => {
        const value = pieces.join(separator);
        let expected: string[] | null;
        try {
          expected = [...parseDictionary(value).keys()];
        } catch {
          expected = null;
        }
        let got: string[] | null;
        try {
          got = [...new Set(splitDictionary(value).map((m) => m.label))];
        } catch {
          got = null;
        }
        assert.deepEqual(got === null ? null : [...got].sort(), expected === null ? null : [...expected].sort(), JSON.stringify(value));
      }),
      { numRuns: 2000 },
    );
  });

  it('throws on a value that is not a Dictionary', () => {
    for (const bad of ['a=(', 'a=1,', '=1', 'a="x']) assert.throws(() => splitDictionary(bad));
  });
});

describe('stripV2Members (the edge)', () => {
  const built = buildV2Request(fixtureV2Topology());
  it('removes every member of the profile by tag or by stella- label, from both fields, and keeps other signatures as they came', () => {
    const foreignInput = 'sig1=("@method");created=1;nonce="a, stella-1-x=2"';
    const disguised = 'other=("@method");tag="stella-provenance-v2"';
    const stripped = stripV2Members(`${foreignInput}, ${built.headers['signature-input']}, ${disguised}`, `sig1=:AAAA:, ${built.headers.signature}, other=:BBBB:, stella-9-x=:CCCC:`);
    assert.deepEqual(stripped, { signatureInput: foreignInput, signature: 'sig1=:AAAA:' });
  });
  it('leaves nothing when only the profile\'s members came, and drops a field that does not parse', () => {
    assert.deepEqual(stripV2Members(built.headers['signature-input']!, built.headers.signature!), { signatureInput: null, signature: null });
    assert.deepEqual(stripV2Members('stella-1-gw-edge=(', 'sig1=:AAAA:'), { signatureInput: null, signature: 'sig1=:AAAA:' });
    assert.deepEqual(stripV2Members(null, null), { signatureInput: null, signature: null });
  });
  it('appendMember adds after what is left', () => {
    assert.equal(appendMember(null, 'stella-1-a', '()'), 'stella-1-a=()');
    assert.equal(appendMember('sig1=()', 'stella-1-a', '()'), 'sig1=(), stella-1-a=()');
  });
});

describe('parseV2Fields limits', () => {
  const built = buildV2Request(fixtureV2Topology());
  const refuse = (input: string, sig: string, limits = LIMITS) =>
    assert.throws(() => parseV2Fields(input, sig, limits), (e: unknown) => e instanceof ProvenanceError && e.code === 'provenance-malformed' && e.status === 400);
  it('refuses fields over maxHeaderBytes and more members than maxHops', () => {
    refuse(built.headers['signature-input']!, built.headers.signature!, { maxHeaderBytes: 256, maxHops: 8 });
    refuse(built.headers['signature-input']!, built.headers.signature!, { maxHeaderBytes: 8192, maxHops: 2 });
  });
  it('returns no member when the fields hold only other signatures', () => {
    assert.deepEqual(parseV2Fields('sig1=("@method")', 'sig1=:AAAA:', LIMITS), []);
  });
});
