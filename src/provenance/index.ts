/**
 * The provenance protocol (docs/provenance.md), entry point `stella-gateway/provenance`: the
 * hop-record codec and MAC, chain verification, the receiving checks, hop keys and the in-memory
 * replay cache. Pure of I/O libraries (no HTTP server or client, database driver or metrics
 * registry; test/exports.test.ts holds it to that). The rest has its own entry point:
 * `stella-gateway/provenance/fastify` (the Fastify plugin), `…/node` (the `node:http` adapter),
 * `…/stamper` (the forward-auth stamper), `…/replay/sqlite` and `…/replay/postgres` (durable replay caches).
 */
export { PROVENANCE_PROBLEMS, PROVENANCE_CODES, PROBLEM_TYPE_BASE, ProvenanceError, isProvenanceError } from './problems.js';
export type { ProvenanceCode, ProvenanceProblem } from './problems.js';
export { MAC_CONTEXT, MAC_BYTES, SCAN_ID_PATTERN, NONCE_PATTERN, PEER_FINGERPRINT_PATTERN, RECORD_PARAMS, HEADER } from './record.js';
export type { HopRecord, RequestFacts } from './record.js';
export { parseProvenanceHeader, serializeProvenanceHeader, combineFieldLines, macToBase64 } from './codec.js';
export type { CodecLimits } from './codec.js';
export { macInput, computeMac, macEquals } from './mac.js';
export type { MacFields } from './mac.js';
export { verifyChain, stampRecord } from './chain.js';
export type { VerifiedHop, ChainContext, StampInput } from './chain.js';
export { contentDigestOf, checkContentDigest, checkContentDigestHash } from './digest.js';
export { loadHopKeyring, parseMacKey, stampingKey, HopKeyError, MIN_MAC_KEY_BYTES } from './keys.js';
export type { HopKeyring } from './keys.js';
export type { ReplayCache } from './replay/cache.js';
export { MemoryReplayCache, ReplayCacheFullError, DEFAULT_MAX_REPLAY_ENTRIES } from './replay/memory.js';
export type { EnvelopeOptions, VerifiedEnvelopeResult } from './envelope.js';
export { checkHeaders, checkRequest } from './verify.js';
export type { PeerIdentity, StreamedBody, VerifiedProvenance } from './verify.js';
export { clientCertFromHeaders } from './client-cert.js';
export type { ClientCertFacts } from './client-cert.js';
export * from './v2/index.js';
