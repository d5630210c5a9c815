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

describe('encodeBase64', () => {
  it('emits the standard alphabet with padding', () => {
    assert.equal(encodeBase64(Buffer.from([0xfb, 0xff])), '+/8=');
  });

  it('encodes only the bytes of a view into a larger buffer', () => {
    const big = Buffer.from('xxhixx');
    assert.equal(encodeBase64(big.subarray(2, 4)), 'aGk=');
  });
});
