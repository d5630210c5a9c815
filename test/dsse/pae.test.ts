import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pae } from '../../src/dsse/index.js';

describe('pae', () => {
  it('encodes the DSSE spec example exactly', () => {
    const out = pae('http://example.com/HelloWorld', Buffer.from('hello world'));
    assert.equal(out.toString('latin1'), 'DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  });

  it('encodes an empty type and an empty body with both lengths 0', () => {
    assert.equal(pae('', new Uint8Array()).toString('latin1'), 'DSSEv1 0  0 ');
  });

  it('counts UTF-8 bytes, not characters, in the payload type', () => {
    const out = pae('application/typé', Buffer.from('x'));
    assert.equal(out.toString('utf8'), 'DSSEv1 17 application/typé 1 x');
  });

  it('copies binary payload bytes verbatim after the header', () => {
    const body = Buffer.from([0, 255, 10, 32, 0x80]);
    const out = pae('t', body);
    assert.deepEqual(out.subarray(out.length - body.length), body);
    assert.equal(out.subarray(0, out.length - body.length).toString('latin1'), 'DSSEv1 1 t 5 ');
  });

  it('rejects a payload type with a lone surrogate as a caller error', () => {
    assert.throws(() => pae('a\uD800', Buffer.alloc(0)), TypeError);
  });

  it('has decimal lengths without leading zeros that match the parts for any input', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.uint8Array({ maxLength: 300 }), (type, body) => {
        const out = pae(type, body);
        const typeBytes = Buffer.from(type, 'utf8');
        const expected = Buffer.concat([
          Buffer.from(`DSSEv1 ${typeBytes.length} `),
          typeBytes,
          Buffer.from(` ${body.length} `),
          body,
        ]);
        assert.deepEqual(out, expected);
        assert.match(out.toString('latin1'), /^DSSEv1 (0|[1-9]\d*) /);
      }),
    );
  });
});
