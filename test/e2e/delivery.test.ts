/**
 * docs/faults.md: a scanner worker behind NGINX delivers HMAC-signed DSSE envelopes to the Evidence
 * Locker through the reference chain (worker → NGINX → Apache+ModSecurity → HAProxy → locker);
 * the gateways inject provenance, the locker validates it, stores the envelope with its hop chain
 * and returns a receipt that verifies; the envelope's signature survives the chain.
 */
import { before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import type { SubmitResult } from '../../src/scanner/submit.js';
import { REFERENCE_TOPOLOGY, type Chain } from '../support/chain.js';
import { checkEnvelopeSignature, checkReceipt, edgeGet, edgePost, fingerprintOf, sha256Hex, storedEvidence, useChain, type ChainWorker, type StoredEvidence } from './support/client.js';

const SCAN_ID = 'scan-e2e-delivery.001';
const SBOM = JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.5', version: 1, components: [{ name: 'openssl', version: '3.0.15' }] });
const FINDINGS = JSON.stringify({ findings: [{ id: 'CVE-2024-0001', severity: 'high' }] });

let chain: Chain;
let worker: ChainWorker;

// One chain for the file: every test uses its own scan id, so they do not interfere.
useChain(REFERENCE_TOPOLOGY, (c, w) => {
  chain = c;
  worker = w;
});

describe('delivery through the reference chain (NGINX → Apache WAF → HAProxy → Evidence Locker)', () => {
  let results: SubmitResult[];
  let sbom: StoredEvidence;

  before(async () => {
    results = await worker.submit(SCAN_ID, { 'sbom.json': SBOM, 'findings.json': FINDINGS });
    const first = results[0];
    if (first?.state !== 'delivered' || !first.envelopeSha256) throw new Error(`the first delivery failed: ${JSON.stringify(first)}\n${chain.logTails()}`);
    sbom = await storedEvidence(chain, first.envelopeSha256, SCAN_ID);
  });
  it('delivers every artifact on the first attempt and gets 201 with a receipt', () => {
    assert.deepEqual(
      results.map((r) => [r.name, r.state, r.status, r.attempts, r.code]),
      [
        ['sbom.json', 'delivered', 201, 1, null],
        ['findings.json', 'delivered', 201, 1, null],
      ],
    );
    for (const r of results) assert.match(r.receiptSha256 ?? '', /^[0-9a-f]{64}$/);
  });

  it('stores the exact envelope bytes the worker signed, under their SHA-256', async () => {
    const item = worker.outbox.get(results[0]?.itemId ?? -1);
    assert.ok(item?.envelope, 'the outbox keeps the signed envelope');
    assert.equal(sbom.sha256, sha256Hex(item.envelope));
    assert.deepEqual(sbom.envelope, JSON.parse(item.envelope.toString('utf8')));
    assert.equal(sbom.scanId, SCAN_ID);
  });

  it("still verifies the stored envelope with the scanner's HMAC key after the multi-hop chain", async () => {
    const checked = await checkEnvelopeSignature(chain, sbom.envelope);
    assert.deepEqual(checked.acceptedKeyids, ['scanner-01-hmac']);
    assert.equal(checked.subjectSha256, sha256Hex(SBOM));
    assert.equal(checked.intent.scanId, SCAN_ID);
    assert.equal(checked.intent.edgeHop, 'gw-edge');
    assert.equal(checked.intent.clientCertSha256, await fingerprintOf(chain.scanner().tls.cert));
  });

  it("verifies the stored receipt with the locker's public receipt key, and it is the one the worker kept", async () => {
    const verified = await checkReceipt(chain, sbom.receipt, sbom.sha256);
    assert.equal(verified.envelopeSha256, sbom.sha256);
    assert.equal(verified.predicate.scanId, SCAN_ID);
    assert.equal(verified.predicate.service, 'evidence-locker');
    assert.equal(verified.predicate.verification.envelope.result, 'verified');
    const kept = worker.outbox.get(results[0]?.itemId ?? -1)?.receipt;
    assert.deepEqual(JSON.parse(kept ?? 'null'), sbom.receipt);
  });

  it('refuses to verify the receipt for another envelope (receipt-subject-mismatch)', async () => {
    const other = results[1]?.envelopeSha256 ?? '';
    await assert.rejects(checkReceipt(chain, sbom.receipt, other), (error: unknown) => (error as { code?: string }).code === 'receipt-subject-mismatch');
  });

  it('lists both artifacts of the scan through the edge', async () => {
    const answer = await edgeGet(chain, `/api/v1/scans/${SCAN_ID}/evidence`, SCAN_ID);
    assert.equal(answer.status, 200);
    const listed = (answer.json as { evidence: Array<{ sha256: string }> }).evidence.map((e) => e.sha256).sort();
    assert.deepEqual(listed, results.map((r) => r.envelopeSha256).sort());
  });

  it('answers the same envelope again with 200 and the original receipt, without a second record', async () => {
    const item = worker.outbox.get(results[0]?.itemId ?? -1);
    assert.ok(item?.envelope);
    const answer = await edgePost(chain, '/api/v1/evidence', SCAN_ID, Buffer.from(item.envelope));
    assert.equal(answer.status, 200);
    assert.deepEqual((answer.json as { receipt: unknown }).receipt, sbom.receipt);
    const list = await edgeGet(chain, `/api/v1/scans/${SCAN_ID}/evidence`, SCAN_ID);
    assert.equal((list.json as { evidence: unknown[] }).evidence.length, 2);
  });
});

describe('provenance injected by the gateways and validated by the locker', () => {
  let stored: StoredEvidence;
  let sentAtSeconds: number;

  before(async () => {
    sentAtSeconds = Math.floor(Date.now() / 1000);
    const [result] = await worker.submit('scan-e2e-provenance', { 'sbom.json': SBOM });
    if (result?.state !== 'delivered' || !result.envelopeSha256) throw new Error(`delivery failed: ${JSON.stringify(result)}\n${chain.logTails()}`);
    stored = await storedEvidence(chain, result.envelopeSha256, 'scan-e2e-provenance');
  });
  it('records gw-edge (seq 1) then gw-internal (seq 2), and nothing for the opaque WAF', () => {
    assert.deepEqual(
      stored.hops.map((h) => [h.id, h.seq]),
      [
        ['gw-edge', 1],
        ['gw-internal', 2],
      ],
    );
  });

  it("names the scanner at the edge: peer = SHA-256 of the scanner's certificate, peer-id scanner-01, the edge's kid", async () => {
    const edge = stored.hops[0];
    assert.equal(edge?.peer, await fingerprintOf(chain.scanner().tls.cert));
    assert.equal(edge?.peerId, 'scanner-01');
    assert.equal(edge?.kid, 'edge-2026-11');
  });

  it("names the opaque WAF at gw-internal: peer = SHA-256 of the WAF's client certificate, peer-id waf, the internal kid", async () => {
    const waf = chain.topology.hops.find((h) => h.id === 'waf');
    assert.ok(waf);
    const internal = stored.hops[1];
    assert.equal(internal?.peer, await fingerprintOf(waf.upstreamTls.cert));
    assert.equal(internal?.peerId, 'waf');
    assert.equal(internal?.kid, 'internal-2026-11');
  });

  it('stamps fresh nonces and current, non-decreasing times', () => {
    const [edge, internal] = stored.hops;
    assert.ok(edge && internal);
    assert.notEqual(edge.nonce, internal.nonce);
    for (const h of stored.hops) assert.match(h.nonce, /^[0-9a-f]{16,64}$/);
    assert.ok(edge.ts >= sentAtSeconds - 1 && edge.ts <= sentAtSeconds + 30, `edge ts ${edge.ts} vs sent ${sentAtSeconds}`);
    assert.ok(internal.ts >= edge.ts);
  });

  it('binds hop 1 to the certificate named in the signed traversal intent', async () => {
    const { intent } = await checkEnvelopeSignature(chain, stored.envelope);
    assert.equal(stored.hops[0]?.peer, intent.clientCertSha256);
  });

  it('puts the same verified hops into the signed receipt', async () => {
    const verified = await checkReceipt(chain, stored.receipt, stored.sha256);
    assert.deepEqual(
      verified.predicate.hops,
      stored.hops.map((h) => ({ id: h.id, seq: h.seq, ts: h.ts, peer: h.peer, peerId: h.peerId, kid: h.kid })),
    );
    assert.equal(verified.predicate.verification.provenance, 'verified');
    assert.equal(verified.predicate.verification.binding, 'verified');
  });

  it('answers /healthz/traversal through the chain with the verified hop chain', async () => {
    const answer = await edgeGet(chain, '/healthz/traversal', 'probe-e2e');
    assert.equal(answer.status, 200, answer.text);
    const body = JSON.stringify(answer.json);
    for (const id of ['gw-edge', 'gw-internal', 'scanner-01', 'waf']) assert.ok(body.includes(`"${id}"`), `${id} in ${body}`);
  });
});
