/**
 * The traversal receipt (docs/services.md): a DSSE envelope, signed by the Evidence Locker's Ed25519 key,
 * whose in-toto Statement v1 names the submitted envelope's SHA-256 as subject and records what
 * the locker verified — the hop chain, the bindings and the envelope's accepted keys.
 *
 * Pure (no I/O): the locker builds receipts with it, and the scanner worker and
 * `stella-gateway evidence verify` check them without importing an app.
 */
import { IN_TOTO_PAYLOAD_TYPE, buildStatement, createVerifier, parseStatement, serializeStatement, signEnvelope, verifyEnvelope } from '../dsse/index.js';
import type { Envelope, KeyMaterial, Signer } from '../dsse/index.js';
import { SHA256_HEX_PATTERN } from '../conventions/index.js';
import { DsseError } from '../dsse/errors.js';
import { ReceiptError } from './errors.js';

/** predicateType of a traversal receipt. */
export const TRAVERSAL_RECEIPT_PREDICATE_TYPE = 'https://stella-ops.org/attestations/gateway-traversal/v1';
/** Subject name of the receipt's single subject: the envelope that was submitted. */
export const RECEIPT_SUBJECT_NAME = 'dsse-envelope';

/** One verified hop as the receipt states it (docs/provenance.md record fields without nonce and MAC). */
export interface ReceiptHop {
  id: string;
  seq: number;
  /** Unix seconds when the hop stamped. */
  ts: number;
  peer: string;
  peerId: string;
  kid: string;
  /** v2 only: the member's algorithm (`hmac-sha256` hops are only as strong as whoever holds that secret). */
  alg?: string;
}

/**
 * A v2 chain as the locker received it (docs/provenance.md#part-2-version-2): the profile's
 * members and the request facts they cover, so the receipt alone and the hops' public keys
 * re-verify every hop (`evidence verify`).
 */
export interface ReceiptV2Chain {
  signatureInput: string;
  signature: string;
  request: { method: string; pathAndQuery: string; contentDigest: string | null };
}

/** What the locker checked before it stored the envelope (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes). */
export interface ReceiptVerification {
  /** The hop chain: topology, MACs, freshness and replay. */
  provenance: 'verified';
  /** Content-Digest, scan id and certificate binding. */
  binding: 'verified';
  envelope: {
    result: 'verified';
    payloadType: string;
    threshold: number;
    /** Keyids of every distinct key that verified. */
    acceptedKeyids: string[];
  };
}

/**
 * The scanner the evidence came from (docs/services.md#the-traversal-receipt): the certificate
 * the edge saw and the keys of that same scanner that verified the envelope.
 */
export interface ReceiptScanner {
  id: string;
  spiffeId: string;
  /** `sha256:` + hex of the client certificate hop 1 recorded. */
  certificateSha256: string;
  /** Keyids of this scanner's keys that verified the envelope. */
  keyids: string[];
}

/** The predicate of a traversal receipt. */
export interface TraversalReceiptPredicate {
  service: string;
  topology: string;
  scanId: string;
  /** Absent only in receipts issued before scanner binding existed. */
  scanner?: ReceiptScanner;
  /** RFC 3339 UTC time the locker received the envelope. */
  receivedAt: string;
  hops: ReceiptHop[];
  /** Present when the chain was verified as v2. */
  provenanceV2?: ReceiptV2Chain;
  verification: ReceiptVerification;
}

/** Input of {@link buildReceipt}. */
export interface ReceiptInput extends TraversalReceiptPredicate {
  /** Lowercase hex SHA-256 of the submitted envelope bytes. */
  envelopeSha256: string;
}

/** What {@link verifyReceipt} answers: the receipt's statement, read from the verified bytes. */
export interface VerifiedReceipt {
  envelopeSha256: string;
  predicate: TraversalReceiptPredicate;
  /** Keyid of the key that verified the receipt. */
  keyid: string;
}

const SHA256_HEX = SHA256_HEX_PATTERN;

