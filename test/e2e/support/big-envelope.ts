/**
 * Envelopes as large as the chain admits (`limits.maxBodyBytes`, 16 MiB by default): the traversal
 * intent's statement with an extra predicate member of filler text, signed with the scanner's
 * keys exactly as the worker signs (docs/scanner.md "Signing at send time"). The intent parser
 * reads only its own members, so the filler is carried, signed and stored like any predicate data.
 */
import {
  IN_TOTO_PAYLOAD_TYPE,
  buildScanArtifactStatement,
  serializeEnvelopeBytes,
  serializeStatement,
  signEnvelope,
} from '../../../src/dsse/index.js';
import type { EnvelopeFactory } from '../../../src/scanner/deliver.js';
import { loadSigners, type SigningKeyRef } from '../../../src/scanner/signing.js';

/** Room left under the body limit for the envelope's JSON around the base64 payload and signatures. */
const ENVELOPE_OVERHEAD_BYTES = 16 * 1024;

/** An envelope factory whose envelopes are `envelopeBytes` long, give or take the overhead. */
export function paddedEnvelopeFactory(keys: readonly SigningKeyRef[], envelopeBytes: number): EnvelopeFactory {
  // base64 turns 3 statement bytes into 4 payload bytes.
  const statementBytes = Math.floor(((envelopeBytes - ENVELOPE_OVERHEAD_BYTES) * 3) / 4);
  return async (input) => {
    const statement = buildScanArtifactStatement(input);
    const base = serializeStatement(statement).length;
    const filler = 'a'.repeat(Math.max(0, statementBytes - base - 32));
    const padded = { ...statement, predicate: { ...statement.predicate, filler } };
    const envelope = await signEnvelope(IN_TOTO_PAYLOAD_TYPE, serializeStatement(padded), await loadSigners(keys));
    return serializeEnvelopeBytes(envelope);
  };
}
