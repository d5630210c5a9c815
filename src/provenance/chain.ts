/**
 * Chain verification and stamping (docs/provenance.md). Pure: the caller passes the clock reading, the keys
 * and the request facts. Runs the three chain checks in the protocol's order — topology-mismatch,
 * provenance-tampered, provenance-stale — and throws the first failure.
 */
import type { ResolvedService, ResolvedTopology } from '../topology/resolve.js';
import { expectedPeerId, stampingHops } from '../topology/resolve.js';
import { macToBase64 } from './codec.js';
import type { HopKeyring } from './keys.js';
import { computeMac, computeMacBase64, macEquals, macInput, recordMacInput, requestMacPart } from './mac.js';
import { ProvenanceError } from './problems.js';
import type { HopRecord, RequestFacts } from './record.js';

/** One record after every chain check passed. */
export interface VerifiedHop {
  id: string;
  seq: number;
  ts: number;
  /** Seconds between the stamp and the verification (negative within the allowed skew). */
  ageSeconds: number;
  nonce: string;
  peer: string;
  peerId: string;
  kid: string;
  /** v1: standard padded base64 of the record's MAC, kept so the chain can be recomputed offline (docs/services.md#offline-verification). */
  mac?: string;
  /** v2 only: the member's algorithm (docs/provenance.md#part-2-version-2). */
  alg?: string;
  /** v2 only: standard padded base64 of the member's signature. */
  signature?: string;
  result: 'verified';
}

/** What checks 4 and 6 read of a record of either version (a v2 member's `created` is its `ts`). */
export interface ChainEntry {
  hop: string;
  seq: number;
  ts: number;
  peerId: string;
}

/** What {@link verifyChain} needs besides the records. */
export interface ChainContext {
  topology: ResolvedTopology;
  service: ResolvedService;
  keys: HopKeyring;
  request: RequestFacts;
  /** Current time in milliseconds since the epoch. */
  now: number;
}

/**
 * Verifies parsed records against the topology, the keys and the clock.
 * @throws ProvenanceError `topology-mismatch`, `provenance-tampered` or `provenance-stale`.
 */
export function verifyChain(records: readonly HopRecord[], ctx: ChainContext): VerifiedHop[] {
  checkChainTopology(records, ctx);
  const macs = checkMacs(records, ctx);
  const ages = checkChainTimes(records, ctx.topology, ctx.now);
  return records.map((r, i) => ({ id: r.hop, seq: r.seq, ts: r.ts, ageSeconds: ages[i]!, nonce: r.nonce, peer: r.peer, peerId: r.peerId, kid: r.kid, mac: macs[i]!, result: 'verified' }));
}

/**
 * Check 4 (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes), shared by both
 * versions: the records are exactly the chain's stamping hops, in order, each `peer-id` the one
 * the topology expects.
 * @throws ProvenanceError `topology-mismatch`.
 */
export function checkChainTopology(records: readonly ChainEntry[], { topology, service }: { topology: ResolvedTopology; service: ResolvedService }): void {
  const expected = stampingHops(service);
  if (records.length !== expected.length) {
    throw new ProvenanceError('topology-mismatch', `${records.length} records; the chain to ${service.id} has ${expected.length} stamping hops`);
  }
  records.forEach((record, i) => {
    const hop = expected[i]!;
    if (record.hop !== hop.id) throw new ProvenanceError('topology-mismatch', `record ${i + 1} is from "${record.hop}", expected "${hop.id}"`);
    if (record.seq !== hop.stampSeq) throw new ProvenanceError('topology-mismatch', `${hop.id}: seq ${record.seq}, expected ${hop.stampSeq}`);
    const peerId = expectedPeerId(service, hop);
    if (peerId === null) {
      // The edge's downstream is a scanner that sends to this edge (CONVENTIONS: CN = scanner id).
      const ok = topology.scanners.some((s) => s.id === record.peerId && s.edge === hop.id);
      if (!ok) throw new ProvenanceError('topology-mismatch', `${hop.id}: peer-id "${record.peerId}" is not a scanner of this edge`);
    } else if (record.peerId !== peerId) {
      throw new ProvenanceError('topology-mismatch', `${hop.id}: peer-id "${record.peerId}", expected "${peerId}"`);
    }
  });
}

