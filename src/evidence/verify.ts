/**
 * Offline re-verification of stored evidence (docs/services.md, README.md#command-line `evidence verify`): given a record as
 * the locker stored it, check that it still proves what the receipt says — the envelope bytes
 * hash to the key, the envelope verifies with the scanners' keys, its traversal intent is bound to
 * the stored hop chain, the chain is well formed, and the receipt verifies and agrees with it.
 *
 * Pure (no I/O): the CLI reads records from a store or an export file and calls this.
 */
import { createHash } from 'node:crypto';
import { IN_TOTO_PAYLOAD_TYPE, DsseError, parseEnvelope, parseStatement, parseTraversalIntent, verifyEnvelope } from '../dsse/index.js';
import type { KeyMaterial } from '../dsse/index.js';
import type { ScannerKeyring } from '../provenance/envelope.js';
import type { HopKeyring } from '../provenance/keys.js';
import { hopMacProblems, type RecordedHop, type RecordedRequest } from './hop-macs.js';
import { hopSignatureProblems, type RecordedV2 } from './hop-signatures.js';
import type { V2Keyring } from '../provenance/v2/keys.js';
import { ReceiptError } from './errors.js';
import { verifyReceipt, type ReceiptHop, type VerifiedReceipt } from './receipt.js';

/** The fields of a stored record the checks read (`EvidenceRecord` of the store fits). */
export interface EvidenceRecordInput {
  readonly sha256: string;
  readonly scanId: string;
  /** The scanner the store attributed the record to; absent in exports made before scanner binding. */
  readonly scannerId?: string;
  readonly envelope: Uint8Array;
  readonly hops: readonly RecordedHop[];
  /** The receipt DSSE envelope as JSON text. */
  readonly receipt: string;
  /** The request facts the hop MACs cover; absent in records stored before they were kept. */
  readonly request?: RecordedRequest;
  /** The v2 members as the locker received them; absent for a v1 chain. */
  readonly provenanceV2?: RecordedV2;
  /**
   * The artifacts stored with this statement (docs/services.md#artifacts): the digest they were
   * stored under and the SHA-256 the caller computed over the bytes it has (null: bytes missing).
   * Absent or empty: no artifact was stored with the statement.
   */
  readonly artifacts?: readonly ArtifactDigestInput[];
}

/** One artifact of a record, hashed by the caller (streamed, so a large one is never held whole). */
export interface ArtifactDigestInput {
  readonly sha256: string;
  readonly actualSha256: string | null;
}

/** Keys the checks trust. */
export interface EvidenceVerifyOptions {
  /** The locker's Ed25519 public key. */
  receiptKey: KeyMaterial;
  /**
   * Each scanner's keys (HMAC secrets or public keys), by scanner id. Only the keys of the scanner
   * hop 1 recorded may verify, as at the locker (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes, check 9).
   */
  scannerKeys: ScannerKeyring;
  threshold?: number;
  payloadType?: string;
  /** The hop MAC keys: when given, every stored MAC is recomputed (the `macs` check). */
  hopKeys?: HopKeyring;
  /** The hops' v2 verification keys (public keys): when given, every stored v2 member is verified (the `signatures` check). */
  v2Keys?: V2Keyring;
}

/** The names of the checks, in the order they run; `macs` only with {@link EvidenceVerifyOptions.hopKeys}, `signatures` only with {@link EvidenceVerifyOptions.v2Keys}. */
export const EVIDENCE_CHECKS = ['digest', 'envelope', 'binding', 'hops', 'receipt', 'artifacts', 'macs', 'signatures'] as const;
export type EvidenceCheckName = (typeof EVIDENCE_CHECKS)[number];

/** One check's outcome. */
export interface EvidenceCheck {
  name: EvidenceCheckName;
  ok: boolean;
  detail: string;
}

/** The outcome for one record; `ok` only when every check passed. */
export interface EvidenceVerification {
  sha256: string;
  scanId: string;
  ok: boolean;
  checks: EvidenceCheck[];
}

