/**
 * Strict base64 for untrusted input (docs/dsse.md).
 *
 * Node's `Buffer.from(s, 'base64')` silently skips characters outside the alphabet and ignores bad
 * padding, so two different strings can decode to the same bytes. Here a string is accepted only
 * if the bytes it decodes to encode back to exactly that string: one native decode and one native
 * encode, instead of a character-by-character check in JavaScript.
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

// Used only to name what is wrong once a spelling was refused.
const STANDARD = /^[A-Za-z0-9+/]*$/;
const URL_SAFE = /^[A-Za-z0-9_-]*$/;
const EQUALS = 0x3d;

/**
 * Characters per decoding step: a multiple of 4, so each step ends on a quantum, and small
 * enough that each step's strings die young in V8's new space (strings over 128 KiB go to the
 * large-object space, which only a full collection frees).
 */
const CHUNK_CHARS = 1 << 16;

/**
 * Decodes base64 strictly (see the module comment for the exact policy).
 *
 * @throws {DsseError} `DSSE_MALFORMED` for anything but a canonical encoding.
 * @example decodeBase64Strict('aGk') // <Buffer 68 69>; decodeBase64Strict('aGk=') too
 */
export function decodeBase64Strict(s: string): Buffer {
  return decodeBase64Into(s, (byteLength) => Buffer.allocUnsafe(byteLength));
}

/**
 * {@link decodeBase64Strict} into the buffer `allocate` returns for the decoded length, so a
 * caller can decode straight into memory it owns (the envelope parser decodes the payload into
 * its PAE buffer, saving a copy of large payloads).
 *
 * @throws {DsseError} `DSSE_MALFORMED` for anything but a canonical encoding.
 */
export function decodeBase64Into(s: string, allocate: (byteLength: number) => Buffer): Buffer {
  if (typeof s !== 'string') throw new TypeError('base64 input must be a string');
  let length = s.length;
  if (length % 4 === 0 && s.charCodeAt(length - 1) === EQUALS) length -= s.charCodeAt(length - 2) === EQUALS ? 2 : 1;
  return decodeChecked(length, (from, to) => s.slice(from, to), allocate);
}

/**
 * {@link decodeBase64Into} for base64 that is still ASCII bytes (a slice of envelope JSON): it
 * works 64 KiB at a time, so no string of the whole text is ever made and a 64 MiB payload costs
 * its decoded bytes, not three times that (docs/dsse.md "Memory").
 *
 * @throws {DsseError} `DSSE_MALFORMED` for anything but a canonical encoding.
 */
export function decodeBase64Bytes(bytes: Uint8Array, allocate: (byteLength: number) => Buffer): Buffer {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let length = text.length;
  if (length % 4 === 0 && text[length - 1] === EQUALS) length -= text[length - 2] === EQUALS ? 2 : 1;
  // latin1 maps each byte to one character: a byte over 0x7f becomes a character no alphabet has.
  return decodeChecked(length, (from, to) => text.toString('latin1', from, to), allocate);
}

/** Encodes bytes as standard base64 with padding (RFC 4648 §4). */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Decodes the unpadded text of `length` characters step by step, and accepts each step only if
 * encoding the bytes it gave spells exactly that text again, in the alphabet of every step.
 * Node's decoder skips what it does not know; the comparison is what makes it strict: a foreign
 * character, misplaced padding, set unused bits or a mixed alphabet never re-encodes to itself.
 */
function decodeChecked(length: number, part: (from: number, to: number) => string, allocate: (byteLength: number) => Buffer): Buffer {
  const rest = length % 4;
  if (rest === 1) throw malformed('impossible base64 length');
  const out = allocate(((length - rest) / 4) * 3 + (rest === 0 ? 0 : rest - 1));
  let standard = true;
  let urlSafe = true;
  let written = 0;
  for (let at = 0; at < length; at += CHUNK_CHARS) {
    const text = part(at, Math.min(length, at + CHUNK_CHARS));
    const n = out.write(text, written, 'base64');
    const decoded = out.subarray(written, written + n);
    const asStandard = unpadded(decoded.toString('base64')) === text;
    const asUrlSafe = asStandard ? !text.includes('+') && !text.includes('/') : decoded.toString('base64url') === text;
    standard &&= asStandard;
    urlSafe &&= asUrlSafe;
    if (!standard && !urlSafe) throw malformed(asStandard || asUrlSafe ? 'both base64 alphabets mixed' : whatIsWrong(text));
    written += n;
  }
  if (written !== out.length) throw malformed('base64 decoded to an unexpected length');
  return out;
}

function unpadded(s: string): string {
  if (s.charCodeAt(s.length - 1) !== EQUALS) return s;
  return s.slice(0, s.charCodeAt(s.length - 2) === EQUALS ? -2 : -1);
}

/** Names the fault of a refused step: its characters, or (all of one alphabet) its last bits. */
function whatIsWrong(text: string): string {
  return STANDARD.test(text) || URL_SAFE.test(text) ? 'non-canonical base64 (unused bits set)' : 'character outside the base64 alphabet';
}

function malformed(message: string): DsseError {
  return new DsseError('DSSE_MALFORMED', message);
}
