import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import { Agent, request } from 'undici';
import {
  caRolloverStep,
  inspectCertificate,
  issueCertificate,
  MtlsCertificateProvider,
  revokeCertificate,
  type IssuedCertificate,
  type PkiError,
} from '../../src/pki/index.js';
import { createBootstrapToken, startEnrollmentServer, type EnrollmentServer } from '../../src/pki/enrollment/index.js';
import { x509, PKI_ALGORITHMS } from '../../src/pki/x509.js';
import { freshCa } from './helpers.js';

async function makeCsr(commonName?: string, algorithm: 'p256' | 'rsa1024' = 'p256'): Promise<string> {
  const keys =
    algorithm === 'p256'
      ? await webcrypto.subtle.generateKey(PKI_ALGORITHMS.keyGen, true, ['sign', 'verify'])
      : await webcrypto.subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    ...(commonName ? { name: [{ CN: [commonName] }] } : {}),
    keys: keys as webcrypto.CryptoKeyPair,
    signingAlgorithm: algorithm === 'p256' ? PKI_ALGORITHMS.signing : { name: 'RSASSA-PKCS1-v1_5' },
  });
  return csr.toString('pem');
}

describe('enrollment endpoint', () => {
  let ca: Awaited<ReturnType<typeof freshCa>>;
  let otherCa: Awaited<ReturnType<typeof freshCa>>;
  let server: EnrollmentServer;
  let bundle: string;
  before(async () => {
    ca = await freshCa();
    otherCa = await freshCa();
    server = await startEnrollmentServer({ dir: ca.dir, host: '127.0.0.1', port: 0 });
    bundle = await readFile(join(ca.dir, 'ca-bundle.pem'), 'utf8');
  });
  after(async () => {
    await server.close();
    ca.remove();
    otherCa.remove();
  });

  /** POSTs a CSR; `client` is the certificate presented over mTLS. */
  async function post(path: string, body: unknown, options: { token?: string; client?: IssuedCertificate } = {}) {
    const agent = new Agent({ connect: { ca: bundle, ...(options.client ? { key: options.client.keyPem!, cert: options.client.chainPem } : {}) } });
    try {
      const res = await request(`${server.url}${path}`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json', ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
        body: JSON.stringify(body),
      });
      return { status: res.statusCode, type: String(res.headers['content-type']), body: (await res.body.json()) as Record<string, unknown> };
    } finally {
      await agent.close();
    }
  }

  const enrollmentProvider = (token: string) =>
    new MtlsCertificateProvider({ source: { kind: 'enrollment', url: server.url, bootstrapToken: token, ca: bundle } });

  it('enrolls with a bootstrap token once, renews over mTLS, and refuses the token a second time', async () => {
    const { token } = await createBootstrapToken({ dir: ca.dir, role: 'scanner', name: 'scanner-07', ttlSeconds: 600 });
    const provider = enrollmentProvider(token);
    try {
      const first = await provider.start();
      assert.deepEqual(first.identity, { commonName: 'scanner-07', spiffeId: 'spiffe://stella.test/scanner/scanner-07' });
      assert.deepEqual(inspectCertificate(first.cert).extendedKeyUsage, ['clientAuth']);
      const renewed = await provider.rotate();
      assert.notEqual(renewed.fingerprint, first.fingerprint);
      assert.deepEqual(renewed.identity, first.identity);
      assert.notEqual(renewed.key, first.key, 'every certificate gets a fresh key');
    } finally {
      provider.stop();
    }
    await assert.rejects(enrollmentProvider(token).start(), (e: PkiError) => e.code === 'PKI_TOKEN_USED');
    const again = await post('/pki/v1/enroll', { csr: await makeCsr() }, { token });
    assert.equal(again.status, 401);
    assert.equal(again.body.code, 'PKI_TOKEN_USED');
    assert.match(again.type, /^application\/problem\+json/);
  });

  it('refuses expired and unknown tokens with 401', async () => {
    const { token } = await createBootstrapToken({ dir: ca.dir, role: 'scanner', name: 'late', ttlSeconds: 60, clock: () => new Date(Date.now() - 3600_000) });
    const expired = await post('/pki/v1/enroll', { csr: await makeCsr() }, { token });
    assert.deepEqual([expired.status, expired.body.code], [401, 'PKI_TOKEN_EXPIRED']);
    const forged = await post('/pki/v1/enroll', { csr: await makeCsr() }, { token: token.replace(/_[^_]+$/, `_${'A'.repeat(43)}`) });
    assert.deepEqual([forged.status, forged.body.code], [401, 'PKI_TOKEN_INVALID']);
    const none = await post('/pki/v1/enroll', { csr: await makeCsr() });
    assert.deepEqual([none.status, none.body.code], [401, 'PKI_TOKEN_INVALID']);
  });

  it('refuses bad CSRs without using up the token', async () => {
    const { token } = await createBootstrapToken({ dir: ca.dir, role: 'gateway', name: 'gw-x', dns: ['gw-x'] });
    const garbage = await post('/pki/v1/enroll', { csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----' }, { token });
    assert.deepEqual([garbage.status, garbage.body.code], [400, 'PKI_CSR_INVALID']);
    const weak = await post('/pki/v1/enroll', { csr: await makeCsr('gw-x', 'rsa1024') }, { token });
    assert.deepEqual([weak.status, weak.body.code], [400, 'PKI_WEAK_KEY']);
    const other = await post('/pki/v1/enroll', { csr: await makeCsr('gw-y') }, { token });
    assert.deepEqual([other.status, other.body.code], [403, 'PKI_IDENTITY_MISMATCH']);
    const ok = await post('/pki/v1/enroll', { csr: await makeCsr('gw-x') }, { token });
    assert.equal(ok.status, 201);
    const leaf = inspectCertificate(String(ok.body.certificate));
    assert.deepEqual([leaf.commonName, leaf.dns, leaf.extendedKeyUsage], ['gw-x', ['gw-x'], ['clientAuth', 'serverAuth']]);
  });

  describe('renewal over mTLS', () => {
    it('refuses a CSR for another identity', async () => {
      const client = await issueCertificate({ dir: ca.dir, role: 'scanner', name: 'renew-a', write: false });
      const res = await post('/pki/v1/reenroll', { csr: await makeCsr('renew-b') }, { client });
      assert.deepEqual([res.status, res.body.code], [403, 'PKI_IDENTITY_MISMATCH']);
    });

    it('refuses a revoked certificate', async () => {
      const client = await issueCertificate({ dir: ca.dir, role: 'scanner', name: 'renew-revoked', write: false });
      await revokeCertificate({ dir: ca.dir, serial: client.serial });
      const res = await post('/pki/v1/reenroll', { csr: await makeCsr('renew-revoked') }, { client });
      assert.deepEqual([res.status, res.body.code], [403, 'PKI_REVOKED']);
    });

    it('refuses an expired certificate', async () => {
      const now = Date.now();
      const client = await issueCertificate({ dir: ca.dir, role: 'scanner', name: 'renew-old', write: false, notBefore: new Date(now - 7200_000), notAfter: new Date(now - 60_000) });
      const res = await post('/pki/v1/reenroll', { csr: await makeCsr('renew-old') }, { client });
      assert.deepEqual([res.status, res.body.code], [401, 'PKI_CERT_EXPIRED']);
    });

    it('refuses a certificate from another CA', async () => {
      const client = await issueCertificate({ dir: otherCa.dir, role: 'scanner', name: 'renew-foreign', write: false });
      const res = await post('/pki/v1/reenroll', { csr: await makeCsr('renew-foreign') }, { client });
      assert.deepEqual([res.status, res.body.code], [401, 'PKI_CHAIN_INVALID']);
    });

    it('refuses a request without a client certificate', async () => {
      const res = await post('/pki/v1/reenroll', { csr: await makeCsr('nobody') });
      assert.deepEqual([res.status, res.body.code], [401, 'PKI_CLIENT_CERT_REQUIRED']);
    });

    it('renews a valid certificate with the same identity, SANs and lifetime', async () => {
      const client = await issueCertificate({ dir: ca.dir, role: 'service', name: 'svc-r', dns: ['svc-r'], ip: ['127.0.0.1'], ttlSeconds: 7200, write: false });
      const res = await post('/pki/v1/reenroll', { csr: await makeCsr() }, { client });
      assert.equal(res.status, 201);
      const leaf = inspectCertificate(String(res.body.certificate));
      assert.deepEqual([leaf.commonName, leaf.uris, leaf.dns, leaf.ip], ['svc-r', ['spiffe://stella.test/service/svc-r'], ['svc-r'], ['127.0.0.1']]);
      assert.equal(leaf.notAfter.getTime() - leaf.notBefore.getTime(), 7200_000);
      assert.notEqual(leaf.fingerprint, client.fingerprint);
    });
  });
  it('reloads the trust bundle from the endpoint after a CA rollover step', async () => {
    const { token } = await createBootstrapToken({ dir: ca.dir, role: 'scanner', name: 'trusting' });
    const provider = enrollmentProvider(token);
    try {
      const first = await provider.start();
      assert.equal(first.ca.match(/BEGIN CERTIFICATE/g)?.length, 2);
      assert.equal(await provider.reloadTrust(), false, 'nothing changed yet');
      await caRolloverStep({ dir: ca.dir, step: 'add' });
      assert.equal(await provider.reloadTrust(), true);
      assert.equal(provider.current().ca.match(/BEGIN CERTIFICATE/g)?.length, 4, 'old and new CA');
      assert.equal(provider.current().fingerprint, first.fingerprint, 'the leaf still chains, so only trust was swapped');
    } finally {
      provider.stop();
    }
  });
});
