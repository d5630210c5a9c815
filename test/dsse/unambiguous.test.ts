/**
 * One reading per JSON text (docs/dsse.md "Unambiguous JSON"): an envelope or Statement that
 * repeats a key at any depth, or nests deeper than MAX_JSON_DEPTH, is refused with a stable code;
 * every other text is read as before. The property tests build the texts themselves, so whether a
 * text holds a duplicate is known by construction, not by the code under test.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DsseError, parseEnvelope, parseStatement, type Envelope } from '../../src/dsse/index.js';
import { assertUnambiguousJson, MAX_JSON_DEPTH } from '../../src/dsse/unambiguous.js';

const STATEMENT_HEAD = `"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"${'ab'.repeat(32)}"}}],"predicateType":"x"`;
const envelopeText = (extra: string) => `{"payloadType":"t","payload":"aGk=","signatures":[{"keyid":"k","sig":"AAEC"}]${extra}}`;

function codeOf(run: () => unknown): string | null {
  try {
    run();
    return null;
  } catch (error) {
    if (!(error instanceof DsseError)) throw error;
    return error.code;
  }
}

/** A spelling of `key` as a JSON string literal: plain, or with its first character escaped. */
const spelling = (key: string, escaped: boolean): string =>
  escaped && key.length > 0 ? `"\\u${key.charCodeAt(0).toString(16).padStart(4, '0')}${JSON.stringify(key.slice(1)).slice(1)}` : JSON.stringify(key);

/** One enclosing level: an object with sibling members, or an array with elements around. */
const level = fc.oneof(
  fc.record({ kind: fc.constant('object' as const), key: fc.string({ maxLength: 6 }), siblings: fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }) }),
  fc.record({ kind: fc.constant('array' as const), before: fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 2 }), after: fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 2 }) }),
);

/**
 * A JSON object text with (or without) one duplicated member at a random depth, built from the
 * inside out. The duplicate repeats a name of the object it is injected into, possibly escaped.
 */
