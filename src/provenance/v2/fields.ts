/**
 * Parse, strip and append the `Signature-Input` and `Signature` fields of the v2 profile
 * (docs/provenance.md#v2-grammar). The form the hops write is read by a fast reader
 * (canonical.ts); otherwise RFC 9651 syntax is left to `structured-headers`, and this module
 * adds what a Dictionary parser hides: a repeated key (RFC 9651 §4.2.2 keeps only the last value,
 * so a forged member placed after a genuine one would silently win) and non-canonical members.
 * Pure.
 */
import { parseDictionary, serializeDictionary, serializeInnerList, serializeItem } from 'structured-headers';
import type { BareItem, Dictionary, InnerList, Item, Parameters } from 'structured-headers';
import { KID_PATTERN, PEER_FINGERPRINT_PATTERN, PEER_ID_PATTERN } from '../record.js';
import { ProvenanceError } from '../problems.js';
import { V2_ALGORITHMS, isV2Alg } from './algorithms.js';
import { readCanonicalV2 } from './canonical.js';
import { V2_LABEL_PREFIX, V2_NONCE_PATTERN, V2_PARAMS, V2_TAG, parseV2Label, v2CoveredComponents, type V2Member } from './profile.js';

/** Largest Integer RFC 9651 §3.3.1 allows. */
const MAX_SF_INTEGER = 999_999_999_999_999;

/** One member of a Dictionary field, with its text as it stood in the field (trimmed). */
export interface RawMember {
  label: string;
  raw: string;
  value: Item | InnerList;
}

/**
 * Splits a Dictionary field value into its members in order, duplicates kept. Each member is
 * parsed on its own by the RFC 9651 parser: a cut at a comma inside a String leaves an unterminated
 * String that does not parse, so only the commas between members split. Members that each parse,
 * joined by OWS "," OWS, are exactly an RFC 9651 Dictionary (§3.2), so the whole value is not
 * parsed a second time (that parse cost as much as the splitting).
 * @throws Error when the value is not an RFC 9651 Dictionary.
 */
export function splitDictionary(value: string): RawMember[] {
  // RFC 9651 §4.2 discards leading and trailing SP only; a tab there is not a Dictionary.
  if (value.replace(/ /g, '') === '') return []; // the empty Dictionary
  if (value.startsWith('\t') || value.endsWith('\t')) throw new Error('a Dictionary does not start or end with a tab');
  const members: RawMember[] = [];
  let start = 0;
  for (let comma = value.indexOf(','); ; comma = value.indexOf(',', comma + 1)) {
    const end = comma === -1 ? value.length : comma;
    const segment = value.slice(start, end).replace(/^[ \t]+|[ \t]+$/g, '');
    const single = parseOne(segment);
    if (single) {
      members.push({ label: single[0], raw: segment, value: single[1] });
      start = end + 1;
    }
    if (comma === -1) break;
  }
  // The last member must end the value: anything after it (text, a trailing comma) is not a Dictionary.
  if (start !== value.length + 1) throw new Error('not an RFC 9651 Dictionary (text or a comma after the last member)');
  return members;
}

function parseOne(segment: string): [string, Item | InnerList] | null {
  if (segment === '') return null;
  let dict: Dictionary;
  try {
    dict = parseDictionary(segment);
  } catch {
    return null;
  }
  return dict.size === 1 ? [...dict.entries()][0]! : null;
}

/** Whether a `Signature-Input` member belongs to the profile: its label or its tag says so. */
function isOwn(member: RawMember): boolean {
  if (member.label.startsWith(V2_LABEL_PREFIX)) return true;
  const value = member.value;
  return Array.isArray(value[0]) && value[1].get('tag') === V2_TAG;
}

/** The two fields after the edge removed the profile's members; null for a field left empty. */
export interface StrippedFields {
  signatureInput: string | null;
  signature: string | null;
}

/**
 * The edge's strip (docs/provenance.md#v2-the-edge-strips): removes every member whose label starts
 * with `stella-` or whose tag is the profile's, from both fields; members of other signatures pass
 * as they came. A field that does not parse as a Dictionary is dropped whole: it cannot be split
 * safely and would only be refused further on.
 */
