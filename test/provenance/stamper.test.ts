import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildStamper } from '../../src/provenance/stamper.js';
import { initPki, issueCertificate } from '../../src/pki/index.js';
import { contentDigestOf } from '../../src/provenance/digest.js';
import { parseProvenanceHeader } from '../../src/provenance/codec.js';
import { main } from '../../src/cli/main.js';
import { freePort } from '../support/programs.js';
import { tempDir } from '../support/tmp.js';
import { fixtureKeys, fixtureTopology, NOW_MS } from './support/fixture.js';
import { buildTestApp, TEST_PEER_HEADER } from './support/app.js';

const topology = fixtureTopology();
const keys = fixtureKeys(topology);
const dir = tempDir('stella-stamper-');
const pems = new Map<string, string>();

/**
 * Leaves of a real PKI of the product, valid at the fixture's clock (NOW_MS): the stamper checks
 * each certificate's validity window and SPIFFE role on every request.
 */
const PEERS = [
  ['scanner', 'scanner-01'],
  ['gateway', 'gw-mid1'],
  ['gateway', 'waf'],
] as const;
const pkiClock = (): Date => new Date(NOW_MS - 60_000);
function certificate(cn: string): string {
  const known = pems.get(cn);
  if (!known) throw new TypeError(`no test certificate for ${cn}`);
  return known;
}
// Top-level: the refusal table below reads certificates while the suite is being defined.
await initPki({ dir: join(dir.path, 'leaves'), clock: pkiClock });
for (const [role, name] of PEERS) pems.set(name, (await issueCertificate({ dir: join(dir.path, 'leaves'), role, name, clock: pkiClock })).certPem);
const der = (cn: string): Buffer => new X509Certificate(certificate(cn)).raw;
const rfc9440 = (cn: string): string => `:${der(cn).toString('base64')}:`;

let counter = 0;
const random = (size: number): Buffer => Buffer.alloc(size, ++counter);
const body = Buffer.from('{"artifact":1}');
const common = { 'x-stella-scan-id': 'scan-0001', 'content-digest': contentDigestOf(body) };

