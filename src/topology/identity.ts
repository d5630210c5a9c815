/**
 * Who a certificate names (docs/topology.md#identities, docs/operations/certificates.md#roles):
 * every leaf of the product's PKI carries exactly one SPIFFE ID URI SAN,
 * `spiffe://<trust domain>/<role>/<name>`, its CN is `<name>` and its `OU` is `<role>`. The role
 * says what the holder may be — a scanner, a gateway or a service — and every hop and service
 * checks it, not only the CN (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes, check 1).
 *
 * Pure, with no dependency: renderers, services, the PKI and the topology rules read these facts
 * from here. Reading the SAN out of a certificate is the TLS stack's job.
 */

import { PKI_ROLES, type PkiRole } from '../conventions/index.js';

/** The roles a leaf can have, and a leaf's role (the conventions floor's PKI layout). */
export { PKI_ROLES, type PkiRole };

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

/** The SPIFFE ID of an identity (docs/topology.md#identities): `spiffe://<trust-domain>/<role>/<name>`. */
export function spiffeId(trustDomain: string, role: PkiRole, name: string): string {
  return `spiffe://${trustDomain}/${role}/${name}`;
}

/**
 * Takes a SPIFFE ID of this PKI apart, or returns null for anything else: another scheme, a path
 * that is not exactly `/<role>/<name>`, an unknown role, a name outside the `peer-id`
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

/**
 * The one SPIFFE ID in Node's `subjectaltname` text of a peer certificate (`DNS:a, URI:spiffe://…`),
 * or null when there is none or more than one (a leaf of this PKI has exactly one, docs/topology.md).
 * Node quotes a value holding a comma or a quote as a JSON string; such a value is never a SPIFFE
 * ID of this form, so it is not unquoted but simply does not match.
 */
export function spiffeIdFromSubjectAltName(subjectaltname: string | undefined): string | null {
  if (!subjectaltname) return null;
  const uris = subjectaltname
    .split(', ')
    .filter((entry) => entry.startsWith('URI:'))
    .map((entry) => entry.slice(4));
  const spiffe = uris.filter((uri) => uri.startsWith('spiffe://'));
  return spiffe.length === 1 ? spiffe[0]! : null;
}

/**
 * A list of SPIFFE IDs a service grants something to (`services[].access`, docs/topology.md):
 * exact IDs, or `spiffe://<td>/<role>/*` for every identity of that role.
 */
export function identityMatches(patterns: readonly string[], spiffeId: string | null): boolean {
  if (spiffeId === null) return false;
  for (const pattern of patterns) {
    if (pattern === spiffeId) return true;
    if (pattern.endsWith('/*') && spiffeId.startsWith(pattern.slice(0, -1)) && parseSpiffeId(spiffeId) !== null) return true;
  }
  return false;
}
