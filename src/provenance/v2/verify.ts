/**
 * Checks 4–6 of a v2 chain (docs/provenance.md#v2-checks), in the order and with the codes of v1:
 * topology-mismatch → provenance-tampered → provenance-stale. Every member is verified on its own,
 * in chain order; nothing trusts an aggregate result. Pure: the caller passes clock, keys and the
 * request facts.
 */
import type { ResolvedService, ResolvedTopology } from '../../topology/resolve.js';
import { checkChainTimes, checkChainTopology, type VerifiedHop } from '../chain.js';
import { ProvenanceError } from '../problems.js';
import type { RequestFacts } from '../record.js';
import { V2_ALGORITHMS } from './algorithms.js';
import { signatureBase } from './base.js';
import type { V2Keyring } from './keys.js';
import type { V2Member } from './profile.js';

/** What {@link verifyV2Chain} needs besides the members. */
export interface V2ChainContext {
  topology: ResolvedTopology;
  service: ResolvedService;
  keys: V2Keyring;
  request: RequestFacts;
  /** Current time in milliseconds since the epoch. */
  now: number;
}

/**
 * Verifies parsed members against the topology, the public keys and the clock.
 * @throws ProvenanceError `topology-mismatch`, `provenance-tampered` or `provenance-stale`.
 */
export function verifyV2Chain(members: readonly V2Member[], ctx: V2ChainContext): VerifiedHop[] {
  const entries = members.map((m) => ({ hop: m.hop, seq: m.seq, ts: m.params.created, peerId: m.params.peerId }));
  checkChainTopology(entries, ctx);
  // Chaining is part of the topology: member n must name member n-1's label, so a dropped,
  // reordered or inserted member is refused here even before its signature is checked.
  members.forEach((m, i) => {
    const previous = members[i - 1]?.label ?? null;
    if (m.coveredPrevious !== previous) {
      throw new ProvenanceError('topology-mismatch', `${m.label}: covers the signature of ${m.coveredPrevious ?? '(none)'}, the previous member is ${previous ?? '(none)'}`);
    }
  });
  checkSignatures(members, ctx);
  const ages = checkChainTimes(entries, ctx.topology, ctx.now);
  return members.map((m, i) => ({
    id: m.hop,
    seq: m.seq,
    ts: m.params.created,
    ageSeconds: ages[i]!,
    nonce: m.params.nonce,
    peer: m.params.peer,
    peerId: m.params.peerId,
    kid: m.params.keyid,
    alg: m.params.alg,
    signature: m.signature.toString('base64'),
    result: 'verified',
  }));
}

function checkSignatures(members: readonly V2Member[], { keys, request }: V2ChainContext): void {
  members.forEach((m, i) => {
    const hopKeys = keys.get(m.hop);
    // An unknown kid, a retired kid and an alg other than the hop's are all a forgery from the
    // receiver's point of view: one code, so a prober learns nothing about which keys exist.
    const key = hopKeys?.keys.get(m.params.keyid);
    if (!hopKeys || !key) throw new ProvenanceError('provenance-tampered', `${m.hop}: no current key "${m.params.keyid}"`);
    if (hopKeys.alg !== m.params.alg) throw new ProvenanceError('provenance-tampered', `${m.hop}: signed with ${m.params.alg}, the hop signs with ${hopKeys.alg}`);
    // A Content-Digest the member does not cover (added on the way), or one it covers that is
    // gone, changes what was signed: the same outcome as a v1 MAC over another digest.
    if (m.coversContentDigest !== (request.contentDigest !== null)) {
      throw new ProvenanceError('provenance-tampered', `${m.hop}: ${m.coversContentDigest ? 'covers a Content-Digest the request does not carry' : 'does not cover the request\'s Content-Digest'}`);
    }
    const previous = i === 0 ? null : { label: members[i - 1]!.label, signatureValue: members[i - 1]!.signatureValue };
    const base = signatureBase(request, { coversContentDigest: m.coversContentDigest, previous, signatureParams: m.signatureParams });
    if (!V2_ALGORITHMS[m.params.alg].verify(key, base, m.signature)) throw new ProvenanceError('provenance-tampered', `${m.hop}: signature does not verify`);
  });
}
