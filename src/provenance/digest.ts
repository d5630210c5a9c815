/**
 * `Content-Digest` (RFC 9530 §2): an RFC 9651 Dictionary of algorithm → Byte Sequence. The
 * product requires and checks `sha-256`; other algorithms may be present and are ignored
 * (RFC 9530 §2 lets a recipient use any algorithm it supports).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { parseDictionary, serializeDictionary } from 'structured-headers';

/** `Content-Digest` value for a body: `sha-256=:<base64>:`. */
export function contentDigestOf(body: Uint8Array): string {
  return serializeDictionary({ 'sha-256': createHash('sha256').update(body).digest() });
}

/**
 * Whether a `Content-Digest` value carries a `sha-256` member equal to the body's SHA-256.
 * Returns a reason string on mismatch, null on match. Never throws.
 */
export function checkContentDigest(value: string, body: Uint8Array): string | null {
  return checkContentDigestHash(value, createHash('sha256').update(body).digest());
}

/**
 * {@link checkContentDigest} for a body that was hashed while it streamed (the guard spools
 * blobs instead of holding them, docs/services.md#the-guard): `sha256` is the body's SHA-256.
 */
export function checkContentDigestHash(value: string, sha256: Uint8Array): string | null {
  let dict;
  try {
    dict = parseDictionary(value);
  } catch {
    return 'Content-Digest is not an RFC 9651 Dictionary';
  }
  const member = dict.get('sha-256');
  if (!member) return 'Content-Digest has no sha-256 member';
  const [digest] = member;
  if (!(digest instanceof ArrayBuffer) || digest.byteLength !== 32) return 'Content-Digest sha-256 is not a 32-byte Byte Sequence';
  if (sha256.byteLength !== 32) throw new TypeError('checkContentDigestHash: sha256 must be 32 bytes');
  return timingSafeEqual(new Uint8Array(digest), sha256) ? null : 'Content-Digest does not match the body';
}
