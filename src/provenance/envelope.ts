/**
 * The envelope checks of an envelope route (SPEC §4 checks 8 and 9): read the DSSE envelope and its
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

/** How envelopes are verified (plugin option `envelope`). */
export interface EnvelopeOptions {
  verifiers: Verifier[];
  /** Distinct keys that must verify; default 1. */
  threshold?: number;
  /** Default `application/vnd.in-toto+json`. */
  payloadType?: string;
}

/** A verified envelope with the traversal intent of its verified payload. */
export type VerifiedEnvelopeResult = VerifiedEnvelope & { intent: TraversalIntent };

/** The outcome of reading (not yet verifying) an envelope body. */
export type EnvelopeRead = { ok: true; envelope: Envelope; intent: TraversalIntent } | { ok: false; error: unknown };

/** Reads and verifies envelope bodies; one per plugin instance. */
export interface EnvelopeReader {
  /** Never throws: a body that is no envelope yields `{ ok: false }`. */
  read(body: Buffer): EnvelopeRead;
  /** @throws ProvenanceError `envelope-invalid`. */
  verify(read: EnvelopeRead): Promise<VerifiedEnvelopeResult>;
}

/**
 * Makes the reader. Validates the options now (registration time), not per request.
 * @throws TypeError for an empty verifier list or a bad threshold.
 */
export function createEnvelopeReader(options: EnvelopeOptions): EnvelopeReader {
  if (!Array.isArray(options.verifiers) || options.verifiers.length === 0) throw new TypeError('envelope.verifiers must list at least one verifier');
  const threshold = options.threshold ?? 1;
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > options.verifiers.length) {
    throw new TypeError(`envelope.threshold must be an integer in 1..${options.verifiers.length}`);
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
    async verify(read) {
      if (!read.ok) throw invalid(read.error);
      let verified: VerifiedEnvelope;
      try {
        verified = await verifyEnvelope(read.envelope, { payloadType, verifiers: options.verifiers, threshold });
      } catch (error) {
        throw invalid(error);
      }
      // The intent is re-read from the verified bytes: what was compared is what was signed.
      if (!verified.payload.equals(read.envelope.payload)) throw new ProvenanceError('envelope-invalid', 'verified payload differs from the one read');
      return { ...verified, intent: parseTraversalIntent(parseStatement(verified.payload)) };
    },
  };
}

function invalid(error: unknown): ProvenanceError {
  const reason = error instanceof DsseError ? `${error.code}: ${error.message}` : 'the body is not a DSSE envelope';
  return new ProvenanceError('envelope-invalid', reason, { cause: error });
}
