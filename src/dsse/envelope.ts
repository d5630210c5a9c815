/**
 * The DSSE envelope model and its strict JSON codec (docs/dsse.md; secure-systems-lab/dsse
 * envelope.md). Envelopes arriving from the network are untrusted: they enter as `unknown`, are
 * bounded by {@link EnvelopeLimits} before any expensive work, and leave as a typed
 * {@link Envelope} or a {@link DsseError}.
 */
import { isUtf8 } from 'node:buffer';
import { decodeBase64Bytes, decodeBase64Into, decodeBase64Strict, encodeBase64 } from './base64.js';
import { DsseError } from './errors.js';
import { locatePayload } from './locate.js';
import { allocatePae, isWellFormedText } from './pae.js';
import { assertUnambiguousJson } from './unambiguous.js';

/** One signature of an envelope; `keyid` is `""` when the JSON has none (or not as a string). */
export interface EnvelopeSignature {
  /** A hint naming the key; it may narrow which keys are tried, never decide trust. */
  keyid: string;
  /** The raw signature bytes (decoded); empty when the entry holds no usable signature. */
  sig: Buffer;
}

/** A DSSE envelope with its payload and signatures decoded to bytes. */
export interface Envelope {
  payloadType: string;
  payload: Buffer;
  signatures: EnvelopeSignature[];
}

/** Bounds applied to untrusted envelopes before they are decoded. */
export interface EnvelopeLimits {
  /** Size of the envelope JSON in bytes (for an object input: the sum of its string fields). */
  maxEnvelopeBytes: number;
  /** Number of entries in `signatures`. */
  maxSignatures: number;
  /** UTF-8 byte length of `payloadType`. */
  maxPayloadTypeBytes: number;
  /** UTF-8 byte length of each `keyid`. */
  maxKeyidBytes: number;
}

/**
 * Default limits: generous for signed scan artifacts (SBOMs of large images reach tens of MiB),
 * small enough that a hostile envelope cannot make a verifier try thousands of signatures.
 */
export const DEFAULT_ENVELOPE_LIMITS: Readonly<EnvelopeLimits> = Object.freeze({
  maxEnvelopeBytes: 128 * 1024 * 1024,
  maxSignatures: 16,
  maxPayloadTypeBytes: 256,
  maxKeyidBytes: 256,
});

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Parses an untrusted DSSE envelope given as an object (already parsed JSON), a JSON string or
 * UTF-8 bytes. Unknown fields are ignored; a missing `keyid` reads as `""`; base64 follows
 * {@link decodeBase64Strict}. An empty `signatures` list parses (verification rejects it with
 * `DSSE_NO_SIGNATURES`), so tools can still inspect unsigned envelopes.
 *
 * A text input that repeats a key in any object, or nests deeper than `MAX_JSON_DEPTH`, is
 * refused (docs/dsse.md "Unambiguous JSON"); an object input was parsed by someone else and cannot
 * be checked for that.
 *
 * @throws {DsseError} `DSSE_MALFORMED`, `DSSE_TOO_LARGE` or `DSSE_DUPLICATE_KEY`; never anything else for any input.
 */
export function parseEnvelope(input: unknown, limits?: Partial<EnvelopeLimits>): Envelope {
  const bounds = resolveLimits(limits);
  let value: unknown = input;
  if (input instanceof Uint8Array) {
    if (input.byteLength > bounds.maxEnvelopeBytes) throw tooLarge(`envelope of ${input.byteLength} bytes`, bounds.maxEnvelopeBytes);
    // A detached buffer reads as empty (and isUtf8 wrongly passes it): the decoder refuses it below.
    if (input.byteLength > 0 && !isUtf8(input)) throw new DsseError('DSSE_MALFORMED', 'envelope is not valid UTF-8');
    // The payload is decoded from the bytes where it lies, the rest parsed as JSON (./locate.ts).
    const range = input.byteLength > 0 ? locatePayload(input) : null;
    if (range !== null) {
      const rest = Buffer.concat([input.subarray(0, range.start), input.subarray(range.end)]);
      const payload = input.subarray(range.start, range.end);
      try {
        return fromJsonValue(parseJson(decodeUtf8(rest)), bounds, payload);
      } catch (error) {
        // JSON.parse of the whole text would have refused a control character in the payload
        // string before any other check: answer that, not the limit or field the rest tripped.
        if (error instanceof DsseError && hasControlByte(payload)) throw new DsseError('DSSE_MALFORMED', 'envelope is not valid JSON', { cause: error });
        throw error;
      }
    }
    value = parseJson(decodeUtf8(input));
  } else if (typeof input === 'string') {
    const size = Buffer.byteLength(input, 'utf8');
    if (size > bounds.maxEnvelopeBytes) throw tooLarge(`envelope of ${size} bytes`, bounds.maxEnvelopeBytes);
    value = parseJson(input);
  }
  return fromJsonValue(value, bounds);
}

