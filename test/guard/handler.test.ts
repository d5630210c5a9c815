/**
 * The guard's checks are the services' checks (docs/services.md#the-guard): the vectors of
 * test/provenance/node.test.ts, run against the guard's handler, give the same statuses and codes —
 * and a refused request never reaches the service behind it. Accepted bodies reach it exactly,
 * streamed through a spool that is empty again afterwards.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { Registry } from 'prom-client';
import { createGuardHandler, type GuardHandler } from '../../src/guard/handler.js';
import { MemoryReplayCache } from '../../src/provenance/replay/memory.js';
import type { ResolvedService } from '../../src/topology/resolve.js';
import { buildRequest, fixtureKeys, fixtureTopology, NOW_MS, SERVICE, type BuiltRequest } from '../provenance/support/fixture.js';
import { TEST_PEER_HEADER } from '../provenance/support/app.js';
import { tempDir } from '../support/tmp.js';
import { waitFor } from '../support/wait.js';

const MAX_BODY_BYTES = 4 * 1024 * 1024;
const topology = fixtureTopology();
const keys = fixtureKeys(topology);
const service = topology.services.find((s) => s.id === SERVICE)!;
service.maxBodyBytes = MAX_BODY_BYTES;

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

describe('the guard handler', () => {
  const spool = tempDir('stella-guard-');
  const received: Received[] = [];
  let upstreamServer: Server;
  let guardServer: Server;
  let handler: GuardHandler;
  let upstream: Agent;
  let replayCache: MemoryReplayCache;
  let base = '';

  before(async () => {
    // The service behind the guard: records what reaches it and answers like a registry would.
    upstreamServer = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
        res.statusCode = req.url === '/v2/' ? 200 : 201;
        res.setHeader('location', `http://127.0.0.1:${(upstreamServer.address() as AddressInfo).port}/v2/x/blobs/uploads/abc?_state=s`);
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => upstreamServer.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(upstreamServer.address() as AddressInfo).port}`;
    upstream = new Agent();
    replayCache = new MemoryReplayCache({ now: () => NOW_MS });
    const guarded = { ...service, kind: 'oci-registry', registry: { listen: new URL(origin).host, rootDirectory: spool.path } } as ResolvedService & { registry: { listen: string; rootDirectory: string } };
    handler = createGuardHandler({
      topology,
      service: guarded,
      hopKeys: keys,
      replayCache,
      upstream,
      origin,
      spoolDir: spool.path,
      now: () => NOW_MS,
      metrics: { registry: new Registry() },
      peerIdentity: (req) => {
        const cn = req.headers[TEST_PEER_HEADER];
        const spiffe = req.headers['x-test-peer-spiffe'];
        return typeof cn === 'string' ? { cn, fingerprint: 'sha256:', spiffeId: typeof spiffe === 'string' ? spiffe : `spiffe://${topology.trustDomain}/gateway/${cn}` } : null;
      },
    });
    guardServer = createServer(handler);
    await new Promise<void>((resolve) => guardServer.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(guardServer.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => guardServer.close(resolve));
    await new Promise((resolve) => upstreamServer.close(resolve));
    await handler.close();
    await upstream.close();
    await replayCache.close();
    spool.remove();
  });

  const send = (built: BuiltRequest, headers: Record<string, string> = {}, body?: Buffer | null) =>
    fetch(`${base}${built.url}`, {
      method: built.method,
      headers: { ...built.headers, [TEST_PEER_HEADER]: 'gw-internal', ...headers },
      ...(body !== null && (body ?? built.body) ? { body: body ?? built.body } : {}),
    });

  it('answers the same problem codes and statuses as the middleware, and forwards none of the refused requests', async () => {
    const before = received.length;
    const built = buildRequest(topology, keys, { method: 'PUT', url: '/v2/team/app/blobs/uploads/abc?digest=sha256:00', body: randomBytes(1024) });
    const cases: [Record<string, string>, Buffer | undefined, number, string][] = [
      [{ [TEST_PEER_HEADER]: 'gw-mid1' }, undefined, 403, 'untrusted-peer'],
      [{ 'x-stella-provenance': '' }, undefined, 401, 'provenance-missing'],
      [{ 'x-stella-provenance': 'x;seq=1' }, undefined, 400, 'provenance-malformed'],
      [{ 'x-stella-scan-id': 'scan-other' }, undefined, 401, 'provenance-tampered'],
      [{}, randomBytes(1024), 422, 'binding-mismatch'],
    ];
    for (const [headers, body, status, code] of cases) {
      const res = await send(built, headers, body);
      assert.equal(res.status, status, code);
      assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(((await res.json()) as { code: string }).code, code);
    }
    assert.equal(received.length, before, 'a refused request reached the service');
    assert.equal((await send(built)).status, 201);
    const replay = await send(built);
    assert.equal(replay.status, 409);
    assert.equal(((await replay.json()) as { code: string }).code, 'provenance-replayed');
    assert.equal(received.length, before + 1);
  });

  it('forwards an accepted body byte for byte, without the provenance header, and hands Location back as a path', async () => {
    const body = randomBytes(3 * 1024 * 1024);
    const built = buildRequest(topology, keys, { method: 'PUT', url: '/v2/team/app/blobs/uploads/def?digest=sha256:11', body, contentType: 'application/octet-stream' });
    const res = await send(built);
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal(res.headers.get('location'), '/v2/x/blobs/uploads/abc?_state=s');
    const last = received.at(-1)!;
    assert.equal(last.method, 'PUT');
    assert.equal(last.url, built.url);
    assert.ok(last.body.equals(body));
    assert.equal(last.headers['x-stella-provenance'], undefined);
    assert.equal(last.headers['x-stella-scan-id'], built.headers['x-stella-scan-id']);
    assert.equal(last.headers['content-length'], String(body.length));
    // The file goes when the response closes, just after the client saw its end.
    await waitFor(() => readdirSync(spool.path).length === 0, { what: 'the spool file to be removed', timeout: 2_000, detail: () => readdirSync(spool.path).join(', ') });
  });

  it('refuses a body over the service’s maxBodyBytes with 413 and forwards nothing', async () => {
    const before = received.length;
    const built = buildRequest(topology, keys, { method: 'PUT', url: '/v2/team/app/blobs/uploads/ghi', body: randomBytes(MAX_BODY_BYTES + 1) });
    const res = await send(built);
    assert.equal(res.status, 413);
    assert.equal(received.length, before);
    assert.deepEqual(readdirSync(spool.path), []);
  });

  it('answers 502 upstream-unavailable, after the checks passed, when the service does not answer', async () => {
    const down = createGuardHandler({
      topology,
      service: { ...service, kind: 'oci-registry', registry: { listen: '127.0.0.1:1', rootDirectory: spool.path } },
      hopKeys: keys,
      replayCache,
      upstream,
      origin: 'http://127.0.0.1:1',
      spoolDir: spool.path,
      now: () => NOW_MS,
      metrics: { registry: new Registry() },
      peerIdentity: () => ({ cn: 'gw-internal', fingerprint: 'sha256:', spiffeId: `spiffe://${topology.trustDomain}/gateway/gw-internal` }),
    });
    const server = createServer(down);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const built = buildRequest(topology, keys, { method: 'GET', url: '/v2/team/app/manifests/v1', body: null });
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}${built.url}`, { headers: built.headers });
      assert.equal(res.status, 502);
      assert.equal(((await res.json()) as { code: string }).code, 'upstream-unavailable');
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await down.close();
    }
  });

  it('refuses /healthz/ready to a scanner certificate at its own port with 403 identity-not-allowed (scanners come through the chain)', async () => {
    const res = await fetch(`${base}/healthz/ready`, { headers: { [TEST_PEER_HEADER]: 'scanner-01', 'x-test-peer-spiffe': `spiffe://${topology.trustDomain}/scanner/scanner-01` } });
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { code: string }).code, 'identity-not-allowed');
  });

  it('forwards a GET without a body and answers /healthz/live itself', async () => {
    const built = buildRequest(topology, keys, { method: 'GET', url: '/v2/team/app/manifests/v1', body: null });
    const res = await send(built, {}, null);
    assert.equal(res.status, 201);
    assert.equal(received.at(-1)?.url, '/v2/team/app/manifests/v1');
    const live = await fetch(`${base}/healthz/live`);
    assert.deepEqual(await live.json(), { service: SERVICE, status: 'live' });
  });
  it('keeps a usable X-Request-Id, replaces an unusable one, echoes it and forwards it to the service (docs/operations/running.md#the-request-id)', async () => {
    const put = (): BuiltRequest => buildRequest(topology, keys, { method: 'PUT', url: '/v2/team/app/blobs/uploads/abc?digest=sha256:01', body: randomBytes(64) });
    const kept = await send(put(), { 'x-request-id': 'edge-guard-0001' });
    assert.equal(kept.status, 201);
    assert.equal(kept.headers.get('x-request-id'), 'edge-guard-0001');
    assert.equal(received.at(-1)?.headers['x-request-id'], 'edge-guard-0001');

    const replaced = await send(put(), { 'x-request-id': 'two words' });
    const id = replaced.headers.get('x-request-id') ?? '';
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(received.at(-1)?.headers['x-request-id'], id, 'the service gets the id the guard logged');

    const refused = await send(put(), { 'x-stella-provenance': '', 'x-request-id': 'edge-guard-0002' });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('x-request-id'), 'edge-guard-0002', 'a refusal names its request too');
  });
});
