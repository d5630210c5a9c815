/**
 * The v2 half of the forward-auth stamper (docs/provenance.md#v2-the-edge-strips,
 * docs/provenance.md#the-forward-auth-stamper): strips the client's members at the edge, checks the
 * incoming chain's length behind it, and appends this hop's member. Pure apart from signing.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { combineFieldLines } from '../codec.js';
import { ProvenanceError } from '../problems.js';
import type { RequestFacts } from '../record.js';
import { parseV2Fields, stripV2Members, type V2Limits } from './fields.js';
import type { V2SigningKey } from './keys.js';
import { V2_HEADER, V2_NONCE_BYTES } from './profile.js';
import { appendV2Stamp, stampV2 } from './sign.js';

/** What the stamper knows of this hop and its peer for one request. */
export interface V2StampFacts {
  hop: string;
  seq: number;
  peer: string;
  peerId: string;
  /** Unix seconds. */
  nowS: number;
}

/**
 * The complete new `Signature-Input` and `Signature` after this hop's member.
 * @throws ProvenanceError `provenance-missing` / `provenance-malformed` / `topology-mismatch` for an
 * incoming chain this hop cannot extend.
 */
export function stampV2Fields(
  headers: IncomingHttpHeaders,
  facts: V2StampFacts,
  request: RequestFacts,
  key: V2SigningKey,
  limits: V2Limits,
  random: (size: number) => Buffer = randomBytes,
): { signatureInput: string; signature: string } {
  const signatureInput = combineFieldLines(headers[V2_HEADER.signatureInput]);
  const signature = combineFieldLines(headers[V2_HEADER.signature]);
  let fields: { signatureInput: string | null; signature: string | null };
  let previous: { label: string; signatureValue: string } | null = null;
  if (facts.seq === 1) {
    // Rule 1 for v2: the client's members of our profile go, other signatures stay.
    fields = stripV2Members(signatureInput, signature);
  } else {
    if (!signatureInput || !signature) throw new ProvenanceError('provenance-missing', `hop ${facts.hop} stamps seq ${facts.seq} but no earlier v2 member arrived`);
    const members = parseV2Fields(signatureInput, signature, limits);
    const last = members.at(-1);
    if (members.length !== facts.seq - 1 || last?.seq !== facts.seq - 1) throw new ProvenanceError('topology-mismatch', `expected ${facts.seq - 1} earlier v2 members`);
    fields = { signatureInput, signature };
    previous = { label: last.label, signatureValue: last.signatureValue };
  }
  const stamp = stampV2({
    hop: facts.hop,
    seq: facts.seq,
    created: facts.nowS,
    nonce: random(V2_NONCE_BYTES).toString('hex'),
    peer: facts.peer,
    peerId: facts.peerId,
    keyid: key.kid,
    alg: key.alg,
    key: key.key,
    request,
    previous,
  });
  return appendV2Stamp(fields, stamp);
}