/**
 * Builds and signs a receipt.
 *
 * @example
 * const receipt = await buildReceipt({ envelopeSha256, service: 'evidence-locker', ... }, createSigner(lockerKey));
 * serializeEnvelope(receipt); // the JSON the locker returns and stores
 * @throws {TypeError} for a malformed digest or a signer that is not Ed25519 (docs/services.md).
 */
export async function buildReceipt(input: ReceiptInput, signer: Signer): Promise<Envelope> {
  if (!SHA256_HEX.test(input.envelopeSha256)) throw new TypeError('buildReceipt: envelopeSha256 must be 64 lowercase hex characters');
  if (signer.algorithm !== 'ed25519') throw new TypeError(`buildReceipt: the receipt key must be Ed25519, got ${signer.algorithm}`);
  const { envelopeSha256, ...predicate } = input;
  const statement = buildStatement({
    subject: [{ name: RECEIPT_SUBJECT_NAME, digest: { sha256: envelopeSha256 } }],
    predicateType: TRAVERSAL_RECEIPT_PREDICATE_TYPE,
    predicate: normalizePredicate(predicate) as unknown as Record<string, unknown>,
  });
  return signEnvelope(IN_TOTO_PAYLOAD_TYPE, serializeStatement(statement), [signer]);
}

/**
 * Verifies a receipt with the locker's public key and checks it is about the expected envelope.
 *
 * @throws {ReceiptError} `receipt-invalid` (signature, payload type or statement), or
 *   `receipt-subject-mismatch` (a valid receipt for another envelope).
 */
export async function verifyReceipt(
  receipt: Envelope,
  options: { publicKey: KeyMaterial; expectedEnvelopeSha256: string },
): Promise<VerifiedReceipt> {
  if (options.publicKey.algorithm !== 'ed25519') throw new TypeError('verifyReceipt: the receipt key must be Ed25519');
  const verifier = createVerifier(options.publicKey);
  let payload: Buffer;
  try {
    ({ payload } = await verifyEnvelope(receipt, { payloadType: IN_TOTO_PAYLOAD_TYPE, verifiers: [verifier] }));
  } catch (error) {
    if (error instanceof DsseError) throw new ReceiptError('receipt-invalid', `receipt signature: ${error.message}`, { cause: error });
    throw error;
  }
  let statement;
  try {
    statement = parseStatement(payload);
  } catch (error) {
    throw new ReceiptError('receipt-invalid', `receipt statement: ${(error as Error).message}`, { cause: error });
  }
  if (statement.predicateType !== TRAVERSAL_RECEIPT_PREDICATE_TYPE) {
    throw new ReceiptError('receipt-invalid', `receipt predicateType ${JSON.stringify(statement.predicateType)}`);
  }
  const subject = statement.subject.length === 1 ? statement.subject[0] : undefined;
  const digest = subject?.digest.sha256;
  if (!digest) throw new ReceiptError('receipt-invalid', 'a receipt has exactly one subject with a sha256 digest');
  if (digest !== options.expectedEnvelopeSha256) {
    throw new ReceiptError('receipt-subject-mismatch', `receipt is for envelope ${digest}, expected ${options.expectedEnvelopeSha256}`);
  }
  const predicate = readPredicate(statement.predicate);
  return { envelopeSha256: digest, predicate, keyid: verifier.keyid };
}

