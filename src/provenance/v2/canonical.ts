/**
 * The fast path of the v2 fields (docs/provenance.md#v2-grammar), as `canonical.ts` is for v1: a
 * reader for exactly the form every stamping hop writes, where `Signature-Input` and `Signature`
 * hold the profile's members only, each in its canonical RFC 9651 serialization, joined by `,` and
 * spaces. It only ever says "this is that form, and these are its members" or "not that form"
 * (null); it never refuses anything itself.
 *
 * `parseV2Fields` (fields.ts) tries this reader first and hands anything it does not take
 * (members of other signatures, other spacing, every malformed input) to the general
 * `structured-headers` path, which stays the judge of every refusal. So the reader may be narrower
 * than the general path but never wider: test/provenance/v2/canonical.test.ts checks over more
 * than 100,000 random and mutated field pairs that whatever it accepts the general path accepts
 * with the same members. The general path parses each member, re-serializes it to prove it
 * canonical and costs as much as the signature checks themselves (bench/README.md, "Where the time
 * goes").
 */
import { HOP_ID_PATTERN, KID_PATTERN, PEER_FINGERPRINT_PATTERN, PEER_ID_PATTERN } from '../record.js';
import { CANONICAL_INTEGER, canonicalBase64, patternBody } from '../canonical.js';
import { V2_ALGORITHMS, isV2Alg } from './algorithms.js';
import { V2_LABEL_PREFIX, V2_LABEL_SEQ_SOURCE, V2_NONCE_PATTERN, V2_TAG, type V2Member } from './profile.js';

/** A label (`parseV2Label`'s rule, from the same parts); groups: seq, hop. */
const LABEL = `${V2_LABEL_PREFIX}(${V2_LABEL_SEQ_SOURCE})-(${patternBody(HOP_ID_PATTERN)})`;

/**
 * One `Signature-Input` member in canonical form, composed from the field formats so they stay
 * defined in one place; sticky. Groups: seq, hop, the inner list, `content-digest` when covered,
 * the previous label (seq and hop) when covered, created, nonce, keyid, alg, peer, peer-id.
 * Every String format excludes `"` and `\`, so no escape can occur in a canonical member.
 */
const INPUT_MEMBER = new RegExp(
  `${LABEL}=(\\("@method" "@path" "@query"( "content-digest")? "x-stella-scan-id"(?: "signature";key="(${LABEL})")?\\)` +
    `;created=(${patternBody(CANONICAL_INTEGER)});nonce="(${patternBody(V2_NONCE_PATTERN)})";keyid="(${patternBody(KID_PATTERN)})"` +
    `;alg="(${Object.keys(V2_ALGORITHMS).join('|')})";tag="${V2_TAG}";peer="(${patternBody(PEER_FINGERPRINT_PATTERN)})";peer-id="(${patternBody(PEER_ID_PATTERN)})")`,
  'y',
);

/** One `Signature` member: a label and a Byte Sequence in standard base64 (its length and padding checked per algorithm). */
const SIGNATURE_MEMBER = new RegExp(`${V2_LABEL_PREFIX}${V2_LABEL_SEQ_SOURCE}-${patternBody(HOP_ID_PATTERN)}=(:[A-Za-z0-9+/=]{1,172}:)`, 'y');

/** The canonical standard base64 of a signature, per byte length (RFC 9651 §4.1.8: padded). */
const SIGNATURE_TEXT = new Map(Object.values(V2_ALGORITHMS).map((a) => [a.signatureBytes, new RegExp(`^:${canonicalBase64(a.signatureBytes)}:$`)]));

const CHAR_SP = 0x20;
const CHAR_COMMA = 0x2c;

/**
 * Reads both fields in the canonical form, or returns null when they are not exactly that form
 * (or hold more than `maxHops` members); a null says nothing about whether the fields are valid.
 */
export function readCanonicalV2(signatureInput: string, signature: string, maxHops: number): V2Member[] | null {
  const members: V2Member[] = [];
  const labels = new Set<string>();
  let inAt = 0;
  let sigAt = 0;
  for (;;) {
    if (members.length === maxHops) return null;
    INPUT_MEMBER.lastIndex = inAt;
    const m = INPUT_MEMBER.exec(signatureInput);
    if (m === null) return null;
    const seq = Number(m[1]);
    const previousSeq = m[5] === undefined ? null : Number(m[6]);
    // The general path's rules on the covered list: a signature component from seq 2 on, never on seq 1.
    if ((seq > 1) !== (previousSeq !== null)) return null;
    const label = `stella-${m[1]}-${m[2]}`;
    if (labels.has(label)) return null;
    labels.add(label);
    const alg = m[11]!;
    if (!isV2Alg(alg)) return null;

    SIGNATURE_MEMBER.lastIndex = sigAt;
    const s = SIGNATURE_MEMBER.exec(signature);
    // Same label, same place: the Signature member's label ends where its `=` begins.
    if (s === null || signature.slice(sigAt, sigAt + label.length + 1) !== `${label}=`) return null;
    const signatureValue = s[1]!;
    if (!SIGNATURE_TEXT.get(V2_ALGORITHMS[alg].signatureBytes)!.test(signatureValue)) return null;

    members.push({
      label,
      hop: m[2]!,
      seq,
      coversContentDigest: m[4] !== undefined,
      coveredPrevious: m[5] ?? null,
      params: { created: Number(m[8]), nonce: m[9]!, keyid: m[10]!, alg, peer: m[12]!, peerId: m[13]! },
      signatureParams: m[3]!,
      signatureValue,
      signature: Buffer.from(signatureValue.slice(1, -1), 'base64'),
    });

    inAt = INPUT_MEMBER.lastIndex;
    sigAt = SIGNATURE_MEMBER.lastIndex;
    const inEnd = inAt === signatureInput.length;
    const sigEnd = sigAt === signature.length;
    if (inEnd || sigEnd) return inEnd && sigEnd ? members : null;
    if (signatureInput.charCodeAt(inAt) !== CHAR_COMMA || signature.charCodeAt(sigAt) !== CHAR_COMMA) return null;
    inAt++;
    sigAt++;
    while (signatureInput.charCodeAt(inAt) === CHAR_SP) inAt++;
    while (signature.charCodeAt(sigAt) === CHAR_SP) sigAt++;
  }
}
