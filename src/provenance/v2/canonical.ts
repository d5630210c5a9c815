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
 * canonical and costs as much as the signature checks themselves (bench/README.md, "Checking v2").
 *
 * The member pattern is composed from the profile's own tables (the covered components of
 * `v2CoveredComponents`, the parameters of `V2_PARAMS`, the label rule, the field formats), so a
 * change to the profile changes what this reader takes.
 */
import { escapeRegExp, patternBody } from '../../conventions/index.js';
import { HOP_ID_PATTERN, KID_PATTERN, PEER_FINGERPRINT_PATTERN, PEER_ID_PATTERN } from '../record.js';
import { CANONICAL_INTEGER, canonicalBase64, nextMemberAt } from '../canonical.js';
import { V2_ALGORITHMS, isV2Alg } from './algorithms.js';
import { V2_LABEL_PREFIX, V2_LABEL_SEQ_SOURCE, V2_NONCE_PATTERN, V2_PARAMS, V2_TAG, v2CoveredComponents, v2Label, type V2Member } from './profile.js';

/** A label (`parseV2Label`'s rule, from the same parts), without groups. */
const LABEL = `${escapeRegExp(V2_LABEL_PREFIX)}${V2_LABEL_SEQ_SOURCE}-${patternBody(HOP_ID_PATTERN)}`;

/**
 * The covered components, in the profile's order: those every member covers, `content-digest`
 * when the request has one (group `cd`), and the previous member's signature from seq 2 on (group
 * `previous`, its label).
 */
const COVERED = ((): string => {
  const placeholder = `${V2_LABEL_PREFIX}0-previous`;
  const always = new Set(v2CoveredComponents(false, null));
  return v2CoveredComponents(true, placeholder)
    .map((item) => {
      if (always.has(item)) return escapeRegExp(item);
      if (item.includes(placeholder)) return `(?: ${escapeRegExp(item).replace(escapeRegExp(placeholder), `(?<previous>${LABEL})`)})?`;
      return `(?<cd> ${escapeRegExp(item)})?`;
    })
    .join(' ')
    .replaceAll(' (?', '(?');
})();

/** Each parameter's canonical value, in a named group where the member needs it. */
const PARAM_VALUES: Record<(typeof V2_PARAMS)[number], string> = {
  created: `(?<created>${patternBody(CANONICAL_INTEGER)})`,
  nonce: `"(?<nonce>${patternBody(V2_NONCE_PATTERN)})"`,
  keyid: `"(?<keyid>${patternBody(KID_PATTERN)})"`,
  alg: `"(?<alg>${Object.keys(V2_ALGORITHMS).map(escapeRegExp).join('|')})"`,
  tag: `"${escapeRegExp(V2_TAG)}"`,
  peer: `"(?<peer>${patternBody(PEER_FINGERPRINT_PATTERN)})"`,
  'peer-id': `"(?<peerId>${patternBody(PEER_ID_PATTERN)})"`,
};

/**
 * One `Signature-Input` member in canonical form; sticky. Every String format excludes `"` and
 * `\`, so no escape can occur in a canonical member.
 */
const INPUT_MEMBER = new RegExp(
  `${escapeRegExp(V2_LABEL_PREFIX)}(?<seq>${V2_LABEL_SEQ_SOURCE})-(?<hop>${patternBody(HOP_ID_PATTERN)})=(?<params>\\(${COVERED}\\)${V2_PARAMS.map((k) => `;${k}=${PARAM_VALUES[k]}`).join('')})`,
  'y',
);

/** One `Signature` member: a label and a Byte Sequence in standard base64 (its length and padding checked per algorithm). */
const SIGNATURE_MEMBER = new RegExp(`${LABEL}=(:[A-Za-z0-9+/=]{1,172}:)`, 'y');

/** The canonical standard base64 of a signature, per byte length (RFC 9651 §4.1.8: padded). */
const SIGNATURE_TEXT = new Map(Object.values(V2_ALGORITHMS).map((a) => [a.signatureBytes, new RegExp(`^:${canonicalBase64(a.signatureBytes)}:$`)]));

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
    const g = INPUT_MEMBER.exec(signatureInput)?.groups;
    if (g === undefined) return null;
    const seq = Number(g.seq);
    // The general path's rule on the covered list: the previous signature from seq 2 on, never on seq 1.
    if ((seq > 1) !== (g.previous !== undefined)) return null;
    const label = v2Label(seq, g.hop!);
    if (labels.has(label)) return null;
    labels.add(label);
    const alg = g.alg;
    if (!isV2Alg(alg)) return null;

    SIGNATURE_MEMBER.lastIndex = sigAt;
    const s = SIGNATURE_MEMBER.exec(signature);
    // Same label, same place: the Signature member's label ends where its `=` begins.
    if (s === null || signature.slice(sigAt, sigAt + label.length + 1) !== `${label}=`) return null;
    const signatureValue = s[1]!;
    if (!SIGNATURE_TEXT.get(V2_ALGORITHMS[alg].signatureBytes)!.test(signatureValue)) return null;

    members.push({
      label,
      hop: g.hop!,
      seq,
      coversContentDigest: g.cd !== undefined,
      coveredPrevious: g.previous ?? null,
      params: { created: Number(g.created), nonce: g.nonce!, keyid: g.keyid!, alg, peer: g.peer!, peerId: g.peerId! },
      signatureParams: g.params!,
      signatureValue,
      signature: Buffer.from(signatureValue.slice(1, -1), 'base64'),
    });

    const inEnd = INPUT_MEMBER.lastIndex === signatureInput.length;
    const sigEnd = SIGNATURE_MEMBER.lastIndex === signature.length;
    if (inEnd || sigEnd) return inEnd && sigEnd ? members : null;
    inAt = nextMemberAt(signatureInput, INPUT_MEMBER.lastIndex);
    sigAt = nextMemberAt(signature, SIGNATURE_MEMBER.lastIndex);
    if (inAt < 0 || sigAt < 0) return null;
  }
}
