/**
 * `evidence verify --topology FILE --hop-keys` on a store whose rows keep the hop MACs and the
 * request facts (docs/services.md#offline-verification): the chain recomputes from the store with
 * the topology's hop keys, and a stored request fact changed afterwards is caught by `macs`.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runEvidenceVerify } from '../../src/cli/commands/evidence.js';
import { CliError } from '../../src/cli/output.js';
import {
  buildScanArtifactStatement,
  createSigner,
  generateKey,
  hmacKeyFromSecret,
  IN_TOTO_PAYLOAD_TYPE,
  parseKeyFile,
  serializeEnvelope,
  serializeEnvelopeBytes,
  serializeStatement,
  signEnvelope,
} from '../../src/dsse/index.js';
import { buildReceipt } from '../../src/evidence/receipt.js';
import { stampRecord } from '../../src/provenance/chain.js';
import { macToBase64 } from '../../src/provenance/codec.js';
import type { HopRecord } from '../../src/provenance/record.js';
import { openSqliteStore } from '../../src/storage/sqlite.js';
import type { EvidenceRecord } from '../../src/storage/types.js';
import { tempDir } from '../support/tmp.js';

interface VerifyJson {
  ok: boolean;
  records: { sha256: string; ok: boolean; checks: { name: string; ok: boolean; detail: string }[] }[];
}

describe('evidence verify --hop-keys', () => {
  const dir = tempDir('stella-hop-keys-');
  const topologyFile = join(dir.path, 'topology.yaml');
  const db = join(dir.path, 'evidence.db');
  const receiptPub = join(dir.path, 'receipt.pub');
  const secrets = { scanner: randomBytes(32), edge: randomBytes(32), internal: randomBytes(32) };
  const digests: string[] = [];

  /**
   * One record as the locker would store it, its hops stamped with the topology's keys over
   * `POST /api/v1/evidence`; `storedTarget` is the target the row claims (the same, or changed).
   */
  async function record(scanId: string, receiptSigner: ReturnType<typeof createSigner>, storedTarget: string): Promise<EvidenceRecord> {
    const peer = `sha256:${'ab'.repeat(32)}`;
    const intent = { scanId, topology: 'demo', edgeHop: 'gw-edge', clientCertSha256: peer, nonce: randomBytes(16).toString('hex'), issuedAt: '2026-12-07T00:00:00Z' };
    const statement = buildScanArtifactStatement({ artifact: { name: 'sbom.json', sha256: createHash('sha256').update(scanId).digest('hex') }, intent });
    const envelope = serializeEnvelopeBytes(await signEnvelope(IN_TOTO_PAYLOAD_TYPE, serializeStatement(statement), [createSigner(hmacKeyFromSecret(secrets.scanner), 'scanner-01-hmac')]));
    const sha256 = createHash('sha256').update(envelope).digest('hex');
    const facts = { method: 'POST', pathAndQuery: '/api/v1/evidence', contentDigest: `sha-256=:${createHash('sha256').update(envelope).digest('base64')}:`, scanId };
    const first = stampRecord({ hop: 'gw-edge', seq: 1, ts: 1796601600, nonce: randomBytes(16).toString('hex'), peer, peerId: 'scanner-01', kid: 'edge-2026-11', key: secrets.edge, request: facts, previous: null });
    const second = stampRecord({ hop: 'gw-internal', seq: 2, ts: 1796601601, nonce: randomBytes(16).toString('hex'), peer: `sha256:${'cd'.repeat(32)}`, peerId: 'waf', kid: 'internal-2026-11', key: secrets.internal, request: facts, previous: first });
    const receiptHop = (r: HopRecord) => ({ id: r.hop, seq: r.seq, ts: r.ts, peer: r.peer, peerId: r.peerId, kid: r.kid });
    const receipt = await buildReceipt(
      {
        envelopeSha256: sha256,
        service: 'evidence-locker',
        topology: 'demo',
        scanId,
        receivedAt: '2026-12-07T00:00:02.000Z',
        hops: [first, second].map(receiptHop),
        verification: { provenance: 'verified', binding: 'verified', envelope: { result: 'verified', payloadType: IN_TOTO_PAYLOAD_TYPE, threshold: 1, acceptedKeyids: ['scanner-01-hmac'] } },
      },
      receiptSigner,
    );
    return {
      sha256,
      scanId,
      scannerId: 'scanner-01',
      serviceId: 'evidence-locker',
      payloadType: IN_TOTO_PAYLOAD_TYPE,
      envelope,
      hops: [first, second].map((r) => ({ ...receiptHop(r), nonce: r.nonce, mac: macToBase64(r.mac) })),
      receipt: serializeEnvelope(receipt),
      receivedAt: '2026-12-07T00:00:02.000Z',
      request: { method: facts.method, pathAndQuery: storedTarget, contentDigest: facts.contentDigest },
    };
  }

  before(async () => {
    copyFileSync('examples/topology.yaml', topologyFile);
    mkdirSync(join(dir.path, 'keys'));
    writeFileSync(join(dir.path, 'keys/scanner-01.hmac'), secrets.scanner.toString('base64'));
    // The reference topology's second scanner; its key only has to exist.
    writeFileSync(join(dir.path, 'keys/scanner-02.hmac'), randomBytes(32).toString('base64'));
    writeFileSync(join(dir.path, 'keys/gw-edge.key'), secrets.edge.toString('base64'));
    writeFileSync(join(dir.path, 'keys/gw-internal.key'), secrets.internal.toString('base64'));
    const receiptKey = generateKey('ed25519');
    writeFileSync(receiptPub, receiptKey.public!);
    const signer = createSigner(parseKeyFile(Buffer.from(receiptKey.private)), 'locker-receipt');
    const store = openSqliteStore({ file: db });
    for (const target of ['/api/v1/evidence', '/api/v1/evidence?changed=1']) {
      const r = await record('scan-audit', signer, target);
      await store.putEvidence(r);
      digests.push(r.sha256);
    }
    await store.close();
  });
  after(() => dir.remove());

  it('recomputes every hop MAC of an untouched row, and names the hop whose MAC a changed request fact breaks', async () => {
    const chunks: string[] = [];
    await assert.rejects(
      runEvidenceVerify({ db, scan: 'scan-audit', receiptKey: receiptPub, key: [], topology: topologyFile, hopKeys: true, json: true }, (t) => void chunks.push(t)),
      (error: unknown) => error instanceof CliError && error.exitCode === 1,
    );
    const result = JSON.parse(chunks.join('')) as VerifyJson;
    assert.deepEqual(result.records.map((r) => r.sha256), digests);
    const [untouched, changed] = result.records;
    assert.deepEqual(untouched!.checks.map((c) => [c.name, c.ok]), [['digest', true], ['envelope', true], ['binding', true], ['hops', true], ['receipt', true], ['artifacts', true], ['macs', true]]);
    assert.equal(untouched!.ok, true);
    assert.deepEqual(changed!.checks.filter((c) => !c.ok).map((c) => c.name), ['macs']);
    assert.match(changed!.checks.find((c) => c.name === 'macs')!.detail, /^hop gw-edge: MAC does not verify with key "edge-2026-11"/);
  });

  it('asks for --topology when --hop-keys is given without it', async () => {
    await assert.rejects(
      runEvidenceVerify({ db, scan: 'scan-audit', receiptKey: receiptPub, key: [`scanner-01=${join(dir.path, 'keys/scanner-01.hmac')}`], hopKeys: true, json: true }, () => undefined),
      (error: unknown) => error instanceof CliError && error.exitCode === 2 && /--hop-keys reads the hop keys of --topology FILE/.test(error.message),
    );
  });
});
