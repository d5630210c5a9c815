import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { initPki, issueCertificate, revokeCertificate, type PkiError } from '../../src/pki/index.js';
import { freshCa, openssl } from './helpers.js';

describe('initPki', () => {
  let ca: Awaited<ReturnType<typeof freshCa>>;
  before(async () => {
    ca = await freshCa();
  });
  after(() => ca.remove());

  it('writes the CA private keys with mode 0600 and the public files of docs/CONVENTIONS.md', async () => {
    for (const key of ['ca/g1/root-key.pem', 'ca/g1/intermediate-key.pem', 'ca-state.json']) {
      assert.equal((await stat(join(ca.dir, key))).mode & 0o777, 0o600, key);
    }
    const bundle = await readFile(join(ca.dir, 'ca-bundle.pem'), 'utf8');
    assert.equal(bundle.match(/BEGIN CERTIFICATE/g)?.length, 2, 'root + intermediate');
    const crl = await readFile(join(ca.dir, 'crl.pem'), 'utf8');
    assert.equal(crl.match(/BEGIN X509 CRL/g)?.length, 2, 'a CRL of the root and of the intermediate');
  });

  it('creates an ECDSA P-256 root and an intermediate limited to issuing leaves', async () => {
    const root = await openssl(['x509', '-in', join(ca.dir, 'root.pem'), '-noout', '-text']);
    assert.match(root.stdout, /ASN1 OID: prime256v1/);
    assert.match(root.stdout, /CA:TRUE/);
    const inter = await openssl(['x509', '-in', join(ca.dir, 'intermediate.pem'), '-noout', '-text']);
    assert.match(inter.stdout, /CA:TRUE, pathlen:0/);
    assert.match(inter.stdout, /Certificate Sign, CRL Sign/);
  });

  it('refuses a directory that already holds a CA', async () => {
    await assert.rejects(initPki({ dir: ca.dir }), (e: PkiError) => e.code === 'PKI_ALREADY_INITIALIZED');
  });

  it('refuses a trust domain that is not a lower-case DNS name', async () => {
    await assert.rejects(initPki({ dir: join(ca.dir, 'other'), trustDomain: 'Bad Domain' }), (e: PkiError) => e.code === 'PKI_INVALID_NAME');
  });
});

