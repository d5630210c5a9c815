/**
 * Who a certificate names (docs/topology.md#identities): every leaf of the product's PKI carries
 * exactly one SPIFFE ID URI SAN, `spiffe://<trust domain>/<role>/<name>`, and its CN is `<name>`.
 * The role says what the holder may be — a scanner, a gateway or a service — and the services
 * check it, not only the CN (docs/provenance.md#4, check 1).
 *
 * Pure: string work only. Reading the SAN out of a certificate is the TLS stack's job.
 */

/** The roles a leaf can have. */
export const IDENTITY_ROLES = ['scanner', 'gateway', 'service'] as const;
export type IdentityRole = (typeof IDENTITY_ROLES)[number];

/** A parsed SPIFFE ID of this product's form. */
export interface Identity {
  trustDomain: string;
  role: IdentityRole;
  name: string;
}

/** The SPIFFE ID of an identity: `spiffe://<trust-domain>/<role>/<name>`. */
export function spiffeIdOf(trustDomain: string, role: IdentityRole, name: string): string {
  return `spiffe://${trustDomain}/${role}/${name}`;
}

const SPIFFE_ID = /^spiffe:\/\/([a-z0-9.-]{1,253})\/(scanner|gateway|service)\/([A-Za-z0-9._-]{1,64})$/;

/**
 * Parses `spiffe://<td>/<role>/<name>`; null for anything else (another form, another role, a
 * path with more segments, `.` or `..` as name).
 */
export function parseSpiffeId(uri: string): Identity | null {
  const match = SPIFFE_ID.exec(uri);
  if (!match) return null;
  const name = match[3]!;
  if (name === '.' || name === '..') return null;
  return { trustDomain: match[1]!, role: match[2] as IdentityRole, name };
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