/** Copies only the fields of the predicate, in a fixed order, so receipts are reproducible. */
function normalizePredicate(p: TraversalReceiptPredicate): TraversalReceiptPredicate {
  return {
    service: p.service,
    topology: p.topology,
    scanId: p.scanId,
    ...(p.scanner
      ? { scanner: { id: p.scanner.id, spiffeId: p.scanner.spiffeId, certificateSha256: p.scanner.certificateSha256, keyids: [...p.scanner.keyids] } }
      : {}),
    receivedAt: p.receivedAt,
    hops: p.hops.map((h) => ({ id: h.id, seq: h.seq, ts: h.ts, peer: h.peer, peerId: h.peerId, kid: h.kid, ...(h.alg === undefined ? {} : { alg: h.alg }) })),
    ...(p.provenanceV2
      ? {
          provenanceV2: {
            signatureInput: p.provenanceV2.signatureInput,
            signature: p.provenanceV2.signature,
            request: { method: p.provenanceV2.request.method, pathAndQuery: p.provenanceV2.request.pathAndQuery, contentDigest: p.provenanceV2.request.contentDigest },
          },
        }
      : {}),
    verification: {
      provenance: p.verification.provenance,
      binding: p.verification.binding,
      envelope: {
        result: p.verification.envelope.result,
        payloadType: p.verification.envelope.payloadType,
        threshold: p.verification.envelope.threshold,
        acceptedKeyids: [...p.verification.envelope.acceptedKeyids],
      },
    },
  };
}

/** Validates the predicate of a verified receipt; every problem is listed with its path. */
function readPredicate(value: unknown): TraversalReceiptPredicate {
  const problems: string[] = [];
  const obj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!obj(value)) throw new ReceiptError('receipt-invalid', 'receipt predicate: must be an object');
  for (const key of ['service', 'topology', 'scanId', 'receivedAt'] as const) {
    if (typeof value[key] !== 'string') problems.push(`predicate.${key}: must be a string`);
  }
  const scanner = value.scanner;
  if (scanner !== undefined) {
    if (!obj(scanner)) problems.push('predicate.scanner: must be an object');
    else {
      for (const key of ['id', 'spiffeId', 'certificateSha256'] as const) if (typeof scanner[key] !== 'string') problems.push(`predicate.scanner.${key}: must be a string`);
      if (!Array.isArray(scanner.keyids) || !scanner.keyids.every((k) => typeof k === 'string')) problems.push('predicate.scanner.keyids: must be a list of strings');
    }
  }
  const hops = value.hops;
  if (!Array.isArray(hops)) problems.push('predicate.hops: must be a list');
  else
    hops.forEach((h: unknown, i) => {
      if (!obj(h)) return void problems.push(`predicate.hops[${i}]: must be an object`);
      for (const key of ['id', 'peer', 'peerId', 'kid']) if (typeof h[key] !== 'string') problems.push(`predicate.hops[${i}].${key}: must be a string`);
      for (const key of ['seq', 'ts']) if (!Number.isSafeInteger(h[key])) problems.push(`predicate.hops[${i}].${key}: must be an integer`);
      if (h.alg !== undefined && typeof h.alg !== 'string') problems.push(`predicate.hops[${i}].alg: must be a string`);
    });
  const v2 = value.provenanceV2;
  if (v2 !== undefined) {
    const request = obj(v2) ? v2.request : undefined;
    if (!obj(v2) || typeof v2.signatureInput !== 'string' || typeof v2.signature !== 'string' || !obj(request) || typeof request.method !== 'string' || typeof request.pathAndQuery !== 'string' || !(request.contentDigest === null || typeof request.contentDigest === 'string')) {
      problems.push('predicate.provenanceV2: must hold signatureInput, signature and request { method, pathAndQuery, contentDigest }');
    }
  }
  const v = value.verification;
  const env = obj(v) ? v.envelope : undefined;
  if (!obj(v) || v.provenance !== 'verified' || v.binding !== 'verified' || !obj(env) || env.result !== 'verified') {
    problems.push('predicate.verification: must state provenance, binding and envelope as verified');
  } else if (!Array.isArray(env.acceptedKeyids) || !env.acceptedKeyids.every((k) => typeof k === 'string')) {
    problems.push('predicate.verification.envelope.acceptedKeyids: must be a list of strings');
  }
  if (problems.length > 0) throw new ReceiptError('receipt-invalid', `receipt predicate: ${problems.join('; ')}`);
  return normalizePredicate(value as unknown as TraversalReceiptPredicate);
}
