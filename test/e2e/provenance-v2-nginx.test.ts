/**
 * Provenance v2 on the reference chain (docs/provenance.md#part-2-version-2). NGINX cannot sign v2
 * itself at a usable rate, so the edge stamps through its forward-auth stamper (Ed25519, and v1 too:
 * `profile: both`, a migration) and copies the stamper's Signature-Input/Signature upstream; the
 * Apache WAF passes both members on; the internal hop is, in turn:
 *
 * - a Caddy whose stamper signs ECDSA P-256 (`profile: both`);
 * - the reference HAProxy signing natively with its Lua action (ECDSA P-256, `profile: v2` only: no
 *   MAC key at that hop). The HAProxy signer and the Node verifier were written apart against the
 *   same profile; this case is where they must agree.
 *
 * The locker requires v2, so it accepts a request only on the strength of the signatures. Each
 * stored label is verified by http-message-signatures on its own, and a rewritten signature of the
 * internal hop fails while the edge's holds.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SubmitResult } from '../../src/scanner/submit.js';
import { publishedKeys, receiptMessage, verifyEveryLabel } from '../interop/support/rfc9421.js';
import { REFERENCE_TOPOLOGY, startChain, type Chain } from '../support/chain.js';
import { checkReceipt, startWorker, storedEvidence, type ChainWorker } from './support/client.js';

const INTERNAL_SIGNING = { alg: 'ecdsa-p256-sha256', keys: [{ kid: 'internal-v2-2026-12', file: './keys/gw-internal.v2.pem', publicFile: './keys/gw-internal.v2.pub.pem' }] };

/** The internal hop of each case: how it stamps v2. */
const CASES = [
  {
    name: 'Caddy (forward-auth stamper, ECDSA)',
    scanId: 'scan-e2e-v2-nginx-caddy',
    internal: (hop: Record<string, unknown>): void => {
      hop.kind = 'caddy';
      hop.stamp = { via: 'forward-auth', profile: 'both', stamper: { socket: './run/gw-internal/stamper.sock' }, keys: (hop.stamp as { keys: unknown }).keys, signing: INTERNAL_SIGNING };
    },
  },
  {
    name: 'HAProxy (native Lua, ECDSA, v2 only)',
    scanId: 'scan-e2e-v2-nginx-haproxy',
    internal: (hop: Record<string, unknown>): void => {
      hop.stamp = { via: 'native', profile: 'v2', signing: INTERNAL_SIGNING };
    },
  },
] as const;

for (const variant of CASES) {
  /**
   * The edge stamper's socket folder, outside the deployment folder: NGINX's workers run as nobody
   * and cannot traverse the test's 0700 temp folder (the stamper makes this one 0700 for nobody).
   */
  const edgeSocketDir = join(tmpdir(), `stella-v2-nginx-${process.pid}-${randomBytes(4).toString('hex')}`);
  const toV2 = (document: Record<string, unknown>): void => {
    const hops = document.hops as Record<string, unknown>[];
    const edge = hops[0]!;
    edge.stamp = {
      via: 'forward-auth',
      profile: 'both',
      // NGINX started as root runs its workers as nobody: they open the stamper's socket (docs/gateways/nginx.md).
      stamper: { socket: join(edgeSocketDir, 'stamper.sock'), gatewayUser: 'nobody' },
      keys: (edge.stamp as { keys: unknown }).keys,
      signing: { alg: 'ed25519', keys: [{ kid: 'edge-v2-2026-12', file: './keys/gw-edge.v2.pem', publicFile: './keys/gw-edge.v2.pub.pem' }] },
    };
    variant.internal(hops[2]!);
    (document.services as Record<string, unknown>[])[0]!.provenance = { require: 'v2' };
  };

  describe(`provenance v2 through NGINX (forward-auth, Ed25519) → Apache WAF → ${variant.name} → Evidence Locker`, () => {
    let chain: Chain;
    let worker: ChainWorker;
    let result: SubmitResult | undefined;

    before(async () => {
      chain = await startChain(REFERENCE_TOPOLOGY, { edit: toV2 });
      worker = await startWorker(chain);
      [result] = await worker.submit(variant.scanId, { 'sbom.json': JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.5', version: 1 }) });
      if (result?.state !== 'delivered' || !result.envelopeSha256) throw new Error(`v2 delivery failed: ${JSON.stringify(result)}\n${chain.logTails()}`);
    });
    after(async () => {
      await worker?.close();
      await chain?.close();
      rmSync(edgeSocketDir, { recursive: true, force: true });
    });

    it('delivers with 201 and every stored label verifies on its own with http-message-signatures; a rewritten internal signature fails alone', async () => {
      assert.equal(result?.status, 201);
      const stored = await storedEvidence(chain, result!.envelopeSha256!, variant.scanId);
      const receipt = await checkReceipt(chain, stored.receipt, stored.sha256);
      assert.deepEqual(receipt.predicate.hops.map((h) => [h.id, h.alg]), [['gw-edge', 'ed25519'], ['gw-internal', 'ecdsa-p256-sha256']]);
      const v2 = receipt.predicate.provenanceV2!;
      const keys = await publishedKeys(chain.topology);
      const message = receiptMessage(v2, variant.scanId);
      assert.deepEqual(await verifyEveryLabel(message, keys), [['stella-1-gw-edge', true], ['stella-2-gw-internal', true]]);

      const match = /stella-2-gw-internal=:([A-Za-z0-9+/]+=*):/.exec(v2.signature);
      assert.ok(match, v2.signature);
      const bytes = Buffer.from(match[1]!, 'base64');
      bytes[0] = bytes[0]! ^ 0x01;
      const forged = { ...message, headers: { ...message.headers, signature: v2.signature.replace(match[1]!, bytes.toString('base64')) } };
      assert.deepEqual(await verifyEveryLabel(forged, keys), [['stella-1-gw-edge', true], ['stella-2-gw-internal', false]]);
    });
  });
}