/** Runs every check (a failed check does not stop the others, so the report is complete). */
export async function verifyEvidenceRecord(record: EvidenceRecordInput, options: EvidenceVerifyOptions): Promise<EvidenceVerification> {
  const checks: EvidenceCheck[] = [];
  const add = (name: EvidenceCheckName, ok: boolean, detail: string): void => void checks.push({ name, ok, detail });

  const digest = createHash('sha256').update(record.envelope).digest('hex');
  add('digest', digest === record.sha256, digest === record.sha256 ? 'envelope bytes hash to the stored key' : `envelope bytes hash to ${digest}`);

  let intent: ReturnType<typeof parseTraversalIntent> | null = null;
  let subjects: string[] | null = null;
  // The scanner is the one whose certificate the edge saw (hop 1's peer-id); its keys alone count.
  const scannerId = record.hops[0]?.peerId;
  const verifiers = scannerId === undefined ? undefined : options.scannerKeys.get(scannerId);
  let acceptedKeyids: string[] = [];
  if (scannerId === undefined) add('envelope', false, 'no hop 1 names the scanner');
  else if (record.scannerId !== undefined && record.scannerId !== scannerId) add('envelope', false, `stored for scanner ${record.scannerId}, but hop 1 saw ${scannerId}`);
  else if (!verifiers || verifiers.length === 0) add('envelope', false, `no key of scanner ${scannerId} was given`);
  else {
    try {
      const envelope = parseEnvelope(record.envelope);
      const verified = await verifyEnvelope(envelope, { payloadType: options.payloadType ?? IN_TOTO_PAYLOAD_TYPE, verifiers: [...verifiers], threshold: options.threshold ?? 1 });
      const statement = parseStatement(verified.payload);
      intent = parseTraversalIntent(statement);
      subjects = statement.subject.map((s) => s.digest.sha256).filter((d): d is string => typeof d === 'string');
      acceptedKeyids = verified.accepted.map((a) => a.keyid);
      add('envelope', true, `verified by ${acceptedKeyids.join(', ')} of scanner ${scannerId}`);
    } catch (error) {
      if (!(error instanceof DsseError)) throw error;
      add('envelope', false, `${error.code}: ${error.message} (keys of scanner ${scannerId})`);
    }
  }

  if (!intent) add('binding', false, 'no verified traversal intent to compare');
  else {
    const problems: string[] = [];
    if (intent.scanId !== record.scanId) problems.push(`intent scan ${intent.scanId} ≠ stored scan ${record.scanId}`);
    if (record.hops[0]?.peer !== intent.clientCertSha256) problems.push('hop 1 peer ≠ certificate fingerprint of the intent');
    add('binding', problems.length === 0, problems.length === 0 ? 'scan id and hop-1 certificate match the signed intent' : problems.join('; '));
  }

  const chainProblems = chainShapeProblems(record.hops);
  add('hops', chainProblems.length === 0, chainProblems.length === 0 ? `${record.hops.map((h) => h.id).join(' → ')}` : chainProblems.join('; '));

  let receipt: VerifiedReceipt | null = null;
  try {
    receipt = await verifyReceipt(parseEnvelope(record.receipt), { publicKey: options.receiptKey, expectedEnvelopeSha256: record.sha256 });
  } catch (error) {
    if (!(error instanceof ReceiptError) && !(error instanceof DsseError)) throw error;
    add('receipt', false, `${error.code}: ${error.message}`);
  }
  if (receipt) {
    const same = JSON.stringify(receipt.predicate.hops) === JSON.stringify(record.hops.map(receiptHop));
    const problems = [...(same ? [] : ['receipt hops differ from the stored chain']), ...(receipt.predicate.scanId === record.scanId ? [] : ['receipt scan id differs'])];
    // A v2 receipt embeds the chain: it must be the stored one (docs/services.md#the-traversal-receipt).
    const embedded = receipt.predicate.provenanceV2;
    if (record.provenanceV2 && (!embedded || embedded.signatureInput !== record.provenanceV2.signatureInput || embedded.signature !== record.provenanceV2.signature)) problems.push('receipt does not embed the stored v2 chain');
    if (embedded && !record.provenanceV2) problems.push('receipt embeds a v2 chain the record does not hold');
    const named = receipt.predicate.scanner;
    if (named && (named.id !== scannerId || named.certificateSha256 !== record.hops[0]?.peer)) problems.push(`receipt names scanner ${named.id}, the chain ${scannerId ?? '(none)'}`);
    add('receipt', problems.length === 0, problems.length === 0 ? `signed by ${receipt.keyid} at ${receipt.predicate.receivedAt}` : problems.join('; '));
  }
  const artifacts = artifactProblems(record.artifacts ?? [], subjects);
  add('artifacts', artifacts.problems.length === 0, artifacts.problems.length === 0 ? artifacts.summary : artifacts.problems.join('; '));
  if (options.hopKeys) {
    const problems = hopMacProblems(record, options.hopKeys);
    add('macs', problems.length === 0, problems.length === 0 ? `every hop MAC recomputes (${record.hops.map((h) => h.kid).join(', ')})` : problems.join('; '));
  }
  if (options.v2Keys) {
    const { problems, hmacHops } = hopSignatureProblems(record, options.v2Keys);
    // An HMAC member proves only that someone holding that hop's secret signed it: say so.
    const weak = hmacHops.length === 0 ? 'no HMAC hop' : `HMAC hops ${hmacHops.join(', ')}: only as strong as whoever holds their secret`;
    add('signatures', problems.length === 0, problems.length === 0 ? `every v2 member verifies (${record.hops.map((h) => `${h.id}: ${h.alg ?? '?'}`).join(', ')}); ${weak}` : problems.join('; '));
  }
  return { sha256: record.sha256, scanId: record.scanId, ok: checks.every((c) => c.ok), checks };
}

