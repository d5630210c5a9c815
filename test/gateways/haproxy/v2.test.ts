/**
 * Provenance v2 stamped by the real HAProxy through its Lua action (docs/provenance.md#part-2-version-2,
 * docs/gateways/haproxy.md "Provenance v2"): one hop as the edge (ECDSA P-256, stamping v1 too),
 * then two chained hops (ECDSA, then HMAC covering the first signature). Every label is checked on
 * its own by node:crypto over an independently built signature base and by the npm RFC 9421
 * library; the refusals are checked at the program itself.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { Agent, fetch, request } from 'undici';
import { haproxyProgram, prepareHaproxyHop, renderHaproxyHop } from '../../../src/gateways/haproxy/index.js';
import type { TopologyInput } from '../../../src/topology/schema.js';
import { portsFor } from '../../support/programs.js';
import { createDeployment, exampleDocument, type Deployment } from '../support/deployment.js';
import { certificateFingerprint, type LeafFiles, type V2TestKey } from '../support/pki.js';
import { macVerifies, parseProvenance } from '../support/provenance.js';
import { parseV2Members, v2VerifiesWithLibrary, v2VerifiesWithNodeCrypto, type V2Member } from '../support/provenance-v2.js';
import { startProgram, writeRendered } from '../support/run.js';
import { renderHop } from '../../../src/gateways/index.js';
import { startHop } from '../../../src/gateways/runtime.js';
import { writeRenderedFiles } from '../../../src/gateways/write.js';
import { startRecordingUpstream, type ReceivedRequest, type RecordingUpstream } from '../support/upstream.js';

type Signing = Exclude<TopologyInput['hops'][number]['stamp'], false>['signing'];
const EDGE_V2: Signing = { alg: 'ecdsa-p256-sha256', keys: [{ kid: 'edge-v2-2026-12', file: './keys/gw-edge.v2.pem', publicFile: './keys/gw-edge.v2.pub.pem' }] };
const INTERNAL_V2: Signing = { alg: 'hmac-sha256', keys: [{ kid: 'internal-v2-2026-12', file: './keys/gw-internal.v2.key' }] };
const COVERED_SEQ1 = ['"@method"', '"@path"', '"@query"', '"x-stella-scan-id"'];

/** A running deployment of HAProxy hops in front of a recording service. */
class Harness {
  deployment!: Deployment;
  upstream: RecordingUpstream | undefined;
  readonly programs: { stop(): Promise<unknown> }[] = [];
  readonly agents: Agent[] = [];

  async start(doc: TopologyInput, servicePort: number): Promise<void> {
    this.deployment = await createDeployment(doc);
    const { topology } = this.deployment;
    const service = topology.services[0];
    if (!service) throw new Error('one service');
    const outDir = join(this.deployment.dir, 'out');
    this.upstream = await startRecordingUpstream(servicePort, service.tls, topology.pki.caBundle);
    for (const hop of [...topology.hops].reverse()) {
      const hopDir = join(outDir, hop.id);
      if (hop.kind === 'haproxy') {
        writeRendered(outDir, renderHaproxyHop(topology, hop, { outDir }));
        const port = Number(hop.listen.split(':')[1]);
        this.programs.push(await startProgram(haproxyProgram.run(hopDir, hop), port, await prepareHaproxyHop(hopDir, hop)));
      } else {
        // Any other kind (the WAF) through the product's own writer and runtime.
        await writeRenderedFiles(outDir, renderHop(topology, hop, { outDir }));
        this.programs.push(await startHop(topology, hop, hopDir));
      }
    }
  }

  /** A client with this certificate; `servername` for a hop whose certificate names only its serverName. */
  agent(leaf: LeafFiles | null, servername?: string): Agent {
    const ca = readFileSync(this.deployment.topology.pki.caBundle);
    const agent = new Agent({ connect: { ca, ...(servername ? { servername } : {}), ...(leaf ? { cert: readFileSync(leaf.chain), key: readFileSync(leaf.key) } : {}) } });
    this.agents.push(agent);
    return agent;
  }

