/**
 * The PKI of docs/operations/certificates.md: a local CA, leaf issuance and revocation, inspection, the
 * `MtlsCertificateProvider` with hot swap for Node TLS servers. File layout: docs/CONVENTIONS.md;
 * operations: docs/operations/certificates.md. It loads no HTTP library: the undici dispatcher that
 * follows rotations is `stella-gateway/pki/dispatcher`, the enrollment endpoint and tokens
 * `stella-gateway/pki/enrollment` (the provider loads its enrollment client on first use).
 */
export { PkiError, PKI_ERRORS, PKI_ERROR_CODES, isPkiError, type PkiErrorCode } from './errors.js';
export { certificateFingerprint, normalizeSerial } from './x509.js';
export { spiffeId, parseSpiffeId, roleOf, ROLE_SUBJECT_ATTRIBUTE, type SpiffeIdParts } from '../topology/identity.js';
export { PKI_ROLES, DEFAULT_LEAF_TTL_SECONDS, parseDurationSeconds, type PkiRole, type LeafIdentity } from './profile.js';
export {
  initPki,
  revokeCertificate,
  refreshCrl,
  pkiInfo,
  DEFAULT_TRUST_DOMAIN,
  CRL_VALIDITY_SECONDS,
  type PkiInfo,
  type InitPkiOptions,
  type RevokeOptions,
} from './ca.js';
export { issueCertificate, type IssueOptions, type IssuedCertificate } from './issue.js';
export { inspectCertificate, type CertificateSummary } from './inspect.js';
export { pkiPaths } from './store.js';
export { caRolloverStep, CA_ROLLOVER_STEPS, type CaRolloverStep, type CaRolloverResult } from './rollover.js';
export { validateMaterial, verifyCertificate, type TlsMaterial, type RawMaterial, type MtlsIdentity } from './validate.js';
export {
  DEFAULT_FILE_POLL_INTERVAL_MS,
  type MtlsSource,
  type LocalCaSource,
  type FilesSource,
  type EnrollmentSource,
  type CertificateSource,
} from './sources.js';
export {
  MtlsCertificateProvider,
  DEFAULT_RENEW_AT_FRACTION,
  DEFAULT_JITTER_FRACTION,
  DEFAULT_RETRY_INITIAL_DELAY_MS,
  DEFAULT_RETRY_MAX_DELAY_MS,
  DEFAULT_DEGRADED_AT_FRACTION,
  DEFAULT_TRUST_RELOAD_INTERVAL_MS,
  type MtlsCertificateProviderOptions,
  type MtlsCertificateProviderEvents,
  type RotationReason,
} from './provider.js';
export { createMtlsSecureContextOptions, attachToServer, type AttachOptions } from './hotswap.js';
