/**
 * `serve` end to end in-process: a real PKI, real key files, a topology file, the locker on its
 * mTLS listener, and requests from the last hop's certificate (undici with a client certificate).
 */
import { describe, it, before, after } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { parseEnvelope } from '../../src/dsse/index.js';
import { verifyReceipt } from '../../src/evidence/receipt.js';
import { initPki, issueCertificate } from '../../src/pki/index.js';
import { startService, type RunningService } from '../../src/services/common/server.js';
import { ServiceConfigError } from '../../src/services/common/runtime.js';
import { loadTopology } from '../../src/topology/load.js';
import { runServe } from '../../src/cli/commands/serve.js';
import { CliError, EXIT_USAGE } from '../../src/cli/output.js';
import type { ResolvedTopology } from '../../src/topology/resolve.js';
import { tempDir } from '../support/tmp.js';
import { sha256Hex, signedEnvelope, stamp, writeKeyFiles, type TestKeys } from './support/fixture.js';
import { topologyHead } from '../support/topology.js';

describe('serve: the locker on its mTLS listener', () => {
  const dir = tempDir('stella-serve-');
  let running: RunningService;
  let topology: ResolvedTopology;
  let keys: TestKeys;
  const agents: Agent[] = [];

  const agentFor = (name: string): Agent => {
    const issued = join(dir.path, 'pki', 'issued', 'gateway', name);
    const agent = new Agent({
      connect: { key: readFileSync(join(issued, 'key.pem')), cert: readFileSync(join(issued, 'chain.pem')), ca: readFileSync(join(dir.path, 'pki', 'ca-bundle.pem')), servername: 'evidence-locker' },
    });
    agents.push(agent);
    return agent;
  };

  before(async () => {
    const pki = join(dir.path, 'pki');
    await initPki({ dir: pki, trustDomain: 'stella.local' });
    await issueCertificate({ dir: pki, role: 'service', name: 'evidence-locker', dns: ['evidence-locker'], ip: ['127.0.0.1'] });
    await issueCertificate({ dir: pki, role: 'gateway', name: 'gw-internal', dns: ['gw-internal'] });
    await issueCertificate({ dir: pki, role: 'gateway', name: 'gw-edge', dns: ['gw-edge'] });
    keys = writeKeyFiles(join(dir.path, 'keys'));
    const file = join(dir.path, 'topology.json');
    writeFileSync(
      file,
      JSON.stringify({
        ...topologyHead({ kid: 'scanner-01-hmac', file: './keys/scanner.hmac' }),
        hops: [
          { id: 'gw-edge', kind: 'nginx', listen: '127.0.0.1:8443', stamp: { via: 'native', keys: [{ kid: 'edge-1', file: './keys/edge.key' }] }, next: 'waf' },
          { id: 'waf', kind: 'apache-modsecurity', listen: '127.0.0.1:8444', stamp: false, next: 'gw-internal' },
          { id: 'gw-internal', kind: 'haproxy', listen: '127.0.0.1:8445', stamp: { via: 'native', keys: [{ kid: 'internal-1', file: './keys/internal.key' }] }, next: 'evidence-locker' },
        ],
        services: [{ id: 'evidence-locker', kind: 'evidence-locker', listen: '127.0.0.1:9443', storage: { kind: 'sqlite', file: './var/evidence.db' }, receiptKey: './keys/receipt.pem' }],
      }),
    );
    topology = await loadTopology(file);
    running = await startService({ topology, serviceId: 'evidence-locker', listen: '127.0.0.1:0', logger: false });
  });

  after(async () => {
    await running?.close();
    await Promise.all(agents.map((a) => a.close()));
    dir.remove();
  });

  it('is ready with database, keys and a valid certificate', async () => {
    const response = await request(`${running.url}/healthz/ready`, { dispatcher: agentFor('gw-internal') });
    assert.equal(response.statusCode, 200);
    const body = (await response.body.json()) as { checks: Record<string, { ok: boolean }> };
    assert.deepEqual(Object.fromEntries(Object.entries(body.checks).map(([k, v]) => [k, v.ok])), { database: true, keys: true, certificate: true });
  });

  it('stores an envelope delivered by the last hop over mTLS and answers 201 with a receipt', async () => {
    const nowMs = Date.now();
    const body = await signedEnvelope(keys, { scanId: 'scan-serve', nowMs });
    const stamped = stamp(topology, keys, { method: 'POST', url: '/api/v1/evidence', scanId: 'scan-serve', body, nowMs });
    const response = await request(`${running.url}/api/v1/evidence`, { method: 'POST', headers: stamped.headers, body, dispatcher: agentFor('gw-internal') });
    assert.equal(response.statusCode, 201);
    const answer = (await response.body.json()) as { receipt: unknown };
    await verifyReceipt(parseEnvelope(answer.receipt), { publicKey: keys.receiptPublic, expectedEnvelopeSha256: sha256Hex(body) });
  });

  it('refuses a peer certificate that is not the last hop with 403 untrusted-peer', async () => {
    const nowMs = Date.now();
    const stamped = stamp(topology, keys, { method: 'GET', url: '/healthz/traversal', scanId: 'probe', nowMs });
    const response = await request(`${running.url}/healthz/traversal`, { headers: stamped.headers, dispatcher: agentFor('gw-edge') });
    assert.equal(response.statusCode, 403);
    assert.equal(((await response.body.json()) as { code: string }).code, 'untrusted-peer');
  });

  it('refuses the TLS handshake of a client without a certificate', async () => {
    const agent = new Agent({ connect: { ca: readFileSync(join(dir.path, 'pki', 'ca-bundle.pem')), servername: 'evidence-locker' } });
    agents.push(agent);
    await assert.rejects(request(`${running.url}/healthz/live`, { dispatcher: agent }));
  });

  it('runs a scanner-webservice the same way and registers a scan over mTLS', async () => {
    // The same identity and chain, declared as a WebService with its own database file.
    const asWebService = {
      ...topology,
      services: topology.services.map((s) => ({ ...s, kind: 'scanner-webservice' as const, storage: { kind: 'sqlite' as const, file: join(dir.path, 'var', 'scans.db') } })),
    };
    const webservice = await startService({ topology: asWebService, serviceId: 'evidence-locker', listen: '127.0.0.1:0', logger: false });
    try {
      const nowMs = Date.now();
      const body = Buffer.from(JSON.stringify({ scanId: 'scan-ws-serve' }));
      const stamped = stamp(asWebService, keys, { method: 'POST', url: '/api/v1/scans', scanId: 'scan-ws-serve', body, nowMs });
      const response = await request(`${webservice.url}/api/v1/scans`, { method: 'POST', headers: stamped.headers, body, dispatcher: agentFor('gw-internal') });
      assert.equal(response.statusCode, 201);
      assert.equal(((await response.body.json()) as { scannerId: string }).scannerId, 'scanner-01');
    } finally {
      await webservice.close();
    }
  });

  it('makes the serve command exit 2 for an unknown service or a missing topology file', async () => {
    await assert.rejects(runServe({ topology: join(dir.path, 'topology.json'), service: 'no-such-service', listen: '127.0.0.1:0' }), (e: unknown) => e instanceof CliError && e.exitCode === EXIT_USAGE);
    await assert.rejects(runServe({ topology: join(dir.path, 'missing.yaml'), service: 'evidence-locker' }), (e: unknown) => e instanceof CliError && e.exitCode === EXIT_USAGE);
  });

  it('will not start a locker without a receipt key (service-config)', async () => {
    const noKey = { ...topology, services: topology.services.map((s) => ({ ...s, receiptKey: undefined })) };
    await assert.rejects(startService({ topology: noKey, serviceId: 'evidence-locker', listen: '127.0.0.1:0', logger: false }), (e: unknown) => e instanceof ServiceConfigError && e.code === 'service-config');
  });
});
