/**
 * The ops listener and the request id on the real CLI (docs/operations/running.md#observe-it):
 * each long-running command started as a child process, its ops listener scraped for the metric
 * names the docs table lists, and the refusals — no listener unless asked, no public address
 * without the opt-in, the mTLS operational routes still closed to scanners, an unusable
 * X-Request-Id replaced.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { freePort, prepareDeployment, type PreparedDeployment } from '../../src/deploy/prepare.js';
import { tempDir } from '../support/tmp.js';
import { documentedMetrics, get, listeningPorts, runCli, startCli, type Child } from './support/children.js';

const OPS_URL = /\(ops: (http:\/\/127\.0\.0\.1:\d+)\)/;
/** Metrics of prom-client's defaults that every part serves (docs: "Every part serves the prom-client defaults"). */
const PROCESS_METRICS = ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes'];

/** Asserts `# TYPE name` of every name in a scrape. */
function assertExposes(text: string, names: readonly string[], part: string): void {
  assert.ok(names.length > 0, `the docs list no metric for ${part}`);
  for (const name of names) assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), `${part} does not expose ${name}`);
}

describe('the ops listener of the real CLI', () => {
  const tmp = tempDir('stella-ops-');
  let reference: PreparedDeployment;
  let caddy: PreparedDeployment;
  const children: Child[] = [];
  const agents: Agent[] = [];
  const child = (args: readonly string[]): Child => {
    const started = startCli(args);
    children.push(started);
    return started;
  };
  /** An mTLS client to the locker presenting `who`'s certificate. */
  const agentAs = async (who: { chain: string; key: string }): Promise<Agent> => {
    const [ca, cert, key] = await Promise.all([readFile(reference.topology.pki.caBundle), readFile(who.chain), readFile(who.key)]);
    const agent = new Agent({ connect: { ca, cert, key, servername: reference.topology.services[0]!.serverName } });
    agents.push(agent);
    return agent;
  };

  before(async () => {
    reference = await prepareDeployment({ topologyFile: 'examples/topology.yaml', workDir: join(tmp.path, 'reference'), freePorts: true });
    caddy = await prepareDeployment({ topologyFile: 'examples/topology-caddy.yaml', workDir: join(tmp.path, 'caddy'), freePorts: true });
  });
  after(async () => {
    await Promise.all(children.map((c) => c.stop()));
    await Promise.all(agents.map((a) => a.close()));
    tmp.remove();
  });

  describe('serve', () => {
    let locker: Child;
    let opsUrl: string;
    before(async () => {
      locker = child(['serve', '--topology', reference.topologyFile, '--service', 'evidence-locker', '--ops-listen', '127.0.0.1:0', '--log-level', 'debug']);
      opsUrl = (await locker.waitFor(OPS_URL))[1]!;
    });

    it('serves every documented service metric, the process metrics and one expiry series per loaded certificate', async () => {
      const scrape = await get(`${opsUrl}/metrics`);
      assert.equal(scrape.status, 200);
      assertExposes(scrape.text, [...(await documentedMetrics('serve')), ...PROCESS_METRICS], 'serve');
      const leaf = new RegExp(`^stella_certificate_expiry_timestamp_seconds\\{part="evidence-locker",role="leaf",subject="[^"]*CN=evidence-locker[^"]*",serial="[0-9a-f]+",service="evidence-locker"\\} (\\d+)$`, 'm').exec(scrape.text);
      assert.ok(leaf, scrape.text.split('\n').filter((l) => l.startsWith('stella_certificate')).join('\n'));
      // The leaf of `pki bootstrap`: valid for about a day from now.
      const inSeconds = Number(leaf[1]) - Date.now() / 1000;
      assert.ok(inSeconds > 3600 && inSeconds < 2 * 86400, `${inSeconds}`);
      assert.match(scrape.text, /^stella_certificate_expiry_timestamp_seconds\{part="evidence-locker",role="trust-anchor",/m);
    });

    it('answers /livez and /readyz with the checks of the mTLS /healthz/ready', async () => {
      assert.deepEqual(JSON.parse((await get(`${opsUrl}/livez`)).text), { part: 'evidence-locker', status: 'live' });
      const ready = await get(`${opsUrl}/readyz`);
      assert.equal(ready.status, 200);
      const body = JSON.parse(ready.text) as { status: string; checks: Record<string, { ok: boolean }> };
      assert.equal(body.status, 'ready');
      assert.deepEqual(Object.keys(body.checks).sort(), ['certificate', 'database', 'keys']);
      const lastHop = reference.topology.hops.at(-1)!;
      const mtls = await request(`https://${reference.topology.services[0]!.listen}/healthz/ready`, { dispatcher: await agentAs(lastHop.upstreamTls) });
      const viaMtls = (await mtls.body.json()) as { checks: Record<string, { ok: boolean }> };
      assert.equal(mtls.statusCode, 200);
      assert.deepEqual(Object.keys(viaMtls.checks).sort(), Object.keys(body.checks).sort());
    });

    it('keeps the mTLS operational routes closed to a scanner certificate, and says which request it refused', async () => {
      const scanner = await agentAs(reference.topology.scanners[0]!.tls);
      for (const path of ['/metrics', '/healthz/ready']) {
        const res = await request(`https://${reference.topology.services[0]!.listen}${path}`, { dispatcher: scanner, headers: { 'x-request-id': 'refused-scrape-1' } });
        const problem = (await res.body.json()) as { code: string };
        assert.equal(res.statusCode, 403, path);
        assert.equal(problem.code, 'identity-not-allowed', path);
        assert.equal(res.headers['x-request-id'], 'refused-scrape-1', path);
      }
    });

    it('echoes a usable X-Request-Id, replaces an unusable one, and logs each as reqId', async () => {
      const hop = await agentAs(reference.topology.hops.at(-1)!.upstreamTls);
      const url = `https://${reference.topology.services[0]!.listen}/healthz/live`;
      const kept = await request(url, { dispatcher: hop, headers: { 'x-request-id': 'edge-id-0001' } });
      await kept.body.dump();
      assert.equal(kept.headers['x-request-id'], 'edge-id-0001');
      for (const bad of ['has space', 'x'.repeat(129), '{"level":60}\u00e9']) {
        const res = await request(url, { dispatcher: hop, headers: { 'x-request-id': bad } });
        await res.body.dump();
        assert.equal(res.statusCode, 200);
        const id = res.headers['x-request-id'] as string;
        assert.match(id, /^[0-9a-f-]{36}$/, `${bad} replaced by a UUID`);
        await locker.waitFor(new RegExp(`"reqId":"${id}"`));
      }
      await locker.waitFor(/"reqId":"edge-id-0001".*"msg":"incoming request"/);
      assert.doesNotMatch(locker.output(), /has space|"reqId":"x{129}/);
    });
  });

  it('serve opens no ops listener unless asked (its one listening port is the mTLS one), and logs at --log-level', async () => {
    const service = reference.topology.services[0]!;
    const port = await freePort();
    const plain = child(['serve', '--topology', reference.topologyFile, '--service', service.id, '--listen', `127.0.0.1:${port}`, '--log-level', 'warn']);
    await plain.waitFor(/listening on https:\/\/127\.0\.0\.1:\d+\n/);
    assert.doesNotMatch(plain.output(), /ops:/);
    assert.deepEqual(listeningPorts(plain.process.pid!), [port]);
    const res = await request(`https://127.0.0.1:${port}/healthz/live`, { dispatcher: await agentAs(reference.topology.hops.at(-1)!.upstreamTls), headers: { 'x-request-id': 'quiet-1' } });
    await res.body.dump();
    assert.equal(res.statusCode, 200);
    assert.equal(await plain.stop(), 0);
    // At warn, the info lines of a request are not written (the debug-level locker above writes them).
    assert.doesNotMatch(plain.output(), /quiet-1|"msg":"incoming request"/);
  });

  it('refuses a non-loopback --ops-listen without --ops-listen-public: exit 2, one line, nothing started', async () => {
    const result = await runCli(['serve', '--topology', reference.topologyFile, '--service', 'evidence-locker', '--ops-listen', '0.0.0.0:0']);
    assert.equal(result.code, 2, result.stderr);
    assert.deepEqual(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /^stella-gateway serve: --ops-listen 0\.0\.0\.0:0 is not a loopback address; .* add --ops-listen-public/);
    assert.doesNotMatch(result.stderr, /listening on/);
  });

  it('stamper: serves its stamp, refusal and latency metrics and the process metrics', async () => {
    const stamper = child(['stamper', '--topology', caddy.topologyFile, '--hop', 'gw-edge', '--ops-listen', '127.0.0.1:0']);
    const opsUrl = (await stamper.waitFor(OPS_URL))[1]!;
    const scrape = await get(`${opsUrl}/metrics`);
    const documented = await documentedMetrics('stamper');
    // The Unix-socket form loads no certificate (docs: "has no series"); the gauge is the mTLS form's.
    assertExposes(scrape.text, [...documented.filter((n) => n !== 'stella_certificate_expiry_timestamp_seconds'), ...PROCESS_METRICS], 'stamper');
    assert.equal((await get(`${opsUrl}/readyz`)).status, 200);
  });

  it('scanner run: serves the outbox backlog and delivery metrics', async () => {
    const worker = child(['scanner', 'run', '--topology', reference.topologyFile, '--scanner', reference.topology.scanners[0]!.id, '--spool', join(tmp.path, 'spool'), '--ops-listen', '127.0.0.1:0']);
    const opsUrl = (await worker.waitFor(/"ops":"(http:\/\/127\.0\.0\.1:\d+)"/))[1]!;
    const scrape = await get(`${opsUrl}/metrics`);
    assertExposes(scrape.text, [...(await documentedMetrics('scanner run')), ...PROCESS_METRICS], 'scanner run');
    assert.match(scrape.text, /^stella_outbox_items\{state="pending"\} 0$/m);
    assert.match(scrape.text, /^stella_outbox_oldest_pending_age_seconds 0$/m);
    const ready = JSON.parse((await get(`${opsUrl}/readyz`)).text) as { checks: { outbox: { ok: boolean } } };
    assert.equal(ready.checks.outbox.ok, true);
  });

  it('pki serve: serves the enrollment certificate expiry', async () => {
    const enrollment = child(['pki', 'serve', '--dir', reference.topology.pki.dir, '--listen', `127.0.0.1:${await freePort()}`, '--ops-listen', '127.0.0.1:0']);
    const opsUrl = (await enrollment.waitFor(OPS_URL))[1]!;
    const scrape = await get(`${opsUrl}/metrics`);
    assertExposes(scrape.text, [...(await documentedMetrics('pki serve')), ...PROCESS_METRICS], 'pki serve');
    assert.match(scrape.text, /^stella_certificate_expiry_timestamp_seconds\{part="pki-serve",role="leaf",/m);
  });
});
