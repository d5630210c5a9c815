import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { checkContentDigest, checkContentDigestHash, contentDigestOf } from '../../src/provenance/digest.js';

// RFC 9530 §2, Figure 1: the body `{"hello": "world"}` and its sha-256 Content-Digest.
const RFC_BODY = Buffer.from('{"hello": "world"}');
const RFC_DIGEST = 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:';

describe('Content-Digest', () => {
  it('computes the sha-256 digest of RFC 9530 §2', () => {
    assert.equal(contentDigestOf(RFC_BODY), RFC_DIGEST);
  });
  it('accepts a matching sha-256 member among other algorithms', () => {
    assert.equal(checkContentDigest(`sha-512=:${Buffer.alloc(64).toString('base64')}:, ${RFC_DIGEST}`, RFC_BODY), null);
  });
  const mismatches: [string, string][] = [
    ['a digest of another body', contentDigestOf(Buffer.from('{}'))],
    ['no sha-256 member', `sha-512=:${Buffer.alloc(64).toString('base64')}:`],
    ['a sha-256 member that is a String', 'sha-256="X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="'],
    ['a truncated digest', 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWx:'],
    ['a value that is no Dictionary', 'sha-256=:X48E9qOok'],
  ];
  for (const [name, value] of mismatches) {
    it(`reports ${name} as a mismatch`, () => {
      assert.equal(typeof checkContentDigest(value, RFC_BODY), 'string');
    });
    it(`reports ${name} as the same mismatch for a body hashed while it streamed (the guard)`, () => {
      assert.equal(checkContentDigestHash(value, createHash('sha256').update(RFC_BODY).digest()), checkContentDigest(value, RFC_BODY));
    });
  }
  it('accepts the RFC 9530 §2 digest for the streamed hash of its body', () => {
    assert.equal(checkContentDigestHash(RFC_DIGEST, createHash('sha256').update(RFC_BODY).digest()), null);
  });
});
