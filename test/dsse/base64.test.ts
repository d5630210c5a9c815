import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeBase64Strict, encodeBase64 } from '../../src/dsse/index.js';

function codeOfSync(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe('decodeBase64Strict', () => {
  it('decodes standard base64 with and without padding', () => {
    assert.equal(decodeBase64Strict('aGVsbG8gd29ybGQ=').toString(), 'hello world');
    assert.equal(decodeBase64Strict('aGVsbG8gd29ybGQ').toString(), 'hello world');
  });

  it('decodes the URL-safe alphabet', () => {
    assert.deepEqual(decodeBase64Strict('-_8'), Buffer.from([0xfb, 0xff]));
    assert.deepEqual(decodeBase64Strict('+/8='), Buffer.from([0xfb, 0xff]));
  });

  it('decodes the empty string to no bytes', () => {
    assert.equal(decodeBase64Strict('').length, 0);
  });

  for (const [input, why] of [
    ['aGVsbG8gd29ybGQ=\n', 'a trailing newline'],
    ['aGVs bG8=', 'inner whitespace'],
    ['aGVsbG8*', 'a character outside both alphabets'],
    ['+_8=', 'both alphabets mixed'],
    ['aGk==', 'too much padding'],
    ['aGVs=', 'padding where none is needed'],
    ['aG=k', 'padding inside the string'],
    ['a', 'an impossible length'],
    ['aGVsbA=', 'incomplete padding'],
    ['aGl=', 'non-zero unused bits'],
    ['aGVsbG9=', 'non-zero unused bits before one pad'],
    ['====', 'padding only'],
  ] as const) {
    it(`rejects ${why} with DSSE_MALFORMED`, () => {
      assert.equal(codeOfSync(() => decodeBase64Strict(input)), 'DSSE_MALFORMED');
    });
  }

  it('round-trips every byte string in both alphabets, padded or not', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const standard = encodeBase64(bytes);
        const url = Buffer.from(bytes).toString('base64url');
        assert.deepEqual(decodeBase64Strict(standard), Buffer.from(bytes));
        assert.deepEqual(decodeBase64Strict(standard.replace(/=+$/, '')), Buffer.from(bytes));
        assert.deepEqual(decodeBase64Strict(url), Buffer.from(bytes));
      }),
    );
  });

  it('accepts exactly the strings that re-encode to themselves (one spelling per byte string)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'AQgw+/-_= a'), maxLength: 12 }), (s) => {
        let decoded: Buffer | undefined;
        try {
          decoded = decodeBase64Strict(s);
        } catch (error) {
          assert.equal((error as { code?: string }).code, 'DSSE_MALFORMED');
          return;
        }
        const canonical = s.includes('-') || s.includes('_') ? decoded.toString('base64url') : decoded.toString('base64').replace(/=+$/, '');
        assert.equal(s.replace(/=+$/, ''), canonical);
      }),
    );
  });
});

/** The documented policy (docs/dsse.md), written out rule by rule as the model to compare with. */
function policyAccepts(s: string): boolean {
  let body = s;
  if (s.length % 4 === 0 && s.endsWith('==')) body = s.slice(0, -2);
  else if (s.length % 4 === 0 && s.endsWith('=')) body = s.slice(0, -1);
  const rest = body.length % 4;
  if (rest === 1) return false;
  if (!/^[A-Za-z0-9+/]*$/.test(body) && !/^[A-Za-z0-9_-]*$/.test(body)) return false;
  if (rest === 0) return true;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const last = body.at(-1)!;
  const value = alphabet.includes(last) ? alphabet.indexOf(last) : last === '+' || last === '-' ? 62 : 63;
  return (value & (rest === 2 ? 0x0f : 0x03)) === 0;
}

describe('decodeBase64Strict against the written policy', () => {
  it('accepts exactly what the policy accepts, and then decodes as Node does', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'AQgwz9+/-_=\n*\u00e9'), maxLength: 16 }), (s) => {
        const accepted = codeOfSync(() => decodeBase64Strict(s)) === undefined;
        assert.equal(accepted, policyAccepts(s), JSON.stringify(s));
        if (accepted) assert.deepEqual(decodeBase64Strict(s), Buffer.from(s, 'base64'));
      }),
      { numRuns: 5000 },
    );
  });

  it('refuses two alphabets mixed across the 64 KiB decoding steps of a long string', () => {
    const plain = 'QUJD'.repeat(40_000);
    assert.equal(decodeBase64Strict(`+${plain.slice(1)}`).length, 120_000);
    assert.equal(decodeBase64Strict(`${plain.slice(0, -1)}_`).length, 120_000);
    assert.throws(() => decodeBase64Strict(`+${plain.slice(1, -1)}_`), { code: 'DSSE_MALFORMED', message: 'both base64 alphabets mixed' });
  });
});

describe('encodeBase64', () => {
  it('emits the standard alphabet with padding', () => {
    assert.equal(encodeBase64(Buffer.from([0xfb, 0xff])), '+/8=');
  });

  it('encodes only the bytes of a view into a larger buffer', () => {
    const big = Buffer.from('xxhixx');
    assert.equal(encodeBase64(big.subarray(2, 4)), 'aGk=');
  });
});
