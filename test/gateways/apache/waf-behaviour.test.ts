/**
 * Runs the rendered WAF hop with the real apache2 + ModSecurity + CRS in front of a tiny Node mTLS
 * upstream that plays the Evidence Locker, and checks what reaches it.
 */
import { strict as assert } from 'node:assert';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpsRequest, createServer, type Server } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { renderApacheHop } from '../../../src/gateways/apache/index.js';
import { startHop, type RunningGateway } from '../../../src/gateways/runtime.js';
import { writeRenderedFiles } from '../../../src/gateways/write.js';
import { revokeCertificate } from '../../../src/pki/index.js';
import { issuedPaths } from '../../../src/topology/resolve.js';
import { portsFor, requireProgram } from '../../support/programs.js';
import { createDeployment, wafDocument, type Deployment } from './support/deployment.js';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly peerCn: string;
  readonly sni: string;
}

interface Reply {
  readonly status: number;
  readonly body: string;
}

describe('the rendered Apache+ModSecurity WAF hop, running', () => {
  let deployment: Deployment;
  let waf: RunningGateway | undefined;
  let upstream: Server | undefined;
  let wafPort = 0;
  const seen: Seen[] = [];

  before(async () => {
    requireProgram('apache2');
    const ports = await portsFor('edge', 'waf', 'service');
    wafPort = ports.waf;
    const document = wafDocument(ports);
    // Small limits, so the per-route body limits are tested without megabytes of traffic.
    document.hops = document.hops.map((h) => (h.id === 'waf' ? { ...h, limits: { maxBodyBytes: 65536, maxArtifactBytes: 131072 } } : h));
    deployment = await createDeployment(document);
    const { topology } = deployment;
    const service = topology.services[0];
    assert.ok(service);
    upstream = createServer(
      { cert: readFileSync(service.tls.chain), key: readFileSync(service.tls.key), ca: readFileSync(topology.pki.caBundle), requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const socket = req.socket as TLSSocket;
          seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString(), peerCn: String(socket.getPeerCertificate().subject?.CN ?? ''), sni: String((socket as TLSSocket & { servername?: string }).servername ?? '') });
          res.setHeader('content-type', 'application/json');
          res.end('{"ok":true}');
        });
      },
    );
    await new Promise<void>((resolve) => upstream?.listen(ports.service, '127.0.0.1', resolve));
    const hop = topology.hops.find((h) => h.id === 'waf');
    assert.ok(hop);
    await writeRenderedFiles(deployment.outDir, renderApacheHop(topology, hop, { outDir: deployment.outDir }));
    waf = await startHop(topology, hop, join(deployment.outDir, hop.id));
  });

  after(async () => {
    await waf?.stop();
    await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
    deployment?.remove();
  });

  /** A request to the WAF as `as` (a gateway or scanner of the test PKI). */
  function send(as: { role: 'gateway' | 'scanner'; name: string }, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
    const files = issuedPaths(deployment.topology.pki.dir, as.role, as.name);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port: wafPort, servername: 'waf', path, method: options.method ?? 'GET', headers: { host: 'waf', ...options.headers }, ca: readFileSync(deployment.topology.pki.caBundle), cert: readFileSync(files.chain), key: readFileSync(files.key), agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        },
      );
      req.on('error', reject);
      req.end(options.body);
    });
  }

  const provenance = 'gw-edge;seq=1;ts=1795891200;nonce="4f9c0d2e8a7b6c5d";peer="sha256:9b1e6f4a1c0d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f";peer-id="scanner-01";kid="edge-2026-11";mac=:q3JmYWtlbWFjZmFrZW1hY2Zha2VtYWNmYWtlbWFjZg==:';

  it('forwards a normal request with X-Stella-Provenance byte-identical, as itself, to the next hop by name', async () => {
    const before = seen.length;
    const reply = await send({ role: 'gateway', name: 'gw-edge' }, '/api/v1/evidence?scan=1', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-stella-provenance': provenance, 'x-stella-scan-id': 'scan-42' },
      body: '{"payloadType":"application/vnd.in-toto+json","payload":"eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEifQ==","signatures":[{"keyid":"k","sig":"AAAA"}]}',
    });
    assert.equal(reply.status, 200, reply.body);
    const got = seen[before];
    assert.ok(got, 'the upstream saw the request');
    assert.equal(got.headers['x-stella-provenance'], provenance);
    assert.equal(got.headers['x-stella-scan-id'], 'scan-42');
    assert.equal(got.method, 'POST');
    assert.equal(got.url, '/api/v1/evidence?scan=1');
    assert.equal(got.peerCn, 'waf');
    assert.equal(got.sni, 'localhost');
  });

  it('answers its own health endpoint and passes other /healthz paths on', async () => {
    const before = seen.length;
    const own = await send({ role: 'gateway', name: 'gw-edge' }, '/healthz/hop/waf');
    assert.equal(own.status, 200);
    assert.deepEqual(JSON.parse(own.body), { hop: 'waf', kind: 'apache-modsecurity', status: 'live' });
    assert.equal(seen.length, before, 'the own health endpoint never reaches the upstream');
    const passed = await send({ role: 'gateway', name: 'gw-edge' }, '/healthz/ready');
    assert.equal(passed.status, 200);
    assert.equal(seen.at(-1)?.url, '/healthz/ready');
  });

  it('blocks <script> in the query with 403 before it reaches the upstream', async () => {
    const before = seen.length;
    const reply = await send({ role: 'gateway', name: 'gw-edge' }, '/api/v1/scans?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E');
    assert.equal(reply.status, 403);
    assert.equal(seen.length, before);
  });

  it('blocks a SQL injection in a JSON body with 403 before it reaches the upstream', async () => {
    const before = seen.length;
    const reply = await send({ role: 'gateway', name: 'gw-edge' }, '/api/v1/evidence', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ scanId: "1' UNION SELECT password FROM users --" }),
    });
    assert.equal(reply.status, 403);
    assert.equal(seen.length, before);
  });

  /** An envelope body whose payload and signature are the given strings. */
  const envelope = (payload: string, sig: string, keyid = 'k'): string => JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload, signatures: [{ keyid, sig }] });

  it('passes base64 envelope fields that CRS rule 941120 would read as an event handler', async () => {
    const before = seen.length;
    // `9onnylMrIVQ=` matches 941120's on[a-z]+= pattern; genuine signatures hit it about 1 in 1,000.
    for (const body of [envelope('e30=', 'AAA9onnylMrIVQ='), envelope('AA/onmouseX=', 'AAAA')]) {
      const reply = await send({ role: 'gateway', name: 'gw-edge' }, '/api/v1/evidence', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      assert.equal(reply.status, 200, reply.body);
    }
    assert.equal(seen.length, before + 2);
  });

  it('blocks envelope fields that are not base64, and still inspects every other field', async () => {
    const before = seen.length;
    for (const body of [envelope('<script>alert(1)</script>', 'AAAA'), envelope('e30=', 'AAAA', '<script>alert(1)</script>')]) {
      const reply = await send({ role: 'gateway', name: 'gw-edge' }, '/api/v1/evidence', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      assert.equal(reply.status, 403);
    }
    assert.equal(seen.length, before);
  });

  it('gives the artifact upload path limits.maxArtifactBytes, uninspected, and keeps maxBodyBytes on every other path', async () => {
    const artifactPath = `/api/v1/artifacts/${'c'.repeat(64)}`;
    const post = (path: string, size: number, contentType = 'application/octet-stream'): Promise<Reply> =>
      send({ role: 'gateway', name: 'gw-edge' }, path, { method: 'POST', headers: { 'content-type': contentType, 'x-stella-provenance': provenance }, body: '<script>alert(1)</script>'.padEnd(size, 'x') });
    const passed = await post(artifactPath, 100_000);
    assert.equal(passed.status, 200, passed.body);
    assert.equal(seen.find((r) => r.url === artifactPath)?.body.length, 100_000);
    assert.equal((await post(artifactPath, 131_073)).status, 413);
    assert.equal((await post('/api/v1/evidence', 100_000, 'application/json')).status, 413);
    assert.equal((await post(`/api/v1/artifacts/${'c'.repeat(64)}x`, 100_000)).status, 413);
  });

  it('refuses a client certificate whose CN is not the hop before it', async () => {
    const before = seen.length;
    const reply = await send({ role: 'scanner', name: 'scanner-01' }, '/api/v1/scans');
    assert.equal(reply.status, 403);
    assert.equal(seen.length, before);
  });
});

