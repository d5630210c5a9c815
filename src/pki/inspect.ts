/**
 * Reading a certificate back (pure): identity, SANs, EKU, validity, serial and fingerprints, as
 * `pki inspect` prints them and as the provider's validation compares them.
 */
import { X509Certificate as NodeX509 } from 'node:crypto';
import { PkiError } from './errors.js';
import { ROLE_SUBJECT_ATTRIBUTE } from '../topology/identity.js';
import { certificateFingerprint, normalizeSerial, pemBlocks, x509 } from './x509.js';

/** EKU OIDs by the names `pki inspect` prints. */
const EKU_NAMES: Readonly<Record<string, string>> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
};

/** What {@link inspectCertificate} returns. */
export interface CertificateSummary {
  subject: string;
  commonName: string | null;
  /** Every subject OU: a leaf of this PKI has exactly one, its role (docs/operations/certificates.md#roles). */
  organizationalUnits: string[];
  issuer: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** `spiffe://…` URI SANs (a leaf of this PKI has exactly one). */
  uris: string[];
  dns: string[];
  ip: string[];
  /** EKU names (`clientAuth`, `serverAuth`) or OIDs for others. */
  extendedKeyUsage: string[];
  keyUsage: string[];
  isCa: boolean;
  /** `sha256:` + lowercase hex of the DER. */
  fingerprint: string;
  /** SHA-1 as NGINX's `$ssl_client_fingerprint` prints it (lowercase hex, no colons). */
  sha1: string;
}

/**
 * Summarises the first certificate of a PEM text (or DER bytes).
 *
 * @example
 * inspectCertificate(readFileSync('cert.pem', 'utf8')).uris; // ['spiffe://stella.local/scanner/scanner-01']
 */
export function inspectCertificate(pemOrDer: string | Uint8Array): CertificateSummary {
  let cert: x509.X509Certificate;
  let node: NodeX509;
  try {
    const input = typeof pemOrDer === 'string' ? (pemBlocks(pemOrDer)[0] ?? pemOrDer) : Buffer.from(pemOrDer);
    node = new NodeX509(input);
    cert = new x509.X509Certificate(new Uint8Array(node.raw));
  } catch (error) {
    throw new PkiError('PKI_CERT_INVALID', 'not a certificate', { cause: error });
  }
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san?.names.toJSON() ?? [];
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  const cn = cert.subjectName.getField('CN')[0] ?? null;
  return {
    subject: cert.subject,
    commonName: cn,
    organizationalUnits: cert.subjectName.getField(ROLE_SUBJECT_ATTRIBUTE),
    issuer: cert.issuer,
    serial: normalizeSerial(cert.serialNumber),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    uris: names.filter((n) => n.type === 'url').map((n) => n.value),
    dns: names.filter((n) => n.type === 'dns').map((n) => n.value),
    ip: names.filter((n) => n.type === 'ip').map((n) => n.value),
    extendedKeyUsage: Array.from(eku?.usages ?? [], (u) => EKU_NAMES[String(u)] ?? String(u)),
    keyUsage: ku ? keyUsageNames(ku.usages) : [],
    isCa: bc?.ca ?? false,
    fingerprint: certificateFingerprint(new Uint8Array(node.raw)),
    sha1: node.fingerprint.replace(/:/g, '').toLowerCase(),
  };
}

function keyUsageNames(flags: number): string[] {
  const names: string[] = [];
  for (const [name, bit] of Object.entries(x509.KeyUsageFlags)) {
    if (typeof bit === 'number' && (flags & bit) === bit) names.push(name);
  }
  return names;
}
