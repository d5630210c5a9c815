/**
 * Re-verifies a stored v2 chain offline (docs/services.md#offline-verification) with nothing but
 * the hops' verification keys — public keys for Ed25519 and ECDSA hops, so an auditor needs no
 * secret at all for them. Each member is verified on its own, in order, over the stored request
 * facts and the previous member's signature (docs/provenance.md#part-2-version-2). Pure.
 */
import { ProvenanceError } from '../provenance/problems.js';
import { V2_ALGORITHMS } from '../provenance/v2/algorithms.js';
import { signatureBase } from '../provenance/v2/base.js';
import { parseV2Fields } from '../provenance/v2/fields.js';
import { ANY_KID, type V2Keyring } from '../provenance/v2/keys.js';
import type { RecordedHop, RecordedRequest } from './hop-macs.js';

/** The stored v2 members (`EvidenceRecord.provenanceV2`). */
export interface RecordedV2 {
  readonly signatureInput: string;
  readonly signature: string;
}

/** Outcome of {@link hopSignatureProblems}. */
export interface HopSignatureReport {
  problems: string[];
  /** Hops whose member is an HMAC: only as strong as whoever holds that hop's secret (the locker may). */
  hmacHops: string[];
}

/** Generous parse limits: the locker already enforced the topology's when it accepted the chain. */
const OFFLINE_LIMITS = { maxHeaderBytes: 65536, maxHops: 32 };

/**
 * Every problem of a stored v2 chain, or none when each member verifies with the given keys and
 * agrees with the stored hops.
 */
export function hopSignatureProblems(record: { scanId: string; hops: readonly RecordedHop[]; request?: RecordedRequest; provenanceV2?: RecordedV2 }, keys: V2Keyring): HopSignatureReport {
  const hmacHops: string[] = [];
  if (!record.provenanceV2) return { problems: ['the record holds no v2 members (a v1 chain, or stored before v2)'], hmacHops };
  if (!record.request) return { problems: ['the record holds no request facts, so its signatures cannot be checked'], hmacHops };
  let members;
  try {
    members = parseV2Fields(record.provenanceV2.signatureInput, record.provenanceV2.signature, OFFLINE_LIMITS);
  } catch (error) {
    if (!(error instanceof ProvenanceError)) throw error;
    return { problems: [`the stored members do not parse: ${error.message}`], hmacHops };
  }
  const problems: string[] = [];
  if (members.length !== record.hops.length) problems.push(`${members.length} v2 members, ${record.hops.length} stored hops`);
  const request = { ...record.request, scanId: record.scanId };
  members.forEach((m, i) => {
    const where = `hop ${m.hop}`;
    const stored = record.hops[i];
    if (m.seq !== i + 1) problems.push(`${where}: label ${m.label} at position ${i + 1}`);
    if (stored && (stored.id !== m.hop || stored.kid !== m.params.keyid || stored.ts !== m.params.created || stored.peer !== m.params.peer || stored.peerId !== m.params.peerId)) {
      problems.push(`${where}: the member differs from the stored hop ${stored.id}`);
    }
    const previous = members[i - 1] ?? null;
    if (m.coveredPrevious !== (previous?.label ?? null)) problems.push(`${where}: covers ${m.coveredPrevious ?? 'no'} previous signature, the previous member is ${previous?.label ?? 'none'}`);
    if (m.params.alg === 'hmac-sha256') hmacHops.push(m.hop);
    const hopKeys = keys.get(m.hop);
    const key = hopKeys?.keys.get(m.params.keyid) ?? hopKeys?.keys.get(ANY_KID);
    if (!hopKeys || !key) return void problems.push(`${where}: no key "${m.params.keyid}" was given`);
    if (hopKeys.alg !== m.params.alg) return void problems.push(`${where}: signed with ${m.params.alg}, the key given is ${hopKeys.alg}`);
    if (m.coversContentDigest !== (request.contentDigest !== null)) return void problems.push(`${where}: content-digest coverage does not match the stored request`);
    const base = signatureBase(request, { coversContentDigest: m.coversContentDigest, previous: previous ? { label: previous.label, signatureValue: previous.signatureValue } : null, signatureParams: m.signatureParams });
    if (!V2_ALGORITHMS[m.params.alg].verify(key, base, m.signature)) problems.push(`${where}: signature does not verify with key "${m.params.keyid}"`);
  });
  return { problems, hmacHops };
}
