/**
 * The envelope checks of an envelope route (docs/provenance.md checks 8 and 9): read the DSSE envelope and its
 * traversal intent for the binding check, then verify the signatures. Thin glue over `src/dsse`.
 */
import {
  DsseError,
  IN_TOTO_PAYLOAD_TYPE,
  parseEnvelope,
  parseStatement,
  parseTraversalIntent,
  verifyEnvelope,
  type Envelope,
  type TraversalIntent,
  type VerifiedEnvelope,
  type Verifier,
} from '../dsse/index.js';
import { ProvenanceError } from './problems.js';

/**
 * Each scanner's DSSE verification keys, by scanner id. Only the keys of the scanner whose
 * certificate the edge saw may satisfy an envelope's threshold (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes, check 9).
 */
export type ScannerKeyring = ReadonlyMap<string, readonly Verifier[]>;

/** How envelopes are verified (plugin option `envelope`). */
export interface EnvelopeOptions {
  /** Every scanner's keys; see {@link ScannerKeyring}. */
  scannerKeys: ScannerKeyring;
  /** Distinct keys of that one scanner that must verify; default 1. */
  threshold?: number;
  /** Default `application/vnd.in-toto+json`. */
  payloadType?: string;
}

/** A verified envelope with the traversal intent of its verified payload and the scanner whose keys verified it. */
export type VerifiedEnvelopeResult = VerifiedEnvelope & { intent: TraversalIntent; scannerId: string };

/** The outcome of reading (not yet verifying) an envelope body. */
export type EnvelopeRead = { ok: true; envelope: Envelope; intent: TraversalIntent } | { ok: false; error: unknown };

/** Reads and verifies envelope bodies; one per plugin instance. */
export interface EnvelopeReader {
  /** Never throws: a body that is no envelope yields `{ ok: false }`. */
  read(body: Buffer): EnvelopeRead;
  /**
   * Verifies with the keys of `scannerId` only: a signature by any other scanner's key counts
   * for nothing. @throws ProvenanceError `envelope-invalid`.
   */
  verify(read: EnvelopeRead, scannerId: string): Promise<VerifiedEnvelopeResult>;
}

/**
 * Makes the reader. Validates the options now (registration time), not per request.
 * @throws TypeError for an empty keyring, a scanner with fewer keys than the threshold, or one
 *   key listed for two scanners (it could not tell them apart).
 */
export function createEnvelopeReader(options: EnvelopeOptions): EnvelopeReader {
  const keyring = options.scannerKeys;
  if (!(keyring instanceof Map) || keyring.size === 0) throw new TypeError('envelope.scannerKeys must map at least one scanner id to its verifiers');
  const threshold = options.threshold ?? 1;
  if (!Number.isInteger(threshold) || threshold < 1) throw new TypeError('envelope.threshold must be a positive integer');
  const owner = new Map<string, string>();
  for (const [scannerId, verifiers] of keyring) {
    if (!Array.isArray(verifiers) || verifiers.length < threshold) {
      throw new TypeError(`envelope.scannerKeys: scanner "${scannerId}" has ${Array.isArray(verifiers) ? verifiers.length : 0} key(s), the threshold is ${threshold}`);
    }
    for (const verifier of verifiers as readonly Verifier[]) {
      const other = owner.get(verifier.keyId);
      if (other !== undefined && other !== scannerId) {
        throw new TypeError(`envelope.scannerKeys: key ${verifier.keyid} of scanner "${scannerId}" is also a key of scanner "${other}"; a key must bind one scanner`);
      }
      owner.set(verifier.keyId, scannerId);
    }
  }
  const payloadType = options.payloadType ?? IN_TOTO_PAYLOAD_TYPE;
  return {
    read(body) {
      try {
        const envelope = parseEnvelope(body);
        return { ok: true, envelope, intent: parseTraversalIntent(parseStatement(envelope.payload)) };
      } catch (error) {
        return { ok: false, error };
      }
    },
    async verify(read, scannerId) {
      if (!read.ok) throw invalid(read.error);
      const verifiers = keyring.get(scannerId);
      if (!verifiers) throw new ProvenanceError('envelope-invalid', `no signing key is configured for scanner ${scannerId}`);
      let verified: VerifiedEnvelope;
      try {
        verified = await verifyEnvelope(read.envelope, { payloadType, verifiers: [...verifiers], threshold });
      } catch (error) {
        throw invalid(error, `with the keys of ${scannerId}, the scanner whose certificate the edge saw`);
      }
      // The intent is re-read from the verified bytes: what was compared is what was signed.
      if (!verified.payload.equals(read.envelope.payload)) throw new ProvenanceError('envelope-invalid', 'verified payload differs from the one read');
      return { ...verified, intent: parseTraversalIntent(parseStatement(verified.payload)), scannerId };
    },
  };
}

function invalid(error: unknown, context?: string): ProvenanceError {
  const reason = error instanceof DsseError ? `${error.code}: ${error.message}${context ? ` ${context}` : ''}` : 'the body is not a DSSE envelope';
  return new ProvenanceError('envelope-invalid', reason, { cause: error });
}
