/**
 * The forward-auth stamper (docs/provenance.md#the-forward-auth-stamper), entry point
 * `stella-gateway/provenance/stamper`: its core, its Fastify app and its listener (Unix socket or
 * mTLS). Apart from `stella-gateway/provenance`, which loads no server, driver or metrics registry.
 */
export { buildStamper, stamperCore, STAMPER_NONCE_BYTES, STAMPER_REFUSALS_METRIC, STAMPER_DURATION_METRIC, STAMPER_STAMPS_METRIC } from './stamper.js';
export type { StamperCore, StamperOptions, StamperRefusalReason, StampOutcome } from './stamper.js';
export { listenStamper, StamperListenError } from './stamper-listen.js';
export type { ListeningStamper, StamperListen, StamperTlsFiles } from './stamper-listen.js';
