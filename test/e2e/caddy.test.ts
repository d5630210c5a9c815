/**
 * README.md#the-chain, docs/faults.md with a Caddy edge (examples/topology-caddy.yaml): Caddy cannot compute the hop MAC,
 * so its forward-auth stamper (`stella-gateway stamper`) does; then the same Apache WAF and HAProxy
 * as the reference chain. The worker's delivery is stored with a verified chain and receipt.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Agent } from 'undici';
import type { SubmitResult } from '../../src/scanner/submit.js';
import { CADDY_TOPOLOGY, startChain, type Chain } from '../support/chain.js';
import {
  checkEnvelopeSignature,
  checkReceipt,
  edgeHost,
  edgePost,
  fingerprintOf,
  problemCode,
  send,
  sha256Hex,
  startWorker,
  storedCount,
  storedEvidence,
  workerEnvelope,
  type ChainWorker,
  type StoredEvidence,
} from './support/client.js';

const SCAN_ID = 'scan-e2e-caddy';

let chain: Chain;
let worker: ChainWorker;
let result: SubmitResult | undefined;
let stored: StoredEvidence;

before(async () => {
  chain = await startChain(CADDY_TOPOLOGY);
  worker = await startWorker(chain);
  [result] = await worker.submit(SCAN_ID, { 'sbom.json': JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.5', version: 1 }) });
  if (result?.state !== 'delivered' || !result.envelopeSha256) throw new Error(`delivery through the Caddy edge failed: ${JSON.stringify(result)}\n${chain.logTails()}`);
  stored = await storedEvidence(chain, result.envelopeSha256, SCAN_ID);
});
after(async () => {
  await worker?.close();
  await chain?.close();
});

describe('delivery through the Caddy edge (forward-auth stamper) → Apache WAF → HAProxy → Evidence Locker', () => {
  it('runs Caddy at the edge with its stamper process', () => {
    assert.equal(chain.topology.hops[0]?.kind, 'caddy');
    assert.ok(chain.deployment.stampers.get('gw-edge')?.pid, 'the stamper of gw-edge runs');
  });

  it('delivers on the first attempt with 201', () => {
    assert.equal(result?.status, 201);
    assert.equal(result?.attempts, 1);
  });

  it("verifies the receipt with the locker's public key", async () => {
    const verified = await checkReceipt(chain, stored.receipt, stored.sha256);
    assert.equal(verified.predicate.scanId, SCAN_ID);
    assert.deepEqual(
      verified.predicate.hops.map((h) => [h.id, h.seq, h.peerId]),
      [
        ['gw-edge', 1, 'scanner-01'],
        ['gw-internal', 2, 'waf'],
      ],
    );
  });

  it("stores the stamper's record naming the scanner certificate Caddy verified", async () => {
    assert.equal(stored.hops[0]?.peer, await fingerprintOf(chain.scanner().tls.cert));
    assert.equal(stored.hops[0]?.kid, 'edge-2026-11');
  });

  it("still verifies the stored envelope with the scanner's key", async () => {
    const checked = await checkEnvelopeSignature(chain, stored.envelope);
    assert.deepEqual(checked.acceptedKeyids, ['scanner-01-hmac']);
    assert.equal(checked.intent.clientCertSha256, stored.hops[0]?.peer);
  });

  it('strips a client-sent X-Stella-Provenance at the Caddy edge too', async () => {
    const scanId = 'scan-caddy-forged';
    const envelope = await workerEnvelope(chain, worker, scanId, { artifact: { name: 'x.json', sha256: sha256Hex(randomBytes(8)) } });
    const forged = `gw-edge;seq=1;ts=${Math.floor(Date.now() / 1000)};nonce="abababababababab";peer="sha256:${'1'.repeat(64)}";peer-id="scanner-01";kid="edge-2026-11";mac=:${Buffer.alloc(32).toString('base64')}:`;
    const answer = await edgePost(chain, '/api/v1/evidence', scanId, envelope, { headers: { 'x-stella-provenance': forged } });
    assert.equal(answer.status, 201, `${answer.status} ${problemCode(answer) ?? ''} ${answer.text}`);
    const record = await storedEvidence(chain, sha256Hex(envelope), scanId);
    assert.deepEqual(record.hops.map((h) => h.nonce === 'abababababababab'), [false, false]);
    assert.equal(await storedCount(chain, scanId), 1);
  });

  it('closes the connection of a client without a certificate before any HTTP answer', async () => {
    const agent = new Agent({ connect: { ca: await readFile(chain.topology.pki.caBundle), servername: chain.edgeServerName() } });
    try {
      await assert.rejects(
        send(agent, `${chain.edgeUrl()}/api/v1/scans/scan-caddy-nocert/evidence`, { headers: { host: edgeHost(chain), 'x-stella-scan-id': 'scan-caddy-nocert' } }),
        (error: unknown) => {
          const code = (error as { code?: string }).code;
          // TLS 1.3: the client's side of the handshake completes first; Caddy's certificate_required
          // alert then closes the connection before any HTTP answer.
          assert.equal(code, 'UND_ERR_SOCKET', String(error));
          return true;
        },
      );
    } finally {
      await agent.close();
    }
  });
});