/**
 * Serializes an envelope as DSSE JSON: standard base64 with padding, `keyid` always present.
 *
 * @example serializeEnvelope(await signEnvelope(type, body, [signer]))
 */
export function serializeEnvelope(env: Envelope): string {
  return JSON.stringify({
    payloadType: env.payloadType,
    payload: encodeBase64(env.payload),
    signatures: env.signatures.map((s) => ({ keyid: s.keyid, sig: encodeBase64(s.sig) })),
  });
}

/** Payload bytes per encoding step of {@link serializeEnvelopeBytes}: a multiple of 3 (no padding mid-way). */
const ENCODE_CHUNK_BYTES = 3 << 14;

/**
 * {@link serializeEnvelope} as UTF-8 bytes, byte for byte the same, written straight into one
 * buffer: the payload's base64 is encoded 48 KiB at a time, so a large payload costs its encoded
 * size once instead of a base64 string, a JSON string and the bytes of that (docs/dsse.md "Memory").
 *
 * @example await writeFile('envelope.json', serializeEnvelopeBytes(await signEnvelope(type, body, [signer])))
 */
export function serializeEnvelopeBytes(env: Envelope): Buffer {
  const head = `{"payloadType":${JSON.stringify(env.payloadType)},"payload":"`;
  const tail = `","signatures":${JSON.stringify(env.signatures.map((s) => ({ keyid: s.keyid, sig: encodeBase64(s.sig) })))}}`;
  const payload = Buffer.from(env.payload.buffer, env.payload.byteOffset, env.payload.byteLength);
  const out = Buffer.allocUnsafe(Buffer.byteLength(head) + Math.ceil(payload.length / 3) * 4 + Buffer.byteLength(tail));
  let at = out.write(head, 0, 'utf8');
  for (let from = 0; from < payload.length; from += ENCODE_CHUNK_BYTES) {
    at += out.write(payload.toString('base64', from, Math.min(payload.length, from + ENCODE_CHUNK_BYTES)), at, 'latin1');
  }
  at += out.write(tail, at, 'utf8');
  if (at !== out.length) throw new Error(`serializeEnvelopeBytes: wrote ${at} of ${out.length} bytes`);
  return out;
}

function resolveLimits(limits: Partial<EnvelopeLimits> | undefined): EnvelopeLimits {
  const bounds = { ...DEFAULT_ENVELOPE_LIMITS, ...limits };
  for (const [name, n] of Object.entries(bounds)) {
    if (!Number.isSafeInteger(n) || n < 0) throw new TypeError(`envelope limit ${name} must be a non-negative integer`);
  }
  return bounds;
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch (error) {
    // Invalid UTF-8, a detached buffer, or text longer than a JS string can hold.
    throw new DsseError('DSSE_MALFORMED', 'envelope is not valid UTF-8 text', { cause: error });
  }
}

/** Whether bytes hold a character JSON forbids raw inside a string (U+0000–U+001F). */
function hasControlByte(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! < 0x20) return true;
  return false;
}

/** `JSON.parse`, then the one-reading check (docs/dsse.md "Unambiguous JSON"). */
function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw new DsseError('DSSE_MALFORMED', 'envelope is not valid JSON', { cause: error });
  }
  assertUnambiguousJson(text, 'envelope');
  return value;
}

