/**
 * Runs the rendered HAProxy as the edge, for real, in front of a recording mTLS upstream: rule 1
 * stripping, the seq-1 record checked with an independent MAC recomputation, and the refusals.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, fetch, request } from 'undici';
import { haproxyProgram, prepareHaproxyHop, renderHaproxyHop } from '../../../src/gateways/haproxy/index.js';
import { portsFor } from '../../support/programs.js';
import { createDeployment, exampleDocument, type Deployment } from '../support/deployment.js';
import { certificateFingerprint, type LeafFiles } from '../support/pki.js';
import { macVerifies, parseProvenance } from '../support/provenance.js';
import { startProgram, writeRendered, type RunningProgram } from '../support/run.js';
import { startRecordingUpstream, type RecordingUpstream } from '../support/upstream.js';

describe('HAProxy as the edge in front of a service', () => {
  let deployment: Deployment;
  let upstream: RecordingUpstream | undefined;
  let program: RunningProgram | undefined;
  let url = '';
  let revoked: LeafFiles;
  const agents: Agent[] = [];

  const agentWith = (leaf: LeafFiles | null): Agent => {
    const agent = new Agent({
      connect: { ca: readFileSync(deployment.pki.caBundle), ...(leaf ? { cert: readFileSync(leaf.chain), key: readFileSync(leaf.key) } : {}) },
    });
    agents.push(agent);
    return agent;
  };
  const scanner = (): LeafFiles => {
    const found = deployment.topology.scanners[0];
    if (!found) throw new Error('the topology has a scanner');
    return found.tls;
  };

  before(async () => {
    const { edge: edgePort, service: servicePort } = await portsFor('edge', 'service');
    const doc = exampleDocument();
    const edge = doc.hops[0];
    if (!edge) throw new Error('the example has an edge');
    doc.hops = [{ ...edge, kind: 'haproxy', listen: `127.0.0.1:${edgePort}`, next: 'evidence-locker', limits: { maxBodyBytes: 65536, maxArtifactBytes: 131072, upstreamTimeoutSeconds: 10 } }];
    doc.services = doc.services.map((s) => ({ ...s, listen: `127.0.0.1:${servicePort}` }));
    deployment = await createDeployment(doc);
    revoked = deployment.pki.issue('scanner', 'scanner-01', 'revoked/scanner-01');
    deployment.pki.revoke(revoked);
    const { topology } = deployment;
    const hop = topology.hops[0];
    const service = topology.services[0];
    if (!hop || !service) throw new Error('one hop and one service');
    const outDir = join(deployment.dir, 'out');
    writeRendered(outDir, renderHaproxyHop(topology, hop, { outDir }));
    upstream = await startRecordingUpstream(servicePort, service.tls, topology.pki.caBundle);
    const hopDir = join(outDir, hop.id);
    program = await startProgram(haproxyProgram.run(hopDir, hop), edgePort, await prepareHaproxyHop(hopDir, hop));
    url = `https://127.0.0.1:${edgePort}`;
  });

  after(async () => {
    for (const agent of agents) await agent.close();
    await program?.stop();
    await upstream?.close();
    deployment?.remove();
  });

  it('strips forged headers and stamps one record whose MAC verifies', async () => {
    const pathAndQuery = '/api/v1/scans?state=open&x=a,b';
    const response = await fetch(`${url}${pathAndQuery}`, {
      dispatcher: agentWith(scanner()),
      headers: {
        'x-stella-scan-id': 'scan:7',
        'x-stella-provenance': 'gw-edge;seq=1;ts=1;nonce="0000000000000000";peer="sha256:00";peer-id="scanner-01";kid="x";mac=:AAAA:',
        'client-cert': ':AAAA:',
        'client-cert-chain': ':AAAA:',
      },
    });
    assert.equal(response.status, 200, await response.text());
    const request = upstream?.received.find((r) => r.url === pathAndQuery);
    assert.ok(request, 'the request reached the service unchanged');
    assert.equal(request.peerCn, 'gw-edge');
    assert.equal(request.headers['client-cert'], undefined);
    assert.equal(request.headers['client-cert-chain'], undefined);
    const header = String(request.headers['x-stella-provenance']);
    assert.match(header, /^gw-edge;seq=1;ts=\d+;nonce="[0-9a-f]{32}";peer="sha256:[0-9a-f]{64}";peer-id="scanner-01";kid="edge-2026-11";mac=:[A-Za-z0-9+/]{43}=:$/);
    const [record, ...rest] = parseProvenance(header);
    assert.ok(record);
    assert.equal(rest.length, 0);
    assert.equal(record.peer, `sha256:${certificateFingerprint(scanner().cert)}`);
    const key = deployment.macKeys.get('edge-2026-11');
    assert.ok(key);
    assert.ok(macVerifies(record, { method: 'GET', pathAndQuery, scanId: 'scan:7', contentDigest: '' }, undefined, key));
  });

  it('refuses a scan id outside the format of docs/provenance.md with 403', async () => {
    const response = await fetch(`${url}/api/v1/scans`, { dispatcher: agentWith(scanner()), headers: { 'x-stella-scan-id': 'a|b' } });
    assert.equal(response.status, 403);
    await response.arrayBuffer();
  });

  it('refuses with 400 a second X-Stella-Scan-Id line, which would make the MAC input ambiguous', async () => {
    // fetch() would join the two lines; undici's request() sends a flat header list as it is.
    const response = await request(`${url}/api/v1/scans?dup`, { dispatcher: agentWith(scanner()), headers: ['x-stella-scan-id', 'a', 'x-stella-scan-id', 'b'] });
    assert.equal(response.statusCode, 400);
    await response.body.arrayBuffer();
    assert.ok(!upstream?.received.some((r) => r.url === '/api/v1/scans?dup'));
  });

  it('answers 413 to a Content-Length over hop.limits.maxBodyBytes', async () => {
    const response = await fetch(`${url}/api/v1/evidence`, { method: 'POST', dispatcher: agentWith(scanner()), body: 'x'.repeat(65537) });
    assert.equal(response.status, 413);
    await response.arrayBuffer();
  });

  it('gives the artifact upload path limits.maxArtifactBytes and keeps maxBodyBytes on every other path', async () => {
    const artifactPath = `/api/v1/artifacts/${'a'.repeat(64)}`;
    const post = async (path: string, size: number): Promise<number> => {
      const response = await fetch(`${url}${path}`, { method: 'POST', dispatcher: agentWith(scanner()), headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(size, 1) });
      await response.arrayBuffer();
      return response.status;
    };
    assert.equal(await post(artifactPath, 100_000), 200);
    assert.equal(upstream?.received.find((r) => r.url === artifactPath)?.body.length, 100_000);
    assert.equal(await post(artifactPath, 131_073), 413);
    // The same size anywhere else, a near miss of the pattern included, is over maxBodyBytes.
    assert.equal(await post('/api/v1/evidence', 100_000), 413);
    assert.equal(await post(`/api/v1/artifacts/${'a'.repeat(63)}`, 100_000), 413);
    assert.equal(await post(`${artifactPath}/x`, 100_000), 413);
  });

  it('refuses the TLS handshake without a client certificate', async () => {
    await assert.rejects(fetch(`${url}/api/v1/scans`, { dispatcher: agentWith(null) }));
  });

  it('refuses the TLS handshake to a certificate from an unrelated CA', async () => {
    await assert.rejects(fetch(`${url}/api/v1/scans`, { dispatcher: agentWith(deployment.pki.foreign('scanner-01')) }));
  });

  it('refuses the TLS handshake to a revoked certificate (the CRL is applied)', async () => {
    await assert.rejects(fetch(`${url}/api/v1/scans`, { dispatcher: agentWith(revoked) }));
  });

  it('answers its own health endpoint locally', async () => {
    const response = await fetch(`${url}/healthz/hop/gw-edge`, { dispatcher: agentWith(scanner()) });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/json');
    assert.deepEqual(await response.json(), { hop: 'gw-edge', kind: 'haproxy', status: 'live' });
    assert.ok(!upstream?.received.some((r) => r.url === '/healthz/hop/gw-edge'));
  });
});
