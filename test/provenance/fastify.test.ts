import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serializeProvenanceHeader } from '../../src/provenance/codec.js';
import { contentDigestOf } from '../../src/provenance/digest.js';
import { PROVENANCE_PROBLEMS, type ProvenanceCode } from '../../src/provenance/problems.js';
import { buildRequest, fixtureKeys, fixtureTopology, NOW_S, type BuiltRequest } from './support/fixture.js';
import { buildTestApp, send, type TestApp } from './support/app.js';

const topology = fixtureTopology();
const keys = fixtureKeys(topology);

function expectProblem(res: { statusCode: number; headers: Record<string, unknown>; body: string }, code: ProvenanceCode): void {
  const problem = JSON.parse(res.body) as Record<string, unknown>;
  assert.equal(problem.code, code, `expected ${code}, got ${res.body}`);
  assert.equal(res.statusCode, PROVENANCE_PROBLEMS[code].status);
  assert.equal(problem.status, PROVENANCE_PROBLEMS[code].status);
  assert.equal(problem.type, `https://stella-ops.org/problems/${code}`);
  assert.equal(problem.title, PROVENANCE_PROBLEMS[code].title);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
}

/** The members of a built request's header as text, each split into `[hop, 'seq=1', …]`. */
function members(built: BuiltRequest): string[][] {
  return built.records.map((r) => serializeProvenanceHeader([r]).split(';'));
}
const join = (parts: string[][]): string => parts.map((p) => p.join(';')).join(', ');

