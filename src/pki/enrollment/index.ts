/**
 * The enrollment endpoint and its client (docs/operations/certificates.md), entry point
 * `stella-gateway/pki/enrollment`: the Fastify plugin and server, bootstrap tokens, and the
 * provider's enrollment source. Apart from `stella-gateway/pki` so that the CA and the provider load
 * no HTTP server or client.
 */
export { enrollmentPlugin, sendProblem, PKI_PROBLEM_TYPE_BASE, type EnrollmentPluginOptions } from './plugin.js';
export { startEnrollmentServer, ENROLLMENT_SERVER_NAME, type EnrollmentServer, type EnrollmentServerOptions } from './server.js';
export { createBootstrapToken, consumeBootstrapToken, DEFAULT_TOKEN_TTL_SECONDS, type CreateTokenOptions, type TokenRecord } from './tokens.js';
export { enrollmentSource } from './client.js';
