/**
 * docs/operations/certificates.md#roles: a leaf's role is the role segment of its SPIFFE ID, and
 * the subject's one OU mirrors it for the gateways that cannot read URI SANs. Parsing is exact,
 * and validation refuses every leaf where the views disagree.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { X509Certificate as NodeX509 } from 'node:crypto';
import fc from 'fast-check';
import { issueCertificate, inspectCertificate, parseSpiffeId, pkiPaths, roleOf, verifyCertificate, type PkiError } from '../../src/pki/index.js';
import { loadCa } from '../../src/pki/ca.js';
import { readState } from '../../src/pki/store.js';
import { generateKeyPair, PKI_ALGORITHMS, x509 } from '../../src/pki/x509.js';
import { freshCa } from './helpers.js';

describe('parseSpiffeId and roleOf', () => {
  it('takes apart exactly spiffe://<trust domain>/<role>/<name>', () => {
    assert.deepEqual(parseSpiffeId('spiffe://stella.local/scanner/scanner-01'), { trustDomain: 'stella.local', role: 'scanner', name: 'scanner-01' });
    assert.deepEqual(parseSpiffeId('spiffe://d.test/gateway/gw.edge_1'), { trustDomain: 'd.test', role: 'gateway', name: 'gw.edge_1' });
    assert.equal(roleOf('spiffe://d.test/service/evidence-locker'), 'service');
  });

  const refused = [
    'https://d.test/scanner/s',
    'spiffe://d.test/admin/s',
    'spiffe://d.test/scanner/a/b',
    'spiffe://d.test/scanner/',
    'spiffe://d.test/scanner/..',
    'spiffe://d.test/scanner/.',
    'spiffe://D.test/scanner/s',
    'spiffe://d.test/Scanner/s',
    'spiffe://d.test/scanner/s?x=1',
    'spiffe://d.test/scanner/s#f',
    'spiffe://d.test//scanner/s',
    ' spiffe://d.test/scanner/s',
    'spiffe://d.test/scanner/s\n',
    `spiffe://d.test/scanner/${'a'.repeat(65)}`,
  ];
  for (const uri of refused) {
    it(`refuses ${JSON.stringify(uri)}`, () => {
      assert.equal(parseSpiffeId(uri), null);
      assert.equal(roleOf(uri), null);
    });
  }

  it('answers null for an ID of another trust domain when the trust domain is given', () => {
    assert.equal(roleOf('spiffe://other.test/gateway/gw', 'd.test'), null);
    assert.equal(roleOf('spiffe://d.test/gateway/gw', 'd.test'), 'gateway');
  });

  it('round-trips every ID the profile can build, and nothing with a path of another shape', () => {
    fc.assert(
      fc.property(fc.constantFrom('scanner', 'gateway', 'service'), fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/), (role, name) => {
        const parts = parseSpiffeId(`spiffe://d.test/${role}/${name}`);
        if (name === '.' || name === '..') return parts === null;
        return parts?.role === role && parts.name === name && parseSpiffeId(`spiffe://d.test/${role}/${name}/x`) === null;
      }),
    );
  });
});

describe('verifyCertificate and the role of a leaf', () => {
  let ca: Awaited<ReturnType<typeof freshCa>>;
  let bundle: string;
  before(async () => {
    ca = await freshCa('d.test');
    bundle = await readFile(pkiPaths(ca.dir).caBundle, 'utf8');
  });
  after(() => ca.remove());

  /** A leaf of the CA with any subject and URI SAN: what an older or a foreign issuer could produce. */
  async function leafWith(subject: x509.JsonName, uri: string): Promise<NodeX509> {
    const state = await readState(ca.dir);
    const issuer = await loadCa(ca.dir, state.activeGeneration, 'intermediate');
    const keys = await generateKeyPair();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: '0badc0de',
      subject: subject,
      issuer: issuer.cert.subject,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
      publicKey: keys.publicKey,
      signingKey: issuer.key,
      signingAlgorithm: PKI_ALGORITHMS.signing,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: uri }])],
    });
    return new NodeX509(cert.toString('pem'));
  }

  const mismatch = (error: unknown): boolean => {
    assert.equal((error as PkiError).code, 'PKI_IDENTITY_MISMATCH');
    assert.equal((error as PkiError).status, 403);
    return true;
  };

  it('accepts every leaf the CA issues: OU = role, CN = name', async () => {
    for (const role of ['scanner', 'gateway', 'service'] as const) {
      const leaf = await issueCertificate({ dir: ca.dir, role, name: `${role}-1`, write: false });
      assert.deepEqual(inspectCertificate(leaf.certPem).organizationalUnits, [role]);
      assert.deepEqual(verifyCertificate(new NodeX509(leaf.certPem), [], bundle, new Date()), { commonName: `${role}-1`, spiffeId: `spiffe://d.test/${role}/${role}-1` });
    }
  });

  const cases: Array<{ name: string; subject: x509.JsonName; uri: string; says: RegExp }> = [
    { name: 'an older leaf without OU', subject: [{ CN: ['scanner-01'] }], uri: 'spiffe://d.test/scanner/scanner-01', says: /no OU.*re-issue/ },
    { name: 'a gateway SPIFFE ID with OU scanner', subject: [{ OU: ['scanner'] }, { CN: ['scanner-01'] }], uri: 'spiffe://d.test/gateway/scanner-01', says: /OU scanner.*role gateway/ },
    { name: 'a scanner SPIFFE ID with OU gateway', subject: [{ OU: ['gateway'] }, { CN: ['gw-edge'] }], uri: 'spiffe://d.test/scanner/gw-edge', says: /OU gateway.*role scanner/ },
    { name: 'two OUs', subject: [{ OU: ['gateway'] }, { OU: ['scanner'] }, { CN: ['gw-edge'] }], uri: 'spiffe://d.test/gateway/gw-edge', says: /OU gateway, scanner/ },
    { name: 'a CN that is not the SPIFFE name', subject: [{ OU: ['gateway'] }, { CN: ['scanner-01'] }], uri: 'spiffe://d.test/gateway/gw-edge', says: /CN scanner-01 is not the name/ },
    { name: 'a URI SAN with an unknown role', subject: [{ OU: ['admin'] }, { CN: ['x'] }], uri: 'spiffe://d.test/admin/x', says: /is not spiffe:/ },
  ];
  for (const c of cases) {
    it(`refuses ${c.name} with PKI_IDENTITY_MISMATCH (403)`, async () => {
      const leaf = await leafWith(c.subject, c.uri);
      assert.throws(() => verifyCertificate(leaf, [], bundle, new Date()), (error: unknown) => mismatch(error) && c.says.test((error as Error).message));
    });
  }
});
