import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { leafProfile, leafValidity, parseDurationSeconds } from '../../src/pki/profile.js';
import type { PkiError } from '../../src/pki/index.js';

describe('leafProfile', () => {
  it('gives scanners clientAuth only and gateways and services clientAuth + serverAuth', () => {
    assert.deepEqual(leafProfile({ trustDomain: 'd.test', role: 'scanner', name: 's-1' }).extendedKeyUsages, ['1.3.6.1.5.5.7.3.2']);
    for (const role of ['gateway', 'service']) {
      const p = leafProfile({ trustDomain: 'd.test', role, name: 'x', dns: ['x', 'x'], ip: ['::1'] });
      assert.deepEqual(p.extendedKeyUsages, ['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.1']);
      assert.deepEqual([p.dns, p.ip, p.spiffeId], [['x'], ['::1'], `spiffe://d.test/${role}/x`]);
    }
  });

  it('accepts exactly the names a provenance peer-id can carry', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 0, maxLength: 70 }), (name) => {
        const valid = /^[A-Za-z0-9._-]{1,64}$/.test(name) && name !== '.' && name !== '..';
        try {
          leafProfile({ trustDomain: 'd.test', role: 'scanner', name });
          return valid;
        } catch (error) {
          return !valid && (error as PkiError).code === 'PKI_INVALID_NAME';
        }
      }),
    );
  });

  it('refuses unknown roles', () => {
    assert.throws(() => leafProfile({ trustDomain: 'd.test', role: 'admin', name: 'x' }), (e: PkiError) => e.code === 'PKI_INVALID_NAME');
  });
});

describe('leafValidity and parseDurationSeconds', () => {
  it('defaults to 24 h from the current second', () => {
    const { notBefore, notAfter } = leafValidity(new Date('2026-11-28T10:00:00.750Z'), {});
    assert.equal(notBefore.toISOString(), '2026-11-28T10:00:00.000Z');
    assert.equal(notAfter.toISOString(), '2026-11-29T10:00:00.000Z');
  });

  it('reads the --ttl forms and refuses others', () => {
    assert.deepEqual(['24h', '90m', '3600s', '7d', '45'].map(parseDurationSeconds), [86400, 5400, 3600, 604800, 45]);
    for (const bad of ['', '0h', '1w', '-5m', 'soon']) assert.throws(() => parseDurationSeconds(bad), (e: PkiError) => e.code === 'PKI_INVALID_LIFETIME', bad);
  });
});
