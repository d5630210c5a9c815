/**
 * Runs the rendered Caddy edge with the real `caddy` and the product's forward-auth stamper in
 * front of a tiny Node mTLS upstream, and checks the record that arrives.
 */
import { strict as assert } from 'node:assert';
import { X509Certificate, createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest, createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { renderCaddyHop } from '../../../src/gateways/caddy/index.js';
import { startHop, type RunningGateway } from '../../../src/gateways/runtime.js';
import { writeRenderedFiles } from '../../../src/gateways/write.js';
import { loadHopKeyring } from '../../../src/provenance/keys.js';
import { stamperCore } from '../../../src/provenance/stamper.js';
import { listenStamper, type ListeningStamper } from '../../../src/provenance/stamper-listen.js';
import { issuedPaths } from '../../../src/topology/resolve.js';
import { portsFor, requireProgram } from '../../support/programs.js';
import { caddyEdgeDocument, createDeployment, type Deployment } from '../apache/support/deployment.js';

interface Reply {
  readonly status: number;
  readonly body: string;
}

describe('the rendered Caddy edge with its forward-auth stamper, running', () => {
  let deployment: Deployment;
  let edge: RunningGateway | undefined;
  let stamper: ListeningStamper | undefined;
  let upstream: Server | undefined;
  let edgePort = 0;
  const seen: { url: string; headers: IncomingHttpHeaders; bodyBytes: number }[] = [];

  before(async () => {
    requireProgram('caddy');
    const ports = await portsFor('edge', 'stamper', 'service');
    edgePort = ports.edge;
    const document = caddyEdgeDocument(ports);
    // Small limits, so the per-route body limits are tested without megabytes of traffic.
    document.hops = document.hops.map((h) => ({ ...h, limits: { maxBodyBytes: 65536, maxArtifactBytes: 131072 } }));
    deployment = await createDeployment(document);
    const { topology } = deployment;
    const service = topology.services[0];
    assert.ok(service);
    upstream = createServer(
      { cert: readFileSync(service.tls.chain), key: readFileSync(service.tls.key), ca: readFileSync(topology.pki.caBundle), requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        const entry = { url: req.url ?? '', headers: req.headers, bodyBytes: 0 };
        seen.push(entry);
        req.on('data', (chunk: Buffer) => (entry.bodyBytes += chunk.length));
        req.on('end', () => res.end('{"ok":true}'));
      },
    );
    await new Promise<void>((resolve) => upstream?.listen(ports.service, '127.0.0.1', resolve));
    const hop = topology.hops[0];
    assert.ok(hop);
    // The topology gives the stamper a TCP address: Caddy reaches it over mTLS as gw-edge.
    stamper = await listenStamper(stamperCore({ topology, hopId: 'gw-edge', keys: await loadHopKeyring(topology) }), {
      kind: 'mtls',
      host: '127.0.0.1',
      port: ports.stamper,
      trustDomain: topology.trustDomain,
      tls: { chain: hop.tls.chain, key: hop.tls.key, caBundle: topology.pki.caBundle, crl: topology.pki.crl },
    });
    await writeRenderedFiles(deployment.outDir, renderCaddyHop(topology, hop, { outDir: deployment.outDir }));
    edge = await startHop(topology, hop, join(deployment.outDir, hop.id));
  });

  after(async () => {
    await edge?.stop();
    await stamper?.close();
    await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
    deployment?.remove();
  });

  function send(as: { role: 'gateway' | 'scanner' | 'service'; name: string }, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<Reply> {
    const files = issuedPaths(deployment.topology.pki.dir, as.role, as.name);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port: edgePort, servername: 'gw-edge', path, method: body ? 'POST' : 'GET', headers: { host: 'gw-edge', ...headers }, ca: readFileSync(deployment.topology.pki.caBundle), cert: readFileSync(files.chain), key: readFileSync(files.key), agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  it('replaces forged provenance with one record of the stamper whose MAC covers the real request and names the scanner', async () => {
    const before = seen.length;
    const reply = await send({ role: 'scanner', name: 'scanner-01' }, '/api/v1/scans/s-1?x=1', {
      'x-stella-scan-id': 's-1',
      'x-stella-provenance': 'gw-edge;seq=1;ts=1;nonce="00000000000000000000000000000000";peer="sha256:00";peer-id="evil";kid="edge-1";mac=:AAAA:',
      'client-cert': ':AAAA:',
      // Headers the stamper would prefer over Caddy's own: the record must still cover the real request.
      'x-original-method': 'DELETE',
      'x-original-uri': '/elsewhere',
    });
    assert.equal(reply.status, 200, reply.body);
    const got = seen[before];
    assert.ok(got);
    assert.equal(got.headers['client-cert'], undefined, 'the client copy of Client-Cert never goes upstream');
    const header = String(got.headers['x-stella-provenance']);
    const match = /^gw-edge;seq=1;ts=(\d+);nonce="([0-9a-f]+)";peer="(sha256:[0-9a-f]{64})";peer-id="scanner-01";kid="edge-1";mac=:([A-Za-z0-9+/=]+):$/.exec(header);
    assert.ok(match, `one well-formed record: ${header}`);
    const [, ts, nonce, peer, mac] = match;
    const scannerDer = new X509Certificate(readFileSync(issuedPaths(deployment.topology.pki.dir, 'scanner', 'scanner-01').cert)).raw;
    assert.equal(peer, `sha256:${createHash('sha256').update(scannerDer).digest('hex')}`);
    const key = Buffer.from(readFileSync(join(deployment.dir, 'keys/gw-edge.key'), 'utf8').trim(), 'base64');
    const input = ['stella-provenance-v1', 'gw-edge', '1', ts, nonce, peer, 'scanner-01', 'GET', '/api/v1/scans/s-1?x=1', 's-1', '', ''].join('|');
    assert.equal(mac, createHmac('sha256', key).update(input).digest('base64'));
  });

  it('answers its own health endpoint without asking the stamper or the upstream', async () => {
    const before = seen.length;
    const reply = await send({ role: 'scanner', name: 'scanner-01' }, '/healthz/hop/gw-edge');
    assert.equal(reply.status, 200);
    assert.deepEqual(JSON.parse(reply.body), { hop: 'gw-edge', kind: 'caddy', status: 'live' });
    assert.equal(seen.length, before);
  });

  it('returns the stamper refusal to the client and forwards nothing', async () => {
    const before = seen.length;
    const reply = await send({ role: 'scanner', name: 'scanner-01' }, '/api/v1/scans');
    assert.equal(reply.status, 403);
    assert.equal(JSON.parse(reply.body).code, 'provenance-malformed');
    assert.equal(seen.length, before);
  });

  it('gives the artifact upload path limits.maxArtifactBytes and keeps maxBodyBytes on every other path', async () => {
    const artifactPath = `/api/v1/artifacts/${'d'.repeat(64)}`;
    const post = async (path: string, size: number): Promise<number> =>
      (await send({ role: 'scanner', name: 'scanner-01' }, path, { 'x-stella-scan-id': 'limits-1', 'content-type': 'application/octet-stream' }, Buffer.alloc(size, 3))).status;
    assert.equal(await post(artifactPath, 100_000), 200);
    assert.equal(seen.find((r) => r.url === artifactPath)?.bodyBytes, 100_000);
    // Caddy has no Content-Length pre-check: it streams up to the limit, then cuts the upstream
    // request short and answers 413 (docs/gateways/caddy.md#what-each-block-does); never more than the limit goes on.
    const before = seen.length;
    assert.equal(await post(artifactPath, 131_073), 413);
    assert.equal(await post('/api/v1/evidence', 100_000), 413);
    assert.equal(await post(`/api/v1/artifacts/${'d'.repeat(64)}/x`, 100_000), 413);
    const forwarded = seen.slice(before).map((r) => [r.url.startsWith(artifactPath) && !r.url.endsWith('/x') ? 131_072 : 65_536, r.bodyBytes] as const);
    assert.ok(forwarded.every(([limit, bytes]) => bytes <= limit), JSON.stringify(forwarded));
  });

  it('refuses a certificate whose CN is not a scanner of this edge', async () => {
    const before = seen.length;
    const reply = await send({ role: 'service', name: 'evidence-locker' }, '/api/v1/scans', { 'x-stella-scan-id': 's-1' });
    assert.equal(reply.status, 403);
    assert.equal(seen.length, before);
  });
});
