/**
 * The PKI's outputs read by implementations that share no code with it (docs/operations/certificates.md):
 * PKI.js parses and validates the certificates and the CRL (path validation with revocation),
 * `openssl verify -x509_strict` checks the leaves, and a real `openssl s_server` refuses a revoked
 * client certificate in a handshake with `openssl s_client`.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as pkijs from 'pkijs';
import { issueCertificate, revokeCertificate, type IssuedCertificate } from '../../src/pki/index.js';
import { pemBlocks } from '../../src/pki/x509.js';
import { freshCa, openssl } from '../pki/helpers.js';
import { freePort, requireProgram } from '../support/programs.js';
import { waitFor } from '../support/wait.js';

pkijs.setEngine('node-webcrypto', new pkijs.CryptoEngine({ name: 'node-webcrypto', crypto: webcrypto as unknown as ConstructorParameters<typeof pkijs.CryptoEngine>[0]['crypto'] }));

const der = (pem: string): ArrayBuffer => {
  const bytes = Buffer.from(pem.replace(/-----(BEGIN|END) [A-Z0-9 ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
};
const certificates = (pem: string): pkijs.Certificate[] => pemBlocks(pem).map((block) => pkijs.Certificate.fromBER(der(block)));
const revocationLists = (pem: string): pkijs.CertificateRevocationList[] =>
  (pem.match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g) ?? []).map((block) => pkijs.CertificateRevocationList.fromBER(der(block)));
const serialHex = (c: pkijs.Certificate | pkijs.RevokedCertificate): string =>
  Buffer.from(('serialNumber' in c ? c.serialNumber : c.userCertificate).valueBlock.valueHexView).toString('hex').replace(/^(00)+/, '');

describe('the PKI read by independent implementations', () => {
  let ca: Awaited<ReturnType<typeof freshCa>>;
  let good: IssuedCertificate;
  let revoked: IssuedCertificate;
  let server: IssuedCertificate;
  let bundlePem: string;
  let crlPem: string;

  before(async () => {
    ca = await freshCa();
    good = await issueCertificate({ dir: ca.dir, role: 'scanner', name: 'scanner-good' });
    revoked = await issueCertificate({ dir: ca.dir, role: 'scanner', name: 'scanner-revoked' });
    server = await issueCertificate({ dir: ca.dir, role: 'service', name: 'svc', ip: ['127.0.0.1'] });
    await revokeCertificate({ dir: ca.dir, serial: revoked.serial });
    bundlePem = readFileSync(join(ca.dir, 'ca-bundle.pem'), 'utf8');
    crlPem = readFileSync(join(ca.dir, 'crl.pem'), 'utf8');
  });
  after(() => ca?.remove());

  describe('PKI.js', () => {
    it('parses the CRL: entries carry no empty extension list, the revoked serial is listed, the signature verifies', async () => {
      const trust = certificates(bundlePem);
      const crls = revocationLists(crlPem);
      assert.ok(crls.length >= 1);
      const listed = crls.flatMap((crl) => crl.revokedCertificates ?? []);
      assert.deepEqual(listed.map(serialHex), [revoked.serial.replace(/^(00)+/, '')]);
      for (const entry of listed) assert.ok(entry.crlEntryExtensions === undefined || entry.crlEntryExtensions.extensions.length > 0, 'RFC 5280 §5.3: no empty crlEntryExtensions');
      for (const crl of crls) {
        const issuer = trust.find((c) => c.subject.isEqual(crl.issuer));
        assert.ok(issuer, 'the CRL issuer is in the bundle');
        assert.equal(await crl.verify({ issuerCertificate: issuer }), true);
      }
    });

    it('validates a leaf up to the root with the CRL, and refuses the revoked one', async () => {
      const trust = certificates(bundlePem);
      const crls = revocationLists(crlPem);
      const isRoot = (c: pkijs.Certificate): boolean => c.subject.isEqual(c.issuer);
      const validate = async (leaf: IssuedCertificate): Promise<pkijs.CertificateChainValidationEngineVerifyResult> => {
        // PKI.js takes the last of `certs` as the end entity.
        const [leafCert] = certificates(leaf.certPem);
        const engine = new pkijs.CertificateChainValidationEngine({ trustedCerts: trust.filter(isRoot), certs: [...trust.filter((c) => !isRoot(c)), leafCert!], crls });
        return engine.verify();
      };
      const ok = await validate(good);
      assert.equal(ok.result, true, ok.resultMessage);
      const refused = await validate(revoked);
      assert.equal(refused.result, false);
      assert.match(refused.resultMessage, /revoked/i);
    });
  });

  describe('openssl verify -x509_strict', () => {
    const verify = async (leaf: IssuedCertificate, purpose: string) => {
      const file = join(ca.dir, `${leaf.name}-chain.pem`);
      writeFileSync(file, leaf.chainPem);
      return openssl(['verify', '-x509_strict', '-purpose', purpose, '-CAfile', join(ca.dir, 'ca-bundle.pem'), '-CRLfile', join(ca.dir, 'crl.pem'), '-crl_check_all', '-untrusted', file, file]);
    };

    it('accepts a scanner leaf as a TLS client and a service leaf as a TLS server, with the CRLs of the whole chain', async () => {
      for (const [leaf, purpose] of [[good, 'sslclient'], [server, 'sslserver']] as const) {
        const result = await verify(leaf, purpose);
        assert.equal(result.code, 0, result.stderr + result.stdout);
        assert.match(result.stdout, /: OK$/m);
      }
    });

    it('refuses the revoked leaf: certificate revoked', async () => {
      const result = await verify(revoked, 'sslclient');
      assert.notEqual(result.code, 0);
      assert.match(result.stderr + result.stdout, /certificate revoked/);
    });
  });

  describe('openssl s_server and s_client', () => {
    let child: ChildProcess | undefined;
    let port = 0;
    let serverLog = '';

    before(async () => {
      const bin = requireProgram('openssl');
      port = await freePort();
      writeFileSync(join(ca.dir, 'svc-key.pem'), server.keyPem!);
      writeFileSync(join(ca.dir, 'svc-chain.pem'), server.chainPem);
      // s_server's -CRL reads one CRL; from the CA file it takes every certificate and every CRL.
      writeFileSync(join(ca.dir, 'trust-and-crls.pem'), bundlePem + crlPem);
      child = spawn(bin, [
        's_server', '-accept', `127.0.0.1:${port}`, '-www', '-naccept', '8',
        '-cert', join(ca.dir, 'svc-chain.pem'), '-key', join(ca.dir, 'svc-key.pem'),
        '-CAfile', join(ca.dir, 'trust-and-crls.pem'), '-Verify', '3', '-verify_return_error', '-crl_check_all',
      ], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout?.on('data', (d: Buffer) => (serverLog += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (serverLog += d.toString()));
      await waitFor(() => serverLog.includes('ACCEPT'), { what: 's_server to accept connections', timeout: 5_000, detail: () => serverLog });
    });
    after(() => {
      if (child?.pid) process.kill(child.pid, 'SIGTERM');
    });

    const handshake = async (leaf: IssuedCertificate) => {
      writeFileSync(join(ca.dir, `${leaf.name}-key.pem`), leaf.keyPem!);
      writeFileSync(join(ca.dir, `${leaf.name}-chain.pem`), leaf.chainPem);
      return openssl(
        ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'svc', '-verify_return_error', '-CAfile', join(ca.dir, 'ca-bundle.pem'),
          '-cert', join(ca.dir, `${leaf.name}-chain.pem`), '-key', join(ca.dir, `${leaf.name}-key.pem`), '-ign_eof'],
        'GET / HTTP/1.0\r\n\r\n',
      );
    };

    it('completes the handshake with a valid scanner leaf (the control)', async () => {
      const result = await handshake(good);
      assert.match(result.stdout, /HTTP\/1\.0 200 ok/, result.stderr);
    });

    it('refuses the revoked leaf with a certificate_revoked alert, and serves nothing', async () => {
      const result = await handshake(revoked);
      assert.doesNotMatch(result.stdout, /HTTP\/1\.0 200 ok/);
      assert.match(result.stderr + result.stdout, /certificate revoked|alert number 44/);
      assert.match(serverLog, /certificate revoked/);
    });
  });
});
