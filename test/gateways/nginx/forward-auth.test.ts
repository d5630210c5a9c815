/**
 * Runs a rendered forward-auth NGINX edge for real against a stand-in stamper that records what it
 * is sent: checks the NGINX side of the stamper contract (docs/CONVENTIONS.md) — what the stamper
 * receives, and that its answer is what goes upstream.
 */
import { strict as assert } from 'node:assert';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, fetch } from 'undici';
import { nginxProgram, renderNginxHop } from '../../../src/gateways/nginx/index.js';
import { listenOnSocket } from '../../../src/provenance/stamper-listen.js';
import { portsFor } from '../../support/programs.js';
import { createDeployment, exampleDocument, type Deployment } from '../support/deployment.js';
import { startProgram, writeRendered, type RunningProgram } from '../support/run.js';
import { startRecordingUpstream, type RecordingUpstream } from '../support/upstream.js';

/** What the stand-in stamper answers; the upstream must receive exactly this. */
const STAMPED = 'gw-edge;seq=1;ts=1795891200;nonce="0123456789abcdef";peer="sha256:ab";peer-id="scanner-01";kid="k";mac=:AAAA:';

describe('an NGINX edge stamping through forward-auth', () => {
  let deployment: Deployment;
  let upstream: RecordingUpstream | undefined;
  let program: RunningProgram | undefined;
  let stamper: Server | undefined;
  let stamperSocket = '';
  const stamperConnections = new Set<object>();
  let closeStamper: (() => Promise<void>) | undefined;
  const stamperSaw: { url: string; method: string; headers: IncomingHttpHeaders; bodyBytes: number }[] = [];
  let url = '';
  let agent: Agent;

  before(async () => {
    const { edge: edgePort, service: servicePort } = await portsFor('edge', 'service');
    stamper = createServer((req, res) => {
      let bodyBytes = 0;
      req.on('data', (c: Buffer) => (bodyBytes += c.length));
      req.on('end', () => {
        stamperSaw.push({ url: req.url ?? '', method: req.method ?? '', headers: req.headers, bodyBytes });
        stamperConnections.add(req.socket);
        if (req.headers['x-stella-scan-id'] === 'refuse-me') {
          const problem = '{"code":"bad-scan-id"}';
          res.writeHead(403, { 'x-stella-provenance': '', 'content-type': 'application/problem+json', 'content-length': problem.length }).end(problem);
        } else {
          // As the stamper answers: with a length, so NGINX can keep the connection for the next request.
          res.writeHead(200, { 'x-stella-provenance': STAMPED, 'content-length': 0 }).end();
        }
      });
    });
    // NGINX started as root runs its workers as nobody: the socket is handed to that account,
    // as the stamper does for `gatewayUser: nobody`.
    const socketDir = mkdtempSync(join(tmpdir(), 'stella-nginx-fa-'));
    chmodSync(socketDir, 0o755);
    stamperSocket = join(socketDir, 'run', 'stamper.sock');
    closeStamper = await listenOnSocket(stamper, stamperSocket, 'nobody');

    const doc = exampleDocument();
    const edge = doc.hops[0];
    if (!edge || edge.stamp === false || edge.stamp === undefined) throw new Error('the example edge stamps');
    doc.hops = [{ ...edge, listen: `127.0.0.1:${edgePort}`, next: 'evidence-locker',
      stamp: { ...edge.stamp, via: 'forward-auth', stamper: { socket: stamperSocket, gatewayUser: 'nobody' } } }];
    doc.services = doc.services.map((s) => ({ ...s, listen: `127.0.0.1:${servicePort}` }));
    deployment = await createDeployment(doc);
    const { topology } = deployment;
    const hop = topology.hops[0];
    const service = topology.services[0];
    const scanner = topology.scanners[0];
    if (!hop || !service || !scanner) throw new Error('one hop, one service, one scanner');
    const outDir = join(deployment.dir, 'out');
    writeRendered(outDir, renderNginxHop(topology, hop, { outDir }));
    upstream = await startRecordingUpstream(servicePort, service.tls, topology.pki.caBundle);
    program = await startProgram(nginxProgram.run(join(outDir, hop.id), hop), edgePort);
    url = `https://127.0.0.1:${edgePort}`;
    agent = new Agent({ connect: { ca: readFileSync(topology.pki.caBundle), cert: readFileSync(scanner.tls.chain), key: readFileSync(scanner.tls.key) } });
  });

  after(async () => {
    await agent?.close();
    await program?.stop();
    await upstream?.close();
    await closeStamper?.();
    if (stamperSocket) rmSync(dirname(dirname(stamperSocket)), { recursive: true, force: true });
    deployment?.remove();
  });

  it('sends the stamper the original request line and the verified certificate, never client-sent copies', async () => {
    const scanner = deployment.topology.scanners[0];
    if (!scanner) throw new Error('a scanner');
    const response = await fetch(`${url}/api/v1/evidence?a=1&b=%2F`, {
      method: 'POST',
      dispatcher: agent,
      headers: {
        'x-stella-scan-id': 'scan-1',
        'content-digest': 'sha-256=:AAAA:',
        'x-stella-provenance': 'forged;seq=1',
        'client-cert': ':Zm9yZ2Vk:',
        'x-stella-client-cert': 'forged',
      },
      body: 'x'.repeat(1000),
    });
    assert.equal(response.status, 200, await response.text());
    const call = stamperSaw.find((c) => c.headers['x-stella-scan-id'] === 'scan-1');
    assert.ok(call, 'the stamper was asked');
    assert.equal(call.url, '/stamp');
    assert.equal(call.headers['x-original-method'], 'POST');
    assert.equal(call.headers['x-original-uri'], '/api/v1/evidence?a=1&b=%2F');
    assert.equal(call.headers['content-digest'], 'sha-256=:AAAA:');
    assert.equal(call.bodyBytes, 0, 'the body stays at the gateway');
    assert.equal(call.headers['client-cert'], undefined);
    assert.equal(call.headers['x-stella-provenance'], undefined, 'seq 1: the client-sent chain is not passed on');
    const pem = decodeURIComponent(String(call.headers['x-stella-client-cert']));
    assert.equal(new X509Certificate(pem).fingerprint256, new X509Certificate(readFileSync(scanner.tls.cert)).fingerprint256);

    const arrived = upstream?.received.find((r) => r.url === '/api/v1/evidence?a=1&b=%2F');
    assert.ok(arrived);
    assert.equal(arrived.headers['x-stella-provenance'], STAMPED);
    assert.equal(arrived.headers['x-stella-client-cert'], undefined);
    assert.equal(arrived.headers['client-cert'], undefined);
    assert.equal(arrived.body.length, 1000);
  });

  it('asks the stamper over one kept-alive connection, request after request', async () => {
    const before = stamperConnections.size;
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${url}/api/v1/evidence?keep=${i}`, { dispatcher: agent, headers: { 'x-stella-scan-id': 'scan-keep' } });
      assert.equal(response.status, 200);
      await response.arrayBuffer();
    }
    assert.equal(stamperSaw.filter((c) => c.headers['x-stella-scan-id'] === 'scan-keep').length, 5);
    assert.ok(stamperConnections.size - before <= 1, `${stamperConnections.size - before} new connections for 5 requests`);
  });

  it('passes the stamper refusal to the client and forwards nothing', async () => {
    const response = await fetch(`${url}/api/v1/evidence?refused`, { dispatcher: agent, headers: { 'x-stella-scan-id': 'refuse-me' } });
    assert.equal(response.status, 403);
    await response.arrayBuffer();
    assert.ok(stamperSaw.some((c) => c.headers['x-stella-scan-id'] === 'refuse-me'));
    assert.ok(!upstream?.received.some((r) => r.url === '/api/v1/evidence?refused'));
  });
});
