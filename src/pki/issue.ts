/**
 * Leaf issuance from the local CA (docs/operations/certificates.md#roles): CN = name, OU = role (mirroring the SPIFFE path for
 * gateways that cannot read URI SANs, docs/operations/certificates.md#roles), exactly one SPIFFE URI
 * SAN, key usage digitalSignature (critical), EKU clientAuth (+ serverAuth for gateways and services).
 */
import { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { ISSUED_DIR, leafPaths } from '../conventions/index.js';
import { leafProfile, leafValidity, type PkiRole } from './profile.js';
import { loadCa, randomSerial } from './ca.js';
import { ROLE_SUBJECT_ATTRIBUTE } from '../topology/identity.js';
import { pkiPaths, PRIVATE_FILE_MODE, readState, withDirLock, writeFileAtomic, writeState } from './store.js';
import { certificateFingerprint, generateKeyPair, normalizeSerial, PKI_ALGORITHMS, privateKeyToPem, x509, type CryptoKey } from './x509.js';
import { readFile } from 'node:fs/promises';

/** Options of {@link issueCertificate}. */
export interface IssueOptions {
  dir: string;
  role: PkiRole;
  name: string;
  dns?: string[];
  ip?: string[];
  ttlSeconds?: number;
  /** Explicit validity, for tests of expired or not-yet-valid certificates. */
  notBefore?: Date;
  notAfter?: Date;
  /** Folder for key.pem/cert.pem/chain.pem; default `<dir>/issued/<role>/<name>/`. */
  out?: string;
  /** Certify this key (CSR-based issuance); no key.pem is written then. */
  publicKey?: CryptoKey | KeyObject;
  /** false: return the PEMs without writing files (the enrollment endpoint). Default true. */
  write?: boolean;
  clock?: () => Date;
}

/** What {@link issueCertificate} returns. */
export interface IssuedCertificate {
  role: PkiRole;
  name: string;
  spiffeId: string;
  /** Lowercase hex, as `pki revoke --serial` takes it. */
  serial: string;
  /** `sha256:` + lowercase hex of the DER (docs/provenance.md `peer`). */
  fingerprint: string;
  notBefore: Date;
  notAfter: Date;
  certPem: string;
  /** Leaf + intermediate. */
  chainPem: string;
  /** Every trusted CA (the current `ca-bundle.pem`). */
  caBundlePem: string;
  /** PKCS#8 PEM when the CA generated the key; absent for CSR-based issuance. */
  keyPem?: string;
  /** Where the files were written (absent when `write: false`). */
  paths?: { dir: string; cert: string; chain: string; key?: string };
}

/**
 * Issues a leaf from the active CA generation and records its serial in the CA state.
 *
 * @example
 * const leaf = await issueCertificate({ dir: './pki', role: 'gateway', name: 'gw-edge', dns: ['gw-edge'], ip: ['127.0.0.1'] });
 * leaf.paths?.chain; // ./pki/issued/gateway/gw-edge/chain.pem
 */
export async function issueCertificate(options: IssueOptions): Promise<IssuedCertificate> {
  const clock = options.clock ?? (() => new Date());
  return withDirLock(options.dir, async () => {
    const state = await readState(options.dir);
    const profile = leafProfile({ trustDomain: state.trustDomain, role: options.role, name: options.name, dns: options.dns, ip: options.ip });
    const { notBefore, notAfter } = leafValidity(clock(), options);
    const issuer = await loadCa(options.dir, state.activeGeneration, 'intermediate');

    let publicKey: CryptoKey | Uint8Array;
    let keyPem: string | undefined;
    if (options.publicKey) {
      publicKey = options.publicKey instanceof KeyObject ? new Uint8Array(options.publicKey.export({ type: 'spki', format: 'der' })) : options.publicKey;
    } else {
      const keys = await generateKeyPair();
      publicKey = keys.publicKey;
      keyPem = privateKeyToPem(keys.privateKey);
    }

    const subjectAltNames = [
      { type: 'url' as const, value: profile.spiffeId },
      ...profile.dns.map((value) => ({ type: 'dns' as const, value })),
      ...profile.ip.map((value) => ({ type: 'ip' as const, value })),
    ];
    const serial = randomSerial();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      // DER order OU, CN: RFC 2253 renderings (NGINX, HAProxy, Caddy) then read `CN=…,OU=…`.
      subject: [{ [ROLE_SUBJECT_ATTRIBUTE]: [profile.role] }, { CN: [profile.name] }],
      issuer: issuer.cert.subject,
      notBefore,
      notAfter,
      publicKey,
      signingKey: issuer.key,
      signingAlgorithm: PKI_ALGORITHMS.signing,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension(profile.extendedKeyUsages, false),
        new x509.SubjectAlternativeNameExtension(subjectAltNames, false),
        await x509.SubjectKeyIdentifierExtension.create(publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(issuer.cert),
      ],
    });
    const certPem = `${cert.toString('pem')}\n`;
    const chainPem = `${certPem}${issuer.certPem.trim()}\n`;
    const fingerprint = certificateFingerprint(new Uint8Array(cert.rawData));
    state.issued.push({ serial, generation: state.activeGeneration, role: profile.role, name: profile.name, notAfter: notAfter.toISOString(), fingerprint });
    await writeState(options.dir, state);
    const caBundlePem = await readFile(pkiPaths(options.dir).caBundle, 'utf8');

    const result: IssuedCertificate = {
      role: profile.role,
      name: profile.name,
      spiffeId: profile.spiffeId,
      serial: normalizeSerial(serial),
      fingerprint,
      notBefore,
      notAfter,
      certPem,
      chainPem,
      caBundlePem,
      ...(keyPem ? { keyPem } : {}),
    };
    if (options.write === false) return result;
    const dir = options.out ?? join(options.dir, ISSUED_DIR, profile.role, profile.name);
    const leaf = leafPaths(dir);
    const paths = { dir, cert: leaf.cert, chain: leaf.chain, ...(keyPem ? { key: leaf.key } : {}) };
    // Key first: a watcher that sees the new cert.pem finds its key already in place.
    if (keyPem && paths.key) await writeFileAtomic(paths.key, keyPem, PRIVATE_FILE_MODE);
    await writeFileAtomic(paths.cert, certPem);
    await writeFileAtomic(paths.chain, chainPem);
    return { ...result, paths };
  });
}

