import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALGORITHM_NAMES, ALGORITHMS, algorithmByCliName, createSigner, createVerifier, generateKey, loadKeyFile, parseKeyFile } from '../../src/dsse/index.js';
import type { KeyMaterial } from '../../src/dsse/index.js';
import { tempDir } from '../support/tmp.js';
import { codeOf } from './support/keys.js';

const pemOf = (pair: { privateKey: KeyObject; publicKey: KeyObject }) => ({
  private: Buffer.from(pair.privateKey.export({ type: 'pkcs8', format: 'pem' })),
  public: Buffer.from(pair.publicKey.export({ type: 'spki', format: 'pem' })),
});

describe('parseKeyFile', () => {
  it('follows the key type for every algorithm of the table, private and public', () => {
    for (const alg of ALGORITHM_NAMES) {
      const pem = generateKey(alg);
      const priv = parseKeyFile(Buffer.from(pem.private));
      assert.equal(priv.algorithm, alg);
      if (pem.public === undefined) {
        assert.equal(priv.type, 'secret');
        continue;
      }
      const pub = parseKeyFile(Buffer.from(pem.public));
      assert.equal(priv.type, 'private');
      assert.equal(pub.type, 'public');
      assert.equal(pub.algorithm, alg);
      assert.equal(pub.keyId, priv.keyId, 'a private key and its public half share one identity');
      assert.match(pub.keyId, /^sha256:[0-9a-f]{64}$/);
    }
  });

  it('reads an HMAC secret as base64 text with surrounding whitespace ignored', () => {
    const secret = randomBytes(32);
    const key = parseKeyFile(Buffer.from(`\n  ${secret.toString('base64')}\r\n`));
    assert.equal(key.type, 'secret');
    assert.ok(key.type === 'secret' && key.secret.equals(secret));
  });

  it('gives two HMAC secrets different identities that do not reveal the plain secret hash', () => {
    const a = parseKeyFile(Buffer.from(randomBytes(32).toString('base64')));
    const b = parseKeyFile(Buffer.from(randomBytes(32).toString('base64')));
    assert.notEqual(a.keyId, b.keyId);
  });

  it('maps an RSA-PSS typed key to rsa-pss-sha256', () => {
    const key = parseKeyFile(pemOf(generateKeyPairSync('rsa-pss', { modulusLength: 2048 })).public);
    assert.equal(key.algorithm, 'rsa-pss-sha256');
  });

  for (const [name, bytes] of [
    ['an HMAC secret of 31 bytes', Buffer.from(randomBytes(31).toString('base64'))],
    ['text that is not base64', Buffer.from('not a key!')],
    ['an empty file', Buffer.alloc(0)],
    ['a SEC1 "EC PRIVATE KEY"', Buffer.from(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'sec1', format: 'pem' }))],
    ['a P-521 key', pemOf(generateKeyPairSync('ec', { namedCurve: 'P-521' })).public],
    ['an X25519 key', pemOf(generateKeyPairSync('x25519')).public],
    ['an RSA key of 1024 bits', pemOf(generateKeyPairSync('rsa', { modulusLength: 1024 })).private],
    ['two PEM blocks', Buffer.concat([Buffer.from(generateKey('ed25519').private), Buffer.from(generateKey('ed25519').private)])],
    ['a PEM block with a corrupt body', Buffer.from('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n')],
  ] as const) {
    it(`rejects ${name} with DSSE_KEY_INVALID`, async () => {
      assert.equal(await codeOf(() => parseKeyFile(bytes)), 'DSSE_KEY_INVALID');
    });
  }

  it('rejects a key of another algorithm or kind than asked for', async () => {
    const pem = generateKey('ed25519');
    assert.equal(await codeOf(() => parseKeyFile(Buffer.from(pem.private), { algorithm: 'ecdsa-p256-sha256' })), 'DSSE_KEY_INVALID');
    assert.equal(await codeOf(() => parseKeyFile(Buffer.from(pem.public ?? ''), { type: 'private' })), 'DSSE_KEY_INVALID');
  });
});

describe('createSigner and createVerifier', () => {
  it('refuse hand-built HMAC key material with a secret under 32 bytes', async () => {
    const short: KeyMaterial = { type: 'secret', algorithm: 'hmac-sha256', secret: randomBytes(16), keyId: 'sha256:00' };
    assert.equal(await codeOf(() => createSigner(short)), 'DSSE_KEY_INVALID');
    assert.equal(await codeOf(() => createVerifier(short)), 'DSSE_KEY_INVALID');
  });
});

describe('loadKeyFile', () => {
  const dir = tempDir('stella-dsse-keys-');
  after(dir.remove);

  it('reads and parses a key file from disk', async () => {
    const path = join(dir.path, 'k.pem');
    writeFileSync(path, generateKey('ecdsa-p384-sha384').private);
    assert.equal((await loadKeyFile(path)).algorithm, 'ecdsa-p384-sha384');
  });

  it('reports a missing file and a bad key with DSSE_KEY_INVALID naming the path', async () => {
    const missing = join(dir.path, 'missing.key');
    await assert.rejects(loadKeyFile(missing), (e: { code?: string; message?: string }) => e.code === 'DSSE_KEY_INVALID' && (e.message ?? '').includes(missing));
    const bad = join(dir.path, 'short.key');
    writeFileSync(bad, 'c2hvcnQ=');
    await assert.rejects(loadKeyFile(bad), (e: { code?: string }) => e.code === 'DSSE_KEY_INVALID');
  });
});

describe('algorithmByCliName', () => {
  it('names each algorithm of the table once', () => {
    assert.deepEqual(['hmac-sha256', 'ed25519', 'ecdsa-p256', 'ecdsa-p384', 'rsa-pss'].map(algorithmByCliName), ALGORITHM_NAMES);
    assert.equal(new Set(ALGORITHM_NAMES.map((a) => ALGORITHMS[a].cliName)).size, ALGORITHM_NAMES.length);
    assert.equal(algorithmByCliName('rsa'), undefined);
  });
});
