/**
 * Provenance v2 on the reference chain (docs/provenance.md#part-2-version-2): the NGINX edge stamps
 * through its forward-auth stamper (Ed25519, and v1 too: `profile: both`), the Apache WAF passes
 * both members on, and the internal HAProxy signs natively with its Lua action (ECDSA P-256,
 * `profile: v2` only: no MAC key at that hop). The locker requires v2, so it accepts the request
 * only on the strength of the two signatures, the second made by HAProxy's Lua and checked by the
 * Node verifier — two implementations of the profile written apart. Each stored label is verified
 * by http-message-signatures on its own too, and a rewritten stored member fails offline.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SubmitResult } from '../../src/scanner/submit.js';
import { verifyEveryLabel } from '../interop/support/rfc9421.js';
import { REFERENCE_TOPOLOGY, startChain, type Chain } from './support/harness.js';
import { checkReceipt, startWorker, storedEvidence, type ChainWorker } from './support/client.js';

const SCAN_ID = 'scan-e2e-v2-haproxy';
/**
 * The edge stamper's socket folder, outside the deployment folder: NGINX's workers run as nobody
 * and cannot traverse the test's 0700 temp folder (the stamper makes this one 0700 for nobody).
 */
const EDGE_SOCKET_DIR = join(tmpdir(), `stella-v2-haproxy-${process.pid}-${randomBytes(4).toString('hex')}`);

function toV2(document: Record<string, unknown>): void {
  const hops = document.hops as Record<string, unknown>[];
  const edge = hops[0]!;
  const internal = hops[2]!;
  edge.stamp = {
    via: 'forward-auth',
    profile: 'both',
    // NGINX started as root runs its workers as nobody: they open the stamper's socket (docs/gateways/nginx.md).
    stamper: { socket: join(EDGE_SOCKET_DIR, 'stamper.sock'), gatewayUser: 'nobody' },
    keys: (edge.stamp as { keys: unknown }).keys,
    signing: { alg: 'ed25519', keys: [{ kid: 'edge-v2-2026-12', file: './keys/gw-edge.v2.pem', publicFile: './keys/gw-edge.v2.pub.pem' }] },
  };
  internal.stamp = {
    via: 'native',
    profile: 'v2',
    signing: { alg: 'ecdsa-p256-sha256', keys: [{ kid: 'internal-v2-2026-12', file: './keys/gw-internal.v2.pem', publicFile: './keys/gw-internal.v2.pub.pem' }] },
  };
  (document.services as Record<string, unknown>[])[0]!.provenance = { require: 'v2' };
}

let chain: Chain;
let worker: ChainWorker;
let result: SubmitResult | undefined;

before(async () => {
  chain = await startChain(REFERENCE_TOPOLOGY, { edit: toV2 });
  worker = await startWorker(chain);
  [result] = await worker.submit(SCAN_ID, { 'sbom.json': JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.5', version: 1 }) });
  if (result?.state !== 'delivered' || !result.envelopeSha256) throw new Error(`v2 delivery through NGINX and HAProxy failed: ${JSON.stringify(result)}\n${chain.logTails()}`);
});
after(async () => {
  await worker?.close();
  await chain?.close();
  rmSync(EDGE_SOCKET_DIR, { recursive: true, force: true });
});

describe('provenance v2 through NGINX (forward-auth, Ed25519) → Apache WAF → HAProxy (native Lua, ECDSA) → Evidence Locker', () => {
  it('delivers with 201 and every stored label verifies on its own with http-message-signatures', async () => {
    assert.equal(result?.status, 201);
    const stored = await storedEvidence(chain, result!.envelopeSha256!, SCAN_ID);
    const receipt = await checkReceipt(chain, stored.receipt, stored.sha256);
    assert.deepEqual(receipt.predicate.hops.map((h) => [h.id, h.alg]), [['gw-edge', 'ed25519'], ['gw-internal', 'ecdsa-p256-sha256']]);
    const v2 = receipt.predicate.provenanceV2!;
    const keys = new Map<string, { alg: string; key: KeyObject }>();
    for (const hop of chain.topology.hops) {
      if (hop.stamp === false || !hop.stamp.signing) continue;
      for (const k of hop.stamp.signing.keys) keys.set(k.kid, { alg: hop.stamp.signing.alg, key: createPublicKey(await readFile(k.publicFile!)) });
    }
    const message = { method: v2.request.method, url: v2.request.pathAndQuery, headers: { 'x-stella-scan-id': SCAN_ID, 'content-digest': v2.request.contentDigest!, 'signature-input': v2.signatureInput, signature: v2.signature } };
    assert.deepEqual(await verifyEveryLabel(message, keys), [['stella-1-gw-edge', true], ['stella-2-gw-internal', true]]);

    // HAProxy's member rewritten after the fact (one signature byte): its label fails, the edge's holds.
    const match = /stella-2-gw-internal=:([A-Za-z0-9+/]+=*):/.exec(v2.signature);
    assert.ok(match, v2.signature);
    const bytes = Buffer.from(match[1]!, 'base64');
    bytes[0] = bytes[0]! ^ 0x01;
    const forged = v2.signature.replace(match[1]!, bytes.toString('base64'));
    assert.deepEqual(await verifyEveryLabel({ ...message, headers: { ...message.headers, signature: forged } }, keys), [['stella-1-gw-edge', true], ['stella-2-gw-internal', false]]);
  });
});
