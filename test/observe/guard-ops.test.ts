/**
 * The guard's ops listener (docs/operations/running.md#the-ops-listener): the same readiness as
 * its mTLS `/healthz/ready` — here not ready, since no registry runs behind it — and the metrics
 * the docs table lists for the guard.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { prepareDeployment } from '../../src/deploy/prepare.js';
import { startGuard, type RunningGuard } from '../../src/guard/server.js';
import { tempDir } from '../support/tmp.js';
import { documentedMetrics, get } from './support/children.js';

describe('the guard with --ops-listen', () => {
  const tmp = tempDir('stella-guard-ops-');
  let guard: RunningGuard;
  before(async () => {
    const prepared = await prepareDeployment({ topologyFile: 'examples/topology-registry.yaml', workDir: join(tmp.path, 'dep'), freePorts: true });
    const service = prepared.topology.services.find((s) => s.kind === 'oci-registry')!;
    guard = await startGuard({ topology: prepared.topology, serviceId: service.id, listen: '127.0.0.1:0', logDecisions: false, ops: { listen: '127.0.0.1:0' } });
  });
  after(async () => {
    await guard?.close();
    tmp.remove();
  });

  it('answers /readyz 503 naming the registry that does not answer, with its certificate ready', async () => {
    const ready = await get(`${guard.opsUrl!}/readyz`);
    assert.equal(ready.status, 503);
    const body = JSON.parse(ready.text) as { status: string; checks: Record<string, { ok: boolean; detail: string }> };
    assert.equal(body.status, 'not-ready');
    assert.equal(body.checks.certificate?.ok, true);
    assert.equal(body.checks.registry?.ok, false);
    assert.match(body.checks.registry?.detail ?? '', /answered nothing/);
    assert.equal((await get(`${guard.opsUrl!}/livez`)).status, 200);
  });

  it('serves the metrics the docs list for the guard', async () => {
    const scrape = await get(`${guard.opsUrl!}/metrics`);
    const names = await documentedMetrics('guard');
    assert.ok(names.length > 0);
    for (const name of [...names, 'process_cpu_seconds_total']) assert.match(scrape.text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    assert.match(scrape.text, /^stella_certificate_expiry_timestamp_seconds\{part="guard-[^"]+",role="leaf",/m);
  });
});