export function stripV2Members(signatureInput: string | null, signature: string | null): StrippedFields {
  const input = trySplit(signatureInput);
  const sigs = trySplit(signature);
  const dropped = new Set((input ?? []).filter(isOwn).map((m) => m.label));
  const keep = (members: RawMember[] | null): string | null => {
    const kept = (members ?? []).filter((m) => !dropped.has(m.label) && !m.label.startsWith(V2_LABEL_PREFIX));
    return kept.length === 0 ? null : kept.map((m) => m.raw).join(', ');
  };
  return { signatureInput: keep(input), signature: keep(sigs) };
}

function trySplit(value: string | null): RawMember[] | null {
  if (value === null || value.trim() === '') return null;
  try {
    return splitDictionary(value);
  } catch {
    return null;
  }
}

/** Appends one member to a Dictionary field value (RFC 9421 §4.1: each signer adds its own). */
export function appendMember(existing: string | null, label: string, serializedValue: string): string {
  const member = `${label}=${serializedValue}`;
  return existing === null || existing.trim() === '' ? member : `${existing}, ${member}`;
}

/** Limits applied while parsing (from `topology.provenance`). */
export interface V2Limits {
  maxHeaderBytes: number;
  maxHops: number;
}

/**
 * Reads the profile's members out of both fields, in chain order. Members of other signatures
 * are skipped. Returns an empty array when the fields hold none of ours.
 * @throws ProvenanceError `provenance-malformed` (docs/provenance.md#v2-grammar).
 */
export function parseV2Fields(signatureInput: string, signature: string, limits: V2Limits): V2Member[] {
  for (const [name, value] of [['Signature-Input', signatureInput], ['Signature', signature]] as const) {
    if (Buffer.byteLength(value, 'utf8') > limits.maxHeaderBytes) throw malformed(`${name} is longer than ${limits.maxHeaderBytes} bytes`);
  }
  // The form the hops write is read by the fast reader; anything else, and every refusal, by the
  // general path below, so the two accept exactly the same fields (canonical.ts).
  return readCanonicalV2(signatureInput, signature, limits.maxHops) ?? parseV2General(signatureInput, signature, limits);
}

/**
 * The general path of {@link parseV2Fields} (after its size check): the RFC 9651 parser, then the
 * profile's rules and the canonical-form check. Exported for the differential test of
 * {@link readCanonicalV2}.
 * @throws ProvenanceError `provenance-malformed`.
 */
export function parseV2General(signatureInput: string, signature: string, limits: Pick<V2Limits, 'maxHops'>): V2Member[] {
  const inputs = splitOrThrow(signatureInput, 'Signature-Input');
  const sigs = splitOrThrow(signature, 'Signature');
  const own = inputs.filter(isOwn);
  const ownSigs = sigs.filter((m) => m.label.startsWith(V2_LABEL_PREFIX) || own.some((o) => o.label === m.label));
  if (own.length > limits.maxHops) throw malformed(`more than ${limits.maxHops} members of ${V2_TAG}`);
  const labels = own.map((m) => m.label);
  if (new Set(labels).size !== labels.length) throw malformed('a Signature-Input label of the profile appears twice');
  if (ownSigs.length !== own.length || ownSigs.some((m, i) => m.label !== labels[i])) {
    throw malformed('Signature must hold exactly the profile\'s Signature-Input labels, once each and in the same order');
  }
  return own.map((m, i) => readMember(m, ownSigs[i]!));
}

function splitOrThrow(value: string, name: string): RawMember[] {
  try {
    return splitDictionary(value);
  } catch (error) {
    throw malformed(`${name} is not an RFC 9651 Dictionary`, error);
  }
}

