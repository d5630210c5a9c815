/**
 * The PKI of SPEC §5: a local CA, leaf issuance and revocation, inspection, the
 * `MtlsCertificateProvider` with hot swap for undici clients and Node TLS servers, and the
 * enrollment endpoint. File layout: docs/CONVENTIONS.md; operations: docs/operations/certificates.md.
 */
export { PkiError, PKI_ERROR_CODES, isPkiError, type PkiErrorCode } from './errors.js';
export { certificateFingerprint, spiffeId, normalizeSerial } from './x509.js';
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
