import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { initPki, issueCertificate, revokeCertificate } from '../../src/pki/index.js';
import { revokedSerials, watchRevocationList } from '../../src/pki/crl.js';
import { tempDir } from '../support/tmp.js';
import { waitFor } from '../support/wait.js';
import { openssl } from './helpers.js';
import { pemBlocks } from '../../src/pki/x509.js';

describe('revocation lists read outside a TLS stack', () => {
  const dir = tempDir('stella-crl-');
  after(dir.remove);

  it('lists the serial of a revoked leaf and none of a valid one, and follows a later revocation', async () => {
    await initPki({ dir: dir.path });
    const revoked = await issueCertificate({ dir: dir.path, role: 'scanner', name: 'scanner-01' });
    const valid = await issueCertificate({ dir: dir.path, role: 'scanner', name: 'scanner-02' });
    await revokeCertificate({ dir: dir.path, serial: revoked.serial });
    const crlFile = join(dir.path, 'crl.pem');

    const serials = revokedSerials(readFileSync(crlFile, 'utf8'));
    assert.equal(serials.size, 1);
    const list = await watchRevocationList(crlFile, 60_000);
    try {
      // Node prints serials in upper case; the CA in lower case: both must match.
      assert.equal(list.isRevoked(new X509Certificate(revoked.certPem).serialNumber), true);
      assert.equal(list.isRevoked(new X509Certificate(valid.certPem).serialNumber), false);

      // The file is republished atomically; the list re-reads it once its mtime changes, so the
      // clock must have moved past the first file's mtime before the second is written.
      const firstMtimeMs = statSync(crlFile).mtimeMs;
      await waitFor(() => Date.now() > firstMtimeMs + 1, { what: "the clock to pass the first CRL file's mtime", interval: 2 });
      await revokeCertificate({ dir: dir.path, serial: valid.serial });
      await list.refresh();
      assert.equal(list.isRevoked(valid.serial), true);
    } finally {
      list.stop();
    }
  });

  it('publishes revoked entries without an empty extensions list (RFC 5280 §5.1), signed so openssl verifies every CRL', async () => {
    const own = tempDir('stella-crl-rfc-');
    try {
      await initPki({ dir: own.path });
      for (const name of ['scanner-01', 'scanner-02']) {
        await revokeCertificate({ dir: own.path, serial: (await issueCertificate({ dir: own.path, role: 'scanner', name })).serial });
      }
      const blocks = pemBlocks(readFileSync(join(own.path, 'crl.pem'), 'utf8'), 'X509 CRL');
      for (const block of blocks) {
        // openssl's own DER walk, not the library that wrote it (@peculiar/asn1-schema reads an
        // empty SEQUENCE back as an absent field, so it cannot see the fault). No element of a CRL
        // of ours is an empty SEQUENCE; before the fix each revoked entry ended with one.
        const der = await openssl(['asn1parse', '-i'], block);
        assert.equal(der.code, 0, der.stderr);
        assert.doesNotMatch(der.stdout, /l= *0 cons: +SEQUENCE/);
        assert.match(der.stdout, /X509v3 CRL Number/);
        const checked = await openssl(['crl', '-noout', '-text', '-CAfile', join(own.path, 'ca-bundle.pem')], block);
        assert.equal(checked.code, 0, checked.stderr);
        assert.match(checked.stderr, /verify OK/);
      }
      assert.equal(revokedSerials(readFileSync(join(own.path, 'crl.pem'), 'utf8')).size, 2);
    } finally {
      own.remove();
    }
  });

  it('refuses to start on a file that is not a CRL', async () => {
    await assert.rejects(watchRevocationList(join(dir.path, 'missing.pem')), /ENOENT/);
  });
});
