/**
 * Codes of the provenance area that are not answers to a request (those are
 * {@link PROVENANCE_ERRORS} in `problems.ts`, in check order): unusable keys, an unsafe stamper
 * listener, a replay cache that cannot take or keep nonces
 * (docs/provenance.md#errors-of-the-provenance-runtime lists them).
 */
import { defineErrors } from '../errors/registry.js';

/** The registry of {@link HopKeyError}, {@link StamperListenError} and the replay caches' errors. */
export const PROVENANCE_RUNTIME_ERRORS = defineErrors('provenance-runtime', {
  'hop-key-invalid': { title: 'a hop key file is unreadable or does not hold a usable secret', exit: 'usage', retryable: false },
  STAMPER_LISTEN_UNSAFE: { title: 'the stamper listener cannot be set up safely (socket folder or path, TLS files)', exit: 'usage', retryable: false },
  'replay-cache-unavailable': { title: 'the replay cache\'s store did not answer', exit: 'failed', retryable: true },
  'replay-cache-full': { title: 'the in-memory replay cache holds its maximum of unexpired nonces', exit: 'failed', retryable: true },
});