describe('issueCertificate', () => {
  let ca: Awaited<ReturnType<typeof freshCa>>;
  before(async () => {
    ca = await freshCa();
  });
  after(() => ca.remove());

  const verify = (leaf: string) => openssl(['verify', '-CAfile', join(ca.dir, 'root.pem'), '-untrusted', join(ca.dir, 'intermediate.pem'), leaf]);

  it('issues a scanner certificate that openssl verifies, with exactly the SAN, EKU and key usage of docs/operations/certificates.md', async () => {
    const leaf = await issueCertificate({ dir: ca.dir, role: 'scanner', name: 'scanner-01' });
    assert.equal(leaf.paths?.cert, join(ca.dir, 'issued/scanner/scanner-01/cert.pem'));
    assert.equal((await verify(leaf.paths!.cert)).code, 0);
    const text = (await openssl(['x509', '-in', leaf.paths!.cert, '-noout', '-text'])).stdout;
    // docs/operations/certificates.md#roles: the role as the one OU, mirroring the SPIFFE path.
    assert.match(text, /Subject: OU ?= ?scanner, CN ?= ?scanner-01\n/);
    assert.match(text, /X509v3 Subject Alternative Name: ?\n\s+URI:spiffe:\/\/stella\.test\/scanner\/scanner-01\n/);
    assert.match(text, /X509v3 Key Usage: critical\n\s+Digital Signature\n/);
    assert.match(text, /X509v3 Extended Key Usage: ?\n\s+TLS Web Client Authentication\n/);
    assert.match(text, /CA:FALSE/);
    const lifetimeMs = leaf.notAfter.getTime() - leaf.notBefore.getTime();
    assert.equal(lifetimeMs, 24 * 3600 * 1000, 'default lifetime is 24 h');
  });

  it('issues gateway and service certificates with serverAuth and the DNS and IP SANs asked for', async () => {
    for (const role of ['gateway', 'service'] as const) {
      const leaf = await issueCertificate({ dir: ca.dir, role, name: `${role}-a`, dns: [`${role}-a`, 'localhost'], ip: ['127.0.0.1'], ttlSeconds: 3600 });
      assert.equal((await verify(leaf.paths!.cert)).code, 0);
      const text = (await openssl(['x509', '-in', leaf.paths!.cert, '-noout', '-text'])).stdout;
      assert.match(text, new RegExp(`URI:spiffe://stella\\.test/${role}/${role}-a, DNS:${role}-a, DNS:localhost, IP Address:127\\.0\\.0\\.1\\n`));
      assert.match(text, /TLS Web Client Authentication, TLS Web Server Authentication\n/);
      assert.equal(text.match(/URI:/g)?.length, 1, 'exactly one URI SAN');
    }
  });

  it('writes key.pem (0600, PKCS#8), cert.pem and chain.pem = leaf + intermediate', async () => {
    const leaf = await issueCertificate({ dir: ca.dir, role: 'service', name: 'svc-files' });
    const key = await readFile(leaf.paths!.key!, 'utf8');
    assert.match(key, /^-----BEGIN PRIVATE KEY-----/);
    assert.equal((await stat(leaf.paths!.key!)).mode & 0o777, 0o600);
    const chain = await readFile(leaf.paths!.chain, 'utf8');
    const intermediate = await readFile(join(ca.dir, 'intermediate.pem'), 'utf8');
    assert.equal(chain, `${leaf.certPem}${intermediate.trim()}\n`);
  });

  it('writes into --out when given', async () => {
    const leaf = await issueCertificate({ dir: ca.dir, role: 'gateway', name: 'gw-out', out: join(ca.dir, 'elsewhere') });
    assert.equal(leaf.paths?.cert, join(ca.dir, 'elsewhere/cert.pem'));
    assert.equal(await readFile(join(ca.dir, 'elsewhere/cert.pem'), 'utf8'), leaf.certPem);
  });

  it('reports the fingerprint openssl computes, in the provenance peer format', async () => {
    const leaf = await issueCertificate({ dir: ca.dir, role: 'scanner', name: 'scanner-fp' });
    const out = (await openssl(['x509', '-in', leaf.paths!.cert, '-noout', '-fingerprint', '-sha256'])).stdout;
    const hex = out.split('=')[1]!.trim().replace(/:/g, '').toLowerCase();
    assert.equal(leaf.fingerprint, `sha256:${hex}`);
    assert.match(leaf.fingerprint, /^sha256:[0-9a-f]{64}$/);
  });

  it('refuses DNS or IP SANs on a scanner certificate, and names that are not peer-ids', async () => {
    await assert.rejects(issueCertificate({ dir: ca.dir, role: 'scanner', name: 's', dns: ['x'] }), (e: PkiError) => e.code === 'PKI_INVALID_NAME');
    await assert.rejects(issueCertificate({ dir: ca.dir, role: 'gateway', name: 'a/b' }), (e: PkiError) => e.code === 'PKI_INVALID_NAME');
    await assert.rejects(issueCertificate({ dir: ca.dir, role: 'gateway', name: '..' }), (e: PkiError) => e.code === 'PKI_INVALID_NAME');
    await assert.rejects(issueCertificate({ dir: ca.dir, role: 'gateway', name: 'g', ip: ['300.1.1.1'] }), (e: PkiError) => e.code === 'PKI_INVALID_NAME');
  });

  it('refuses to issue from a directory without a CA', async () => {
    await assert.rejects(issueCertificate({ dir: join(ca.dir, 'nothing'), role: 'scanner', name: 's' }), (e: PkiError) => e.code === 'PKI_NOT_INITIALIZED');
  });
});

