/**
 * Provenance v2 on the real programs (docs/provenance.md#part-2-version-2): a Caddy edge whose
 * forward-auth stamper signs Ed25519 → the Apache+ModSecurity WAF (opaque: it forwards the fields
 * untouched) → an internal Caddy whose stamper signs ECDSA P-256 → the Evidence Locker, which
 * requires v2. The stored chain is re-verified by an independent RFC 9421 implementation, label by
 * label, and offline with the hops' public keys alone.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import type { SubmitResult } from '../../src/scanner/submit.js';
import { loadV2Keyring } from '../../src/provenance/v2/keys.js';
import { hopSignatureProblems } from '../../src/evidence/hop-signatures.js';
import { splitDictionary } from '../../src/provenance/v2/fields.js';
import { publishedKeys, receiptMessage, verifyEveryLabel } from '../interop/support/rfc9421.js';
import { CADDY_TOPOLOGY, startChain, type Chain } from '../support/chain.js';
import { checkReceipt, contentDigest, edgeHost, problemCode, send, sha256Hex, startWorker, storedCount, storedEvidence, type ChainWorker } from './support/client.js';

const SCAN_ID = 'scan-e2e-v2';

/** The Caddy example with v2 on both stamping hops; the internal hop becomes a Caddy with its own stamper. */
function toV2(document: Record<string, unknown>): void {
  const hops = document.hops as Record<string, unknown>[];
  const edge = hops[0]!;
  const internal = hops[2]!;
  edge.stamp = { ...(edge.stamp as object), profile: 'v2', keys: [], signing: { alg: 'ed25519', keys: [{ kid: 'edge-v2-2026-12', file: './keys/gw-edge.v2.pem', publicFile: './keys/gw-edge.v2.pub.pem' }] } };
  internal.kind = 'caddy';
  internal.stamp = {
    via: 'forward-auth',
    profile: 'v2',
    stamper: { socket: './run/gw-internal/stamper.sock' },
    signing: { alg: 'ecdsa-p256-sha256', keys: [{ kid: 'internal-v2-2026-12', file: './keys/gw-internal.v2.pem', publicFile: './keys/gw-internal.v2.pub.pem' }] },
  };
  const locker = (document.services as Record<string, unknown>[])[0]!;
  locker.provenance = { require: 'v2' };
}

let chain: Chain;
let worker: ChainWorker;
let result: SubmitResult | undefined;

