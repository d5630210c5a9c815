import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DSSE_ERROR_CODES, DsseError } from '../../src/dsse/index.js';
import { StellaError } from '../../src/errors/base.js';

describe('DSSE error codes', () => {
  it('are documented in docs/dsse.md exactly as the table in src/dsse/errors.ts says', () => {
    const doc = readFileSync(new URL('../../docs/dsse.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\| `(DSSE_[A-Z_]+)` \| (.+) \|$/gm)].map((m) => [m[1], m[2]]);
    assert.deepEqual(Object.fromEntries(rows), Object.fromEntries(Object.entries(DSSE_ERROR_CODES).map(([code, { title }]) => [code, title])));
  });

  it('make a DsseError a StellaError carrying the code and the cause', () => {
    const cause = new Error('inner');
    const error = new DsseError('DSSE_MALFORMED', 'bad', { cause });
    assert.ok(error instanceof StellaError);
    assert.equal(error.code, 'DSSE_MALFORMED');
    assert.equal(error.name, 'DsseError');
    assert.equal(error.cause, cause);
  });
});