describe('revokeCertificate', () => {
  let ca: Awaited<ReturnType<typeof freshCa>>;
  before(async () => {
    ca = await freshCa();
  });
  after(() => ca.remove());

  it('publishes the serial in crl.pem so that openssl -crl_check_all refuses the certificate', async () => {
    const leaf = await issueCertificate({ dir: ca.dir, role: 'scanner', name: 'scanner-bad' });
    const good = await issueCertificate({ dir: ca.dir, role: 'scanner', name: 'scanner-good' });
    const args = (cert: string) => ['verify', '-crl_check_all', '-CRLfile', join(ca.dir, 'crl.pem'), '-CAfile', join(ca.dir, 'root.pem'), '-untrusted', join(ca.dir, 'intermediate.pem'), cert];
    assert.equal((await openssl(args(leaf.paths!.cert))).code, 0, 'valid before revocation, with every CRL of the chain present');
    await revokeCertificate({ dir: ca.dir, serial: leaf.serial.toUpperCase() });
    const refused = await openssl(args(leaf.paths!.cert));
    assert.notEqual(refused.code, 0);
    assert.match(refused.stdout + refused.stderr, /certificate revoked/);
    assert.equal((await openssl(args(good.paths!.cert))).code, 0, 'other certificates stay valid');
  });

  it('is idempotent and refuses serials this CA never issued', async () => {
    const leaf = await issueCertificate({ dir: ca.dir, role: 'scanner', name: 'scanner-twice' });
    await revokeCertificate({ dir: ca.dir, serial: leaf.serial });
    await revokeCertificate({ dir: ca.dir, serial: leaf.serial });
    // storeutl prints every CRL of the file (`openssl crl` only the first).
    const crl = (await openssl(['storeutl', '-noout', '-text', '-crls', join(ca.dir, 'crl.pem')])).stdout;
    assert.equal(crl.split(leaf.serial.toUpperCase()).length - 1, 1);
    await assert.rejects(revokeCertificate({ dir: ca.dir, serial: 'abcdef' }), (e: PkiError) => e.code === 'PKI_UNKNOWN_SERIAL');
    for (const bad of ['zz', '', 'ab cd', '12-34', 'serial']) {
      await assert.rejects(revokeCertificate({ dir: ca.dir, serial: bad }), (e: PkiError) => e.code === 'PKI_INVALID_SERIAL', bad);
    }
    // The colon-separated form openssl prints names the same certificate.
    const other = await issueCertificate({ dir: ca.dir, role: 'scanner', name: 'scanner-colons' });
    const colons = other.serial.padStart(other.serial.length + (other.serial.length % 2), '0').match(/../g)!.join(':').toUpperCase();
    await revokeCertificate({ dir: ca.dir, serial: colons });
    const listed = (await openssl(['storeutl', '-noout', '-text', '-crls', join(ca.dir, 'crl.pem')])).stdout;
    assert.ok(listed.includes(other.serial.toUpperCase().replace(/^0+/, '')), 'revoked through its colon form');
  });

  it("numbers every publication (RFC 5280 CRL Number), the same number on each CA's CRL, increasing", async () => {
    const numbers = async (): Promise<number[]> => {
      const text = (await openssl(['storeutl', '-noout', '-text', '-crls', join(ca.dir, 'crl.pem')])).stdout;
      return [...text.matchAll(/X509v3 CRL Number:\s*\n\s*(\d+)/g)].map((m) => Number(m[1]));
    };
    const before = await numbers();
    assert.equal(before.length, 2, 'one CRL for the root and one for the intermediate');
    assert.equal(new Set(before).size, 1);
    const leaf = await issueCertificate({ dir: ca.dir, role: 'scanner', name: 'scanner-numbered' });
    await revokeCertificate({ dir: ca.dir, serial: leaf.serial });
    const after = await numbers();
    assert.deepEqual(after, [before[0]! + 1, before[0]! + 1]);
  });
});

describe('writers of one directory', () => {
  it('never lose an issued serial when several processes issue at once', async () => {
    const ca = await freshCa();
    try {
      const { execFile } = await import('node:child_process');
      const { fileURLToPath } = await import('node:url');
      const index = fileURLToPath(new URL('../../src/pki/index.ts', import.meta.url));
      const script = `const { issueCertificate } = await import(${JSON.stringify(index)});
        const out = [];
        for (let i = 0; i < 4; i++) out.push((await issueCertificate({ dir: process.argv[1], role: 'scanner', name: 'p' + process.pid + '-' + i, write: false })).serial);
        process.stdout.write(JSON.stringify(out));`;
      const run = () =>
        new Promise<string[]>((resolve, reject) =>
          execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, ca.dir], (error, stdout) => (error ? reject(error) : resolve(JSON.parse(stdout) as string[]))),
        );
      const serials = (await Promise.all([run(), run(), run()])).flat();
      const state = JSON.parse(await readFile(join(ca.dir, 'ca-state.json'), 'utf8')) as { issued: { serial: string }[] };
      assert.equal(serials.length, 12);
      for (const serial of serials) assert.ok(state.issued.some((r) => r.serial === serial), `serial ${serial} missing from the CA state`);
      await assert.rejects(stat(join(ca.dir, '.lock')), 'the lock is released');
    } finally {
      ca.remove();
    }
  });
});