describe('the rendered WAF hop, with the previous hop revoked', () => {
  it('refuses the revoked certificate during the TLS handshake (CRL of pki.crl applied)', async () => {
    requireProgram('apache2');
    const ports = await portsFor('edge', 'waf', 'service');
    const deployment = await createDeployment(wafDocument(ports));
    let waf: RunningGateway | undefined;
    try {
      const { topology } = deployment;
      const edgeCert = issuedPaths(topology.pki.dir, 'gateway', 'gw-edge');
      await revokeCertificate({ dir: topology.pki.dir, serial: new X509Certificate(readFileSync(edgeCert.cert)).serialNumber });
      const hop = topology.hops.find((h) => h.id === 'waf');
      assert.ok(hop);
      await writeRenderedFiles(deployment.outDir, renderApacheHop(topology, hop, { outDir: deployment.outDir }));
      waf = await startHop(topology, hop, join(deployment.outDir, hop.id));
      const outcome = await new Promise<string>((resolve) => {
        const req = httpsRequest(
          { host: '127.0.0.1', port: ports.waf, servername: 'waf', path: '/healthz/hop/waf', ca: readFileSync(topology.pki.caBundle), cert: readFileSync(edgeCert.chain), key: readFileSync(edgeCert.key), agent: false },
          (res) => {
            res.resume();
            resolve(`HTTP ${res.statusCode}`);
          },
        );
        req.on('error', (error: NodeJS.ErrnoException) => resolve(`refused: ${error.code ?? error.message}`));
        req.end();
      });
      assert.match(outcome, /^refused: /);
    } finally {
      await waf?.stop();
      deployment.remove();
    }
  });
});
