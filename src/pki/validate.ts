/**
 * Checks a candidate key + chain + trust bundle before the provider swaps it in (docs/operations/certificates.md): the
 * key belongs to the certificate, the chain verifies to the bundle, the certificate is within
 * its validity, and the identity (CN + SPIFFE URI) is the one expected. Pure: no file, no clock
 * of its own.
 */
import { createPrivateKey, X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import { PkiError } from './errors.js';
import { inspectCertificate } from './inspect.js';
import { parseSpiffeId } from '../topology/identity.js';
import { certificateFingerprint, normalizeSerial, pemBlocks } from './x509.js';

/** Longest chain accepted between a leaf and an anchor (leaf → intermediate → root). */
const MAX_CHAIN_DEPTH = 4;

/** The identity a provider keeps across renewals. */
export interface MtlsIdentity {
  commonName: string;
  spiffeId: string;
}

/** Key, certificate and trust material ready for a TLS context. */
export interface TlsMaterial {
  /** PKCS#8 PEM private key. */
  key: string;
  /** The leaf alone. */
  cert: string;
  /** Leaf + intermediates: what a TLS endpoint presents (`cert` option of Node TLS). */
  chain: string;
  /** The trust bundle (every trusted CA). */
  ca: string;
  /** Concatenated CRLs of the hierarchy, when the source has them (servers pass it to `crl`). */
  crl?: string;
  notBefore: Date;
  notAfter: Date;
  /** `sha256:` + lowercase hex of the leaf's DER. */
  fingerprint: string;
  serial: string;
  identity: MtlsIdentity;
}

/** The raw material a source provides. */
export interface RawMaterial {
  key: string;
  /** Leaf first, then intermediates (a lone leaf is accepted when the bundle holds its issuer). */
  chain: string;
  ca: string;
  crl?: string;
}

/**
 * Validates raw material and returns it as {@link TlsMaterial}. Throws PkiError with
 * PKI_CERT_INVALID, PKI_KEY_MISMATCH, PKI_CERT_EXPIRED, PKI_CHAIN_INVALID or
 * PKI_IDENTITY_MISMATCH.
 */
export function validateMaterial(raw: RawMaterial, options: { now: Date; expectedIdentity?: MtlsIdentity }): TlsMaterial {
  const blocks = pemBlocks(raw.chain);
  const leafPem = blocks[0];
  if (!leafPem) throw new PkiError('PKI_CERT_INVALID', 'the certificate file holds no PEM certificate');
  let leaf: NodeX509;
  let key: KeyObject;
  try {
    leaf = new NodeX509(leafPem);
  } catch (error) {
    throw new PkiError('PKI_CERT_INVALID', 'the certificate cannot be parsed', { cause: error });
  }
  try {
    key = createPrivateKey(raw.key);
  } catch (error) {
    throw new PkiError('PKI_CERT_INVALID', 'the private key cannot be parsed', { cause: error });
  }
  if (!leaf.checkPrivateKey(key)) throw new PkiError('PKI_KEY_MISMATCH', 'the private key does not belong to the certificate');

  const identity = verifyCertificate(leaf, blocks.slice(1), raw.ca, options.now);
  const expected = options.expectedIdentity;
  if (expected && (expected.commonName !== identity.commonName || expected.spiffeId !== identity.spiffeId)) {
    throw new PkiError(
      'PKI_IDENTITY_MISMATCH',
      `the certificate names ${identity.commonName} (${identity.spiffeId}); expected ${expected.commonName} (${expected.spiffeId})`,
    );
  }
  return {
    key: raw.key,
    cert: leafPem,
    chain: blocks.join(''),
    ca: raw.ca,
    ...(raw.crl ? { crl: raw.crl } : {}),
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    fingerprint: certificateFingerprint(leafPem),
    serial: normalizeSerial(leaf.serialNumber),
    identity,
  };
}

/**
 * Checks a certificate without its key: within validity at `now` (PKI_CERT_EXPIRED), chains to
 * the bundle through the given intermediates (PKI_CHAIN_INVALID), and carries a CN, exactly one
 * URI SAN naming `<role>/<CN>` and one OU equal to that role (PKI_IDENTITY_MISMATCH). Returns its identity. The enrollment endpoint uses it on
 * the certificate a renewing client presents.
 */
export function verifyCertificate(leaf: NodeX509, intermediatePems: readonly string[], caPem: string, now: Date): MtlsIdentity {
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (now < notBefore) throw new PkiError('PKI_CERT_EXPIRED', `the certificate is not valid before ${notBefore.toISOString()}`);
  if (now >= notAfter) throw new PkiError('PKI_CERT_EXPIRED', `the certificate expired at ${notAfter.toISOString()}`);
  const anchors = pemBlocks(caPem).map((p) => new NodeX509(p));
  if (anchors.length === 0) throw new PkiError('PKI_CHAIN_INVALID', 'the trust bundle holds no certificate');
  verifyChain(leaf, intermediatePems.map((p) => new NodeX509(p)), anchors, now);
  const summary = inspectCertificate(new Uint8Array(leaf.raw));
  if (summary.uris.length !== 1 || !summary.commonName) {
    throw new PkiError('PKI_IDENTITY_MISMATCH', 'the certificate must carry a CN and exactly one URI SAN (docs/operations/certificates.md)');
  }
  const identity = { commonName: summary.commonName, spiffeId: summary.uris[0]! };
  checkRoleConsistency(identity, summary.organizationalUnits);
  return identity;
}

/**
 * docs/operations/certificates.md#roles: the SPIFFE ID is `spiffe://<td>/<role>/<CN>` and the
 * subject's one OU is that same role. Gateways that cannot read URI SANs admit by CN and OU, so a
 * leaf where the two views disagree would be one identity to some programs and another to others.
 */
function checkRoleConsistency(identity: MtlsIdentity, organizationalUnits: readonly string[]): void {
  const parts = parseSpiffeId(identity.spiffeId);
  if (!parts) {
    throw new PkiError('PKI_IDENTITY_MISMATCH', `the URI SAN ${identity.spiffeId} is not spiffe://<trust domain>/<scanner|gateway|service>/<name> (docs/topology.md#identities)`);
  }
  if (parts.name !== identity.commonName) {
    throw new PkiError('PKI_IDENTITY_MISMATCH', `the CN ${identity.commonName} is not the name of the SPIFFE ID ${identity.spiffeId} (docs/topology.md#identities)`);
  }
  if (organizationalUnits.length !== 1 || organizationalUnits[0] !== parts.role) {
    const found = organizationalUnits.length === 0 ? 'no OU' : `OU ${organizationalUnits.join(', ')}`;
    throw new PkiError(
      'PKI_IDENTITY_MISMATCH',
      `the subject carries ${found} where its role ${parts.role} is expected as the one OU; re-issue the certificate (docs/operations/certificates.md#roles)`,
    );
  }
}

/**
 * Walks from the leaf to a certificate of the bundle through the given intermediates: each step
 * needs a CA issuer whose name matches and whose key verifies the signature, valid at `now`.
 */
function verifyChain(leaf: NodeX509, intermediates: NodeX509[], anchors: NodeX509[], now: Date): void {
  const isAnchor = (c: NodeX509): boolean => anchors.some((a) => a.raw.equals(c.raw));
  const validAt = (c: NodeX509): boolean => new Date(c.validFrom) <= now && now < new Date(c.validTo);
  let current = leaf;
  for (let depth = 0; depth < MAX_CHAIN_DEPTH; depth++) {
    const issuer = [...anchors, ...intermediates].find((c) => c.ca && validAt(c) && current.checkIssued(c) && current.verify(c.publicKey));
    if (!issuer) break;
    if (isAnchor(issuer)) return;
    current = issuer;
  }
  throw new PkiError('PKI_CHAIN_INVALID', `the certificate ${leaf.subject.replace(/\n/g, ', ')} does not chain to the trust bundle`);
}
