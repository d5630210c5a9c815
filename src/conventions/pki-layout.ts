/**
 * The layout of a PKI directory and the roles of its leaves (docs/CONVENTIONS.md#files-and-identities,
 * docs/operations/certificates.md#the-pki-directory, docs/topology.md#identities). The local CA writes
 * this layout, the topology resolves its default certificate paths to it, bootstrap checks it.
 *
 * Part of the conventions floor (docs/CONVENTIONS.md#the-conventions-floor): imports only `node:` builtins.
 */
import { join } from 'node:path';

/** The roles a leaf can have; each is the role segment of its SPIFFE ID and its subject `OU` (docs/operations/certificates.md#roles). */
export const PKI_ROLES = ['scanner', 'gateway', 'service'] as const;
/** A leaf's role. */
export type PkiRole = (typeof PKI_ROLES)[number];

/** The trust files at the top of a PKI directory (docs/operations/certificates.md#the-pki-directory). */
export const PKI_LAYOUT = {
  /** Every trusted CA: roots and intermediates. */
  caBundle: 'ca-bundle.pem',
  /** A current CRL of every CA in the hierarchy, concatenated. */
  crl: 'crl.pem',
  /** The issuing generation's root, for `openssl verify -CAfile`. */
  rootCert: 'root.pem',
  /** The issuing generation's intermediate, for `openssl verify -untrusted`. */
  intermediateCert: 'intermediate.pem',
} as const;

/** The folder of issued leaves inside a PKI directory: `issued/<role>/<name>/`. */
export const ISSUED_DIR = 'issued';

/** The files of one leaf folder (`chain.pem` = leaf + intermediate; the key PKCS#8 PEM, mode 0600). */
export const LEAF_FILES = {
  cert: 'cert.pem',
  key: 'key.pem',
  chain: 'chain.pem',
} as const;

/** The three files of a leaf, as paths. */
export interface LeafPaths {
  readonly cert: string;
  readonly key: string;
  readonly chain: string;
}

/** The files of a leaf stored in `dir`. */
export function leafPaths(dir: string): LeafPaths {
  return { cert: join(dir, LEAF_FILES.cert), key: join(dir, LEAF_FILES.key), chain: join(dir, LEAF_FILES.chain) };
}

/**
 * Where `pki issue` puts a leaf: `<pkiDir>/issued/<role>/<name>/{cert,key,chain}.pem`.
 *
 * @example
 * issuedPaths('/etc/stella/pki', 'gateway', 'gw-edge').chain; // '/etc/stella/pki/issued/gateway/gw-edge/chain.pem'
 */
export function issuedPaths(pkiDir: string, role: PkiRole, name: string): LeafPaths {
  return leafPaths(join(pkiDir, ISSUED_DIR, role, name));
}