function readMember(input: RawMember, sig: RawMember): V2Member {
  const where = `member ${input.label}`;
  const label = parseV2Label(input.label);
  if (!label) throw malformed(`${where}: the label must be stella-<seq>-<hop id>`);
  const value = input.value;
  if (!Array.isArray(value[0])) throw malformed(`${where}: not an Inner List`);
  const [items, params] = value as InnerList;
  const covered = items.map(([item, itemParams]) => serializeItem(item, itemParams));
  const last = items.at(-1);
  const previous = label.seq > 1 && last && last[0] === 'signature' && typeof last[1].get('key') === 'string' ? (last[1].get('key') as string) : null;
  const coversContentDigest = covered.includes('"content-digest"');
  const expected = v2CoveredComponents(coversContentDigest, label.seq > 1 ? previous ?? '' : null);
  if (covered.join(' ') !== expected.join(' ') || (previous !== null && !parseV2Label(previous))) {
    throw malformed(`${where}: covered components ${covered.join(' ')} are not the profile's`);
  }
  const alg = readParams(params, where);
  // Canonical form (RFC 9651 §4.1): refuses duplicated parameters, which a parser collapses.
  if (serializeDictionary(new Map([[input.label, value]])) !== input.raw) throw malformed(`${where}: not in canonical form (duplicate parameter, leading zeros, spacing)`);
  const signatureItem = sig.value;
  if (Array.isArray(signatureItem[0]) || !(signatureItem[0] instanceof ArrayBuffer) || signatureItem[1].size !== 0) {
    throw malformed(`Signature ${sig.label}: must be a Byte Sequence without parameters`);
  }
  const bytes = Buffer.from(signatureItem[0]);
  if (bytes.byteLength !== V2_ALGORITHMS[alg].signatureBytes) throw malformed(`Signature ${sig.label}: ${bytes.byteLength} bytes, ${alg} signatures have ${V2_ALGORITHMS[alg].signatureBytes}`);
  const signatureValue = serializeItem(signatureItem[0]);
  if (`${sig.label}=${signatureValue}` !== sig.raw) throw malformed(`Signature ${sig.label}: not in canonical form (padded standard base64)`);
  return {
    label: input.label,
    hop: label.hop,
    seq: label.seq,
    coversContentDigest,
    coveredPrevious: previous,
    params: {
      created: params.get('created') as number,
      nonce: params.get('nonce') as string,
      keyid: params.get('keyid') as string,
      alg,
      peer: params.get('peer') as string,
      peerId: params.get('peer-id') as string,
    },
    signatureParams: serializeInnerList(value as InnerList),
    signatureValue,
    signature: bytes,
  };
}

/** Checks the exact parameter set, order and formats; returns the algorithm. */
function readParams(params: Parameters, where: string): keyof typeof V2_ALGORITHMS {
  const keys = [...params.keys()];
  if (keys.join(';') !== V2_PARAMS.join(';')) throw malformed(`${where}: parameters must be exactly ${V2_PARAMS.join(';')}, in that order`);
  const created = params.get('created');
  if (typeof created !== 'number' || !Number.isInteger(created) || created < 0 || created > MAX_SF_INTEGER) throw malformed(`${where}: created must be an Integer`);
  const string = (key: string, pattern: RegExp): string => {
    const v: BareItem | undefined = params.get(key);
    if (typeof v !== 'string' || !pattern.test(v)) throw malformed(`${where}: ${key} must be a String matching ${pattern.source}`);
    return v;
  };
  string('nonce', V2_NONCE_PATTERN);
  string('keyid', KID_PATTERN);
  string('peer', PEER_FINGERPRINT_PATTERN);
  string('peer-id', PEER_ID_PATTERN);
  if (params.get('tag') !== V2_TAG) throw malformed(`${where}: tag must be "${V2_TAG}"`);
  const alg = params.get('alg');
  if (!isV2Alg(alg)) throw malformed(`${where}: alg ${JSON.stringify(alg)} is not one of ${Object.keys(V2_ALGORITHMS).join(', ')}`);
  return alg;
}

function malformed(message: string, cause?: unknown): ProvenanceError {
  return new ProvenanceError('provenance-malformed', message, cause === undefined ? undefined : { cause });
}
