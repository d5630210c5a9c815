import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ProvenanceError, type ProvenanceCode } from '../../../src/provenance/problems.js';
import { MemoryReplayCache } from '../../../src/provenance/replay/memory.js';
import { checkHeaders, checkRequest, type IncomingFacts, type VerifierContext } from '../../../src/provenance/verify.js';
import { chainVersions } from '../../../src/provenance/options.js';
import { stampingHops } from '../../../src/topology/resolve.js';
import { splitDictionary } from '../../../src/provenance/v2/fields.js';
import { stampV2 } from '../../../src/provenance/v2/sign.js';
import { buildV2Request, fixtureV2Key, fixtureV2Keyring, fixtureV2Topology, NOW_MS, NOW_S, SCANNER_CERT, SERVICE, type BuiltV2Request } from '../support/fixture.js';

const topology = fixtureV2Topology();
const service = topology.services.find((s) => s.id === SERVICE)!;
const v2Keys = fixtureV2Keyring(topology);
const PEER = { cn: 'gw-internal', fingerprint: `sha256:${'a'.repeat(64)}`, spiffeId: 'spiffe://stella.local/gateway/gw-internal' };

function context(now = NOW_MS): VerifierContext {
  return { topology, service, keys: new Map(), v2Keys, versions: chainVersions(stampingHops(service), false), replayCache: new MemoryReplayCache({ now: () => now }), now: () => now };
}
function incoming(built: BuiltV2Request, headers: Record<string, string | undefined> = {}, extra: Partial<IncomingFacts> = {}): IncomingFacts {
  return { method: built.method, url: built.url, headers: { ...built.headers, ...headers }, peer: PEER, ...extra };
}
function code(fn: () => unknown): ProvenanceCode | 'accepted' {
  try {
    fn();
    return 'accepted';
  } catch (error) {
    if (error instanceof ProvenanceError) return error.code;
    throw error;
  }
}
/** Rewrites one member of a Dictionary field (by label) with `edit` applied to its raw text. */
function editMember(field: string, label: string, edit: (raw: string) => string): string {
  return splitDictionary(field)
    .map((m) => (m.label === label ? edit(m.raw) : m.raw))
    .join(', ');
}
function members(field: string): string[] {
  return splitDictionary(field).map((m) => m.raw);
}

