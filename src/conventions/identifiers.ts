/**
 * The identifier formats every part agrees on, written once. Each pattern exists in two forms that
 * carry the same text: a `RegExp` for code, and its `source` string for JSON Schemas (fastify route
 * schemas, the OpenAPI document, the published topology schema) and for rendered gateway configs.
 *
 * Part of the conventions floor (docs/CONVENTIONS.md#the-conventions-floor): imports nothing.
 */

/**
 * `X-Stella-Scan-Id` (docs/provenance.md#2-headers): a MAC input, the scan a request belongs to,
 * and the `scanId` of the traversal intent (docs/dsse.md#in-toto-traversal-intent). 1–128 characters.
 */
export const SCAN_ID_SOURCE = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$';
/** {@link SCAN_ID_SOURCE} as a RegExp. */
export const SCAN_ID_PATTERN = new RegExp(SCAN_ID_SOURCE);

/**
 * A hop or service id (docs/topology.md#fields): it doubles as the token of a provenance record
 * (docs/provenance.md#grammar-of-x-stella-provenance) and as a DNS label-like name. 1–63 characters.
 */
export const HOP_ID_SOURCE = '^[a-z][a-z0-9.-]{0,62}$';
/** {@link HOP_ID_SOURCE} as a RegExp. */
export const HOP_ID_PATTERN = new RegExp(HOP_ID_SOURCE);

/**
 * The topology's `name` (docs/topology.md#fields): the hop id format. It goes into the traversal
 * intent, whose `topology` field is therefore checked with this same pattern
 * (docs/dsse.md#in-toto-traversal-intent).
 */
export const TOPOLOGY_NAME_SOURCE = HOP_ID_SOURCE;
/** {@link TOPOLOGY_NAME_SOURCE} as a RegExp. */
export const TOPOLOGY_NAME_PATTERN = new RegExp(TOPOLOGY_NAME_SOURCE);

/**
 * A `peer-id` (docs/provenance.md#grammar-of-x-stella-provenance): the certificate CN of a scanner
 * or a hop. 1–64 characters.
 */
export const PEER_ID_SOURCE = '^[A-Za-z0-9._-]{1,64}$';
/** {@link PEER_ID_SOURCE} as a RegExp. */
export const PEER_ID_PATTERN = new RegExp(PEER_ID_SOURCE);

/**
 * A key id, `kid` of a v1 record or `keyid` of a v2 member (docs/provenance.md#grammar-of-x-stella-provenance).
 * Never contains `|`, `"` or `\`, so it is safe inside an sf-string. 1–64 characters.
 */
export const KID_SOURCE = '^[A-Za-z0-9._:-]{1,64}$';
/** {@link KID_SOURCE} as a RegExp. */
export const KID_PATTERN = new RegExp(KID_SOURCE);

/**
 * A v1 record's `nonce` and the traversal intent's `nonce` (docs/provenance.md#grammar-of-x-stella-provenance,
 * docs/dsse.md#in-toto-traversal-intent): 16–64 lowercase hex characters.
 */
export const NONCE_SOURCE = '^[0-9a-f]{16,64}$';
/** {@link NONCE_SOURCE} as a RegExp. */
export const NONCE_PATTERN = new RegExp(NONCE_SOURCE);

/**
 * A SHA-256 digest as 64 lowercase hex characters: an artifact's address
 * (docs/services.md#artifacts) and an in-toto subject digest (docs/dsse.md#in-toto-traversal-intent).
 */
export const SHA256_HEX_SOURCE = '^[0-9a-f]{64}$';
/** {@link SHA256_HEX_SOURCE} as a RegExp. */
export const SHA256_HEX_PATTERN = new RegExp(SHA256_HEX_SOURCE);

/**
 * A certificate fingerprint: `sha256:` and the lowercase hex SHA-256 of the DER certificate. The
 * `peer` of a record and the intent's `clientCertSha256` share it, so they compare as strings
 * (docs/dsse.md#in-toto-traversal-intent).
 */
export const CERT_FINGERPRINT_SOURCE = '^sha256:[0-9a-f]{64}$';
/** {@link CERT_FINGERPRINT_SOURCE} as a RegExp. */
export const CERT_FINGERPRINT_PATTERN = new RegExp(CERT_FINGERPRINT_SOURCE);

/**
 * A pattern's body without its `^…$` anchors, to compose a larger pattern (a header member, a
 * route) from the formats above.
 */
export function patternBody(pattern: RegExp): string {
  return pattern.source.replace(/^\^/, '').replace(/\$$/, '');
}

/** `text` matched literally inside a pattern. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
