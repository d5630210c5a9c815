/** The PKI layout, key-file limits, header names and health paths of the conventions floor (docs/CONVENTIONS.md#the-conventions-floor). */
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import {
  HEADERS,
  HEALTH_PATHS,
  hopHealthPath,
  issuedPaths,
  MAX_KEY_FILE_BYTES,
  MIN_HMAC_KEY_BYTES,
  OPS_PATHS,
  PKI_LAYOUT,
  PKI_ROLES,
  WIRE_HEADERS,
} from '../../src/conventions/index.js';

describe('the PKI layout', () => {
  it('puts a leaf under issued/<role>/<name>/ (docs/CONVENTIONS.md#files-and-identities)', () => {
    assert.deepEqual(issuedPaths('/pki', 'gateway', 'gw-edge'), {
      cert: join('/pki', 'issued', 'gateway', 'gw-edge', 'cert.pem'),
      key: join('/pki', 'issued', 'gateway', 'gw-edge', 'key.pem'),
      chain: join('/pki', 'issued', 'gateway', 'gw-edge', 'chain.pem'),
    });
  });

  it('names the trust files and the three roles as the docs do', () => {
    assert.equal(PKI_LAYOUT.caBundle, 'ca-bundle.pem');
    assert.equal(PKI_LAYOUT.crl, 'crl.pem');
    assert.deepEqual([...PKI_ROLES], ['scanner', 'gateway', 'service']);
  });
});

describe('key-file limits', () => {
  it('takes HMAC secrets of at least the SHA-256 output and files of at most 64 KiB', () => {
    assert.equal(MIN_HMAC_KEY_BYTES, 32);
    assert.equal(MAX_KEY_FILE_BYTES, 65536);
  });
});

describe('header names and health paths', () => {
  it('gives every header in lower case for Node', () => {
    for (const [key, name] of Object.entries(HEADERS)) assert.equal(WIRE_HEADERS[key as keyof typeof HEADERS], name.toLowerCase());
    assert.equal(WIRE_HEADERS.provenance, 'x-stella-provenance');
  });

  it('builds a hop\'s own health path under /healthz/hop/', () => {
    assert.equal(hopHealthPath('gw-edge'), '/healthz/hop/gw-edge');
    assert.deepEqual(HEALTH_PATHS, { live: '/healthz/live', ready: '/healthz/ready', traversal: '/healthz/traversal' });
    assert.deepEqual(OPS_PATHS, { live: '/livez', ready: '/readyz', metrics: '/metrics' });
  });
});
