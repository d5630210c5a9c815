/**
 * Recomputes the hop-record MACs of a stored chain offline (docs/services.md#offline-verification):
 * with the hop keys, each record's MAC over the stored request facts and the previous record's MAC
 * must be the one the locker stored. The same MAC code as the services (docs/provenance.md#3-the-mac),
 * compared in constant time. Pure.
 */
import { decodeBase64Strict } from '../dsse/index.js';
import type { HopKeyring } from '../provenance/keys.js';
import { computeMac, macEquals, macInput } from '../provenance/mac.js';
import type { RequestFacts } from '../provenance/record.js';
import type { ReceiptHop } from './receipt.js';

/** A hop as stored and exported: the receipt's fields, the nonce, and the MAC when it was kept. */
export interface RecordedHop extends ReceiptHop {
  readonly nonce?: string;
  /** Standard padded base64 of the record's MAC. */
  readonly mac?: string;
  /** v2: the member's algorithm. */
  readonly alg?: string;
  /** v2: standard padded base64 of the member's signature. */
  readonly signature?: string;
}

/** The request facts the MACs cover besides the scan id, as the service received them. */
export type RecordedRequest = Omit<RequestFacts, 'scanId'>;

/**
 * Every problem of the stored chain's MACs, or none when each recomputes. A record stored before
 * MACs and request facts were kept cannot be checked: that is a problem too, named as such.
 */
export function hopMacProblems(record: { scanId: string; hops: readonly RecordedHop[]; request?: RecordedRequest }, keys: HopKeyring): string[] {
  if (!record.request) return ['the record holds no request facts (stored before they were kept), so its MACs cannot be recomputed'];
  const request: RequestFacts = { ...record.request, scanId: record.scanId };
  const problems: string[] = [];
  let previous: string | null = null;
  for (const hop of record.hops) {
    if (hop.mac === undefined || hop.nonce === undefined) {
      problems.push(`hop ${hop.id}: no MAC stored`);
      return problems; // the chain field of every later record is unknown
    }
    const key = keys.get(hop.id)?.get(hop.kid);
    let stored: Uint8Array | undefined;
    try {
      stored = decodeBase64Strict(hop.mac);
    } catch {
      stored = undefined;
    }
    if (!key) problems.push(`hop ${hop.id}: no key "${hop.kid}" was given`);
    else if (!stored) problems.push(`hop ${hop.id}: the stored MAC is not base64`);
    else {
      try {
        const expected = computeMac(key, macInput({ hop: hop.id, seq: hop.seq, ts: hop.ts, nonce: hop.nonce, peer: hop.peer, peerId: hop.peerId, request, previousMac: previous }));
        if (!macEquals(expected, stored)) problems.push(`hop ${hop.id}: MAC does not verify with key "${hop.kid}"`);
      } catch (error) {
        if (!(error instanceof TypeError)) throw error;
        problems.push(`hop ${hop.id}: ${error.message}`);
      }
    }
    previous = hop.mac;
  }
  return problems;
}
