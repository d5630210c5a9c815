import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { renderTopology } from '../../src/gateways/index.js';
import { GatewayStartError, startHop, stopAll } from '../../src/gateways/runtime.js';
import { writeRenderedFiles } from '../../src/gateways/write.js';
import type { ResolvedHop } from '../../src/topology/resolve.js';
import type { TopologyInput } from '../../src/topology/schema.js';
import { portsFor, requireProgram } from '../support/programs.js';
import { createDeployment, type Deployment } from './apache/support/deployment.js';

/** Two Caddy hops in a row (quick to start); the stamper of the edge need not run for these tests. */
function twoCaddies(ports: { a: number; b: number; stamper: number; service: number }): TopologyInput {
  return {
    apiVersion: 'stella-gateway/v1',
    kind: 'Topology',
    name: 'runtime-test',
    trustDomain: 'stella.local',
    pki: { dir: './pki' },
    scanners: [{ id: 'scanner-01', signing: { keys: [{ kid: 'k', file: './keys/scanner.hmac' }] } }],
    hops: [
      { id: 'gw-a', kind: 'caddy', listen: `127.0.0.1:${ports.a}`, stamp: { via: 'forward-auth', keys: [{ kid: 'a-1', file: './keys/gw-a.key' }], stamper: { listen: `127.0.0.1:${ports.stamper}` } }, next: 'gw-b' },
      { id: 'gw-b', kind: 'caddy', listen: `127.0.0.1:${ports.b}`, stamp: false, next: 'evidence-locker' },
    ],
    services: [{ id: 'evidence-locker', kind: 'evidence-locker', listen: `127.0.0.1:${ports.service}`, receiptKey: './keys/receipt.pem' }],
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startHop / stop', () => {
  let deployment: Deployment;
  const hop = (id: string): ResolvedHop => {
    const found = deployment.topology.hops.find((h) => h.id === id);
    assert.ok(found);
    return found;
  };

  before(async () => {
    requireProgram('caddy');
    deployment = await createDeployment(twoCaddies(await portsFor('a', 'b', 'stamper', 'service')));
    await writeRenderedFiles(deployment.outDir, renderTopology(deployment.topology, { outDir: deployment.outDir }));
  });
  after(() => deployment.remove());

  it('resolves once the hop completes a verified TLS handshake, and stop() ends the process by its PID', async () => {
    const running = await startHop(deployment.topology, hop('gw-a'), join(deployment.outDir, 'gw-a'));
    try {
      assert.ok(running.pid > 0);
      assert.ok(isAlive(running.pid));
      assert.ok(existsSync(running.stderrFile));
    } finally {
      await running.stop();
    }
    assert.equal(isAlive(running.pid), false);
  });

  it('stops several hops at once with stopAll', async () => {
    const started = [await startHop(deployment.topology, hop('gw-a'), join(deployment.outDir, 'gw-a')), await startHop(deployment.topology, hop('gw-b'), join(deployment.outDir, 'gw-b'))];
    await stopAll(started);
    for (const g of started) assert.equal(isAlive(g.pid), false, g.hop.id);
  });

  it('fails with GatewayStartError and the program stderr when the listen address is taken', async () => {
    const target = hop('gw-b');
    const [host, port] = [target.listen.split(':')[0], Number(target.listen.split(':')[1])];
    const squatter = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(port, host, resolve));
    try {
      await assert.rejects(startHop(deployment.topology, target, join(deployment.outDir, 'gw-b'), { readyTimeoutMs: 10_000 }), (error: unknown) => {
        assert.ok(error instanceof GatewayStartError);
        assert.match(error.message, /hop gw-b did not start: caddy exited/);
        assert.match(error.stderrTail, /address already in use/);
        return true;
      });
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });
});
