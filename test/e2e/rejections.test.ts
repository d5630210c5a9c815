/**
 * docs/provenance.md, docs/faults.md: forged, bypassing, replayed, reordered, tampered and missing provenance is
 * rejected by the locker with the code and status of the problem table, and nothing is stored.
 *
 * Positions on the path come from two recording relays spliced into the real chain (test/support/relay.ts, test/support/chain-splice.ts):
 * one between the WAF and gw-internal (it holds the WAF's client certificate, as a compromised WAF
 * would), one between gw-internal and the locker (it sees exactly what the locker receives).
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { parseProvenanceHeader, serializeProvenanceHeader } from '../../src/provenance/codec.js';
import type { HopRecord } from '../../src/provenance/record.js';
import type { ResolvedHop, ResolvedService } from '../../src/topology/resolve.js';
import { REFERENCE_TOPOLOGY, startChain, type Chain } from '../support/chain.js';
import {
  contentDigest,
  edgePost,
  fingerprintOf,
  problemCode,
  send,
  sha256Hex,
  startWorker,
  storedCount,
  storedEvidence,
  workerEnvelope,
  type Answer,
  type ChainWorker,
} from './support/client.js';
import { spliceAfterWaf, spliceBeforeService } from '../support/chain-splice.js';
import type { Relay, RelayedRequest } from '../support/relay.js';

const LIMITS = { maxHeaderBytes: 8192, maxHops: 8 };

let chain: Chain;
let worker: ChainWorker;
let afterWaf: Relay;
let beforeLocker: Relay;
let service: ResolvedService;
let lastHop: ResolvedHop;
let waf: ResolvedHop;

before(async () => {
  chain = await startChain(REFERENCE_TOPOLOGY);
  afterWaf = await spliceAfterWaf(chain);
  beforeLocker = await spliceBeforeService(chain);
  worker = await startWorker(chain);
  const s = chain.topology.services[0];
  const l = s?.chain.at(-1);
  const w = chain.topology.hops.find((h) => h.id === 'waf');
  if (!s || !l || !w) throw new TypeError('the reference topology changed');
  [service, lastHop, waf] = [s, l, w];
});
after(async () => {
  await worker?.close();
  await chain?.close();
  await afterWaf?.close();
  await beforeLocker?.close();
});

/** A DSSE envelope the worker signs for `scanId`, naming the certificate it presents. */
async function signedEnvelope(scanId: string): Promise<Buffer> {
  return workerEnvelope(chain, worker, scanId);
}

/** POSTs an envelope through the edge as the scanner, with the worker's headers plus `extra`. */
async function postThroughEdge(scanId: string | null, body: Buffer, extra: Record<string, string> = {}): Promise<Answer> {
  return edgePost(chain, '/api/v1/evidence', scanId, body, { headers: extra });
}

/** Sends a recorded request again, byte for byte, with the given client identity. */
async function resend(recorded: RelayedRequest, to: { listen: string; serverName: string }, identity: { chain: string; key: string }): Promise<Answer> {
  const agent = await chain.agentFor({ cert: identity.chain, key: identity.key }, to.serverName);
  return send(agent, `https://${to.listen}${recorded.url}`, { method: recorded.method as 'POST', headers: recorded.headers, body: recorded.body });
}

function lastPost(relay: Relay): RelayedRequest {
  const found = [...relay.forwarded].reverse().find((r) => r.method === 'POST');
  if (!found) throw new Error('the relay forwarded no POST');
  return found;
}

function provenanceOf(request: RelayedRequest): HopRecord[] {
  return parseProvenanceHeader(request.headers['x-stella-provenance'] ?? '', LIMITS);
}

/** Runs `fn` with a rewrite installed on `relay`, removing it afterwards whatever happens. */
async function withRewrite<T>(relay: Relay, rewrite: (r: RelayedRequest) => RelayedRequest, fn: () => Promise<T>): Promise<T> {
  relay.rewrite = rewrite;
  try {
    return await fn();
  } finally {
    relay.rewrite = null;
  }
}

const withProvenance = (r: RelayedRequest, records: HopRecord[]): RelayedRequest => ({
  ...r,
  headers: { ...r.headers, 'x-stella-provenance': serializeProvenanceHeader(records) },
});

