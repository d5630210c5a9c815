import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { exportRecord, parseExportedRecords } from '../../src/evidence/export.js';
import { hopMacProblems, type RecordedHop, type RecordedRequest } from '../../src/evidence/hop-macs.js';
import { stampRecord } from '../../src/provenance/chain.js';
import { macToBase64 } from '../../src/provenance/codec.js';
import type { HopKeyring } from '../../src/provenance/keys.js';
import type { HopRecord } from '../../src/provenance/record.js';

const edgeKey = randomBytes(32);
const internalKey = randomBytes(32);
const keys: HopKeyring = new Map([
  ['gw-edge', new Map([['edge-1', edgeKey]])],
  ['gw-internal', new Map([['internal-1', internalKey]])],
]);
const request: RecordedRequest = { method: 'POST', pathAndQuery: '/api/v1/evidence?a=%20b', contentDigest: 'sha-256=:AAAA:' };
const scanId = 'scan-audit';

/** A two-record chain as the locker stores it: each record's fields and its MAC in base64. */
function storedChain(): RecordedHop[] {
  const facts = { ...request, scanId };
  const first = stampRecord({ hop: 'gw-edge', seq: 1, ts: 1795891200, nonce: 'a1b2c3d4e5f60718', peer: `sha256:${'ab'.repeat(32)}`, peerId: 'scanner-01', kid: 'edge-1', key: edgeKey, request: facts, previous: null });
  const second = stampRecord({ hop: 'gw-internal', seq: 2, ts: 1795891201, nonce: '0718a1b2c3d4e5f6', peer: `sha256:${'cd'.repeat(32)}`, peerId: 'gw-edge', kid: 'internal-1', key: internalKey, request: facts, previous: first });
  const stored = (r: HopRecord): RecordedHop => ({ id: r.hop, seq: r.seq, ts: r.ts, nonce: r.nonce, peer: r.peer, peerId: r.peerId, kid: r.kid, mac: macToBase64(r.mac) });
  return [stored(first), stored(second)];
}

describe('hopMacProblems (offline recomputation of a stored chain)', () => {
  it('finds none for the chain as stored, with the hop keys', () => {
    assert.deepEqual(hopMacProblems({ scanId, hops: storedChain(), request }, keys), []);
  });

  it('names the hop whose MAC no longer fits a changed request fact, and every hop after a changed chain field', () => {
    assert.deepEqual(hopMacProblems({ scanId, hops: storedChain(), request: { ...request, pathAndQuery: '/api/v1/evidence' } }, keys), [
      'hop gw-edge: MAC does not verify with key "edge-1"',
      'hop gw-internal: MAC does not verify with key "internal-1"',
    ]);
    assert.deepEqual(hopMacProblems({ scanId: 'scan-other', hops: storedChain(), request }, keys).length, 2);
    const hops = storedChain();
    const forged = [hops[0]!, { ...hops[1]!, ts: hops[1]!.ts + 1 }];
    assert.deepEqual(hopMacProblems({ scanId, hops: forged, request }, keys), ['hop gw-internal: MAC does not verify with key "internal-1"']);
  });

  it('refuses a key it was not given, a MAC that is not base64, and a method outside the MAC grammar', () => {
    assert.deepEqual(hopMacProblems({ scanId, hops: storedChain(), request }, new Map([['gw-edge', new Map([['edge-1', edgeKey]])]])), ['hop gw-internal: no key "internal-1" was given']);
    const hops = storedChain();
    assert.deepEqual(hopMacProblems({ scanId, hops: [{ ...hops[0]!, mac: 'not base64!' }, hops[1]!], request }, keys)[0], 'hop gw-edge: the stored MAC is not base64');
    assert.match(hopMacProblems({ scanId, hops: storedChain(), request: { ...request, method: 'M-SEARCH' } }, keys)[0]!, /^hop gw-edge: macInput: method "M-SEARCH"/);
  });

  it('says a record stored before MACs and request facts were kept cannot be checked', () => {
    const withoutMacs = storedChain().map(({ mac: _mac, ...rest }) => rest);
    assert.deepEqual(hopMacProblems({ scanId, hops: storedChain() }, keys), ['the record holds no request facts (stored before they were kept), so its MACs cannot be recomputed']);
    assert.deepEqual(hopMacProblems({ scanId, hops: withoutMacs, request }, keys), ['hop gw-edge: no MAC stored']);
  });

  it('recomputes from an export: evidence export writes the MACs and the request facts, and reads them back', () => {
    const envelope = Buffer.from('{"payloadType":"x","payload":"","signatures":[]}');
    const exported = exportRecord({
      sha256: 'ab'.repeat(32),
      scanId,
      scannerId: 'scanner-01',
      serviceId: 'evidence-locker',
      payloadType: 'application/vnd.in-toto+json',
      receivedAt: '2026-12-07T00:00:00.000Z',
      envelope,
      hops: storedChain(),
      request,
      receipt: '{"payloadType":"x","payload":"","signatures":[]}',
    });
    assert.ok(exported.hops.every((h) => typeof h.mac === 'string' && h.mac.length === 44));
    assert.deepEqual(exported.request, request);
    const [back] = parseExportedRecords(JSON.parse(JSON.stringify(exported)) as unknown);
    assert.ok(back);
    assert.deepEqual(hopMacProblems(back.record, keys), []);
    assert.throws(() => parseExportedRecords({ ...exported, request: { method: 1 } }), { code: 'evidence-mismatch' });
  });
});
