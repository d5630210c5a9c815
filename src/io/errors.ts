/** The codes of the shared I/O helpers (docs/operations/running.md#nodejs-lines). */
import { defineErrors } from '../errors/registry.js';

/** The registry of {@link SqliteDriverError}: installing the right package is the fix, so exit 2. */
export const IO_ERRORS = defineErrors('io', {
  'sqlite-driver-missing': { title: 'the SQLite driver package of this Node.js line is not installed', exit: 'usage', retryable: false },
});
