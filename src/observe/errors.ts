/** The codes of the operations listener (docs/operations/running.md#the-ops-listener). */
import { defineErrors } from '../errors/registry.js';

/** The registry of {@link OpsListenError}. */
export const OBSERVE_ERRORS = defineErrors('observe', {
  'ops-listen': { title: 'the operations listener address is malformed, or not loopback without the opt-in', exit: 'usage', retryable: false },
});
