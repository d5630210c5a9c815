/**
 * The fast path of the `X-Stella-Provenance` codec: a reader for exactly the canonical form every
 * stamping hop writes (docs/provenance.md#2): members joined by `,` and spaces, each a hop-id Token
 * followed by the seven parameters in {@link RECORD_PARAMS} order, every value in its canonical
 * RFC 9651 §4.1 serialization. It only ever says "this is that form, and these are its records" or
 * "not that form" (null); it never refuses a header itself.
 *
 * `parseProvenanceHeader` (codec.ts) tries this reader first and hands anything it does not take to
 * the general `structured-headers` path, which stays the judge of every other input and of every
 * refusal. So the reader may be narrower than the general path but never wider:
 * test/provenance/canonical.test.ts checks over more than 100,000 random and mutated headers that
 * whatever it accepts the general path accepts with the same records. The general path costs about
 * ten times as much per record (bench/README.md, "Where the time goes").
 */
import { MAC_BYTES, NONCE_PATTERN, PEER_FINGERPRINT_PATTERN, type HopRecord } from './record.js';
import { HOP_ID_PATTERN, KID_PATTERN, PEER_ID_PATTERN } from './record.js';

/** Longest canonical RFC 9651 Integer (§3.3.1: at most 15 digits). */
const MAX_INTEGER_DIGITS = 15;
/** Standard padded base64 length of a {@link MAC_BYTES}-byte MAC (the 32 of BASE64_OF_32_BYTES). */
const MAC_BASE64_CHARS = 4 * Math.ceil(MAC_BYTES / 3);

/**
 * The canonical standard base64 of 32 bytes (a MAC, a SHA-256): 42 characters of 6 bits, one
 * holding the last 4 bits and two zero bits (so its value is a multiple of 4), and one `=`.
 */
export const BASE64_OF_32_BYTES = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

const CHAR_0 = 0x30;
const CHAR_9 = 0x39;
const CHAR_SP = 0x20;
const CHAR_COMMA = 0x2c;

/**
 * Reads a header in the canonical form, or returns null when it is not exactly that form (or holds
 * more than `maxHops` records); a null says nothing about whether the header is valid.
 */
export function readCanonicalRecords(value: string, maxHops: number): HopRecord[] | null {
  const records: HopRecord[] = [];
  const end = value.length;
  let at = 0;
  for (;;) {
    if (records.length === maxHops) return null;
    const semi = value.indexOf(';', at);
    if (semi < 0) return null;
    const hop = value.slice(at, semi);
    if (!HOP_ID_PATTERN.test(hop)) return null;

    if (!value.startsWith(';seq=', semi)) return null;
    const seqEnd = integerEnd(value, semi + 5);
    if (seqEnd < 0) return null;
    const seq = Number(value.slice(semi + 5, seqEnd));
    if (seq < 1 || seq > maxHops) return null;

    if (!value.startsWith(';ts=', seqEnd)) return null;
    const tsEnd = integerEnd(value, seqEnd + 4);
    if (tsEnd < 0) return null;
    const ts = Number(value.slice(seqEnd + 4, tsEnd));

    const cursor = { at: tsEnd };
    const nonce = stringParam(value, cursor, ';nonce="', NONCE_PATTERN);
    if (nonce === null) return null;
    const peer = stringParam(value, cursor, ';peer="', PEER_FINGERPRINT_PATTERN);
    if (peer === null) return null;
    const peerId = stringParam(value, cursor, ';peer-id="', PEER_ID_PATTERN);
    if (peerId === null) return null;
    const kid = stringParam(value, cursor, ';kid="', KID_PATTERN);
    if (kid === null) return null;

    if (!value.startsWith(';mac=:', cursor.at)) return null;
    const macStart = cursor.at + 6;
    const macEnd = macStart + MAC_BASE64_CHARS;
    if (value.charCodeAt(macEnd) !== 0x3a) return null;
    const macText = value.slice(macStart, macEnd);
    // Canonical (RFC 4648 §3.5: unused bits zero) before decoding, as Buffer skips stray characters.
    if (!BASE64_OF_32_BYTES.test(macText)) return null;
    const macBytes = Buffer.from(macText, 'base64');
    const mac = new Uint8Array(macBytes.buffer, macBytes.byteOffset, macBytes.byteLength);

    records.push({ hop, seq, ts, nonce, peer, peerId, kid, mac });

    at = macEnd + 1;
    if (at === end) return records;
    if (value.charCodeAt(at) !== CHAR_COMMA) return null;
    at++;
    while (value.charCodeAt(at) === CHAR_SP) at++;
  }
}

/** End of a canonical Integer starting at `start` (no sign, no leading zero), or -1. */
function integerEnd(value: string, start: number): number {
  let i = start;
  while (i < value.length && i - start <= MAX_INTEGER_DIGITS) {
    const c = value.charCodeAt(i);
    if (c < CHAR_0 || c > CHAR_9) break;
    i++;
  }
  const digits = i - start;
  if (digits === 0 || digits > MAX_INTEGER_DIGITS) return -1;
  if (digits > 1 && value.charCodeAt(start) === CHAR_0) return -1;
  return i;
}

/**
 * A String parameter `prefix` + text + `"` at `cursor.at`, which moves past it. The field formats
 * hold neither `"` nor `\`, so the text runs to the next `"` and needs no unescaping.
 */
function stringParam(value: string, cursor: { at: number }, prefix: string, pattern: RegExp): string | null {
  if (!value.startsWith(prefix, cursor.at)) return null;
  const start = cursor.at + prefix.length;
  const close = value.indexOf('"', start);
  if (close < 0) return null;
  const text = value.slice(start, close);
  if (!pattern.test(text)) return null;
  cursor.at = close + 1;
  return text;
}
