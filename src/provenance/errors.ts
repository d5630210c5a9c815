/**
 * Codes of the provenance area that are not provenance checks (those are
 * {@link PROVENANCE_ERRORS} in `problems.ts`, in check order): unusable keys, an unsafe stamper
 * listener, a replay cache that cannot take or keep nonces
 * (docs/provenance.md#errors-of-the-provenance-runtime lists them), and the one answer the
 * `node:http` adapter gives before any check, a body over the service's limit: the services'
 * `payload-too-large` (docs/services.md#problem-codes), the same entry.
 */
import { defineErrors } from '../errors/registry.js';

/** The registry of {@link HopKeyError}, {@link StamperListenError} and the replay caches' errors. */
export const PROVENANCE_RUNTIME_ERRORS = defineErrors('provenance-runtime', {
  'hop-key-invalid': { title: 'a hop key file is unreadable or does not hold a usable secret', exit: 'usage', retryable: false },
  STAMPER_LISTEN_UNSAFE: { title: 'the stamper listener cannot be set up safely (socket folder or path, TLS files)', exit: 'usage', retryable: false },
  'replay-cache-unavailable': { title: 'the replay cache\'s store did not answer', exit: 'failed', retryable: true },
  'replay-cache-full': { title: 'the in-memory replay cache holds its maximum of unexpired nonces', exit: 'failed', retryable: true },
  'payload-too-large': { status: 413, title: 'The request body exceeds the size limit of the service', exit: 'failed', retryable: false },
});
