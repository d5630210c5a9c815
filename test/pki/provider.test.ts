import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { issueCertificate, MtlsCertificateProvider, type PkiError, type RotationReason, type TlsMaterial } from '../../src/pki/index.js';
import { freshCa } from './helpers.js';

describe('MtlsCertificateProvider', () => {
  let ca: Awaited<ReturnType<typeof freshCa>>;
  let otherCa: Awaited<ReturnType<typeof freshCa>>;
  before(async () => {
    ca = await freshCa();
    otherCa = await freshCa();
  });
  after(() => {
    ca.remove();
    otherCa.remove();
  });

  it('schedules renewal at 2/3 of the lifetime, moved by at most ±10 % with the injected random source', async () => {
    for (const [random, fraction] of [[() => 0, (2 / 3) * 0.9], [() => 0.5, 2 / 3], [() => 0.999999, (2 / 3) * 1.1]] as const) {
      const provider = new MtlsCertificateProvider({ source: { kind: 'local-ca', dir: ca.dir, role: 'scanner', name: 'sched', ttlSeconds: 3600 }, random });
      const m = await provider.start();
      provider.stop();
      const at = provider.nextRenewalAt()!.getTime();
      const expected = m.notBefore.getTime() + 3600_000 * fraction;
      assert.ok(Math.abs(at - expected) < 2000, `renewal at ${new Date(at).toISOString()}, expected about ${new Date(expected).toISOString()}`);
    }
  });

  it('renews by itself when the time comes, keeping the identity', async () => {
    const provider = new MtlsCertificateProvider({ source: { kind: 'local-ca', dir: ca.dir, role: 'scanner', name: 'auto', ttlSeconds: 4 }, renewAtFraction: 0.1, jitterFraction: 0 });
    const first = await provider.start();
    try {
      const [next, info] = (await once(provider, 'rotated')) as [TlsMaterial, { reason: RotationReason }];
      assert.equal(info.reason, 'schedule');
      assert.notEqual(next.fingerprint, first.fingerprint);
      assert.deepEqual(next.identity, { commonName: 'auto', spiffeId: 'spiffe://stella.test/scanner/auto' });
      assert.equal(provider.current().fingerprint, next.fingerprint);
    } finally {
      provider.stop();
    }
  });

  it('retries failed renewals with doubling backoff and turns unready once expiry nears', async () => {
    let now = new Date();
    const provider = new MtlsCertificateProvider({ source: { kind: 'local-ca', dir: ca.dir, role: 'service', name: 'degrade', ttlSeconds: 600 }, clock: () => now });
    const m = await provider.start();
    const failures: { code: string; attempt: number; retryInMs: number }[] = [];
    provider.on('renewal-failed', (error, info) => failures.push({ code: (error as PkiError).code, ...info }));
    const state = join(ca.dir, 'ca-state.json');
    await rename(state, `${state}.away`);
    try {
      await assert.rejects(provider.rotate(), (e: PkiError) => e.code === 'PKI_NOT_INITIALIZED');
      assert.deepEqual(provider.ready(), { ready: true }, 'one failure early in the lifetime is not yet a readiness problem');
      now = new Date(m.notBefore.getTime() + 0.9 * 600_000);
      await assert.rejects(provider.rotate());
      const ready = provider.ready();
      assert.equal(ready.ready, false);
      assert.match(ready.reason ?? '', /renewal failing \(2 attempts/);
      assert.deepEqual(failures, [
        { code: 'PKI_NOT_INITIALIZED', attempt: 1, retryInMs: 1000 },
        { code: 'PKI_NOT_INITIALIZED', attempt: 2, retryInMs: 2000 },
      ]);
      assert.equal(provider.current().fingerprint, m.fingerprint, 'the old certificate stays in use');
      now = new Date(m.notAfter.getTime() + 1000);
      assert.match(provider.ready().reason ?? '', /expired/);
    } finally {
      provider.stop();
      await rename(`${state}.away`, state);
    }
    now = new Date();
    const renewed = await provider.rotate();
    assert.notEqual(renewed.fingerprint, m.fingerprint);
    assert.deepEqual(provider.ready(), { ready: true }, 'a successful renewal clears the failure');
  });

  describe('with watched files (cert-manager, step, Vault agent)', () => {
    async function filesProvider(name: string) {
      const out = join(ca.dir, 'external', name);
      await issueCertificate({ dir: ca.dir, role: 'service', name, out });
      const provider = new MtlsCertificateProvider({
        source: { kind: 'files', cert: join(out, 'cert.pem'), chain: join(out, 'chain.pem'), key: join(out, 'key.pem'), ca: join(ca.dir, 'ca-bundle.pem'), crl: join(ca.dir, 'crl.pem'), watch: true, pollIntervalMs: 50 },
        retryInitialDelayMs: 50,
      });
      return { out, provider, first: await provider.start() };
    }

    it('swaps in a certificate the external issuer renewed', async () => {
      const { out, provider, first } = await filesProvider('ext-renew');
      try {
        const rotated = once(provider, 'rotated');
        const renewed = await issueCertificate({ dir: ca.dir, role: 'service', name: 'ext-renew', out });
        const [next, info] = (await rotated) as [TlsMaterial, { reason: RotationReason }];
        assert.equal(info.reason, 'watch');
        assert.equal(next.fingerprint, renewed.fingerprint);
        assert.notEqual(next.fingerprint, first.fingerprint);
        assert.ok(next.crl?.includes('BEGIN X509 CRL'));
        assert.equal(next.chain.match(/BEGIN CERTIFICATE/g)?.length, 2, 'leaf + intermediate, the leaf of cert.pem and chain.pem only once');
      } finally {
        provider.stop();
      }
    });

    it('refuses a renewed certificate whose key does not match, and keeps the old one', async () => {
      const { out, provider, first } = await filesProvider('ext-key');
      try {
        const failed = once(provider, 'renewal-failed');
        const other = await issueCertificate({ dir: ca.dir, role: 'service', name: 'ext-key', out: join(out, 'next') });
        await copyFile(other.paths!.chain, join(out, 'chain.pem'));
        await copyFile(other.paths!.cert, join(out, 'cert.pem'));
        const [error] = (await failed) as [PkiError];
        assert.equal(error.code, 'PKI_KEY_MISMATCH');
        assert.equal(provider.current().fingerprint, first.fingerprint);
        const rotated = once(provider, 'rotated');
        await copyFile(other.paths!.key!, join(out, 'key.pem'));
        const [next] = (await rotated) as [TlsMaterial];
        assert.equal(next.fingerprint, other.fingerprint, 'once the key arrives, the pair is swapped in');
      } finally {
        provider.stop();
      }
    });

    it('refuses a renewed certificate that names another identity', async () => {
      const { out, provider, first } = await filesProvider('ext-id');
      try {
        // Three files change one after another; a poll in between may first see a key mismatch.
        const failed = new Promise<PkiError>((resolve) =>
          provider.on('renewal-failed', (error) => {
            if ((error as PkiError).code !== 'PKI_KEY_MISMATCH') resolve(error as PkiError);
          }),
        );
        const other = await issueCertificate({ dir: ca.dir, role: 'service', name: 'intruder', out: join(out, 'other') });
        await copyFile(other.paths!.key!, join(out, 'key.pem'));
        await copyFile(other.paths!.chain, join(out, 'chain.pem'));
        await copyFile(other.paths!.cert, join(out, 'cert.pem'));
        const error = await failed;
        assert.equal(error.code, 'PKI_IDENTITY_MISMATCH');
        assert.match(error.message, /intruder/);
        assert.equal(provider.current().fingerprint, first.fingerprint);
      } finally {
        provider.stop();
      }
    });

    it('refuses to start on an expired certificate or one from another CA', async () => {
      const out = join(ca.dir, 'external', 'bad');
      const now = Date.now();
      await issueCertificate({ dir: ca.dir, role: 'scanner', name: 'old', out: join(out, 'old'), notBefore: new Date(now - 7200_000), notAfter: new Date(now - 3600_000) });
      await issueCertificate({ dir: otherCa.dir, role: 'scanner', name: 'foreign', out: join(out, 'foreign') });
      const start = (dir: string) =>
        new MtlsCertificateProvider({ source: { kind: 'files', cert: join(dir, 'chain.pem'), key: join(dir, 'key.pem'), ca: join(ca.dir, 'ca-bundle.pem'), watch: true } }).start();
      await assert.rejects(start(join(out, 'old')), (e: PkiError) => e.code === 'PKI_CERT_EXPIRED');
      await assert.rejects(start(join(out, 'foreign')), (e: PkiError) => e.code === 'PKI_CHAIN_INVALID');
    });
  });
});