describe('v2 verification (checkHeaders)', () => {
  it('accepts a chain of Ed25519, ECDSA P-256 and HMAC members and reports each hop', () => {
    const built = buildV2Request(topology);
    const checked = checkHeaders(incoming(built), context());
    assert.deepEqual(checked.hops.map((h) => [h.id, h.seq, h.alg, h.kid, h.peerId, h.ageSeconds]), [
      ['gw-edge', 1, 'ed25519', 'gw-edge-new', 'scanner-01', 2],
      ['gw-mid1', 2, 'ecdsa-p256-sha256', 'gw-mid1-new', 'waf', 2],
      ['gw-internal', 3, 'hmac-sha256', 'gw-internal-new', 'gw-mid1', 2],
    ]);
    assert.equal(checked.first.peer, SCANNER_CERT);
    assert.equal(checked.v2?.signatureInput, built.headers['signature-input']);
    assert.equal(checked.v2?.signature, built.headers.signature);
  });

  it('accepts a body-less GET whose members do not cover content-digest, and @query "?" alone', () => {
    const built = buildV2Request(topology, { method: 'GET', url: '/api/v1/evidence', body: null });
    assert.ok(!built.headers['signature-input']!.includes('content-digest'));
    assert.equal(checkHeaders(incoming(built), context()).hops.length, 3);
  });

  it('accepts members of other signatures around ours, and a key rolled over (old kid still listed)', () => {
    const built = buildV2Request(topology, { kid: (hop) => (hop === 'gw-mid1' ? 'gw-mid1-old' : `${hop}-new`) });
    const foreign = 'sig1=("@method");created=1;nonce="a,b=c"';
    const checked = checkHeaders(incoming(built, { 'signature-input': `${foreign}, ${built.headers['signature-input']}`, signature: `sig1=:AAAA:, ${built.headers.signature}` }), context());
    assert.equal(checked.hops[1]!.kid, 'gw-mid1-old');
  });

  it("refuses a member signed with another hop's key (a compromised hop forging the edge's member)", () => {
    // gw-mid1 holds only its own ECDSA key; it signs the edge's label with it, naming its own kid.
    const forged = buildV2Request(topology, { keyOwner: (hop) => (hop === 'gw-edge' ? 'gw-mid1' : hop) });
    assert.match(forged.headers['signature-input']!, /stella-1-gw-edge=\([^)]*\);.*keyid="gw-mid1-new"/);
    assert.equal(code(() => checkHeaders(incoming(forged), context())), 'provenance-tampered');
  });

  /** A hex digit other than `c`: a mutation that always changes the value (a fixed 'f' left one nonce in 16 untouched). */
  const otherHex = (c: string): string => (c === 'f' ? '0' : 'f');

  describe('the tamper matrix: the v1 codes in the v1 order', () => {
    const built = buildV2Request(topology);
    const input = built.headers['signature-input']!;
    const sig = built.headers.signature!;
    const cases: [string, () => IncomingFacts, ProvenanceCode][] = [
      ['another method', () => incoming(built, {}, { method: 'PUT' }), 'provenance-tampered'],
      ['another path', () => incoming(built, {}, { url: '/api/v1/evidencf?x=1' }), 'provenance-tampered'],
      ['another query', () => incoming(built, {}, { url: '/api/v1/evidence?x=2' }), 'provenance-tampered'],
      ['no query', () => incoming(built, {}, { url: '/api/v1/evidence' }), 'provenance-tampered'],
      ['another Content-Digest', () => incoming(built, { 'content-digest': 'sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:' }), 'provenance-tampered'],
      ['Content-Digest removed', () => incoming(built, { 'content-digest': undefined }), 'provenance-tampered'],
      ['another scan id', () => incoming(built, { 'x-stella-scan-id': 'scan-0002' }), 'provenance-tampered'],
      ['created changed', () => incoming(built, { 'signature-input': input.replace(/created=(\d+)/, (_, n: string) => `created=${Number(n) - 1}`) }), 'provenance-tampered'],
      ['nonce changed', () => incoming(built, { 'signature-input': input.replace(/nonce="([0-9a-f])/, (_, c: string) => `nonce="${otherHex(c)}`) }), 'provenance-tampered'],
      ['keyid of another listed key', () => incoming(built, { 'signature-input': input.replace('keyid="gw-edge-new"', 'keyid="gw-edge-old"') }), 'provenance-tampered'],
      ['unknown keyid', () => incoming(built, { 'signature-input': input.replace('keyid="gw-edge-new"', 'keyid="gw-edge-nope"') }), 'provenance-tampered'],
      ['alg of another profile algorithm (same length)', () => incoming(built, { 'signature-input': input.replace('alg="ed25519"', 'alg="ecdsa-p256-sha256"') }), 'provenance-tampered'],
      ['alg not of the profile', () => incoming(built, { 'signature-input': input.replace('alg="ed25519"', 'alg="rsa-pss-sha512"') }), 'provenance-malformed'],
      ['tag changed', () => incoming(built, { 'signature-input': input.replace(/tag="stella-provenance-v2"/, 'tag="stella-provenance-v3"') }), 'provenance-malformed'],
      ['peer changed', () => incoming(built, { 'signature-input': input.replace(/peer="sha256:([0-9a-f])/, (_, c: string) => `peer="sha256:${otherHex(c)}`) }), 'provenance-tampered'],
      ['peer-id of another scanner', () => incoming(built, { 'signature-input': input.replace('peer-id="scanner-01"', 'peer-id="scanner-02"') }), 'topology-mismatch'],
      ['a parameter added', () => incoming(built, { 'signature-input': input.replace(';peer-id="scanner-01"', ';peer-id="scanner-01";expires=1') }), 'provenance-malformed'],
      ['a parameter dropped', () => incoming(built, { 'signature-input': input.replace(/;nonce="[0-9a-f]+"/, '') }), 'provenance-malformed'],
      ['parameters reordered', () => incoming(built, { 'signature-input': input.replace(/;(keyid="[^"]+");(alg="[^"]+")/, ';$2;$1') }), 'provenance-malformed'],
      ['a duplicated parameter', () => incoming(built, { 'signature-input': input.replace('alg="ed25519"', 'alg="ecdsa-p256-sha256";alg="ed25519"') }), 'provenance-malformed'],
      ['a component dropped', () => incoming(built, { 'signature-input': input.replace('"@query" ', '') }), 'provenance-malformed'],
      ['components reordered', () => incoming(built, { 'signature-input': input.replace('"@path" "@query"', '"@query" "@path"') }), 'provenance-malformed'],
      ['a component added', () => incoming(built, { 'signature-input': input.replace('"x-stella-scan-id"', '"x-stella-scan-id" "content-type"') }), 'provenance-malformed'],
      ['the signature bytes changed', () => incoming(built, { signature: editMember(sig, 'stella-3-gw-internal', (raw) => raw.replace(/=:./, (m) => `=:${m[2] === 'A' ? 'B' : 'A'}`)) }), 'provenance-tampered'],
      ['a signature of the wrong length', () => incoming(built, { signature: editMember(sig, 'stella-1-gw-edge', () => 'stella-1-gw-edge=:AAAA:') }), 'provenance-malformed'],
      ['a member dropped (the middle one)', () => incoming(built, { 'signature-input': [members(input)[0], members(input)[2]].join(', '), signature: [members(sig)[0], members(sig)[2]].join(', ') }), 'topology-mismatch'],
      ['the first member dropped', () => incoming(built, { 'signature-input': members(input).slice(1).join(', '), signature: members(sig).slice(1).join(', ') }), 'topology-mismatch'],
      ['members reordered', () => incoming(built, { 'signature-input': [members(input)[1], members(input)[0], members(input)[2]].join(', '), signature: [members(sig)[1], members(sig)[0], members(sig)[2]].join(', ') }), 'topology-mismatch'],
      ['Signature in another order than Signature-Input', () => incoming(built, { signature: [members(sig)[1], members(sig)[0], members(sig)[2]].join(', ') }), 'provenance-malformed'],
      ['a member duplicated', () => incoming(built, { 'signature-input': `${input}, ${members(input)[2]}`, signature: `${sig}, ${members(sig)[2]}` }), 'provenance-malformed'],
      ['a member duplicated in Signature only', () => incoming(built, { signature: `${sig}, ${members(sig)[0]}` }), 'provenance-malformed'],
      ['a Signature member missing', () => incoming(built, { signature: members(sig).slice(0, 2).join(', ') }), 'provenance-malformed'],
      ['a member inserted', () => {
        const extra = stampV2({ hop: 'gw-mid1', seq: 4, created: NOW_S, nonce: 'e'.repeat(32), peer: SCANNER_CERT, peerId: 'gw-internal', keyid: 'gw-mid1-new', alg: 'ecdsa-p256-sha256', key: fixtureV2Key('gw-mid1', 'gw-mid1-new').signing, request: built.request, previous: { label: 'stella-3-gw-internal', signatureValue: members(sig)[2]!.split('=').slice(1).join('=') } });
        return incoming(built, { 'signature-input': `${input}, ${extra.label}=${extra.signatureParams}`, signature: `${sig}, ${extra.label}=${extra.signatureValue}` });
      }, 'topology-mismatch'],
      ['a label naming another seq', () => incoming(built, { 'signature-input': input.replaceAll('stella-2-gw-mid1', 'stella-5-gw-mid1'), signature: sig.replace('stella-2-gw-mid1=', 'stella-5-gw-mid1=') }), 'topology-mismatch'],
      ['a seq-1 label on a member that covers a previous one', () => incoming(built, { 'signature-input': input.replaceAll('stella-2-gw-mid1', 'stella-1-gw-mid1'), signature: sig.replace('stella-2-gw-mid1=', 'stella-1-gw-mid1=') }), 'provenance-malformed'],
      ['a label that is not stella-<seq>-<hop>', () => incoming(built, { 'signature-input': input.replace('stella-1-gw-edge=', 'stella-x=').replace('key="stella-1-gw-edge"', 'key="stella-x"'), signature: sig.replace('stella-1-gw-edge=', 'stella-x=') }), 'provenance-malformed'],
      ['a member covering another previous label', () => incoming(built, { 'signature-input': input.replace('key="stella-1-gw-edge"', 'key="stella-9-gw-edge"') }), 'topology-mismatch'],
      ['a non-canonical member (extra space inside)', () => incoming(built, { 'signature-input': input.replace('"@method" "@path"', '"@method"  "@path"') }), 'provenance-malformed'],
      ['Signature-Input not a Dictionary', () => incoming(built, { 'signature-input': 'stella-1-gw-edge=(' }), 'provenance-malformed'],
      ['Signature missing', () => incoming(built, { signature: undefined }), 'provenance-missing'],
      ['Signature-Input missing', () => incoming(built, { 'signature-input': undefined }), 'provenance-missing'],
      ['only other signatures', () => incoming(built, { 'signature-input': 'sig1=("@method");created=1', signature: 'sig1=:AAAA:' }), 'provenance-missing'],
      ['the wrong TLS peer (first)', () => incoming(built, { 'signature-input': 'garbage(' }, { peer: { ...PEER, cn: 'gw-mid1' } }), 'untrusted-peer'],
    ];
    for (const [name, facts, expected] of cases) {
      it(`${name} → ${expected}`, () => assert.equal(code(() => checkHeaders(facts(), context())), expected));
    }
  });

  it('checks signatures before the clock: a stale forged chain is tampered, a stale genuine one stale', () => {
    const stale = buildV2Request(topology, { createdS: NOW_S - 1000 });
    assert.equal(code(() => checkHeaders(incoming(stale), context())), 'provenance-stale');
    assert.equal(code(() => checkHeaders(incoming(stale, { 'x-stella-scan-id': 'scan-x' }), context())), 'provenance-tampered');
    const future = buildV2Request(topology, { createdS: NOW_S + 31 });
    assert.equal(code(() => checkHeaders(incoming(future), context())), 'provenance-stale');
  });

  it('refuses a hop key of the wrong algorithm even when the signature verifies under it', () => {
    // gw-internal signs hmac-sha256; a keyring that believes it signs ed25519 must refuse.
    const built = buildV2Request(topology);
    const wrong = new Map(v2Keys);
    wrong.set('gw-internal', { alg: 'ed25519', keys: v2Keys.get('gw-internal')!.keys });
    assert.equal(code(() => checkHeaders(incoming(built), { ...context(), v2Keys: wrong })), 'provenance-tampered');
  });

  it('remembers the first member\'s nonce: a replay is 409, a refused binding releases it', async () => {
    const ctx = context();
    const built = buildV2Request(topology, { nonce: 'c'.repeat(32) });
    const first = await checkRequest(checkHeaders(incoming(built), ctx), { body: built.body, envelope: null }, ctx);
    assert.equal(first.v2?.signature, built.headers.signature);
    await assert.rejects(checkRequest(checkHeaders(incoming(built), ctx), { body: built.body, envelope: null }, ctx), (e: unknown) => e instanceof ProvenanceError && e.code === 'provenance-replayed' && e.status === 409);
    const other = buildV2Request(topology, { nonce: 'd'.repeat(32) });
    await assert.rejects(checkRequest(checkHeaders(incoming(other), ctx), { body: Buffer.from('{"hello":"WORLD"}'), envelope: null }, ctx), (e: unknown) => e instanceof ProvenanceError && e.code === 'binding-mismatch' && e.status === 422);
    await checkRequest(checkHeaders(incoming(other), ctx), { body: other.body, envelope: null }, ctx);
  });

  it('refuses a body without Content-Digest as binding-mismatch, as v1 does', async () => {
    const ctx = context();
    const built = buildV2Request(topology, { body: null });
    await assert.rejects(checkRequest(checkHeaders(incoming(built), ctx), { body: Buffer.from('x'), envelope: null }, ctx), (e: unknown) => e instanceof ProvenanceError && e.code === 'binding-mismatch');
  });
});

describe('choosing the version', () => {
  it('a v1-capable chain (profile both) checks v2 when the request carries it, v1 otherwise; require v2 refuses v1-only', () => {
    const both = fixtureV2Topology('both');
    const svc = both.services[0]!;
    const ctx: VerifierContext = { topology: both, service: svc, keys: new Map(), v2Keys: fixtureV2Keyring(both), versions: chainVersions(stampingHops(svc), false), replayCache: new MemoryReplayCache(), now: () => NOW_MS };
    const built = buildV2Request(both);
    assert.equal(checkHeaders(incoming(built), ctx).v2 !== undefined, true);
    // Without v2 fields the v1 header is what is read (and here it is missing).
    assert.equal(code(() => checkHeaders(incoming(built, { 'signature-input': undefined, signature: undefined }), ctx)), 'provenance-missing');
    const required = fixtureV2Topology('both', true);
    const rsvc = required.services[0]!;
    const versions = chainVersions(stampingHops(rsvc), true);
    assert.deepEqual(versions, { v1: false, v2: true, requireV2: true });
    const rctx: VerifierContext = { ...ctx, topology: required, service: rsvc, versions };
    assert.equal(code(() => checkHeaders(incoming(built, { 'signature-input': undefined, signature: undefined, 'x-stella-provenance': 'gw-edge;seq=1' }), rctx)), 'provenance-missing');
  });

  it('require v2 on a chain with a v1-only hop is refused at start', () => {
    const v1 = fixtureV2Topology('both');
    const hops = stampingHops(v1.services[0]!).map((h, i) => (i === 1 && h.stamp !== false ? { ...h, stamp: { ...h.stamp, profile: 'v1' as const } } : h));
    assert.throws(() => chainVersions(hops, true), /require v2/);
    assert.deepEqual(chainVersions(hops, false), { v1: true, v2: false, requireV2: false });
  });
});

describe('v2 verification under random tampering (property)', () => {
  const built = buildV2Request(topology);
  const fields = ['signature-input', 'signature', 'x-stella-scan-id', 'content-digest'] as const;
  it('refuses every single-character change of either field, the scan id or the digest with a provenance code, never a crash or an acceptance', () => {
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.nat(), fc.integer({ min: 0x20, max: 0x7e }), (field, at, code) => {
        const original = built.headers[field]!;
        const index = at % original.length;
        const changed = original.slice(0, index) + String.fromCharCode(code) + original.slice(index + 1);
        fc.pre(changed !== original);
        const outcome = (() => {
          try {
            checkHeaders(incoming(built, { [field]: changed }), context());
            return 'accepted';
          } catch (error) {
            if (error instanceof ProvenanceError) return error.code;
            throw error;
          }
        })();
        assert.notEqual(outcome, 'accepted', `${field}[${index}] → ${JSON.stringify(String.fromCharCode(code))}`);
      }),
      { numRuns: 1500 },
    );
  });
});
