/**
 * The provenance protocol (docs/provenance.md): the hop-record codec and MAC (pure), chain
 * verification, replay caches, the receiving middleware (Fastify plugin and Node adapter) and the
 * forward-auth stamper.
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
export { PostgresReplayCache, REPLAY_MIGRATIONS } from './replay/postgres.js';
export { DECISIONS_METRIC } from './decisions.js';
export type { EnvelopeOptions, VerifiedEnvelopeResult } from './envelope.js';
export { checkHeaders, checkRequest } from './verify.js';
export type { PeerIdentity, StreamedBody, VerifiedProvenance } from './verify.js';
export { tlsPeerIdentity } from './options.js';
export type { ProvenanceBaseOptions } from './options.js';
export { default as provenancePlugin, RAW_BODY_CONTENT_TYPES } from './fastify.js';
export type { ProvenancePluginOptions, ProvenanceRouteConfig } from './fastify.js';
export { createProvenanceMiddleware } from './node.js';
export type { ProvenanceMiddleware, ProvenanceMiddlewareOptions, ProvenanceIncomingMessage } from './node.js';
export { buildStamper, stamperCore, STAMPER_NONCE_BYTES, STAMPER_REFUSALS_METRIC } from './stamper.js';
export type { StamperCore, StamperOptions, StamperRefusalReason, StampOutcome } from './stamper.js';
export { listenStamper, StamperListenError } from './stamper-listen.js';
export type { ListeningStamper, StamperListen, StamperTlsFiles } from './stamper-listen.js';
export { clientCertFromHeaders } from './client-cert.js';
export type { ClientCertFacts } from './client-cert.js';
