/**
 * Runs the rendered NGINX edge and the rendered HAProxy hop, for real, in front of a recording
 * mTLS upstream, and checks what arrives against docs/provenance.md with an independent MAC recomputation.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, fetch, request } from 'undici';
import { haproxyProgram, prepareHaproxyHop, renderHaproxyHop } from '../../../src/gateways/haproxy/index.js';
import { nginxProgram, renderNginxHop } from '../../../src/gateways/nginx/index.js';
import { checkHeaders, loadHopKeyring, MemoryReplayCache } from '../../../src/provenance/index.js';
import { portsFor } from '../../support/programs.js';
import { createDeployment, exampleDocument, type Deployment } from '../support/deployment.js';
import { certificateFingerprint, type LeafFiles } from '../support/pki.js';
import { macVerifies, parseProvenance } from '../support/provenance.js';
import { startProgram, writeRendered, type RunningProgram } from '../support/run.js';
import { startRecordingUpstream, type ReceivedRequest, type RecordingUpstream } from '../support/upstream.js';

describe('an NGINX edge and an HAProxy hop in front of a service', () => {
  let deployment: Deployment;
  let upstream: RecordingUpstream | undefined;
  const programs: RunningProgram[] = [];
  let edgeUrl = '';
  let internalUrl = '';
  let revoked: LeafFiles;
  const agents: Agent[] = [];

  const agentWith = (leaf: LeafFiles | null, ca = deployment.pki.caBundle): Agent => {
    const agent = new Agent({
      connect: { ca: readFileSync(ca), ...(leaf ? { cert: readFileSync(leaf.chain), key: readFileSync(leaf.key) } : {}) },
    });
    agents.push(agent);
    return agent;
  };
  const scannerLeaf = (): LeafFiles => {
    const scanner = deployment.topology.scanners[0];
    if (!scanner) throw new Error('the topology has no scanner');
    return scanner.tls;
  };

  before(async () => {
    const { edge: edgePort, internal: internalPort, service: servicePort } = await portsFor('edge', 'internal', 'service');
    const doc = exampleDocument();
    const [edge, , internal] = doc.hops;
    if (!edge || !internal) throw new Error('the example has an edge and an internal hop');
    doc.headers = { strip: ['X-Internal-Debug'] };
    doc.hops = [
      { ...edge, listen: `127.0.0.1:${edgePort}`, next: internal.id, limits: { maxBodyBytes: 65536, maxArtifactBytes: 131072, upstreamTimeoutSeconds: 10 } },
      { ...internal, listen: `127.0.0.1:${internalPort}` },
    ];
    doc.services = doc.services.map((s) => ({ ...s, listen: `127.0.0.1:${servicePort}` }));
    deployment = await createDeployment(doc);
    // A second certificate of the real scanner, revoked before the gateways load the CRL.
    revoked = deployment.pki.issue('scanner', 'scanner-01', 'revoked/scanner-01');
    deployment.pki.revoke(revoked);
    const { topology } = deployment;
    const outDir = join(deployment.dir, 'out');
    const [edgeHop, internalHop] = topology.hops;
    const service = topology.services[0];
    if (!edgeHop || !internalHop || !service) throw new Error('the derived topology has two hops and a service');
    writeRendered(outDir, [...renderNginxHop(topology, edgeHop, { outDir }), ...renderHaproxyHop(topology, internalHop, { outDir })]);

    upstream = await startRecordingUpstream(servicePort, service.tls, topology.pki.caBundle);
    const internalDir = join(outDir, internalHop.id);
    const env = await prepareHaproxyHop(internalDir, internalHop);
    programs.push(await startProgram(haproxyProgram.run(internalDir, internalHop), internalPort, env));
    programs.push(await startProgram(nginxProgram.run(join(outDir, edgeHop.id), edgeHop), edgePort));
    edgeUrl = `https://127.0.0.1:${edgePort}`;
    internalUrl = `https://127.0.0.1:${internalPort}`;
  });

  after(async () => {
    for (const agent of agents) await agent.close();
    for (const program of programs.reverse()) await program.stop();
    await upstream?.close();
    deployment?.remove();
  });

  it('delivers two chained records, strips forged headers, and each MAC verifies', async () => {
    const body = JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: 'e30=', signatures: [] });
    const contentDigest = `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
    const pathAndQuery = '/api/v1/evidence?b=2&a=%20x';
    const forged = 'gw-edge;seq=1;ts=1;nonce="00000000000000000000";peer="sha256:00";peer-id="scanner-01";kid="x";mac=:AAAA:';
    const before = Math.floor(Date.now() / 1000);
    const response = await fetch(`${edgeUrl}${pathAndQuery}`, {
      method: 'POST',
      dispatcher: agentWith(scannerLeaf()),
      headers: {
        'content-type': 'application/json',
        'content-digest': contentDigest,
        'x-stella-scan-id': 'scan-42',
        'x-stella-provenance': forged,
        'client-cert': ':AAAA:',
        'x-forwarded-client-cert': 'Hash=00;Cert="x"',
        'x-internal-debug': 'on',
      },
      body,
    });
    assert.equal(response.status, 200, await response.text());
    const arrived = upstream?.received.filter((r) => r.url.startsWith('/api/')) ?? [];
    assert.equal(arrived.length, 1);
    const request = arrived[0]!;
    assert.equal(request.method, 'POST');
    assert.equal(request.url, pathAndQuery);
    assert.equal(request.body, body);
    assert.equal(request.peerCn, 'gw-internal', 'the last hop re-originated mTLS with its own certificate');
    assert.equal(request.headers['client-cert'], undefined);
    assert.equal(request.headers['x-forwarded-client-cert'], undefined);
    assert.equal(request.headers['x-internal-debug'], undefined, 'headers.strip of the topology');

    const header = request.headers['x-stella-provenance'];
    assert.equal(typeof header, 'string');
    assert.ok(!String(header).includes('mac=:AAAA:'), 'the forged record was stripped');
    assert.match(String(header), /^gw-edge;[^,]*mac=:[A-Za-z0-9+/]{43}=:, gw-internal;[^,]*mac=:[A-Za-z0-9+/]{43}=:$/);
    const records = parseProvenance(String(header));
    assert.deepEqual(records.map((r) => [r.hop, r.seq]), [['gw-edge', 1], ['gw-internal', 2]]);

    const { pki } = deployment;
    const [first, second] = records;
    if (!first || !second) throw new Error('two records');
    assert.equal(first.peer, `sha256:${certificateFingerprint(scannerLeaf().cert)}`);
    assert.equal(first.peerId, 'scanner-01');
    assert.equal(second.peer, `sha256:${certificateFingerprint(join(pki.dir, 'issued/gateway/gw-edge/cert.pem'))}`);
    assert.equal(second.peerId, 'gw-edge');
    assert.deepEqual(records.map((r) => r.kid), ['edge-2026-11', 'internal-2026-11']);
    for (const r of records) {
      assert.match(r.nonce, /^[0-9a-f]{16,64}$/);
      assert.ok(r.ts >= before && r.ts <= Math.floor(Date.now() / 1000), `ts ${r.ts} is the time of stamping`);
    }
    assert.notEqual(first.nonce, second.nonce);

    const facts = { method: 'POST', pathAndQuery, scanId: 'scan-42', contentDigest };
    const edgeKey = deployment.macKeys.get('edge-2026-11');
    const internalKey = deployment.macKeys.get('internal-2026-11');
    if (!edgeKey || !internalKey) throw new Error('both MAC keys were written');
    assert.ok(macVerifies(first, facts, undefined, edgeKey), 'the edge MAC verifies');
    assert.ok(macVerifies(second, facts, first, internalKey), 'the internal MAC verifies and chains to the edge record');
    assert.ok(!macVerifies(second, facts, undefined, internalKey), 'the chain field is part of the MAC');
  });

  /** The product's own verifier (src/provenance) on what the upstream received. */
  const productCheck = async (received: ReceivedRequest): Promise<ReturnType<typeof checkHeaders>> => {
    const { topology } = deployment;
    const service = topology.services[0];
    if (!service) throw new Error('a service');
    const peer = { cn: received.peerCn, fingerprint: certificateFingerprint(join(deployment.pki.dir, 'issued/gateway/gw-internal/cert.pem')), spiffeId: `spiffe://${topology.trustDomain}/gateway/${received.peerCn}` };
    return checkHeaders(
      { method: received.method, url: received.url, headers: received.headers, peer },
      { topology, service, keys: await loadHopKeyring(topology), replayCache: new MemoryReplayCache(), now: () => Date.now() },
    );
  };

  it("produces a chain the product's own provenance verifier accepts", async () => {
    const response = await fetch(`${edgeUrl}/api/v1/scans/interop?q=1`, { method: 'PUT', dispatcher: agentWith(scannerLeaf()), headers: { 'x-stella-scan-id': 'interop-1' }, body: '' });
    assert.equal(response.status, 200);
    await response.arrayBuffer();
    const received = upstream?.received.find((r) => r.url === '/api/v1/scans/interop?q=1');
    assert.ok(received);
    const checked = await productCheck(received);
    assert.deepEqual(checked.hops.map((h) => [h.id, h.seq, h.peerId, h.result]), [['gw-edge', 1, 'scanner-01', 'verified'], ['gw-internal', 2, 'gw-edge', 'verified']]);
  });

  it('forwards from a native edge only the Content-Digest and scan-id lines its MAC covers, so a request sent on two lines verifies', async () => {
    // fetch() would join the lines; undici's request() sends a flat header list as it is.
    const response = await request(`${edgeUrl}/api/v1/scans/dup`, {
      dispatcher: agentWith(scannerLeaf()),
      headers: ['x-stella-scan-id', 'dup-1', 'x-stella-scan-id', 'dup-2', 'content-digest', 'sha-256=:AAAA:', 'content-digest', 'sha-512=:BBBB:'],
    });
    assert.equal(response.statusCode, 200, await response.body.text());
    const received = upstream?.received.find((r) => r.url === '/api/v1/scans/dup');
    assert.ok(received);
    assert.equal(received.headers['content-digest'], 'sha-256=:AAAA:', 'one line, the one NGINX 1.22 stamped');
    assert.equal(received.headers['x-stella-scan-id'], 'dup-1');
    const checked = await productCheck(received);
    assert.deepEqual(checked.hops.map((h) => [h.id, h.result]), [['gw-edge', 'verified'], ['gw-internal', 'verified']]);
  });

  it('refuses two Content-Digest lines with 400 at the HAProxy hop itself, so an ambiguous MAC input never reaches the service', async () => {
    const edgeLeaf = { cert: join(deployment.pki.dir, 'issued/gateway/gw-edge/cert.pem'), key: join(deployment.pki.dir, 'issued/gateway/gw-edge/key.pem'), chain: join(deployment.pki.dir, 'issued/gateway/gw-edge/chain.pem') };
    const response = await request(`${internalUrl}/api/v1/scans/dup-direct`, {
      dispatcher: agentWith(edgeLeaf),
      headers: ['x-stella-scan-id', 'dup-3', 'content-digest', 'sha-256=:AAAA:', 'content-digest', 'sha-256=:BBBB:'],
    });
    assert.equal(response.statusCode, 400);
    assert.match(await response.body.text(), /Your browser sent an invalid request/, "HAProxy's own 400 page");
    assert.ok(!upstream?.received.some((r) => r.url === '/api/v1/scans/dup-direct'));
    // The control: the same request on one line goes through, so the 400 was for the second line.
    const single = await request(`${internalUrl}/api/v1/scans/single-direct`, { dispatcher: agentWith(edgeLeaf), headers: ['x-stella-scan-id', 'dup-3', 'content-digest', 'sha-256=:AAAA:'] });
    await single.body.text();
    assert.equal(single.statusCode, 200);
  });

  it('gives each request a fresh nonce', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${edgeUrl}/api/v1/scans/n${i}`, { dispatcher: agentWith(scannerLeaf()), headers: { 'x-stella-scan-id': `n${i}` } });
      assert.equal(response.status, 200);
      await response.arrayBuffer();
    }
    for (const r of upstream?.received.filter((q) => q.url.startsWith('/api/v1/scans/n')) ?? []) {
      const records = parseProvenance(String(r.headers['x-stella-provenance']));
      for (const record of records) seen.add(`${record.hop}/${record.nonce}`);
    }
    assert.equal(seen.size, 6);
  });

  it('gives the artifact upload path limits.maxArtifactBytes at the edge and keeps maxBodyBytes on every other path', async () => {
    const artifactPath = `/api/v1/artifacts/${'b'.repeat(64)}`;
    const post = async (path: string, size: number): Promise<number> => {
      const response = await fetch(`${edgeUrl}${path}`, {
        method: 'POST',
        dispatcher: agentWith(scannerLeaf()),
        headers: { 'x-stella-scan-id': 'limits-1', 'content-type': 'application/octet-stream' },
        body: Buffer.alloc(size, 2),
      });
      await response.arrayBuffer();
      return response.status;
    };
    assert.equal(await post(artifactPath, 100_000), 200);
    const forwarded = upstream?.received.find((r) => r.url === artifactPath);
    assert.equal(forwarded?.body.length, 100_000);
    assert.equal(parseProvenance(String(forwarded?.headers['x-stella-provenance'])).length, 2, 'stamped by both hops like any request');
    assert.equal(await post(artifactPath, 131_073), 413);
    assert.equal(await post('/api/v1/evidence', 100_000), 413);
    assert.equal(await post(`/api/v1/artifacts/${'b'.repeat(65)}`, 100_000), 413);
  });

  it('answers 400 at the edge to a request without a client certificate', async () => {
    const response = await fetch(`${edgeUrl}/api/v1/evidence`, { dispatcher: agentWith(null) });
    assert.equal(response.status, 400);
    await response.arrayBuffer();
  });

  it('answers 400 at the edge to a certificate from a CA it does not trust', async () => {
    const foreign = deployment.pki.foreign('scanner-01');
    const response = await fetch(`${edgeUrl}/api/v1/evidence`, { dispatcher: agentWith(foreign) });
    assert.equal(response.status, 400);
    await response.arrayBuffer();
  });

  it('answers 400 at the edge to a revoked scanner certificate (the CRL is applied)', async () => {
    const response = await fetch(`${edgeUrl}/api/v1/evidence`, { dispatcher: agentWith(revoked) });
    assert.equal(response.status, 400);
    await response.arrayBuffer();
    const valid = await fetch(`${edgeUrl}/healthz/hop/gw-edge`, { dispatcher: agentWith(scannerLeaf()) });
    assert.equal(valid.status, 200, 'the unrevoked certificate of the same scanner is accepted');
    await valid.arrayBuffer();
  });

  it('answers 403 at the edge to a trusted certificate whose CN is not a scanner of this edge', async () => {
    const response = await fetch(`${edgeUrl}/api/v1/evidence`, { dispatcher: agentWith(deployment.topology.hops[1]!.tls) });
    assert.equal(response.status, 403);
    await response.arrayBuffer();
  });

  it('refuses the TLS handshake at the HAProxy hop without a client certificate', async () => {
    await assert.rejects(fetch(`${internalUrl}/healthz/hop/gw-internal`, { dispatcher: agentWith(null) }));
  });

  it('answers 403 at the HAProxy hop to a scanner, which is not the hop before it', async () => {
    const response = await fetch(`${internalUrl}/healthz/hop/gw-internal`, { dispatcher: agentWith(scannerLeaf()) });
    assert.equal(response.status, 403);
    await response.arrayBuffer();
  });

  it('answers the edge health endpoint locally and passes other health paths along the chain', async () => {
    const count = (): number => upstream?.received.length ?? 0;
    const seenBefore = count();
    const own = await fetch(`${edgeUrl}/healthz/hop/gw-edge`, { dispatcher: agentWith(scannerLeaf()) });
    assert.equal(own.status, 200);
    assert.deepEqual(await own.json(), { hop: 'gw-edge', kind: 'nginx', status: 'live' });
    const internal = await fetch(`${edgeUrl}/healthz/hop/gw-internal`, { dispatcher: agentWith(scannerLeaf()) });
    assert.equal(internal.status, 200);
    assert.deepEqual(await internal.json(), { hop: 'gw-internal', kind: 'haproxy', status: 'live' });
    const traversal = await fetch(`${edgeUrl}/healthz/traversal`, { dispatcher: agentWith(scannerLeaf()) });
    assert.equal(traversal.status, 200);
    await traversal.arrayBuffer();
    const forwarded = (upstream?.received.slice(seenBefore) ?? []).filter((r) => r.url.startsWith('/healthz/hop/') || r.url === '/healthz/traversal');
    assert.deepEqual(forwarded.map((r) => r.url), ['/healthz/traversal'], 'only the service path reached the service');
    assert.equal(parseProvenance(String(forwarded[0]?.headers['x-stella-provenance'])).length, 2);
  });
});