/**
 * Each artifact's bytes hash to its digest, and that digest is a subject of the verified
 * statement (docs/services.md#artifacts): the bytes are the ones the scanner signed.
 */
function artifactProblems(artifacts: readonly ArtifactDigestInput[], subjects: string[] | null): { problems: string[]; summary: string } {
  if (artifacts.length === 0) return { problems: [], summary: 'no artifact stored with this statement' };
  const problems: string[] = [];
  for (const a of artifacts) {
    if (a.actualSha256 === null) problems.push(`artifact ${a.sha256}: bytes not available`);
    else if (a.actualSha256 !== a.sha256) problems.push(`artifact ${a.sha256}: bytes hash to ${a.actualSha256}`);
    if (subjects === null) problems.push(`artifact ${a.sha256}: no verified statement to compare with`);
    else if (!subjects.includes(a.sha256)) problems.push(`artifact ${a.sha256}: not a subject of the signed statement`);
  }
  return { problems, summary: `${artifacts.length} artifact(s) hash to a signed subject digest` };
}

function receiptHop(h: ReceiptHop): ReceiptHop {
  return { id: h.id, seq: h.seq, ts: h.ts, peer: h.peer, peerId: h.peerId, kid: h.kid, ...(h.alg === undefined ? {} : { alg: h.alg }) };
}

/** seq runs 1..n, timestamps never decrease (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes). */
function chainShapeProblems(hops: readonly ReceiptHop[]): string[] {
  if (hops.length === 0) return ['no hop recorded'];
  const problems: string[] = [];
  hops.forEach((h, i) => {
    if (h.seq !== i + 1) problems.push(`hop ${h.id}: seq ${h.seq}, expected ${i + 1}`);
    const before = hops[i - 1];
    if (before && h.ts < before.ts) problems.push(`hop ${h.id}: ts before hop ${before.id}`);
  });
  return problems;
}