/** Verifies every MAC in chain order; returns each record's MAC in standard padded base64. */
function checkMacs(records: readonly HopRecord[], { keys, request }: ChainContext): string[] {
  // The request's part of the MAC input is the same for every record (docs/provenance.md#3-the-mac).
  const requestPart = requestMacPart(request);
  const macs: string[] = [];
  let previous: string | null = null;
  for (const record of records) {
    const key = keys.get(record.hop)?.get(record.kid);
    // An unknown or retired kid is a forgery from the receiver's point of view: same code, so a
    // prober learns nothing about which kids exist.
    if (!key) throw new ProvenanceError('provenance-tampered', `${record.hop}: no current key "${record.kid}"`);
    // Computed as base64: once it equals the record's MAC (compared as bytes, in constant time) it
    // is also that MAC's text, which the next record's input and the verified hop need. Decoding it
    // again is safe: it is our own HMAC's output, never client text (the record's MAC went through
    // the codec, which takes only canonical padded base64).
    const expected = computeMacBase64(key, recordMacInput(record, requestPart, previous));
    if (!macEquals(Buffer.from(expected, 'base64'), record.mac)) throw new ProvenanceError('provenance-tampered', `${record.hop}: MAC does not verify`);
    previous = expected;
    macs.push(expected);
  }
  return macs;
}

/**
 * Check 6, shared by both versions: every timestamp within skew and age, not decreasing along the
 * chain by more than the skew. Returns each record's age in seconds.
 * @throws ProvenanceError `provenance-stale`.
 */
export function checkChainTimes(records: readonly ChainEntry[], topology: ResolvedTopology, now: number): number[] {
  const { clockSkewSeconds, maxAgeSeconds } = topology.provenance;
  const nowSeconds = Math.floor(now / 1000);
  let previousTs = -Infinity;
  return records.map((r) => {
    const ageSeconds = nowSeconds - r.ts;
    if (ageSeconds < -clockSkewSeconds) throw new ProvenanceError('provenance-stale', `${r.hop}: ts is ${-ageSeconds} s in the future`);
    if (ageSeconds > maxAgeSeconds + clockSkewSeconds) throw new ProvenanceError('provenance-stale', `${r.hop}: ts is ${ageSeconds} s old`);
    // Two hops' clocks may disagree by up to the skew, so a later record may read that much older
    // (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes, detail 6): no tolerance would refuse genuine requests.
    if (r.ts < previousTs - clockSkewSeconds) {
      throw new ProvenanceError('provenance-stale', `${r.hop}: ts is ${previousTs - r.ts} s before the previous record's, more than the ${clockSkewSeconds} s skew`);
    }
    previousTs = r.ts;
    return ageSeconds;
  });
}

/** Inputs of one stamp. */
export interface StampInput {
  hop: string;
  seq: number;
  /** Unix seconds. */
  ts: number;
  nonce: string;
  peer: string;
  peerId: string;
  kid: string;
  key: Uint8Array;
  request: RequestFacts;
  /** The record of seq - 1, or null for the first stamping hop. */
  previous: HopRecord | null;
}

/**
 * Builds the next hop record (what a stamping hop appends).
 * @example
 * const r1 = stampRecord({ hop: 'gw-edge', seq: 1, ts, nonce, peer, peerId: 'scanner-01', kid, key, request, previous: null });
 * serializeProvenanceHeader([r1]);
 */
export function stampRecord(input: StampInput): HopRecord {
  const previousMac = input.previous ? macToBase64(input.previous.mac) : null;
  const { hop, seq, ts, nonce, peer, peerId, kid } = input;
  const mac = computeMac(input.key, macInput({ hop, seq, ts, nonce, peer, peerId, request: input.request, previousMac }));
  return { hop, seq, ts, nonce, peer, peerId, kid, mac };
}