describe('forged provenance sent by the client', () => {
  it('is stripped by the edge: the locker receives and stores exactly the two genuine records', async () => {
    const scanId = 'scan-forged-header';
    const forgedNonce = 'f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0';
    const forged = serializeProvenanceHeader([
      { hop: 'gw-edge', seq: 1, ts: Math.floor(Date.now() / 1000), nonce: forgedNonce, peer: `sha256:${'0'.repeat(64)}`, peerId: 'scanner-01', kid: 'edge-2026-11', mac: new Uint8Array(32) },
    ]);
    const body = await signedEnvelope(scanId);
    const answer = await postThroughEdge(scanId, body, { 'x-stella-provenance': forged, 'client-cert': `:${randomBytes(64).toString('base64')}:` });
    assert.equal(answer.status, 201, answer.text);

    const received = provenanceOf(lastPost(beforeLocker));
    assert.deepEqual(received.map((r) => [r.hop, r.seq]), [['gw-edge', 1], ['gw-internal', 2]]);
    assert.ok(!lastPost(beforeLocker).headers['x-stella-provenance']?.includes(forgedNonce), 'the forged record never reaches the locker');

    const stored = await storedEvidence(chain, sha256Hex(body), scanId);
    assert.equal(stored.hops.length, 2);
    assert.ok(stored.hops.every((h) => h.nonce !== forgedNonce));
    assert.equal(stored.hops[0]?.peer, await fingerprintOf(chain.scanner().tls.cert), 'hop 1 names the certificate the edge verified, not the forged Client-Cert');
  });
});

describe('a request that bypasses the chain', () => {
  it("is refused with 403 untrusted-peer when sent straight to the locker with the scanner's certificate", async () => {
    const scanId = 'scan-bypass-scanner';
    const body = await signedEnvelope(scanId);
    const agent = await chain.agentFor({ cert: chain.scanner().tls.chain, key: chain.scanner().tls.key }, service.serverName);
    const answer = await send(agent, `https://${service.listen}/api/v1/evidence`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-digest': contentDigest(body), 'x-stella-scan-id': scanId },
      body,
    });
    assert.equal(answer.status, 403);
    assert.equal(problemCode(answer), 'untrusted-peer');
    assert.equal(await storedCount(chain, scanId), 0);
  });

  it("is refused with 403 untrusted-peer when it skips gw-internal with the WAF's certificate", async () => {
    const scanId = 'scan-bypass-waf';
    const body = await signedEnvelope(scanId);
    const agent = await chain.agentFor({ cert: waf.upstreamTls.chain, key: waf.upstreamTls.key }, service.serverName);
    const answer = await send(agent, `https://${service.listen}/api/v1/evidence`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-digest': contentDigest(body), 'x-stella-scan-id': scanId },
      body,
    });
    assert.equal(answer.status, 403);
    assert.equal(problemCode(answer), 'untrusted-peer');
    assert.equal(await storedCount(chain, scanId), 0);
  });
});

describe('a replayed request', () => {
  let original: RelayedRequest;
  let beforeInternal: RelayedRequest;
  const scanId = 'scan-replayed';

  before(async () => {
    const [result] = await worker.submit(scanId, { 'sbom.json': `{"replay":"${randomBytes(8).toString('hex')}"}` });
    if (result?.state !== 'delivered') throw new Error(`the original delivery failed: ${JSON.stringify(result)}\n${chain.logTails()}`);
    original = lastPost(beforeLocker);
    beforeInternal = lastPost(afterWaf);
  });

  it('is refused with 409 provenance-replayed when the exact request the locker received is sent again with the last hop’s certificate', async () => {
    assert.equal(provenanceOf(original).length, 2);
    const answer = await resend(original, service, lastHop.upstreamTls);
    assert.equal(answer.status, 409, answer.text);
    assert.equal(problemCode(answer), 'provenance-replayed');
    assert.equal(await storedCount(chain, scanId), 1);
  });

  it('is refused with 409 provenance-replayed when replayed through gw-internal, which stamps it afresh', async () => {
    const answer = await resend(beforeInternal, lastHop, waf.upstreamTls);
    assert.equal(answer.status, 409, answer.text);
    assert.equal(problemCode(answer), 'provenance-replayed');
    const restamped = provenanceOf(lastPost(beforeLocker));
    assert.equal(restamped[0]?.nonce, provenanceOf(original)[0]?.nonce, 'the replay carries the first nonce again');
    assert.notEqual(restamped[1]?.nonce, provenanceOf(original)[1]?.nonce, 'gw-internal stamped a new record 2');
    assert.equal(await storedCount(chain, scanId), 1);
  });
});

