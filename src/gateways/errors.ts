/**
 * The codes of the gateway runtime (docs/gateways/README.md): unusable hop files, the Envoy API
 * check not installed, a hop that does not come up or cannot reload in place.
 */
import { defineErrors } from '../errors/registry.js';

/** The registry of the gateway runtime's errors. */
export const GATEWAY_ERRORS = defineErrors('gateways', {
  GATEWAY_FILES_INVALID: { title: 'a hop\'s key or certificate files cannot be used', exit: 'usage', retryable: false },
  ENVOY_CHECK_UNAVAILABLE: { title: 'the Envoy API check cannot run: a package it needs is not installed', exit: 'usage', retryable: false },
  GATEWAY_START_FAILED: { title: 'a hop\'s program did not come up (its stderr tail says why)', exit: 'failed', retryable: false },
  GATEWAY_RELOAD_FAILED: { title: 'a hop could not be reloaded in place', exit: 'failed', retryable: false },
});