describe('the forward-auth stamper', () => {
  const stampers = new Map<string, FastifyInstance>();
  before(async () => {
    for (const hopId of ['gw-edge', 'gw-mid1', 'gw-internal']) {
      const app = buildStamper({ topology, hopId, keys, now: () => NOW_MS - 1000, random });
      await app.ready();
      stampers.set(hopId, app);
    }
  });
  after(async () => {
    for (const app of stampers.values()) await app.close();
    dir.remove();
  });
  const stamper = (id: string): FastifyInstance => stampers.get(id)!;

  async function stampThroughTheChain(): Promise<string> {
    // NGINX auth_request style at the edge, with a client-forged header it must ignore.
    const edge = await stamper('gw-edge').inject({
      method: 'GET',
      url: '/stamp',
      headers: { ...common, 'x-original-method': 'POST', 'x-original-uri': '/api/v1/evidence?x=1', 'client-cert': rfc9440('scanner-01'), 'x-stella-provenance': 'forged;seq=1' },
    });
    assert.equal(edge.statusCode, 200, edge.body);
    // Caddy forward_auth style, URL-encoded PEM from the WAF's certificate.
    const mid = await stamper('gw-mid1').inject({
      method: 'GET',
      url: '/stamp',
      headers: { ...common, 'x-forwarded-method': 'POST', 'x-forwarded-uri': '/api/v1/evidence?x=1', 'x-stella-client-cert': encodeURIComponent(certificate('waf')), 'x-stella-provenance': String(edge.headers['x-stella-provenance']) },
    });
    assert.equal(mid.statusCode, 200, mid.body);
    // Envoy ext_authz style: the original method and path, prefixed, and XFCC.
    const internal = await stamper('gw-internal').inject({
      method: 'POST',
      url: '/stamp/api/v1/evidence?x=1',
      headers: { ...common, 'x-forwarded-client-cert': `By=spiffe://x;Hash=00;Cert="${encodeURIComponent(certificate('gw-mid1'))}";Subject="CN=gw-mid1"`, 'x-stella-provenance': String(mid.headers['x-stella-provenance']) },
    });
    assert.equal(internal.statusCode, 200, internal.body);
    return String(internal.headers['x-stella-provenance']);
  }

  it('builds, hop by hop, a chain the receiving plugin accepts', async () => {
    const header = await stampThroughTheChain();
    const records = parseProvenanceHeader(header, topology.provenance);
    assert.deepEqual(records.map((r) => [r.hop, r.seq, r.peerId, r.kid]), [
      ['gw-edge', 1, 'scanner-01', 'gw-edge-new'],
      ['gw-mid1', 2, 'waf', 'gw-mid1-new'],
      ['gw-internal', 3, 'gw-mid1', 'gw-internal-new'],
    ]);
    assert.equal(records[0]!.peer, `sha256:${createHash('sha256').update(der('scanner-01')).digest('hex')}`);
    assert.equal(records[0]!.nonce.length, 32);
    const receiver = await buildTestApp();
    try {
      const res = await receiver.app.inject({
        method: 'POST',
        url: '/api/v1/evidence?x=1',
        headers: { ...common, 'x-stella-provenance': header, 'content-type': 'application/json', [TEST_PEER_HEADER]: 'gw-internal' },
        payload: body,
      });
      assert.equal(res.statusCode, 200, res.body);
    } finally {
      await receiver.app.close();
    }
  });

  const refusals: [string, string, Record<string, string>, string][] = [
    ['no client certificate', 'gw-edge', { ...common }, 'untrusted-peer'],
    ['a certificate whose CN is not a scanner of the edge', 'gw-edge', { ...common, 'client-cert': rfc9440('gw-mid1') }, 'untrusted-peer'],
    ['a Client-Cert that is not a certificate', 'gw-edge', { ...common, 'client-cert': ':AAAA:' }, 'untrusted-peer'],
    ['a malformed scan id', 'gw-edge', { ...common, 'x-stella-scan-id': '../x', 'client-cert': rfc9440('scanner-01') }, 'provenance-malformed'],
    ['a later hop without the earlier records', 'gw-mid1', { ...common, 'x-stella-client-cert': encodeURIComponent(certificate('waf')) }, 'provenance-missing'],
  ];
  for (const [name, hop, headers, code] of refusals) {
    it(`answers 403 ${code} with an empty X-Stella-Provenance for ${name}`, async () => {
      const res = await stamper(hop).inject({ method: 'GET', url: '/stamp', headers });
      assert.equal(res.statusCode, 403);
      assert.equal(res.headers['x-stella-provenance'], '');
      assert.equal((res.json() as { code: string }).code, code);
    });
  }

  it('refuses a certificate past its notAfter on every request, as a resumed TLS session would carry it (403 untrusted-peer)', async () => {
    const issued = new X509Certificate(certificate('scanner-01'));
    const afterExpiry = Date.parse(issued.validTo) + 1000;
    const app = buildStamper({ topology, hopId: 'gw-edge', keys, now: () => afterExpiry, random });
    try {
      const res = await app.inject({ method: 'GET', url: '/stamp', headers: { ...common, 'x-original-method': 'POST', 'x-original-uri': '/api/v1/evidence', 'client-cert': rfc9440('scanner-01') } });
      assert.equal(res.statusCode, 403);
      assert.equal(res.headers['x-stella-provenance'], '');
      assert.equal(JSON.parse(res.body).code, 'untrusted-peer');
      assert.match(JSON.parse(res.body).detail, /not valid now/);
    } finally {
      await app.close();
    }
  });

  it('refuses a gateway-role certificate whose CN is a scanner of the edge (403 untrusted-peer)', async () => {
    const impostor = await issueCertificate({ dir: join(dir.path, 'leaves'), role: 'gateway', name: 'scanner-01', clock: pkiClock, write: false });
    const app = buildStamper({ topology, hopId: 'gw-edge', keys, now: () => NOW_MS, random });
    try {
      const headers = { ...common, 'x-original-method': 'POST', 'x-original-uri': '/api/v1/evidence', 'client-cert': `:${new X509Certificate(impostor.certPem).raw.toString('base64')}:` };
      const res = await app.inject({ method: 'GET', url: '/stamp', headers });
      assert.equal(res.statusCode, 403);
      assert.equal(JSON.parse(res.body).code, 'untrusted-peer');
      assert.match(JSON.parse(res.body).detail, /not a scanner identity/);
    } finally {
      await app.close();
    }
  });

  it('refuses a client certificate its revocation list names, with 403 untrusted-peer', async () => {
    const revokedSerial = new X509Certificate(certificate('scanner-01')).serialNumber;
    const app = buildStamper({ topology, hopId: 'gw-edge', keys, now: () => NOW_MS, random, revocation: { isRevoked: (serial) => serial === revokedSerial } });
    try {
      const headers = { ...common, 'x-original-method': 'POST', 'x-original-uri': '/api/v1/evidence' };
      const refused = await app.inject({ method: 'GET', url: '/stamp', headers: { ...headers, 'client-cert': rfc9440('scanner-01') } });
      assert.equal(refused.statusCode, 403);
      assert.equal(refused.headers['x-stella-provenance'], '');
      assert.equal(JSON.parse(refused.body).code, 'untrusted-peer');
      assert.match(JSON.parse(refused.body).detail, /revoked/);
      // The same identity on a certificate that is not revoked (a re-issue) is stamped.
      const reissued = await issueCertificate({ dir: join(dir.path, 'leaves'), role: 'scanner', name: 'scanner-01', clock: pkiClock, write: false });
      const other = await app.inject({ method: 'GET', url: '/stamp', headers: { ...headers, 'client-cert': `:${new X509Certificate(reissued.certPem).raw.toString('base64')}:` } });
      assert.equal(other.statusCode, 200, other.body);
    } finally {
      await app.close();
    }
  });

  it('refuses a method holding a "|", which would make the MAC input ambiguous', async () => {
    const refused = await stamper('gw-edge').inject({
      method: 'GET',
      url: '/stamp',
      headers: { ...common, 'x-original-method': 'POST|/a', 'x-original-uri': '/b', 'client-cert': rfc9440('scanner-01') },
    });
    assert.equal(refused.statusCode, 403);
    assert.equal(JSON.parse(refused.body).code, 'provenance-malformed');
    assert.equal(refused.headers['x-stella-provenance'], '');
  });

  it('answers its liveness with its hop id', async () => {
    const res = await stamper('gw-mid1').inject({ method: 'GET', url: '/healthz/live' });
    assert.equal(res.statusCode, 200);
    assert.equal((res.json() as { hop: string }).hop, 'gw-mid1');
  });

  it('refuses to build for an opaque hop', () => {
    assert.throws(() => buildStamper({ topology, hopId: 'waf', keys }), /opaque/);
  });
});

