/**
 * Identities of the leaf profile (SPEC §5), as pure functions with no dependency: the roles, the
 * SPIFFE ID that names a leaf, and the subject attribute that mirrors its role for programs that
 * cannot read a URI SAN (docs/operations/certificates.md#roles). Renderers, services and the PKI
 * all read these facts from here.
 */

/** The roles a leaf can have. */
export const PKI_ROLES = ['scanner', 'gateway', 'service'] as const;
/** A leaf's role. */
export type PkiRole = (typeof PKI_ROLES)[number];

/**
 * The subject attribute that carries a leaf's role, equal to the role segment of its SPIFFE ID.
 * NGINX 1.22 and HAProxy 2.6 see the subject but no URI SAN (notes/gateways.md), so they check
 * this; PKI validation refuses a leaf where the two disagree (docs/operations/certificates.md#roles).
 */
export const ROLE_SUBJECT_ATTRIBUTE = 'OU';

/** A SPIFFE ID of this PKI taken apart. */
export interface SpiffeIdParts {
  trustDomain: string;
  role: PkiRole;
  name: string;
}

/** Trust domain (as the topology schema and `pki init` accept it), role, name (a `peer-id`). */
const SPIFFE_ID = /^spiffe:\/\/([a-z0-9.-]{1,253})\/(scanner|gateway|service)\/([A-Za-z0-9._-]{1,64})$/;

/** The SPIFFE ID of an identity (SPEC §5): `spiffe://<trust-domain>/<role>/<name>`. */
export function spiffeId(trustDomain: string, role: PkiRole, name: string): string {
  return `spiffe://${trustDomain}/${role}/${name}`;
}

/**
 * Takes a SPIFFE ID of this PKI apart, or returns null for anything else: another scheme, a path
 * that is not exactly `/<role>/<name>`, an unknown role, a name outside SPEC §4's `peer-id`
 * format or a `.`/`..` segment. Exact: no normalisation, so a caller compares what it was given.
 *
 * @example
 * parseSpiffeId('spiffe://stella.local/scanner/scanner-01'); // { trustDomain: 'stella.local', role: 'scanner', name: 'scanner-01' }
 * parseSpiffeId('spiffe://stella.local/scanner/a/b');        // null
 */
export function parseSpiffeId(uri: string): SpiffeIdParts | null {
  const match = SPIFFE_ID.exec(uri);
  if (!match) return null;
  const [, trustDomain, role, name] = match as unknown as [string, string, PkiRole, string];
  if (name === '.' || name === '..') return null;
  return { trustDomain, role, name };
}

/**
 * The role a SPIFFE ID names, or null when it is not one of this PKI's IDs. With `trustDomain`,
 * an ID of another trust domain is null too.
 *
 * @example
 * roleOf(peer.spiffeId, topology.trustDomain) === 'gateway'
 */
export function roleOf(uri: string, trustDomain?: string): PkiRole | null {
  const parts = parseSpiffeId(uri);
  if (!parts || (trustDomain !== undefined && parts.trustDomain !== trustDomain)) return null;
  return parts.role;
}