  /** The one request the service received with this path and query. */
  received(url: string): ReceivedRequest {
    const found = this.upstream?.received.filter((r) => r.url === url) ?? [];
    assert.equal(found.length, 1, `the service received ${url} once`);
    return found[0]!;
  }

  v2Key(kid: string): V2TestKey {
    const key = this.deployment.v2Keys.get(kid);
    if (!key) throw new Error(`no v2 key ${kid}`);
    return key;
  }

  async stop(): Promise<void> {
    for (const agent of this.agents) await agent.close();
    for (const program of this.programs) await program.stop();
    await this.upstream?.close();
    this.deployment?.remove();
  }
}

/** Both verifiers agree on each member, one label at a time. */
async function verdicts(members: readonly V2Member[], request: ReceivedRequest, keys: readonly V2TestKey[]): Promise<[boolean, boolean][]> {
  return Promise.all(members.map(async (m, i) => [v2VerifiesWithNodeCrypto(m, request, keys[i]!), await v2VerifiesWithLibrary(m, request, keys[i]!, 'localhost')] as [boolean, boolean]));
}

describe('HAProxy as the edge stamping provenance v2 with ECDSA P-256 (profile both)', () => {
  const h = new Harness();
  let url = '';
  const scanner = (): LeafFiles => h.deployment.topology.scanners[0]!.tls;

  before(async () => {
    const { edge: edgePort, service: servicePort } = await portsFor('edge', 'service');
    const doc = exampleDocument();
    const edge = doc.hops[0]!;
    if (edge.stamp === false) throw new Error('the example edge stamps');
    doc.hops = [{ ...edge, kind: 'haproxy', listen: `127.0.0.1:${edgePort}`, next: 'evidence-locker', stamp: { ...edge.stamp, profile: 'both', signing: EDGE_V2 } }];
    doc.services = doc.services.map((s) => ({ ...s, listen: `127.0.0.1:${servicePort}` }));
    await h.start(doc, servicePort);
    url = `https://127.0.0.1:${edgePort}`;
  });
  after(() => h.stop());

  it('drops client-sent members of the profile, keeps a foreign member byte for byte, and appends one member that verifies', async () => {
    const foreignInput = 'client-sig=("@method" "@path");created=1700000000;keyid="client";tag="other-app"';
    const response = await fetch(`${url}/api/v1/scans?state=open&x=a,b`, {
      dispatcher: h.agent(scanner()),
      headers: {
        'x-stella-scan-id': 'scan:7',
        'signature-input': `${foreignInput}, stella-1-gw-edge=("@method");tag="stella-provenance-v2", forged=("@method");created=1;tag="stella-provenance-v2"`,
        signature: 'client-sig=:AAAA:, stella-1-gw-edge=:BBBB:, forged=:CCCC:',
      },
    });
    assert.equal(response.status, 200, await response.text());
    const request = h.received('/api/v1/scans?state=open&x=a,b');
    const members = parseV2Members(request);
    assert.deepEqual(members.map((m) => m.label), ['client-sig', 'stella-1-gw-edge']);
    assert.ok(String(request.headers['signature-input']).startsWith(`${foreignInput}, stella-1-gw-edge=`), 'the foreign member passes untouched');
    assert.ok(String(request.headers.signature).startsWith('client-sig=:AAAA:, stella-1-gw-edge=:'));

    const member = members[1]!;
    assert.deepEqual(member.covered, COVERED_SEQ1, 'no content-digest: the request carries none');
    assert.match(member.signatureParams, /^\("@method" "@path" "@query" "x-stella-scan-id"\);created=\d+;nonce="[0-9a-f]{32}";keyid="edge-v2-2026-12";alg="ecdsa-p256-sha256";tag="stella-provenance-v2";peer="sha256:[0-9a-f]{64}";peer-id="scanner-01"$/);
    assert.equal(member.params.peer, `sha256:${certificateFingerprint(scanner().cert)}`);
    assert.ok(Math.abs(Number(member.params.created) - Date.now() / 1000) < 60);
    assert.equal(member.signature.length, 64, 'raw r‖s');
    assert.deepEqual(await verdicts([member], request, [h.v2Key('edge-v2-2026-12')]), [[true, true]]);

    // Profile both: the v1 record is stamped beside it, and its MAC verifies.
    const [record, ...rest] = parseProvenance(String(request.headers['x-stella-provenance']));
    assert.equal(rest.length, 0);
    assert.ok(record && macVerifies(record, { method: 'GET', pathAndQuery: '/api/v1/scans?state=open&x=a,b', scanId: 'scan:7', contentDigest: '' }, undefined, h.deployment.macKeys.get('edge-2026-11')!));
  });

  it('covers Content-Digest when the request carries one, and a changed component or parameter fails both verifiers', async () => {
    const body = '{"a":1}';
    const digest = 'sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:';
    const response = await fetch(`${url}/api/v1/evidence`, { method: 'POST', body, dispatcher: h.agent(scanner()), headers: { 'x-stella-scan-id': 'scan:8', 'content-digest': digest } });
    assert.equal(response.status, 200, await response.text());
    const request = h.received('/api/v1/evidence');
    const [member] = parseV2Members(request);
    assert.ok(member);
    assert.deepEqual(member.covered, ['"@method"', '"@path"', '"@query"', '"content-digest"', '"x-stella-scan-id"']);
    const key = h.v2Key('edge-v2-2026-12');
    assert.deepEqual(await verdicts([member], request, [key]), [[true, true]]);

    const tampered: [string, ReceivedRequest][] = [
      ['method', { ...request, method: 'PUT' }],
      ['path', { ...request, url: '/api/v1/evidencf' }],
      ['query', { ...request, url: '/api/v1/evidence?x=1' }],
      ['content-digest', { ...request, headers: { ...request.headers, 'content-digest': digest.replace('AAAA', 'AAAB') } }],
      ['scan id', { ...request, headers: { ...request.headers, 'x-stella-scan-id': 'scan:9' } }],
      ['peer-id', { ...request, headers: { ...request.headers, 'signature-input': String(request.headers['signature-input']).replace('peer-id="scanner-01"', 'peer-id="scanner-02"') } }],
    ];
    for (const [what, changed] of tampered) {
      const [again] = parseV2Members(changed);
      assert.deepEqual(await verdicts([again!], changed, [key]), [[false, false]], `a changed ${what} is refused`);
    }
  });

  it('signs the path and query exactly as received, for any such request target (property, 25 runs)', async () => {
    const unreserved = fc.constantFrom(...'abcXYZ019-._~'.split(''), '%2F', '%41', '%e2%82%ac', '!', '$', "'", '(', ')', '*', '+', ',', ';', ':', '@');
    // "." and ".." alone are left out: the client's URL parser resolves them before sending, so
    // the request would not reach the path the property looks for (1 run in a few hundred hit it).
    const segment = fc
      .array(unreserved, { minLength: 0, maxLength: 6 })
      .map((parts) => parts.join(''))
      .filter((s) => s !== '.' && s !== '..');
    const query = fc.option(fc.array(fc.oneof(unreserved, fc.constantFrom('=', '&', '/', '?')), { maxLength: 12 }).map((parts) => parts.join('')), { nil: undefined });
    const method = fc.constantFrom('GET', 'DELETE', 'POST', 'PUT');
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { minLength: 1, maxLength: 4 }), query, method, async (segments, q, m) => {
        const prefix = `/prop/${n++}/`;
        const target = `${prefix}${segments.join('/')}${q === undefined ? '' : `?${q}`}`;
        const response = await request(`${url}${target}`, { method: m, dispatcher: h.agent(scanner()), headers: { 'x-stella-scan-id': 'scan:p' } });
        await response.body.arrayBuffer();
        assert.equal(response.statusCode, 200, target);
        // The client may send a bare trailing "?" as nothing: what counts is what the service saw.
        const all = h.upstream?.received.filter((r) => r.url.startsWith(prefix)) ?? [];
        assert.equal(all.length, 1, target);
        const received = all[0]!;
        const [member] = parseV2Members(received);
        assert.ok(member, target);
        assert.deepEqual(await verdicts([member], received, [h.v2Key('edge-v2-2026-12')]), [[true, true]], target);
      }),
      { numRuns: 25 },
    );
  });

  it('refuses with 400 a Signature-Input it cannot parse, and forwards nothing', async () => {
    const response = await fetch(`${url}/api/v1/scans?unparsable`, { dispatcher: h.agent(scanner()), headers: { 'x-stella-scan-id': 'scan:7', 'signature-input': 'sig=("@method"' } });
    assert.equal(response.status, 400);
    await response.arrayBuffer();
    assert.ok(!h.upstream?.received.some((r) => r.url === '/api/v1/scans?unparsable'));
  });

  it('refuses with 400 every field its RFC 9651 parser does not accept whole, in either header', async () => {
    const cases: [string, string][] = [
      ['signature-input', 'sig=("@method")x'],
      ['signature-input', 'Sig=()'],
      ['signature-input', 'sig=(), '],
      ['signature-input', 'sig=("unterminated)'],
      ['signature-input', 'sig=();p=?2'],
      ['signature-input', 'sig=("bad \\q escape")'],
      ['signature-input', 'sig=();n=1234567890123456'],
      ['signature-input', 'sig=();n=1.2345'],
      ['signature-input', 'sig=();n=1.'],
      ['signature-input', 'sig=();d=%"bad %ZZ"'],
      ['signature', 'sig=:AAA'],
      ['signature', 'sig=:AA AA:'],
    ];
    for (const [i, [name, value]] of cases.entries()) {
      const response = await fetch(`${url}/api/v1/scans?malformed=${i}`, { dispatcher: h.agent(scanner()), headers: { 'x-stella-scan-id': 'scan:7', [name]: value } });
      assert.equal(response.status, 400, `${name}: ${value}`);
      await response.arrayBuffer();
    }
    assert.ok(!h.upstream?.received.some((r) => r.url.startsWith('/api/v1/scans?malformed=')));
  });

  it('passes foreign members of every RFC 9651 form untouched, across several field lines', async () => {
    const foreign = ['a=?1;x=1.5', 'b=tok/en:x;y', 'c=(1 -2.25 "s\\"q" :AAAA: ?0 tok);p="q"', 'e="x,y, z"', 'f=%"caf%c3%a9";g=@1700000000;h=-123456789012345', 'd'];
    // undici's request() sends a flat header list as it is: two Signature-Input lines.
    const response = await request(`${url}/api/v1/scans?foreign`, {
      dispatcher: h.agent(scanner()),
      headers: ['x-stella-scan-id', 'scan:7', 'signature-input', foreign.slice(0, 2).join(', '), 'signature-input', foreign.slice(2).join(',\t')],
    });
    assert.equal(response.statusCode, 200);
    await response.body.arrayBuffer();
    const received = h.received('/api/v1/scans?foreign');
    assert.ok(String(received.headers['signature-input']).startsWith(`${foreign.join(', ')}, stella-1-gw-edge=(`), String(received.headers['signature-input']));
  });

  it('adds no member to a request without X-Stella-Scan-Id (a covered component), and still drops forged ones', async () => {
    const response = await fetch(`${url}/api/v1/scans?no-scan-id`, { dispatcher: h.agent(scanner()), headers: { 'signature-input': 'stella-1-gw-edge=();tag="x"', signature: 'stella-1-gw-edge=:AAAA:' } });
    assert.equal(response.status, 200);
    await response.arrayBuffer();
    const request = h.received('/api/v1/scans?no-scan-id');
    assert.equal(request.headers['signature-input'], undefined);
    assert.equal(request.headers.signature, undefined);
  });

  it('refuses the TLS handshake without a client certificate, so nothing is stamped', async () => {
    await assert.rejects(fetch(`${url}/api/v1/scans?anonymous`, { dispatcher: h.agent(null), headers: { 'x-stella-scan-id': 'scan:7' } }));
    assert.ok(!h.upstream?.received.some((r) => r.url === '/api/v1/scans?anonymous'));
  });
});

