/**
 * Parse and serialize `X-Stella-Provenance` (docs/provenance.md): an RFC 9651 List of Tokens with exactly the
 * parameters of {@link RECORD_PARAMS}. Pure; structured-field syntax is left to `structured-headers`.
 *
 * Beyond RFC 9651 syntax this codec insists on the *canonical* serialization of every member
 * (RFC 9651 §4.1): whitespace between members and after `;` is free, nothing else is. That one rule
 * rejects duplicated parameters (which an RFC 9651 parser silently collapses to the last value — a
 * forged `mac` placed after a genuine one would otherwise win), `seq=01`, `ts=1.0` and unpadded
 * base64, so two receivers can never read one header differently.
 */
import { parseList, serializeList, Token } from 'structured-headers';
import type { BareItem, List, Parameters } from 'structured-headers';
import { readCanonicalRecords } from './canonical.js';
import { ProvenanceError } from './problems.js';
import {
  HOP_ID_PATTERN,
  KID_PATTERN,
  MAC_BYTES,
  NONCE_PATTERN,
  PEER_FINGERPRINT_PATTERN,
  PEER_ID_PATTERN,
  RECORD_PARAMS,
  type HopRecord,
} from './record.js';

/** Limits applied before and while parsing (from `topology.provenance`). */
export interface CodecLimits {
  maxHeaderBytes: number;
  maxHops: number;
}

/** Largest Integer RFC 9651 §3.3.1 allows; also bounds `ts`. */
const MAX_SF_INTEGER = 999_999_999_999_999;

/**
 * Combines several field lines of one header into one value, as RFC 9110 §5.3 allows for list-based
 * fields: joined in order with `", "`. Returns null when the header is absent.
 */
export function combineFieldLines(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((v): v is string => typeof v === 'string')) {
    return value.length === 0 ? null : value.join(', ');
  }
  throw new ProvenanceError('provenance-malformed', 'header value is neither a string nor a list of strings');
}

/**
 * Parses the combined field value into records, edge first.
 * @throws ProvenanceError `provenance-malformed` for any syntax, shape, format or limit violation.
 */
export function parseProvenanceHeader(value: string, limits: CodecLimits): HopRecord[] {
  if (Buffer.byteLength(value, 'utf8') > limits.maxHeaderBytes) {
    throw malformed(`header is longer than ${limits.maxHeaderBytes} bytes`);
  }
  // What the hops write is read by the fast reader; anything else (and every refusal) is judged by
  // the general path below, so the two accept exactly the same headers (canonical.ts).
  return readCanonicalRecords(value, limits.maxHops) ?? parseGeneral(value, limits);
}

/**
 * The general path: RFC 9651 syntax by `structured-headers`, then the shape, the formats and the
 * canonical-form check. Exported for the differential test of {@link readCanonicalRecords}.
 * @throws ProvenanceError `provenance-malformed`.
 */
export function parseGeneral(value: string, limits: CodecLimits): HopRecord[] {
  let list;
  try {
    list = parseList(value);
  } catch (error) {
    throw malformed('not an RFC 9651 List', error);
  }
  if (list.length === 0) throw malformed('the list is empty');
  if (list.length > limits.maxHops) throw malformed(`more than ${limits.maxHops} records`);

  const records = list.map((member, index): HopRecord => {
    const [item, params] = member;
    if (Array.isArray(item)) throw malformed(`member ${index} is an Inner List, not a Token`);
    if (!(item instanceof Token)) throw malformed(`member ${index} is not a Token`);
    const hop = item.toString();
    if (!HOP_ID_PATTERN.test(hop)) throw malformed(`member ${index}: hop id "${hop}" has the wrong format`);
    return readParams(params, `member ${index} (${hop})`, hop, limits.maxHops);
  });

  // Canonical form (see the module comment). Formats are checked first, so the canonical strings
  // hold no commas or spaces inside values and the separators can be normalised safely.
  const normalised = value.trim().replace(/[ \t]*,[ \t]*/g, ',').replace(/;[ \t]+/g, ';');
  if (normalised !== list.map(canonicalMember).join(',')) {
    throw malformed('not in canonical form (duplicate parameter, leading zeros, decimal or unpadded base64)');
  }
  return records;
}

/** Serializes records as one field value (RFC 9651 §4.1.1), parameters in {@link RECORD_PARAMS} order. */
export function serializeProvenanceHeader(records: readonly HopRecord[]): string {
  return serializeList(
    records.map((r) => [
      new Token(r.hop),
      new Map<string, BareItem>([
        ['seq', r.seq],
        ['ts', r.ts],
        ['nonce', r.nonce],
        ['peer', r.peer],
        ['peer-id', r.peerId],
        ['kid', r.kid],
        ['mac', r.mac],
      ]),
    ]),
  );
}

/** The standard, padded base64 of a MAC, as the next record's chain field uses it (docs/provenance.md). */
export function macToBase64(mac: Uint8Array): string {
  return Buffer.from(mac.buffer, mac.byteOffset, mac.byteLength).toString('base64');
}

/**
 * RFC 9651 §4.1 serialization of one member whose values already passed {@link readParams}: Token,
 * Integers, Strings without `"` or a backslash (the formats exclude them, so no escaping) and a Byte
 * Sequence. The general serializer gives the same text at about a third of the speed, and this runs
 * on every request.
 */
function canonicalMember(member: List[number]): string {
  const [item, params] = member as [Token, Parameters];
  let out = item.toString();
  for (const [key, value] of params) {
    if (value instanceof ArrayBuffer) out += `;${key}=:${Buffer.from(value).toString('base64')}:`;
    else if (typeof value === 'number') out += `;${key}=${value}`;
    else out += `;${key}="${String(value)}"`;
  }
  return out;
}

function readParams(params: Parameters, where: string, hop: string, maxHops: number): HopRecord {
  for (const key of params.keys()) {
    if (!(RECORD_PARAMS as readonly string[]).includes(key)) throw malformed(`${where}: unknown parameter "${key}"`);
  }
  const integer = (key: string, min: number, max: number): number => {
    const v = params.get(key);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw malformed(`${where}: ${key} must be an Integer in ${min}..${max}`);
    }
    return v;
  };
  const string = (key: string, pattern: RegExp): string => {
    const v = params.get(key);
    if (typeof v !== 'string' || !pattern.test(v)) throw malformed(`${where}: ${key} must be a String matching ${pattern.source}`);
    return v;
  };
  const mac = params.get('mac');
  if (!(mac instanceof ArrayBuffer) || mac.byteLength !== MAC_BYTES) {
    throw malformed(`${where}: mac must be a ${MAC_BYTES}-byte Byte Sequence`);
  }
  return {
    hop,
    seq: integer('seq', 1, maxHops),
    ts: integer('ts', 0, MAX_SF_INTEGER),
    nonce: string('nonce', NONCE_PATTERN),
    peer: string('peer', PEER_FINGERPRINT_PATTERN),
    peerId: string('peer-id', PEER_ID_PATTERN),
    kid: string('kid', KID_PATTERN),
    mac: new Uint8Array(mac),
  };
}

function malformed(message: string, cause?: unknown): ProvenanceError {
  return new ProvenanceError('provenance-malformed', message, cause === undefined ? undefined : { cause });
}