describe('stella-gateway stamper', () => {
  const work = tempDir('stella-stamper-cli-');
  let port = 0;
  let file = '';
  before(async () => {
    port = await freePort();
    // A real CA folder: the stamper reads its CRL (pki.crl) at start and refuses without one.
    await initPki({ dir: join(work.path, 'pki') });
    for (const name of ['edge', 'internal', 'scanner']) writeFileSync(join(work.path, `${name}.key`), `${createHash('sha256').update(name).digest('base64')}\n`);
    file = join(work.path, 'topology.yaml');
    writeFileSync(
      file,
      [
        'apiVersion: stella-gateway/v1',
        'kind: Topology',
        'name: demo',
        'trustDomain: stella.local',
        'pki: { dir: ./pki }',
        'scanners: [ { id: scanner-01, signing: { keys: [ { kid: s, file: ./scanner.key } ] } } ]',
        'hops:',
        `  - { id: gw-edge, kind: caddy, listen: 127.0.0.1:8443, stamp: { via: forward-auth, keys: [ { kid: edge-1, file: ./edge.key } ], stamper: { listen: 127.0.0.1:${port} } }, next: gw-internal }`,
        '  - { id: gw-internal, kind: haproxy, listen: 127.0.0.1:8444, stamp: { via: native, keys: [ { kid: int-1, file: ./internal.key } ] }, next: evidence-locker }',
        'services: [ { id: evidence-locker, kind: scanner-webservice, listen: 127.0.0.1:9443 } ]',
      ].join('\n'),
    );
  });
  after(() => work.remove());

  it('exits 2 for a hop that does not stamp or does not exist', async () => {
    assert.equal(await main(['stamper', '--topology', file, '--hop', 'nope']), 2);
  });

  // Serving on its socket or mTLS, and refusing everything but its gateway: stamper-listen.test.ts.
});