describe('two chained HAProxy hops stamping provenance v2 (ECDSA, then HMAC)', () => {
  const h = new Harness();
  let edgeUrl = '';
  let internalUrl = '';

  before(async () => {
    const { edge: edgePort, internal: internalPort, service: servicePort } = await portsFor('edge', 'internal', 'service');
    const doc = exampleDocument();
    const [edge, , internal] = doc.hops;
    if (!edge || !internal || edge.stamp === false || internal.stamp === false) throw new Error('the example has a stamping edge and internal hop');
    doc.hops = [
      { ...edge, kind: 'haproxy', listen: `127.0.0.1:${edgePort}`, next: 'gw-internal', stamp: { via: 'native', profile: 'v2', signing: EDGE_V2 } },
      { ...internal, listen: `127.0.0.1:${internalPort}`, stamp: { via: 'native', profile: 'v2', signing: INTERNAL_V2 } },
    ];
    doc.services = doc.services.map((s) => ({ ...s, listen: `127.0.0.1:${servicePort}` }));
    await h.start(doc, servicePort);
    edgeUrl = `https://127.0.0.1:${edgePort}`;
    internalUrl = `https://127.0.0.1:${internalPort}`;
  });
  after(() => h.stop());

  const keys = (): V2TestKey[] => [h.v2Key('edge-v2-2026-12'), h.v2Key('internal-v2-2026-12')];

  it('seq 2 covers the signature of seq 1, and each label verifies on its own with both verifiers', async () => {
    const response = await fetch(`${edgeUrl}/api/v1/scans/chain?x=1`, { dispatcher: h.agent(h.deployment.topology.scanners[0]!.tls), headers: { 'x-stella-scan-id': 'scan:chain' } });
    assert.equal(response.status, 200, await response.text());
    const request = h.received('/api/v1/scans/chain?x=1');
    assert.equal(request.headers['x-stella-provenance'], undefined, 'profile v2 stamps no v1 record');
    const members = parseV2Members(request);
    assert.deepEqual(members.map((m) => m.label), ['stella-1-gw-edge', 'stella-2-gw-internal']);
    const second = members[1]!;
    assert.deepEqual(second.covered, [...COVERED_SEQ1, '"signature";key="stella-1-gw-edge"']);
    assert.equal(second.params.alg, 'hmac-sha256');
    assert.equal(second.params['peer-id'], 'gw-edge');
    assert.equal(second.params.peer, `sha256:${certificateFingerprint(h.deployment.topology.hops[0]!.upstreamTls.cert)}`);
    assert.equal(second.signature.length, 32);
    assert.deepEqual(await verdicts(members, request, keys()), [[true, true], [true, true]]);

    // One changed bit in seq 1's signature breaks seq 1 and, through the chain, seq 2.
    const bad = String(request.headers.signature).replace(/stella-1-gw-edge=:(.)/, (_, c: string) => `stella-1-gw-edge=:${c === 'A' ? 'B' : 'A'}`);
    const changed = { ...request, headers: { ...request.headers, signature: bad } };
    assert.deepEqual(await verdicts(parseV2Members(changed), changed, keys()), [[false, false], [false, false]]);
  });

  it('a later hop adds no member when the previous hop\'s is missing, and keeps what arrived', async () => {
    const fromEdge = h.agent(h.deployment.topology.hops[0]!.upstreamTls, 'localhost');
    const response = await fetch(`${internalUrl}/api/v1/scans?unchained`, { dispatcher: fromEdge, headers: { 'x-stella-scan-id': 'scan:u', 'signature-input': 'other=();tag="x"', signature: 'other=:AAAA:' } });
    assert.equal(response.status, 200);
    await response.arrayBuffer();
    const request = h.received('/api/v1/scans?unchained');
    assert.equal(request.headers['signature-input'], 'other=();tag="x"');
    assert.equal(request.headers.signature, 'other=:AAAA:');
  });

  it('a later hop refuses with 400 a request that already carries its own label', async () => {
    const fromEdge = h.agent(h.deployment.topology.hops[0]!.upstreamTls, 'localhost');
    const response = await fetch(`${internalUrl}/api/v1/scans?own-label`, {
      dispatcher: fromEdge,
      headers: { 'x-stella-scan-id': 'scan:u', 'signature-input': 'stella-1-gw-edge=(), stella-2-gw-internal=()', signature: 'stella-1-gw-edge=:AAAA:, stella-2-gw-internal=:AAAA:' },
    });
    assert.equal(response.status, 400);
    await response.arrayBuffer();
    assert.ok(!h.upstream?.received.some((r) => r.url === '/api/v1/scans?own-label'));
  });
});

