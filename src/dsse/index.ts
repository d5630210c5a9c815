/**
 * The DSSE library (docs/dsse.md): envelopes, PAE, strict base64, key material, signers and verifiers
 * for every algorithm of one table, threshold verification, and in-toto Statement helpers.
 * Published as `stella-gateway/dsse`. See docs/dsse.md.
 *
 * @example
 * const key = await loadKeyFile('worker.key');
 * const env = await signEnvelope(IN_TOTO_PAYLOAD_TYPE, serializeStatement(statement), [createSigner(key)]);
 * const { payload } = await verifyEnvelope(parseEnvelope(json), { payloadType: IN_TOTO_PAYLOAD_TYPE, verifiers: [createVerifier(pub)] });
 */
export { DsseError, DSSE_ERRORS, DSSE_ERROR_CODES } from './errors.js';
export type { DsseErrorCode } from './errors.js';
export { decodeBase64Strict, encodeBase64 } from './base64.js';
export { pae } from './pae.js';
export { parseEnvelope, serializeEnvelope, serializeEnvelopeBytes, DEFAULT_ENVELOPE_LIMITS } from './envelope.js';
export type { Envelope, EnvelopeSignature, EnvelopeLimits } from './envelope.js';
export { ALGORITHMS, ALGORITHM_NAMES, MIN_HMAC_SECRET_BYTES, algorithmByCliName } from './algorithms.js';
export type { Algorithm, AlgorithmSpec, AlgorithmFamily } from './algorithms.js';
export { parseKeyFile, generateKey, hmacKeyFromSecret, keyFromKeyObject } from './keys.js';
export type { KeyMaterial, AsymmetricAlgorithm, ParseKeyOptions } from './keys.js';
export { loadKeyFile } from './key-file.js';
export { createSigner, createVerifier } from './signers.js';
export type { Signer, Verifier } from './signers.js';
export { signEnvelope, verifyEnvelope } from './sign-verify.js';
export type { VerifyOptions, VerifiedEnvelope, AcceptedKey } from './sign-verify.js';
export {
  IN_TOTO_STATEMENT_TYPE,
  IN_TOTO_PAYLOAD_TYPE,
  TRAVERSAL_INTENT_PREDICATE_TYPE,
  buildStatement,
  serializeStatement,
  buildScanArtifactStatement,
  parseStatement,
  parseTraversalIntent,
} from './intoto.js';
export type { Statement, Subject, TraversalIntent } from './intoto.js';
