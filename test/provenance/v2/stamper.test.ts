/**
 * The forward-auth stamper stamping v2 (docs/provenance.md#part-2-version-2): hop by hop with each
 * algorithm, the client's members stripped at the edge, refusals for a chain it cannot extend.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildStamper } from '../../../src/provenance/stamper.js';
import { initPki, issueCertificate } from '../../../src/pki/index.js';
import { contentDigestOf } from '../../../src/provenance/digest.js';
import { MemoryReplayCache } from '../../../src/provenance/replay/memory.js';
import { checkHeaders } from '../../../src/provenance/verify.js';
import { chainVersions } from '../../../src/provenance/options.js';
import { stampingHops } from '../../../src/topology/resolve.js';
import { parseV2Fields } from '../../../src/provenance/v2/fields.js';
import { tempDir } from '../../support/tmp.js';
import { fixtureV2Key, fixtureV2Keyring, fixtureV2Topology, HOP_ALGS, NOW_MS, SERVICE } from '../support/fixture.js';

const topology = fixtureV2Topology('both');
const service = topology.services.find((s) => s.id === SERVICE)!;
const dir = tempDir('stella-stamper-v2-');
const pems = new Map<string, string>();
const pkiClock = (): Date => new Date(NOW_MS - 60_000);
await initPki({ dir: join(dir.path, 'leaves'), clock: pkiClock });
for (const [role, name] of [['scanner', 'scanner-01'], ['gateway', 'gw-mid1'], ['gateway', 'waf']] as const) {
  pems.set(name, (await issueCertificate({ dir: join(dir.path, 'leaves'), role, name, clock: pkiClock })).certPem);
}
const der = (cn: string): Buffer => new X509Certificate(pems.get(cn)!).raw;
const body = Buffer.from('{"artifact":1}');
const common = { 'x-stella-scan-id': 'scan-0001', 'content-digest': contentDigestOf(body), 'x-original-method': 'POST', 'x-original-uri': '/api/v1/evidence?x=1' };
const v1Keys = new Map(stampingHops(service).map((h) => [h.id, new Map([[`${h.id}-v1`, createHash('sha256').update(h.id).digest()]])]));
const certOf: Record<string, string> = { 'gw-edge': 'scanner-01', 'gw-mid1': 'waf', 'gw-internal': 'gw-mid1' };

describe('the forward-auth stamper, v2', () => {
  const stampers = new Map<string, FastifyInstance>();
  before(async () => {
    for (const hop of stampingHops(service)) {
      const v2Key = { alg: HOP_ALGS[hop.id]!, kid: `${hop.id}-new`, key: fixtureV2Key(hop.id, `${hop.id}-new`).signing };
      const app = buildStamper({ topology, hopId: hop.id, keys: v1Keys, v2Key, now: () => NOW_MS - 1000 });
      await app.ready();
      stampers.set(hop.id, app);
    }
  });
  after(async () => {
    for (const app of stampers.values()) await app.close();
    dir.remove();
  });

  async function stamp(hop: string, headers: Record<string, string>) {
    return stampers.get(hop)!.inject({ method: 'GET', url: '/stamp', headers: { ...common, 'client-cert': `:${der(certOf[hop]!).toString('base64')}:`, ...headers } });
  }

  it('stamps v1 and v2 (profile both) hop by hop, stripping the client\'s members at the edge and keeping other signatures; the receiver accepts the chain', async () => {
    const forged = 'stella-1-gw-edge=("@method");created=1;tag="stella-provenance-v2"';
    const edge = await stamp('gw-edge', { 'signature-input': `sig1=("@method");created=1, ${forged}`, signature: 'sig1=:AAAA:, stella-1-gw-edge=:BBBB:' });
    assert.equal(edge.statusCode, 200, edge.body);
    assert.match(String(edge.headers['signature-input']), /^sig1=\("@method"\);created=1, stella-1-gw-edge=\("@method" "@path"/);
    assert.match(String(edge.headers.signature), /^sig1=:AAAA:, stella-1-gw-edge=:/);
    assert.match(String(edge.headers['x-stella-provenance']), /^gw-edge;seq=1/);
    const fieldsOf = (r: typeof edge) => ({ 'signature-input': String(r.headers['signature-input']), signature: String(r.headers.signature), 'x-stella-provenance': String(r.headers['x-stella-provenance']) });
    let headers = fieldsOf(edge);
    for (const hop of ['gw-mid1', 'gw-internal']) {
      const next = await stamp(hop, headers);
      assert.equal(next.statusCode, 200, next.body);
      headers = fieldsOf(next);
    }
    assert.match(headers['x-stella-provenance'], /gw-internal;seq=3/);
    const members = parseV2Fields(headers['signature-input'], headers.signature, topology.provenance);
    assert.deepEqual(members.map((m) => [m.label, m.params.alg, m.params.peerId]), [
      ['stella-1-gw-edge', 'ed25519', 'scanner-01'],
      ['stella-2-gw-mid1', 'ecdsa-p256-sha256', 'waf'],
      ['stella-3-gw-internal', 'hmac-sha256', 'gw-mid1'],
    ]);
    assert.equal(members[0]!.params.peer, `sha256:${createHash('sha256').update(der('scanner-01')).digest('hex')}`);
    const ctx = { topology, service, keys: new Map(), v2Keys: fixtureV2Keyring(topology), versions: chainVersions(stampingHops(service), true), replayCache: new MemoryReplayCache(), now: () => NOW_MS };
    const peer = { cn: 'gw-internal', fingerprint: `sha256:${'a'.repeat(64)}`, spiffeId: 'spiffe://stella.local/gateway/gw-internal' };
    const checked = checkHeaders({ method: 'POST', url: '/api/v1/evidence?x=1', headers: { ...common, ...headers }, peer }, ctx);
    assert.equal(checked.hops.length, 3);
  });

  it('refuses to extend a chain that lacks the earlier members, or has too many (403, no fields)', async () => {
    const missing = await stamp('gw-mid1', {});
    assert.equal(missing.statusCode, 403);
    assert.equal(missing.json().code, 'provenance-missing');
    assert.equal(missing.headers['signature-input'], '');
    const edge = await stamp('gw-edge', {});
    const twice = await stamp('gw-internal', { 'signature-input': String(edge.headers['signature-input']), signature: String(edge.headers.signature), 'x-stella-provenance': String(edge.headers['x-stella-provenance']) });
    assert.equal(twice.statusCode, 403);
    assert.equal(twice.json().code, 'topology-mismatch');
    const garbage = await stamp('gw-mid1', { 'signature-input': 'stella-1-gw-edge=(', signature: 'x=:AAAA:' });
    assert.equal(garbage.json().code, 'provenance-malformed');
  });

  it('will not start for a v2 hop without its v2 key', () => {
    assert.throws(() => buildStamper({ topology, hopId: 'gw-edge', keys: v1Keys }), /v2 signing key/);
  });
});
