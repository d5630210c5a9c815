/**
 * `guard` and `serve` each run only their own kind of service (docs/services.md#the-guard): a
 * guard in front of a locker, or `serve` for a registry, is a configuration error (exit 2) named
 * before anything listens.
 */
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { runGuard } from '../../src/cli/commands/guard.js';
import { CliError, EXIT_USAGE } from '../../src/cli/output.js';
import { startService } from '../../src/services/common/server.js';
import { ServiceConfigError } from '../../src/services/common/runtime.js';
import { loadTopology } from '../../src/topology/load.js';

const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples');

describe('guard and serve', () => {
  it('guard refuses a service that verifies provenance itself, with exit 2', async () => {
    await assert.rejects(runGuard({ topology: join(EXAMPLES, 'topology.yaml'), service: 'evidence-locker' }), (e: unknown) => e instanceof CliError && e.exitCode === EXIT_USAGE && /a guard runs in front of oci-registry services only/.test(e.message));
  });

  it('guard refuses a service the topology does not have, with exit 2', async () => {
    await assert.rejects(runGuard({ topology: join(EXAMPLES, 'topology-registry.yaml'), service: 'nope' }), (e: unknown) => e instanceof CliError && e.exitCode === EXIT_USAGE);
  });

  it('serve refuses an oci-registry: a third-party program runs there, behind the guard', async () => {
    const topology = await loadTopology(join(EXAMPLES, 'topology-registry.yaml'));
    await assert.rejects(startService({ topology, serviceId: 'registry' }), (e: unknown) => e instanceof ServiceConfigError && /stella-gateway guard/.test(e.message));
  });
});
