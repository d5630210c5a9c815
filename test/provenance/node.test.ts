import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { createProvenanceMiddleware } from '../../src/provenance/node.js';
import { buildRequest, fixtureKeys, fixtureTopology, NOW_MS, SERVICE, type BuiltRequest } from './support/fixture.js';
import { startNodeGuard, TEST_PEER_HEADER, type NodeGuard } from './support/app.js';

const topology = fixtureTopology();
const keys = fixtureKeys(topology);

describe('createProvenanceMiddleware on a real Node server', () => {
  let guarded: NodeGuard;
  before(async () => {
    guarded = await startNodeGuard({ topology, hopKeys: keys }, (r) => ({ hops: r.provenance?.hops.map((h) => h.id), bytes: r.rawBody?.length ?? 0 }));
  });
  after(() => guarded.close());

  const send = (built: BuiltRequest, headers: Record<string, string> = {}, body?: Buffer) =>
    fetch(`${guarded.base}${built.url}`, { method: built.method, headers: { ...built.headers, [TEST_PEER_HEADER]: 'gw-internal', ...headers }, ...(built.body ? { body: body ?? built.body } : {}) });

  it('passes a valid request to next() with req.provenance and req.rawBody set', async () => {
    const built = buildRequest(topology, keys);
    const res = await send(built);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { hops: ['gw-edge', 'gw-mid1', 'gw-internal'], bytes: built.body!.length });
  });

  it('answers the same problem codes and statuses as the plugin', async () => {
    const before = guarded.handled;
    const built = buildRequest(topology, keys);
    const cases: [Record<string, string>, Buffer | undefined, number, string][] = [
      [{ [TEST_PEER_HEADER]: 'gw-mid1' }, undefined, 403, 'untrusted-peer'],
      [{ 'x-stella-provenance': '' }, undefined, 401, 'provenance-missing'],
      [{ 'x-stella-provenance': 'x;seq=1' }, undefined, 400, 'provenance-malformed'],
      [{ 'x-stella-scan-id': 'scan-other' }, undefined, 401, 'provenance-tampered'],
      [{}, Buffer.from('{"other":1}'), 422, 'binding-mismatch'],
    ];
    for (const [headers, body, status, code] of cases) {
      const res = await send(built, headers, body);
      assert.equal(res.status, status, code);
      assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(((await res.json()) as { code: string }).code, code);
    }
    assert.equal((await send(built)).status, 200);
    const replay = await send(built);
    assert.equal(replay.status, 409);
    assert.equal(((await replay.json()) as { code: string }).code, 'provenance-replayed');
    assert.equal(guarded.handled, before + 1);
  });

  it('refuses a body over the service\'s maxBodyBytes with the services\' 413 payload-too-large, before any check and handler', async () => {
    const before = guarded.handled;
    const limit = topology.services.find((s) => s.id === SERVICE)!.maxBodyBytes;
    const res = await send(buildRequest(topology, keys), {}, Buffer.alloc(limit + 1, 0x20));
    assert.equal(res.status, 413);
    assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
    const problem = (await res.json()) as { code: string; status: number; type: string; detail: string };
    assert.equal(problem.code, 'payload-too-large');
    assert.equal(problem.status, 413);
    assert.equal(problem.type, 'https://stella-ops.org/problems/payload-too-large');
    assert.match(problem.detail, new RegExp(`exceeds ${limit} bytes`));
    assert.equal(guarded.handled, before);
  });
});

describe('createProvenanceMiddleware decision lines', () => {
  it('carry the request id as reqId, for an acceptance and a refusal alike', async () => {
    const lines: { level: 'info' | 'warn'; obj: Record<string, unknown>; msg: string }[] = [];
    const log = { info: (obj: object, msg: string) => lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }), warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }) };
    const guard = createProvenanceMiddleware({
      topology,
      serviceId: SERVICE,
      hopKeys: keys,
      now: () => NOW_MS,
      metrics: { registry: new Registry() },
      logger: log,
      requestId: (req) => String(req.headers['x-request-id']),
      peerIdentity: () => ({ cn: 'gw-internal', fingerprint: 'sha256:', spiffeId: `spiffe://${topology.trustDomain}/gateway/gw-internal` }),
    });
    const server = createServer((req, res) => guard(req, res, () => res.end('ok')));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const built = buildRequest(topology, keys);
      assert.equal((await fetch(`${base}${built.url}`, { method: built.method, headers: { ...built.headers, 'x-request-id': 'rid-accepted' }, body: built.body! })).status, 200);
      assert.equal((await fetch(`${base}${built.url}`, { method: built.method, headers: { ...built.headers, 'x-stella-provenance': '', 'x-request-id': 'rid-refused' }, body: built.body! })).status, 401);
      assert.deepEqual(lines.map((l) => [l.level, l.msg, l.obj.reqId]), [['info', 'provenance accepted', 'rid-accepted'], ['warn', 'provenance rejected', 'rid-refused']]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await guard.close();
    }
  });
});
