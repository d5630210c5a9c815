/**
 * freePorts hands out distinct ports that are free again once it returns: a deployment's listeners
 * (hops, stampers, services) must never get one address twice, which asking for one port after
 * another did once in a test run (the kernel may hand a just-closed port back).
 */
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { createServer } from 'node:net';
import { freePorts } from '../../src/deploy/prepare.js';

describe('freePorts', () => {
  it('returns distinct ports, each of which can be bound right after', async () => {
    for (let round = 0; round < 20; round++) {
      const ports = await freePorts(12);
      assert.equal(new Set(ports).size, 12, `round ${round}: ${ports.join(',')}`);
      for (const port of ports) {
        const server = createServer();
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, '127.0.0.1', resolve);
        });
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    }
  });

  it('returns no port for a count of 0', async () => {
    assert.deepEqual(await freePorts(0), []);
  });
});