const nested = fc
  .record({
    inner: fc.jsonValue({ maxDepth: 3 }),
    levels: fc.array(level, { maxLength: 12 }),
    at: fc.nat(),
    pick: fc.nat(),
    escaped: fc.boolean(),
    value: fc.jsonValue({ maxDepth: 2 }),
  })
  .map(({ inner, levels, at, pick, escaped, value }) => {
    // The outermost level is an object, so the text can sit where an object member is expected.
    const all = [...levels, { kind: 'object' as const, key: 'top', siblings: {} }];
    const objects = all.flatMap((lv, depth) => (lv.kind === 'object' ? [depth] : []));
    const inject = objects[at % objects.length];
    let plain = JSON.stringify(inner);
    let duplicated = plain;
    all.forEach((lv, depth) => {
      if (lv.kind === 'array') {
        const wrap = (child: string) => `[${[...lv.before.map((v) => JSON.stringify(v)), child, ...lv.after.map((v) => JSON.stringify(v))].join(',')}]`;
        plain = wrap(plain);
        duplicated = wrap(duplicated);
        return;
      }
      const siblings = Object.entries(lv.siblings).filter(([k]) => k !== lv.key);
      const members = (child: string) => [...siblings.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`), `${JSON.stringify(lv.key)}:${child}`];
      plain = `{${members(plain).join(',')}}`;
      const withChild = members(duplicated);
      if (depth === inject) {
        const names = [...siblings.map(([k]) => k), lv.key];
        const name = names[pick % names.length]!;
        withChild.splice(pick % (withChild.length + 1), 0, `${spelling(name, escaped)}:${JSON.stringify(value)}`);
      }
      duplicated = `{${withChild.join(',')}}`;
    });
    return { plain, duplicated };
  });

describe('assertUnambiguousJson', () => {
  it('refuses a repeated key with DSSE_DUPLICATE_KEY and the path of its object', () => {
    assert.throws(() => assertUnambiguousJson('{"a":{"b":[1,{"c":1,"c":2}]}}', 'envelope'), { code: 'DSSE_DUPLICATE_KEY', message: 'envelope: key "c" appears twice in the object at $.a.b[1]' });
    assert.throws(() => assertUnambiguousJson('{"x":1,"\\u0078":2}', 'statement'), { code: 'DSSE_DUPLICATE_KEY', message: 'statement: key "x" appears twice in the object at $' });
  });

  it('tells keys apart exactly as JSON.parse does, escapes and quotes included', () => {
    for (const text of ['{"a":1,"A":2}', '{"a\\"":1,"a":2,"a\\\\":3}', '{"a":"{\\"a\\":1}","b":["a","a"]}', '{"":1,"\\u0000":2}', '[{"a":1},{"a":1}]', '{"a":{"a":{"a":1}}}']) {
      assert.doesNotThrow(() => assertUnambiguousJson(text, 'envelope'), text);
    }
  });

  it(`accepts nesting up to ${MAX_JSON_DEPTH} levels and refuses one more with DSSE_TOO_LARGE`, () => {
    const deep = (n: number) => `${'['.repeat(n - 1)}{"a":1}${']'.repeat(n - 1)}`;
    assert.doesNotThrow(() => assertUnambiguousJson(deep(MAX_JSON_DEPTH), 'envelope'));
    assert.throws(() => assertUnambiguousJson(deep(MAX_JSON_DEPTH + 1), 'envelope'), { code: 'DSSE_TOO_LARGE' });
  });

  it('refuses a random object with a duplicate injected at a random depth, and accepts it without', () => {
    fc.assert(
      fc.property(nested, ({ plain, duplicated }) => {
        JSON.parse(duplicated);
        assert.equal(codeOf(() => assertUnambiguousJson(plain, 'envelope')), null);
        assert.notEqual(duplicated, plain);
        assert.equal(codeOf(() => assertUnambiguousJson(duplicated, 'envelope')), 'DSSE_DUPLICATE_KEY');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseEnvelope and parseStatement refuse ambiguous JSON', () => {
  it('refuses a repeated payload on the byte path and the text path, before anything is decoded', () => {
    const text = '{"payloadType":"t","payload":"aGk=","signatures":[{"sig":"AAEC"}],"payload":"Ynll"}';
    assert.equal(codeOf(() => parseEnvelope(Buffer.from(text))), 'DSSE_DUPLICATE_KEY');
    assert.equal(codeOf(() => parseEnvelope(text)), 'DSSE_DUPLICATE_KEY');
    assert.equal(codeOf(() => parseEnvelope(Buffer.from(text.replace('"payload":"Ynll"', '"p\\u0061yload":"Ynll"')))), 'DSSE_DUPLICATE_KEY');
  });

  it('refuses a repeat in the envelope object, in a signature entry or in an extra field', () => {
    for (const extra of [',"payloadType":"u"', ',"signatures":[]', ',"x":{"y":1,"y":1}']) {
      assert.equal(codeOf(() => parseEnvelope(Buffer.from(envelopeText(extra)))), 'DSSE_DUPLICATE_KEY', extra);
    }
    const twoSigs = '{"payloadType":"t","payload":"aGk=","signatures":[{"keyid":"k","sig":"AAEC","sig":"AAED"}]}';
    assert.equal(codeOf(() => parseEnvelope(Buffer.from(twoSigs))), 'DSSE_DUPLICATE_KEY');
  });

  it('refuses a repeat at every level of a Statement: top, subject, digest map, predicate', () => {
    const statement = (head: string, predicate: string) => Buffer.from(`{${head},"predicate":${predicate}}`);
    const intent = '{"scanId":"s","nonce":"0123456789abcdef"}';
    assert.doesNotThrow(() => parseStatement(statement(STATEMENT_HEAD, intent)));
    for (const [name, head, predicate] of [
      ['top', `${STATEMENT_HEAD},"predicateType":"y"`, intent],
      ['subject entry', STATEMENT_HEAD.replace('"name":"a"', '"name":"a","name":"b"'), intent],
      ['digest map', STATEMENT_HEAD.replace('"sha256"', `"sha256":"${'cd'.repeat(32)}","sha256"`), intent],
      ['predicate', STATEMENT_HEAD, '{"scanId":"s","scanId":"t"}'],
    ] as const) {
      assert.equal(codeOf(() => parseStatement(statement(head, predicate))), 'DSSE_DUPLICATE_KEY', name);
    }
  });

  it('refuses an envelope nested deeper than the limit with DSSE_TOO_LARGE', () => {
    const deep = `${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`;
    assert.equal(codeOf(() => parseEnvelope(Buffer.from(envelopeText(`,"x":${deep}`)))), 'DSSE_TOO_LARGE');
    assert.equal(codeOf(() => parseEnvelope(Buffer.from(envelopeText(`,"x":${deep.slice(1, -1)}`)))), null);
  });

  it('property: an envelope or Statement carrying a random object with an injected duplicate is refused, and read as before without it', () => {
    fc.assert(
      fc.property(nested, ({ plain, duplicated }) => {
        const clean: Envelope = parseEnvelope(Buffer.from(envelopeText(`,"extra":${plain}`)));
        assert.deepEqual(clean, parseEnvelope(envelopeText('')));
        assert.equal(codeOf(() => parseStatement(Buffer.from(`{${STATEMENT_HEAD},"predicate":${plain}}`))), null);
        const expected = 'DSSE_DUPLICATE_KEY';
        assert.equal(codeOf(() => parseEnvelope(Buffer.from(envelopeText(`,"extra":${duplicated}`)))), expected);
        assert.equal(codeOf(() => parseStatement(Buffer.from(`{${STATEMENT_HEAD},"predicate":${duplicated}}`))), expected);
      }),
      { numRuns: 500 },
    );
  });
});