const CHANGED: Record<string, { to: (value: string) => string; code: ProvenanceCode }> = {
  seq: { to: (v) => String(Number(v) + 1), code: 'topology-mismatch' },
  ts: { to: (v) => String(Number(v) - 1), code: 'provenance-tampered' },
  nonce: { to: (v) => v.replace(/^"./, (m) => (m === '"a' ? '"b' : '"a')), code: 'provenance-tampered' },
  peer: { to: (v) => v.replace(/.(")$/, (m) => (m === '0"' ? '1"' : '0"')), code: 'provenance-tampered' },
  'peer-id': { to: () => '"scanner-02"', code: 'topology-mismatch' },
  kid: { to: (v) => v.replace('-new"', '-old"'), code: 'provenance-tampered' },
  mac: { to: (v) => (v.startsWith(':A') ? `:B${v.slice(2)}` : `:A${v.slice(2)}`), code: 'provenance-tampered' },
};

describe('the provenance plugin', () => {
  let t: TestApp;
  before(async () => {
    t = await buildTestApp();
  });
  after(async () => {
    await t.app.close();
  });

  it('accepts a valid 3-hop chain and hands the verified hops to the route', async () => {
    const built = buildRequest(topology, keys);
    const res = await send(t.app, built);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as { provenance: { scanId: string; hops: { id: string; peerId: string; ageSeconds: number; result: string }[] }; body: unknown };
    assert.deepEqual(body.provenance.hops.map((h) => [h.id, h.peerId, h.result]), [
      ['gw-edge', 'scanner-01', 'verified'],
      ['gw-mid1', 'waf', 'verified'],
      ['gw-internal', 'gw-mid1', 'verified'],
    ]);
    assert.equal(body.provenance.hops[0]!.ageSeconds, 2);
    assert.equal(body.provenance.scanId, 'scan-0001');
    assert.deepEqual(body.body, { hello: 'world' });
  });

  describe('tamper matrix over every parameter of every record', () => {
    const base = buildRequest(topology, keys);
    for (const [index] of base.records.entries()) {
      for (const [param, change] of Object.entries(CHANGED)) {
        it(`rejects record ${index + 1} with ${param} changed as ${change.code}`, async () => {
          const parts = members(base);
          const member = parts[index]!;
          const at = member.findIndex((p) => p.startsWith(`${param}=`));
          const [, value] = member[at]!.split(/=(.*)/s) as [string, string];
          member[at] = `${param}=${change.to(value)}`;
          assert.notEqual(join(parts), base.headers['x-stella-provenance']);
          expectProblem(await send(t.app, base, { headers: { 'x-stella-provenance': join(parts) } }), change.code);
        });
        it(`rejects record ${index + 1} with ${param} removed as provenance-malformed`, async () => {
          const parts = members(base);
          parts[index] = parts[index]!.filter((p) => !p.startsWith(`${param}=`));
          expectProblem(await send(t.app, base, { headers: { 'x-stella-provenance': join(parts) } }), 'provenance-malformed');
        });
        it(`rejects record ${index + 1} with ${param} duplicated as provenance-malformed`, async () => {
          const parts = members(base);
          const member = parts[index]!;
          member.push(member.find((p) => p.startsWith(`${param}=`))!);
          expectProblem(await send(t.app, base, { headers: { 'x-stella-provenance': join(parts) } }), 'provenance-malformed');
        });
      }
    }
    it('rejects a forged mac placed after the genuine one as provenance-malformed', async () => {
      const forged = buildRequest(topology, keys);
      const parts = members(forged);
      parts[0]!.push(CHANGED.mac!.to(parts[0]!.find((p) => p.startsWith('mac='))!.slice(4)).replace(/^/, 'mac='));
      expectProblem(await send(t.app, forged, { headers: { 'x-stella-provenance': join(parts) } }), 'provenance-malformed');
    });
  });

  describe('record-level tampering', () => {
    const cases: [string, (parts: string[][]) => string[][], ProvenanceCode][] = [
      ['records 1 and 2 swapped', (p) => [p[1]!, p[0]!, p[2]!], 'topology-mismatch'],
      ['records 2 and 3 swapped', (p) => [p[0]!, p[2]!, p[1]!], 'topology-mismatch'],
      ['record 1 dropped', (p) => [p[1]!, p[2]!], 'topology-mismatch'],
      ['record 2 dropped', (p) => [p[0]!, p[2]!], 'topology-mismatch'],
      ['record 3 dropped', (p) => [p[0]!, p[1]!], 'topology-mismatch'],
      ['record 2 duplicated', (p) => [p[0]!, p[1]!, p[1]!, p[2]!], 'topology-mismatch'],
      ['record 3 duplicated', (p) => [p[0]!, p[1]!, p[2]!, p[2]!], 'topology-mismatch'],
      ['a foreign record inserted', (p) => [p[0]!, ['gw-rogue', ...p[1]!.slice(1)], p[1]!, p[2]!], 'topology-mismatch'],
      ['the hop id of record 2 swapped', (p) => [p[0]!, ['gw-internal', ...p[1]!.slice(1)], p[2]!], 'topology-mismatch'],
      ['the hop id of record 3 swapped for the edge', (p) => [p[0]!, p[1]!, ['gw-edge', ...p[2]!.slice(1)]], 'topology-mismatch'],
      ['only the last record', (p) => [p[2]!], 'topology-mismatch'],
    ];
    for (const [name, mutate, code] of cases) {
      it(`rejects ${name} as ${code}`, async () => {
        const built = buildRequest(topology, keys);
        expectProblem(await send(t.app, built, { headers: { 'x-stella-provenance': join(mutate(members(built))) } }), code);
        // The unmodified request still passes afterwards.
        assert.equal((await send(t.app, built)).statusCode, 200);
      });
    }
  });

  describe('field lines and whitespace', () => {
    it('accepts the header split over several field lines', async () => {
      const built = buildRequest(topology, keys);
      const parts = members(built).map((p) => p.join(';'));
      const res = await send(t.app, built, { headers: { 'x-stella-provenance': [parts[0]!, `${parts[1]!}, ${parts[2]!}`] } });
      assert.equal(res.statusCode, 200, res.body);
    });
    it('accepts the members joined with other optional whitespace', async () => {
      const built = buildRequest(topology, keys);
      const parts = members(built).map((p) => p.join(';'));
      const res = await send(t.app, built, { headers: { 'x-stella-provenance': ` ${parts[0]!} ,\t${parts[1]!},${parts[2]!}  ` } });
      assert.equal(res.statusCode, 200, res.body);
    });
    it('accepts spaces after the parameter separators', async () => {
      const built = buildRequest(topology, keys);
      const res = await send(t.app, built, { headers: { 'x-stella-provenance': built.headers['x-stella-provenance']!.replaceAll(';', '; ') } });
      assert.equal(res.statusCode, 200, res.body);
    });
    it('rejects non-canonical integers as provenance-malformed', async () => {
      const built = buildRequest(topology, keys);
      expectProblem(await send(t.app, built, { headers: { 'x-stella-provenance': built.headers['x-stella-provenance']!.replace('seq=1;', 'seq=01;') } }), 'provenance-malformed');
    });
  });

  describe('request bindings', () => {
    it('rejects a changed Content-Digest as provenance-tampered', async () => {
      const built = buildRequest(topology, keys);
      const other = Buffer.from('{"hello":"mars"}');
      expectProblem(await send(t.app, built, { headers: { 'content-digest': contentDigestOf(other) }, body: other }), 'provenance-tampered');
    });
    it('rejects a changed body under the original digest as binding-mismatch', async () => {
      const built = buildRequest(topology, keys);
      expectProblem(await send(t.app, built, { body: Buffer.from('{"hello":"mars"}') }), 'binding-mismatch');
    });
    it('rejects a body without Content-Digest as binding-mismatch', async () => {
      const built = buildRequest(topology, keys, { body: null, method: 'POST' });
      expectProblem(await send(t.app, built, { body: Buffer.from('{}'), headers: { 'content-type': 'application/json' } }), 'binding-mismatch');
    });
    it('rejects a scan id changed in the header only as provenance-tampered', async () => {
      const built = buildRequest(topology, keys);
      expectProblem(await send(t.app, built, { headers: { 'x-stella-scan-id': 'scan-0002' } }), 'provenance-tampered');
    });
    it('rejects a changed path as provenance-tampered', async () => {
      const built = buildRequest(topology, keys);
      expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/evidence?x=2', headers: { ...built.headers, 'x-test-peer-cn': 'gw-internal' }, payload: built.body! }), 'provenance-tampered');
    });
    it('keeps the raw bytes of an octet-stream body and hashes exactly those', async () => {
      const bytes = Buffer.from([0, 255, 1, 254, 10, 13]);
      const built = buildRequest(topology, keys, { body: bytes, contentType: 'application/octet-stream' });
      const res = await send(t.app, built);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual((res.json() as { body: { type: string; data: number[] } }).body, { type: 'Buffer', data: [...bytes] });
    });
    it('accepts a body-less GET without Content-Digest', async () => {
      const built = buildRequest(topology, keys, { method: 'GET', url: '/api/v1/scans/scan-0001', body: null });
      const res = await send(t.app, built);
      assert.equal(res.statusCode, 200, res.body);
    });
  });

  describe('peers, presence, keys and clocks', () => {
    it('rejects a TLS peer other than the last hop as untrusted-peer before anything else', async () => {
      const built = buildRequest(topology, keys);
      expectProblem(await send(t.app, built, { peer: 'gw-mid1' }), 'untrusted-peer');
      expectProblem(await send(t.app, built, { peer: 'scanner-01', headers: { 'x-stella-provenance': 'garbage(' } }), 'untrusted-peer');
    });
    it('rejects a connection without a client certificate as untrusted-peer', async () => {
      expectProblem(await send(t.app, buildRequest(topology, keys), { peer: null }), 'untrusted-peer');
    });
    it('rejects a missing or empty provenance header or scan id as provenance-missing', async () => {
      const built = buildRequest(topology, keys);
      const { 'x-stella-provenance': _p, ...noProvenance } = built.headers;
      expectProblem(await send(t.app, { ...built, headers: noProvenance }), 'provenance-missing');
      const { 'x-stella-scan-id': _s, ...noScan } = built.headers;
      expectProblem(await send(t.app, { ...built, headers: noScan }), 'provenance-missing');
      expectProblem(await send(t.app, built, { headers: { 'x-stella-provenance': '  ' } }), 'provenance-missing');
    });
    it('rejects a malformed scan id as provenance-malformed', async () => {
      const built = buildRequest(topology, keys);
      expectProblem(await send(t.app, built, { headers: { 'x-stella-scan-id': '-bad' } }), 'provenance-malformed');
    });
    it('accepts a record stamped with the older of two current keys (rotation)', async () => {
      const built = buildRequest(topology, keys, { kid: (hop) => `${hop}-old` });
      assert.equal((await send(t.app, built)).statusCode, 200);
    });
    it('rejects an unknown kid as provenance-tampered', async () => {
      expectProblem(await send(t.app, buildRequest(topology, keys, { kid: (hop) => (hop === 'gw-mid1' ? 'gw-mid1-unknown' : `${hop}-new`) })), 'provenance-tampered');
    });
    it('rejects a key that was retired from the topology as provenance-tampered', async () => {
      const built = buildRequest(topology, keys, { kid: (hop) => `${hop}-old` });
      const retired = new Map([...keys].map(([hop, ring]) => [hop, new Map([...ring].filter(([kid]) => !kid.endsWith('-old')))]));
      const r = await buildTestApp({ hopKeys: retired });
      try {
        expectProblem(await send(r.app, built), 'provenance-tampered');
      } finally {
        await r.app.close();
      }
    });
    it('rejects a stale timestamp as provenance-stale', async () => {
      expectProblem(await send(t.app, buildRequest(topology, keys, { tsS: NOW_S - 151 })), 'provenance-stale');
      assert.equal((await send(t.app, buildRequest(topology, keys, { tsS: NOW_S - 150 }))).statusCode, 200);
    });
    it('rejects a timestamp from the future beyond the skew as provenance-stale', async () => {
      expectProblem(await send(t.app, buildRequest(topology, keys, { tsS: NOW_S + 31 })), 'provenance-stale');
      assert.equal((await send(t.app, buildRequest(topology, keys, { tsS: NOW_S + 30 }))).statusCode, 200);
    });
    it('rejects timestamps that decrease along the chain by more than the skew as provenance-stale', async () => {
      expectProblem(await send(t.app, buildRequest(topology, keys, { tsS: [NOW_S - 2, NOW_S - 33, NOW_S - 1] })), 'provenance-stale');
    });
    it('accepts a later hop whose clock runs behind the previous hop by up to the skew', async () => {
      // One second back is what 100 ms of skew between two gateways gives across a second boundary.
      assert.equal((await send(t.app, buildRequest(topology, keys, { tsS: [NOW_S - 2, NOW_S - 3, NOW_S - 1] }))).statusCode, 200);
      assert.equal((await send(t.app, buildRequest(topology, keys, { tsS: [NOW_S - 2, NOW_S - 32, NOW_S - 32] }))).statusCode, 200);
    });
  });

  describe('replay', () => {
    it('rejects the same request twice as provenance-replayed', async () => {
      const built = buildRequest(topology, keys);
      assert.equal((await send(t.app, built)).statusCode, 200);
      expectProblem(await send(t.app, built), 'provenance-replayed');
    });
    it('does not let a request refused after the replay check consume the nonce', async () => {
      const built = buildRequest(topology, keys);
      expectProblem(await send(t.app, built, { body: Buffer.from('{"hello":"mars"}') }), 'binding-mismatch');
      assert.equal((await send(t.app, built)).statusCode, 200);
      expectProblem(await send(t.app, built), 'provenance-replayed');
    });
  });

  describe('body parsing after the checks', () => {
    it('answers a replayed request with a broken JSON body 409, not the parser\'s 400 (docs/provenance.md order)', async () => {
      const broken = Buffer.from('{"hello": ');
      const built = buildRequest(topology, keys, { body: broken });
      const first = await send(t.app, built);
      assert.equal(first.statusCode, 400, 'an authentic request whose JSON does not parse is the service\'s 400');
      expectProblem(await send(t.app, built), 'provenance-replayed');
    });
    it('answers a forged request with a broken JSON body with its provenance code', async () => {
      const built = buildRequest(topology, keys, { body: Buffer.from('{"hello": ') });
      expectProblem(await send(t.app, built, { peer: 'gw-edge' }), 'untrusted-peer');
    });
    it('still hands the handler the parsed JSON of an accepted request', async () => {
      const built = buildRequest(topology, keys, { body: Buffer.from('{"hello":"world"}') });
      const answer = await send(t.app, built);
      assert.equal(answer.statusCode, 200);
      assert.deepEqual((answer.json() as { body: unknown }).body, { hello: 'world' });
    });
  });

  describe('plugin anatomy', () => {
    it('runs no handler for any rejected request', async () => {
      const r = await buildTestApp();
      try {
        const built = buildRequest(topology, keys);
        await send(r.app, built, { peer: 'gw-mid1' });
        await send(r.app, built, { headers: { 'x-stella-scan-id': 'scan-x' } });
        await send(r.app, built, { body: Buffer.from('{}') });
        assert.equal(r.handled(), 0);
        await send(r.app, built);
        assert.equal(r.handled(), 1);
      } finally {
        await r.app.close();
      }
    });
    it('leaves opted-out routes alone with request.provenance null', async () => {
      const res = await t.app.inject({ method: 'GET', url: '/healthz/live' });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), { live: true, provenance: null });
    });
    it('logs one line per decision with the code, hop ids and scan id, and counts it by code', async () => {
      const r = await buildTestApp();
      try {
        const built = buildRequest(topology, keys);
        await send(r.app, built);
        await send(r.app, built);
        const decisions = r.logLines().map((l) => JSON.parse(l) as { provenance?: { code: string; hops: string[]; scanId: string } }).filter((l) => l.provenance);
        assert.deepEqual(decisions.map((d) => d.provenance!.code), ['accepted', 'provenance-replayed']);
        assert.deepEqual(decisions[1]!.provenance!.hops, ['gw-edge', 'gw-mid1', 'gw-internal']);
        assert.equal(decisions[1]!.provenance!.scanId, 'scan-0001');
        const metric = await r.registry.getSingleMetric('stella_provenance_decisions_total')!.get();
        const byCode = Object.fromEntries(metric.values.map((v) => [v.labels.code, v.value]));
        assert.deepEqual(byCode, { accepted: 1, 'provenance-replayed': 1 });
      } finally {
        await r.app.close();
      }
    });
    it('refuses bad options at registration', async () => {
      await assert.rejects(buildTestApp({ serviceId: 'nope' }), TypeError);
      await assert.rejects(buildTestApp({ hopKeys: new Map() }), /no MAC key/);
    });
  });
});
