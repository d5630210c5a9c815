import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { PKI_ERROR_CODES, PkiError } from '../../src/pki/index.js';

describe('PKI error codes', () => {
  it('agree between the registry and the table of docs/operations/certificates.md', async () => {
    const doc = await readFile(new URL('../../docs/operations/certificates.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\| `(PKI_[A-Z_]+)` \| (\d{3}) \| (.+) \|$/gm)].map((m) => [m[1], Number(m[2]), m[3]]);
    const registry = Object.entries(PKI_ERROR_CODES).map(([code, { status, title }]) => [code, status, title]);
    assert.deepEqual(rows, registry);
  });

  it('carry the status of their code', () => {
    const error = new PkiError('PKI_TOKEN_USED', 'used');
    assert.equal(error.status, 401);
    assert.equal(error.name, 'PkiError');
    assert.equal(error.code, 'PKI_TOKEN_USED');
  });
});
