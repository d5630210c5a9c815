/**
 * The fast path of the `X-Stella-Provenance` codec: a reader for exactly the canonical form every
 * stamping hop writes (docs/provenance.md#2-headers): members joined by `,` and spaces, each a hop-id Token
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
import { patternBody } from '../conventions/index.js';
import { NONCE_PATTERN, PEER_FINGERPRINT_PATTERN, type HopRecord } from './record.js';
import { HOP_ID_PATTERN, KID_PATTERN, PEER_ID_PATTERN } from './record.js';

/**
 * The source (no anchors) of the canonical standard base64 of `bytes` bytes, padded as RFC 9651
 * §4.1.8 serializes a Byte Sequence: a character per 6 bits, the last one holding only the bits
 * left (the rest zero: 4 bits left leave 16 characters, 2 bits leave 4), then `=` to a multiple of 4.
 */
export function canonicalBase64(bytes: number): string {
  const full = Math.floor(bytes / 3) * 4;
  const tail = bytes % 3 === 1 ? '[AQgw]==' : bytes % 3 === 2 ? '[AEIMQUYcgkosw048]=' : '';
  return `[A-Za-z0-9+/]{${full + (bytes % 3)}}${tail}`;
}

/**
 * The canonical standard base64 of 32 bytes (a MAC, a SHA-256): 42 characters of 6 bits, one
 * holding the last 4 bits and two zero bits (so its value is a multiple of 4), and one `=`.
 */
export const BASE64_OF_32_BYTES = new RegExp(`^${canonicalBase64(32)}$`);

/** A canonical RFC 9651 Integer (§4.1.4): no sign, no leading zero, at most 15 digits. */
export const CANONICAL_INTEGER = /^(?:0|[1-9][0-9]{0,14})$/;


/**
 * One member in canonical form, composed from the field formats (record.ts) so they stay the one
 * place that defines them; sticky, so it matches exactly at `lastIndex`. Groups: hop, seq, ts,
 * nonce, peer, peer-id, kid, mac (base64).
 */
const MEMBER = new RegExp(
  `(${patternBody(HOP_ID_PATTERN)});seq=(${patternBody(CANONICAL_INTEGER)});ts=(${patternBody(CANONICAL_INTEGER)});` +
    `nonce="(${patternBody(NONCE_PATTERN)})";peer="(${patternBody(PEER_FINGERPRINT_PATTERN)})";peer-id="(${patternBody(PEER_ID_PATTERN)})";` +
    `kid="(${patternBody(KID_PATTERN)})";mac=:(${patternBody(BASE64_OF_32_BYTES)}):`,
  'y',
);

const CHAR_SP = 0x20;
const CHAR_COMMA = 0x2c;

/**
 * Where the next member starts after the one ending at `at`: past the `,` and any spaces the hops
 * write between members, or -1 when `,` is not there (not the canonical form).
 */
export function nextMemberAt(value: string, at: number): number {
  if (value.charCodeAt(at) !== CHAR_COMMA) return -1;
  let next = at + 1;
  while (value.charCodeAt(next) === CHAR_SP) next++;
  return next;
}

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
    MEMBER.lastIndex = at;
    const m = MEMBER.exec(value);
    if (m === null) return null;
    const seq = Number(m[2]);
    if (seq < 1 || seq > maxHops) return null;
    const macBytes = Buffer.from(m[8]!, 'base64');
    const mac = new Uint8Array(macBytes.buffer, macBytes.byteOffset, macBytes.byteLength);
    records.push({ hop: m[1]!, seq, ts: Number(m[3]), nonce: m[4]!, peer: m[5]!, peerId: m[6]!, kid: m[7]!, mac });

    if (MEMBER.lastIndex === end) return records;
    at = nextMemberAt(value, MEMBER.lastIndex);
    if (at < 0) return null;
  }
}
