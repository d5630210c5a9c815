/**
 * `Content-Digest` (RFC 9530 §2): an RFC 9651 Dictionary of algorithm → Byte Sequence. The
 * product requires and checks `sha-256`; other algorithms may be present and are ignored
 * (RFC 9530 §2 lets a recipient use any algorithm it supports).
 */
import { createHash, hash, timingSafeEqual } from 'node:crypto';
import { parseDictionary, serializeDictionary } from 'structured-headers';
import { BASE64_OF_32_BYTES } from './canonical.js';

const SHA256_BYTES = 32;
/** The one form contentDigestOf writes: `sha-256=:` + 44 base64 characters + `:`. */
const PLAIN_PREFIX = 'sha-256=:';
const PLAIN_LENGTH = PLAIN_PREFIX.length + 44 + 1;

/** `Content-Digest` value for a body: `sha-256=:<base64>:`. */
export function contentDigestOf(body: Uint8Array): string {
  return serializeDictionary({ 'sha-256': createHash('sha256').update(body).digest() });
}

/**
 * Whether a `Content-Digest` value carries a `sha-256` member equal to the body's SHA-256.
 * Returns a reason string on mismatch, null on match. Never throws.
 */
export function checkContentDigest(value: string, body: Uint8Array): string | null {
  // The one-shot hash: no Hash object per request (bench/README.md, "Where the time goes").
  return checkContentDigestHash(value, hash('sha256', body, 'buffer'));
}

/**
 * {@link checkContentDigest} for a body that was hashed while it streamed (the guard spools
 * blobs instead of holding them, docs/services.md#the-guard): `sha256` is the body's SHA-256.
 */
export function checkContentDigestHash(value: string, sha256: Uint8Array): string | null {
  if (sha256.byteLength !== SHA256_BYTES) throw new TypeError('checkContentDigestHash: sha256 must be 32 bytes');
  const digest = readPlainSha256(value) ?? readGeneral(value);
  if (typeof digest === 'string') return digest;
  return timingSafeEqual(digest, sha256) ? null : 'Content-Digest does not match the body';
}

/** The value `sha-256=:<canonical base64 of 32 bytes>:` that contentDigestOf writes, or null for any other text. */
function readPlainSha256(value: string): Uint8Array | null {
  if (value.length !== PLAIN_LENGTH || !value.startsWith(PLAIN_PREFIX) || !value.endsWith(':')) return null;
  const text = value.slice(PLAIN_PREFIX.length, -1);
  // Canonical before decoding, as Buffer skips characters outside the alphabet.
  return BASE64_OF_32_BYTES.test(text) ? Buffer.from(text, 'base64') : null;
}

/**
 * Any other Dictionary, by `structured-headers`: the sha-256 member's bytes or the refusal's
 * reason. Exported for the differential test of the plain form.
 */
export function readGeneral(value: string): Uint8Array | string {
  let dict;
  try {
    dict = parseDictionary(value);
  } catch {
    return 'Content-Digest is not an RFC 9651 Dictionary';
  }
  const member = dict.get('sha-256');
  if (!member) return 'Content-Digest has no sha-256 member';
  const [digest] = member;
  if (!(digest instanceof ArrayBuffer) || digest.byteLength !== SHA256_BYTES) return 'Content-Digest sha-256 is not a 32-byte Byte Sequence';
  return new Uint8Array(digest);
}
