/**
 * The codes of the evidence store (docs/services.md#problem-codes for the two the services answer
 * with as they are, docs/operations/running.md#when-a-command-fails for the rest).
 */
import { defineErrors } from '../errors/registry.js';

/**
 * The storage registry. `scan-conflict` and `storage-unavailable` are defined here, once, and the
 * services' registry answers with these same entries (src/services/common/problems.ts).
 */
export const STORAGE_ERRORS = defineErrors('storage', {
  'storage-unavailable': { status: 503, title: 'The evidence store is unavailable', exit: 'failed', retryable: true },
  'storage-corrupt': { title: 'a stored row cannot be read back as written', exit: 'failed', retryable: false },
  'storage-config': { title: 'the store settings of the service are unusable', exit: 'usage', retryable: false },
  'scan-conflict': { status: 409, title: 'The scan belongs to another scanner, exists with different data, or was completed with another report', exit: 'failed', retryable: false },
});
