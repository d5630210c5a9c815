import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initPki, issueCertificate, revokeCertificate } from '../../src/pki/index.js';
import { revokedSerials, watchRevocationList } from '../../src/pki/crl.js';
import { tempDir } from '../support/tmp.js';

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

      // The file is republished atomically; the list re-reads it once its mtime changes.
      await new Promise((resolve) => setTimeout(resolve, 20));
      await revokeCertificate({ dir: dir.path, serial: valid.serial });
      await list.refresh();
      assert.equal(list.isRevoked(valid.serial), true);
    } finally {
      list.stop();
    }
  });

  it('refuses to start on a file that is not a CRL', async () => {
    await assert.rejects(watchRevocationList(join(dir.path, 'missing.pem')), /ENOENT/);
  });
});