describe('provenance changed between two hops', () => {
  it('is refused with 401 provenance-tampered when one byte of the edge record’s MAC is flipped, and nothing is stored', async () => {
    const scanId = 'scan-tampered-mac';
    const [result] = await withRewrite(
      afterWaf,
      (r) => {
        const records = parseProvenanceHeader(r.headers['x-stella-provenance'] ?? '', LIMITS);
        const first = records[0];
        if (!first) throw new Error('no record to tamper with');
        const mac = Uint8Array.from(first.mac);
        mac[7] = (mac[7] ?? 0) ^ 0x01;
        return withProvenance(r, [{ ...first, mac }, ...records.slice(1)]);
      },
      () => worker.submit(scanId, { 'sbom.json': '{"tampered":"mac"}' }),
    );
    assert.equal(result?.state, 'rejected');
    assert.equal(result?.status, 401);
    assert.equal(result?.code, 'provenance-tampered');
    assert.equal(await storedCount(chain, scanId), 0);
  });

  it('is refused with 401 provenance-tampered when the scan id is changed after the edge stamped it', async () => {
    const scanId = 'scan-tampered-id';
    const body = await signedEnvelope(scanId);
    const answer = await withRewrite(
      afterWaf,
      (r) => ({ ...r, headers: { ...r.headers, 'x-stella-scan-id': `${scanId}-x` } }),
      () => postThroughEdge(scanId, body),
    );
    assert.equal(answer.status, 401, answer.text);
    assert.equal(problemCode(answer), 'provenance-tampered');
    assert.equal(await storedCount(chain, `${scanId}-x`), 0);
    assert.equal(await storedCount(chain, scanId), 0);
  });

  it('is refused with 403 topology-mismatch when the two records arrive in the wrong order', async () => {
    const scanId = 'scan-reordered';
    const [result] = await withRewrite(
      beforeLocker,
      (r) => {
        if (r.method !== 'POST') return r;
        const records = parseProvenanceHeader(r.headers['x-stella-provenance'] ?? '', LIMITS);
        return withProvenance(r, [...records].reverse());
      },
      () => worker.submit(scanId, { 'sbom.json': '{"reordered":true}' }),
    );
    assert.equal(result?.state, 'rejected');
    assert.equal(result?.status, 403);
    assert.equal(result?.code, 'topology-mismatch');
    assert.equal(await storedCount(chain, scanId), 0);
  });

  it('is refused with 403 topology-mismatch when the edge record is dropped on the way', async () => {
    const scanId = 'scan-dropped-record';
    const [result] = await withRewrite(
      beforeLocker,
      (r) => (r.method === 'POST' ? withProvenance(r, provenanceOf(r).slice(1)) : r),
      () => worker.submit(scanId, { 'sbom.json': '{"dropped":true}' }),
    );
    assert.deepEqual([result?.state, result?.status, result?.code], ['rejected', 403, 'topology-mismatch']);
    assert.equal(await storedCount(chain, scanId), 0);
  });

  it('is refused with 403 topology-mismatch when a rogue hop inserts its own record between the WAF and gw-internal', async () => {
    const scanId = 'scan-inserted-record';
    const [result] = await withRewrite(
      afterWaf,
      (r) => {
        const records = provenanceOf(r);
        const rogue: HopRecord = { ...(records[0] as HopRecord), hop: 'gw-rogue', seq: 2, nonce: randomBytes(16).toString('hex'), peerId: 'waf' };
        return withProvenance(r, [...records, rogue]);
      },
      () => worker.submit(scanId, { 'sbom.json': '{"inserted":true}' }),
    );
    assert.deepEqual([result?.state, result?.status, result?.code], ['rejected', 403, 'topology-mismatch']);
    assert.equal(await storedCount(chain, scanId), 0);
  });

  it('is refused with 422 binding-mismatch when the body is swapped for another signed envelope', async () => {
    const scanId = 'scan-swapped-body';
    const genuine = await signedEnvelope(scanId);
    const other = await signedEnvelope(scanId);
    const answer = await withRewrite(afterWaf, (r) => ({ ...r, body: other }), () => postThroughEdge(scanId, genuine));
    assert.equal(answer.status, 422, answer.text);
    assert.equal(problemCode(answer), 'binding-mismatch');
    assert.equal(await storedCount(chain, scanId), 0);
  });
});

describe('missing provenance', () => {
  it('is refused with 401 provenance-missing when the worker sends no scan id, and nothing is stored', async () => {
    const scanId = 'scan-missing-id';
    const body = await signedEnvelope(scanId);
    const answer = await postThroughEdge(null, body);
    assert.equal(answer.status, 401, answer.text);
    assert.equal(problemCode(answer), 'provenance-missing');
    assert.equal(await storedCount(chain, scanId), 0);
  });
});