/**
 * Checks a parsed envelope. `payloadBytes`, when given, is the payload's base64 still as bytes
 * (the parsed object then holds `""` in its place).
 */
function fromJsonValue(value: unknown, bounds: EnvelopeLimits, payloadBytes?: Uint8Array): Envelope {
  if (!isPlainObject(value)) throw malformed('envelope is not a JSON object');
  const payloadType = own(value, 'payloadType');
  const payload = own(value, 'payload');
  const signatures = own(value, 'signatures');
  if (typeof payloadType !== 'string') throw malformed('payloadType must be a string');
  if (typeof payload !== 'string') throw malformed('payload must be a base64 string');
  if (!Array.isArray(signatures)) throw malformed('signatures must be an array');
  if (signatures.length > bounds.maxSignatures) throw tooLarge(`${signatures.length} signatures`, bounds.maxSignatures);
  const typeBytes = Buffer.byteLength(payloadType, 'utf8');
  if (typeBytes > bounds.maxPayloadTypeBytes) throw tooLarge(`payloadType of ${typeBytes} bytes`, bounds.maxPayloadTypeBytes);
  if (!isWellFormedText(payloadType)) throw malformed('payloadType is not well-formed Unicode');

  // An object input was never measured as text; bound it by the strings it will decode.
  let size = typeBytes + (payloadBytes?.byteLength ?? payload.length);
  const raw: { keyid: string; sig: string }[] = [];
  for (const [index, entry] of signatures.entries()) {
    // DSSE verification skips a signature that fails and lets the threshold decide, so one bad
    // entry never fails the envelope (docs/dsse.md "Envelope and PAE"): a keyid that is not a
    // string is no hint, a sig that is not a string reads as empty, and an empty sig verifies
    // under no key. The size limits still bound every entry.
    const fields = isPlainObject(entry) ? entry : {};
    const rawKeyid = own(fields, 'keyid');
    const rawSig = own(fields, 'sig');
    const keyid = typeof rawKeyid === 'string' ? rawKeyid : '';
    const sig = typeof rawSig === 'string' ? rawSig : '';
    const keyidBytes = Buffer.byteLength(keyid, 'utf8');
    if (keyidBytes > bounds.maxKeyidBytes) throw tooLarge(`signatures[${index}].keyid of ${keyidBytes} bytes`, bounds.maxKeyidBytes);
    size += keyidBytes + sig.length;
    raw.push({ keyid, sig });
  }
  if (size > bounds.maxEnvelopeBytes) throw tooLarge(`envelope of at least ${size} bytes`, bounds.maxEnvelopeBytes);

  return {
    payloadType,
    payload: decodePayload(payloadType, payloadBytes ?? payload),
    signatures: raw.map((s) => ({ keyid: s.keyid, sig: decodeSignature(s.sig) })),
  };
}

/**
 * Decodes the payload straight into the tail of its PAE buffer: verification then signs over the
 * bytes in place instead of copying the payload a second time (docs/dsse.md "Memory").
 */
function decodePayload(payloadType: string, value: string | Uint8Array): Buffer {
  const allocate = (length: number): Buffer => allocatePae(payloadType, length).payload;
  try {
    // Base64 still as bytes (the byte path of parseEnvelope) is decoded a slice at a time.
    return typeof value === 'string' ? decodeBase64Into(value, allocate) : decodeBase64Bytes(value, allocate);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DsseError('DSSE_MALFORMED', `payload: ${reason}`, { cause: error });
  }
}

/** A sig that is not strict base64 cannot verify: it reads as empty, which no key accepts. */
function decodeSignature(value: string): Buffer {
  try {
    return decodeBase64Strict(value);
  } catch {
    return Buffer.alloc(0);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads an own property only, so inherited (or polluted) prototype fields are never seen. */
function own(object: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(object, key) ? object[key] : undefined;
}

function malformed(message: string): DsseError {
  return new DsseError('DSSE_MALFORMED', message);
}

function tooLarge(what: string, limit: number): DsseError {
  return new DsseError('DSSE_TOO_LARGE', `${what} exceeds the limit of ${limit}`);
}
