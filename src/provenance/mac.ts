/**
 * The hop-record MAC (docs/provenance.md): HMAC-SHA256 over a `|`-joined UTF-8 string. Pure, Node's crypto
 * primitives only, comparison in constant time.
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { MAC_CONTEXT, type RequestFacts } from './record.js';

/** The methods a MAC may cover: upper-case letters only, so no `|` can shift the fields. */
export const METHOD_PATTERN = /^[A-Z]{1,32}$/;

/** Everything one record's MAC covers. */
export interface MacFields {
  hop: string;
  seq: number;
  ts: number;
  nonce: string;
  peer: string;
  peerId: string;
  request: RequestFacts;
  /** Standard padded base64 of the previous record's MAC; null for seq 1. */
  previousMac: string | null;
}

/**
 * The MAC input string (docs/provenance.md):
 * `stella-provenance-v1|hop|seq|ts|nonce|peer|peer-id|METHOD|path-and-query|scan-id|content-digest|prev-mac`.
 *
 * Only the path can contain `|`; every other field's format excludes it (the middleware rejects a
 * `Content-Digest` holding one), so the split stays unambiguous.
 */
export function macInput(fields: MacFields): string {
  return recordMacInput(fields, requestMacPart(fields.request), fields.previousMac);
}

/**
 * The part of every MAC input that the request facts fix (`METHOD|path-and-query|scan-id|content-digest|`):
 * the same for each record of one request, so a verifier builds it once per request, not once per
 * record (docs/provenance.md#3-the-mac).
 */
export function requestMacPart(request: RequestFacts): string {
  // RFC 9110 allows `|` in a method token; ours never hold one (METHOD_PATTERN), so the split stays unique.
  if (!METHOD_PATTERN.test(request.method)) throw new TypeError(`macInput: method ${JSON.stringify(request.method)} is not an upper-case token`);
  return `${request.method}|${request.pathAndQuery}|${request.scanId}|${request.contentDigest ?? ''}|`;
}

/**
 * One record's MAC input from its own fields, the request's part ({@link requestMacPart}) and the
 * previous record's MAC in standard padded base64 (null for seq 1): exactly {@link macInput}.
 */
export function recordMacInput(record: Omit<MacFields, 'request' | 'previousMac'>, requestPart: string, previousMac: string | null): string {
  // One template rather than an array join: this runs once per record on every request.
  return `${MAC_CONTEXT}|${record.hop}|${record.seq}|${record.ts}|${record.nonce}|${record.peer}|${record.peerId}|${requestPart}${previousMac ?? ''}`;
}

/**
 * Secret-key objects per hop-key buffer, made once per key: a raw buffer is turned into one on
 * every `createHmac` call. Keyed by the buffer itself (a keyring is loaded once and never
 * mutated), held weakly so a reloaded keyring drops the old ones.
 */
const KEY_OBJECTS = new WeakMap<Uint8Array, KeyObject>();

function keyObjectOf(key: Uint8Array): KeyObject {
  let object = KEY_OBJECTS.get(key);
  if (object === undefined) {
    object = createSecretKey(key);
    KEY_OBJECTS.set(key, object);
  }
  return object;
}

/** HMAC-SHA256 of the MAC input under one hop key. */
export function computeMac(key: Uint8Array, input: string): Uint8Array {
  const mac = createHmac('sha256', keyObjectOf(key)).update(input, 'utf8').digest();
  return new Uint8Array(mac.buffer, mac.byteOffset, mac.byteLength);
}

/**
 * HMAC-SHA256 of the MAC input as standard padded base64: what a verifier needs next (the following
 * record's `prev-mac` field) without a Buffer made in C++ and a second encoding per record.
 */
export function computeMacBase64(key: Uint8Array, input: string): string {
  return createHmac('sha256', keyObjectOf(key)).update(input, 'utf8').digest('base64');
}

/** Constant-time equality of two MACs (lengths are public: both are 32 bytes by format). */
export function macEquals(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}