before(async () => {
  chain = await startChain(CADDY_TOPOLOGY, { edit: toV2 });
  worker = await startWorker(chain);
  [result] = await worker.submit(SCAN_ID, { 'sbom.json': JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.5', version: 1 }) });
  if (result?.state !== 'delivered' || !result.envelopeSha256) throw new Error(`v2 delivery failed: ${JSON.stringify(result)}\n${chain.logTails()}`);
});
after(async () => {
  await worker?.close();
  await chain?.close();
});

describe('provenance v2 through Caddy (Ed25519 stamper) → Apache WAF → Caddy (ECDSA stamper) → Evidence Locker', () => {
  it('delivers with 201; the receipt names each hop\'s algorithm and embeds the chain', async () => {
    assert.equal(result?.status, 201);
    const stored = await storedEvidence(chain, result!.envelopeSha256!, SCAN_ID);
    const receipt = await checkReceipt(chain, stored.receipt, stored.sha256);
    assert.deepEqual(receipt.predicate.hops.map((h) => [h.id, h.seq, h.peerId, h.alg]), [
      ['gw-edge', 1, 'scanner-01', 'ed25519'],
      ['gw-internal', 2, 'waf', 'ecdsa-p256-sha256'],
    ]);
    assert.match(receipt.predicate.provenanceV2!.signatureInput, /^stella-1-gw-edge=\(.*, stella-2-gw-internal=\(/);
  });

  it('every stored label verifies on its own with http-message-signatures, and offline with the public keys alone', async () => {
    const stored = await storedEvidence(chain, result!.envelopeSha256!, SCAN_ID);
    const { provenanceV2: v2 } = (await checkReceipt(chain, stored.receipt, stored.sha256)).predicate;
    assert.ok(v2);
    assert.deepEqual(await verifyEveryLabel(receiptMessage(v2, SCAN_ID), await publishedKeys(chain.topology)), [['stella-1-gw-edge', true], ['stella-2-gw-internal', true]]);
    const report = hopSignatureProblems({ scanId: SCAN_ID, hops: stored.hops, request: v2.request, provenanceV2: v2 }, await loadV2Keyring(chain.topology));
    assert.deepEqual(report, { problems: [], hmacHops: [] });
  });

  it('the locker, reached with the last hop\'s certificate, refuses the stored chain with a rewritten or re-keyed member (401) and the genuine one again (409)', async () => {
    const stored = await storedEvidence(chain, result!.envelopeSha256!, SCAN_ID);
    const { provenanceV2: v2 } = (await checkReceipt(chain, stored.receipt, stored.sha256)).predicate;
    assert.ok(v2);
    const service = chain.topology.services[0]!;
    const lastHop = service.chain.at(-1)!;
    const agent = await chain.agentFor({ cert: lastHop.upstreamTls.chain, key: lastHop.upstreamTls.key }, service.serverName);
    const body = Buffer.from(JSON.stringify(stored.envelope));
    const direct = (fields: { signatureInput: string; signature: string }) =>
      send(agent, `https://${service.listen}${v2.request.pathAndQuery}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-digest': v2.request.contentDigest!, 'x-stella-scan-id': SCAN_ID, 'signature-input': fields.signatureInput, signature: fields.signature },
        body,
      });
    // One bit of the internal hop's signature.
    const value = /stella-2-gw-internal=:([A-Za-z0-9+/]+=*):/.exec(v2.signature)![1]!;
    const bytes = Buffer.from(value, 'base64');
    bytes[5] = bytes[5]! ^ 0x01;
    const rewritten = await direct({ signatureInput: v2.signatureInput, signature: v2.signature.replace(value, bytes.toString('base64')) });
    assert.equal(rewritten.status, 401, rewritten.text);
    assert.equal(problemCode(rewritten), 'provenance-tampered');
    // The internal hop's member claiming the edge's key: a key that belongs to another hop counts for nothing.
    const rekeyed = await direct({ signatureInput: v2.signatureInput.replace(/(stella-2-gw-internal=.*?;keyid=")[^"]+"/, '$1edge-v2-2026-12"'), signature: v2.signature });
    assert.equal(rekeyed.status, 401, rekeyed.text);
    assert.equal(problemCode(rekeyed), 'provenance-tampered');
    // The genuine chain, read by the fast reader and verified, is a replay of the delivery.
    const replayed = await direct(v2);
    assert.equal(replayed.status, 409, replayed.text);
    assert.equal(problemCode(replayed), 'provenance-replayed');
    assert.equal(await storedCount(chain, SCAN_ID), 1);
  });

  it('a client-sent member of our profile is stripped at the edge: the locker stores only the hops\' members', async () => {
    const scanId = 'scan-v2-forged';
    const envelope = Buffer.from(
      await worker.setup.createEnvelope({
        artifact: { name: 'x.json', sha256: sha256Hex(randomBytes(8)) },
        intent: { scanId, topology: chain.topology.name, edgeHop: 'gw-edge', clientCertSha256: worker.setup.credentials.current().fingerprint, nonce: randomBytes(16).toString('hex'), issuedAt: new Date().toISOString() },
      }),
    );
    const forgedInput = `sig1=("@method");created=1, stella-1-gw-edge=("@method");created=${Math.floor(Date.now() / 1000)};tag="stella-provenance-v2"`;
    const answer = await send(await chain.scannerAgent(), `${chain.edgeUrl()}/api/v1/evidence`, {
      method: 'POST',
      headers: { host: edgeHost(chain), 'content-type': 'application/json', 'content-digest': contentDigest(envelope), 'x-stella-scan-id': scanId, 'signature-input': forgedInput, signature: `sig1=:AAAA:, stella-1-gw-edge=:${Buffer.alloc(64).toString('base64')}:` },
      body: envelope,
    });
    assert.equal(answer.status, 201, `${answer.status} ${problemCode(answer) ?? ''} ${answer.text}`);
    const stored = await storedEvidence(chain, sha256Hex(envelope), scanId);
    const { provenanceV2: v2 } = (await checkReceipt(chain, stored.receipt, stored.sha256)).predicate;
    // The locker keeps only the profile's members: the two genuine ones, not the client's.
    assert.deepEqual(splitDictionary(v2!.signatureInput).map((m) => m.label), ['stella-1-gw-edge', 'stella-2-gw-internal']);
    assert.notEqual(splitDictionary(v2!.signature)[0]!.raw, `stella-1-gw-edge=:${Buffer.alloc(64).toString('base64')}:`);
    assert.match(v2!.signatureInput, /^stella-1-gw-edge=\("@method" "@path" "@query" "content-digest" "x-stella-scan-id"\);created=/);
  });
});