describe('an HAProxy edge, the Apache+ModSecurity+CRS WAF (opaque) and an HAProxy hop, stamping provenance v2', () => {
  const h = new Harness();
  let edgeUrl = '';

  before(async () => {
    const { edge: edgePort, waf: wafPort, internal: internalPort, service: servicePort } = await portsFor('edge', 'waf', 'internal', 'service');
    const doc = exampleDocument();
    const [edge, waf, internal] = doc.hops;
    if (!edge || !waf || !internal || edge.stamp === false) throw new Error('the example has edge, WAF and internal hop');
    doc.hops = [
      { ...edge, kind: 'haproxy', listen: `127.0.0.1:${edgePort}`, stamp: { ...edge.stamp, profile: 'both', signing: EDGE_V2 } },
      { ...waf, listen: `127.0.0.1:${wafPort}` },
      { ...internal, listen: `127.0.0.1:${internalPort}`, stamp: { via: 'native', profile: 'v2', signing: { ...EDGE_V2!, keys: [{ kid: 'internal-v2-ecdsa', file: './keys/gw-internal.v2.pem', publicFile: './keys/gw-internal.v2.pub.pem' }] } } },
    ];
    doc.services = doc.services.map((s) => ({ ...s, listen: `127.0.0.1:${servicePort}` }));
    await h.start(doc, servicePort);
    edgeUrl = `https://127.0.0.1:${edgePort}`;
  });
  after(() => h.stop());

  it('the WAF passes both members untouched; seq 2 (behind the opaque WAF) covers seq 1 and names the WAF as its peer', async () => {
    const body = JSON.stringify({ scan: 'chain', items: [1, 2, 3] });
    const digest = `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
    const response = await fetch(`${edgeUrl}/api/v1/evidence?via=waf`, {
      method: 'POST',
      body,
      dispatcher: h.agent(h.deployment.topology.scanners[0]!.tls),
      headers: { 'content-type': 'application/json', 'x-stella-scan-id': 'scan:waf', 'content-digest': digest },
    });
    assert.equal(response.status, 200, await response.text());
    const request = h.received('/api/v1/evidence?via=waf');
    assert.equal(request.body, body);
    const members = parseV2Members(request);
    assert.deepEqual(members.map((m) => m.label), ['stella-1-gw-edge', 'stella-2-gw-internal']);
    assert.deepEqual(members[1]!.covered, ['"@method"', '"@path"', '"@query"', '"content-digest"', '"x-stella-scan-id"', '"signature";key="stella-1-gw-edge"']);
    assert.equal(members[1]!.params['peer-id'], 'waf');
    const keys = [h.v2Key('edge-v2-2026-12'), h.v2Key('internal-v2-ecdsa')];
    assert.deepEqual(await verdicts(members, request, keys), [[true, true], [true, true]]);
    assert.equal(parseProvenance(String(request.headers['x-stella-provenance'])).length, 1, 'the edge also stamped its v1 record (profile both)');
  });
});
