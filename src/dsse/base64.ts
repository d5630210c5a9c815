/**
 * Strict base64 for untrusted input (SPEC §3).
 *
 * Node's `Buffer.from(s, 'base64')` silently skips characters outside the alphabet and ignores bad
 * padding, so two different strings can decode to the same bytes. Every string is validated here
 * before it reaches the decoder.
 *
 * Padding policy (documented in docs/dsse.md):
 * - the standard alphabet (`+` `/`, RFC 4648 §4) or the URL-safe one (`-` `_`, RFC 4648 §5) is
 *   accepted, but not both mixed in one string;
 * - padding is optional; if present it must be exactly what RFC 4648 §3.2 prescribes (the length
 *   is a multiple of 4 and `=` only completes the last quantum);
 * - without padding, a length of 4k+1 is impossible and rejected;
 * - the unused low bits of the last character must be zero (RFC 4648 §3.5, "canonical encoding"),
 *   so each byte string has exactly one accepted spelling per alphabet and padding choice;
 * - whitespace, line breaks and any other character are rejected; the empty string is valid.
 * Encoding always emits the standard alphabet with padding.
 */
import { DsseError } from './errors.js';

const STANDARD = /^[A-Za-z0-9+/]*$/;
const URL_SAFE = /^[A-Za-z0-9_-]*$/;

/**
 * Decodes base64 strictly (see the module comment for the exact policy).
 *
 * @throws {DsseError} `DSSE_MALFORMED` for anything but a canonical encoding.
 * @example decodeBase64Strict('aGk') // <Buffer 68 69>; decodeBase64Strict('aGk=') too
 */
export function decodeBase64Strict(s: string): Buffer {
  const { body, byteLength } = checkBase64(s);
  const out = Buffer.from(body, 'base64');
  if (out.length !== byteLength) throw malformed('base64 decoded to an unexpected length');
  return out;
}

/**
 * Validates base64 by the policy above without decoding it, returning the unpadded text and the
 * number of bytes it decodes to, so a caller can decode straight into a buffer it owns (the
 * envelope parser decodes the payload into its PAE buffer, saving a copy of large payloads).
 *
 * @throws {DsseError} `DSSE_MALFORMED` for anything but a canonical encoding.
 */
export function checkBase64(s: string): { body: string; byteLength: number } {
  if (typeof s !== 'string') throw new TypeError('base64 input must be a string');
  let body = s;
  if (s.length % 4 === 0 && s.endsWith('=')) {
    body = s.endsWith('==') ? s.slice(0, -2) : s.slice(0, -1);
  }
  // Removing one or two '=' from a 4k-long string leaves 4k+3 or 4k+2 characters, so any '='
  // still present below is misplaced padding, which the alphabet check rejects.
  const rest = body.length % 4;
  if (rest === 1) throw malformed('impossible base64 length');
  if (!STANDARD.test(body) && !URL_SAFE.test(body)) throw malformed('character outside the base64 alphabet');
  if (rest !== 0) {
    const last = sextet(body.charCodeAt(body.length - 1));
    // 2 trailing chars carry 1 byte (4 unused bits), 3 chars carry 2 bytes (2 unused bits).
    const unusedMask = rest === 2 ? 0x0f : 0x03;
    if ((last & unusedMask) !== 0) throw malformed('non-canonical base64 (unused bits set)');
  }
  return { body, byteLength: ((body.length - rest) / 4) * 3 + (rest === 0 ? 0 : rest - 1) };
}

/** Encodes bytes as standard base64 with padding (RFC 4648 §4). */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** The 6-bit value of an alphabet character already known to be valid. */
function sextet(code: number): number {
  if (code >= 65 && code <= 90) return code - 65; // A-Z
  if (code >= 97 && code <= 122) return code - 71; // a-z
  if (code >= 48 && code <= 57) return code + 4; // 0-9
  return code === 43 || code === 45 ? 62 : 63; // + or -, / or _
}

function malformed(message: string): DsseError {
  return new DsseError('DSSE_MALFORMED', message);
}
