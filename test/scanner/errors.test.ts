import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { SCANNER_ERROR_CODES, ScannerError } from '../../src/scanner/errors.js';
import { classifyFailure, classifyStatus, contentDigest } from '../../src/scanner/http.js';

describe('scanner error codes', () => {
  it('are listed in docs/scanner.md with the same retry rule as the registry', () => {
    const doc = readFileSync('docs/scanner.md', 'utf8');
    const section = doc.slice(doc.indexOf('## Error codes'));
    const rows = [...section.matchAll(/^\| `(SCANNER_[A-Z_]+)` \| (yes|no) \|/gm)].map((m) => [m[1], m[2] === 'yes']);
    const registry = Object.entries(SCANNER_ERROR_CODES).map(([code, spec]) => [code, spec.retryable]);
    assert.deepEqual(rows, registry);
  });
});

describe('classifyStatus', () => {
  it('retries 5xx, 429 and 408 and keeps the problem code and Retry-After', () => {
    const e = classifyStatus(503, { code: 'locker-busy', detail: 'db locked' }, 2000);
    assert.equal(e.code, 'SCANNER_UNAVAILABLE');
    assert.equal(e.retryable, true);
    assert.equal(e.outcomeCode, 'locker-busy');
    assert.equal(e.retryAfterMs, 2000);
    assert.equal(classifyStatus(429, undefined).retryable, true);
    assert.equal(classifyStatus(408, undefined).retryable, true);
  });

  it('makes any other 4xx a final rejection named by its problem code', () => {
    const e = classifyStatus(409, { code: 'provenance-replayed' });
    assert.equal(e.code, 'SCANNER_REJECTED');
    assert.equal(e.retryable, false);
    assert.equal(e.outcomeCode, 'provenance-replayed');
  });

  it('ignores a problem code that is not a plain token (it ends up in logs and the outbox)', () => {
    assert.equal(classifyStatus(400, { code: 'bad\ncode' }).outcomeCode, 'SCANNER_REJECTED');
  });
});

describe('classifyFailure', () => {
  it('maps an abort by the request timeout to SCANNER_TIMEOUT and anything else to SCANNER_NETWORK', () => {
    assert.equal(classifyFailure(new DOMException('The operation timed out.', 'TimeoutError')).code, 'SCANNER_TIMEOUT');
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const e = classifyFailure(refused);
    assert.equal(e.code, 'SCANNER_NETWORK');
    assert.match(e.message, /ECONNREFUSED/);
  });

  it('passes a ScannerError through unchanged', () => {
    const original = new ScannerError('SCANNER_RESPONSE_MALFORMED', 'no receipt');
    assert.equal(classifyFailure(original), original);
  });
});

describe('contentDigest', () => {
  it('is the RFC 9530 sha-256 member over the exact bytes', () => {
    // RFC 9530 §B.1: {"hello": "world"} followed by a newline.
    assert.equal(contentDigest(Buffer.from('{"hello": "world"}\n')), 'sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:');
  });
});
