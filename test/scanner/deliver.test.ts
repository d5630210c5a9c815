import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Outbox } from '../../src/scanner/outbox.js';
import { submitArtifacts } from '../../src/scanner/submit.js';
import type { ScannerSetup } from '../../src/scanner/config.js';
import { fileFingerprint } from './support/edge.js';
import { noSleep, scannerFixture } from './support/fixture.js';
import type { ScannerFixture } from './support/fixture.js';

const SBOM = JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.5', version: 1, components: [] });

describe('scanner delivery through a real mTLS edge', () => {
  let fx: ScannerFixture;
  let setup: ScannerSetup;
  let outbox: Outbox;
  before(async () => {
    fx = await scannerFixture();
    setup = await fx.setup({ certificateSource: 'files' });
    outbox = Outbox.open(join(fx.dir, 'outbox.db'));
  });
  after(async () => {
    outbox.close();
    await setup.close();
    await fx.cleanup();
  });

  it('delivers an artifact, verifies the receipt and stores it', async () => {
    const file = fx.artifact('sbom-1.json', SBOM);
    const [result] = await submitArtifacts({ ...setup, outbox, scanId: 'scan-001', files: [file], sleep: noSleep });
    assert.equal(result?.state, 'delivered');
    assert.equal(result?.status, 201);
    assert.equal(setup.receiptKeyFile, fx.deployment.receiptPublicKeyFile);
    const item = outbox.get(result?.itemId ?? -1);
    assert.ok(item?.receipt);
    const stored = fx.edge.stored.get(item?.envelopeSha256 ?? '');
    assert.equal(stored?.receipt, item?.receipt);
    assert.equal(stored?.artifactSha256, createHash('sha256').update(SBOM).digest('hex'));
    // The artifact's bytes follow their statement (docs/services.md#artifacts).
    assert.equal(result?.artifactSha256, stored?.artifactSha256);
    assert.equal(fx.edge.artifacts.get(result?.artifactSha256 ?? '')?.bytes.toString('utf8'), SBOM);
    const upload = fx.edge.artifactSeen.find((s) => s.scanId === 'scan-001');
    assert.equal(upload?.status, 201);
    assert.equal(upload?.contentDigest, `sha-256=:${createHash('sha256').update(SBOM).digest('base64')}:`);
  });

  it('keeps an item pending when its artifact upload fails, and on the retry resends the same statement and the bytes once', async () => {
    fx.edge.artifactPlan.push(503);
    const content = `${SBOM}\n`;
    const [result] = await submitArtifacts({ ...setup, outbox, scanId: 'scan-artifact-retry', files: [fx.artifact('sbom-retry.json', content)], sleep: noSleep, backoff: { baseMs: 1, capMs: 1 } });
    assert.equal(result?.state, 'delivered', `${result?.code}: ${result?.message}`);
    assert.equal(result?.attempts, 2);
    const posts = fx.edge.seen.filter((s) => s.method === 'POST' && s.scanId === 'scan-artifact-retry');
    assert.deepEqual(posts.map((p) => p.status), [201, 200], 'the frozen envelope again: the original receipt');
    const uploads = fx.edge.artifactSeen.filter((s) => s.scanId === 'scan-artifact-retry');
    assert.deepEqual(uploads.map((u) => u.status), [503, 201]);
    assert.deepEqual([...(fx.edge.artifacts.get(result?.artifactSha256 ?? '')?.scanIds ?? [])], ['scan-artifact-retry']);
  });

  it('sets the scan id, an RFC 9530 Content-Digest of the body and a Host equal to the SNI name', () => {
    const post = fx.edge.seen.find((s) => s.method === 'POST' && s.status === 201);
    assert.equal(post?.scanId, 'scan-001');
    assert.match(post?.contentDigest ?? '', /^sha-256=:[A-Za-z0-9+/]{43}=:$/);
    assert.equal(post?.host, `gw-edge:${fx.edge.port}`);
  });

  it('names in the signed intent the very certificate the edge saw in the handshake', () => {
    const post = fx.edge.seen.find((s) => s.method === 'POST' && s.status === 201);
    assert.equal(post?.peerFingerprint, fileFingerprint(fx.deployment.scanner.cert));
    assert.equal(post?.intentFingerprint, post?.peerFingerprint);
  });

  it('presents a certificate issued by the local CA when the topology names no scanner.tls, and signs its fingerprint', async () => {
    const local = await fx.setup();
    try {
      assert.equal(local.certificateSource, 'local-ca');
      const [result] = await submitArtifacts({ ...local, outbox, scanId: 'scan-local', files: [fx.artifact('local.json', SBOM)], sleep: noSleep });
      assert.equal(result?.state, 'delivered');
      const post = fx.edge.seen.find((s) => s.scanId === 'scan-local');
      assert.equal(post?.peerFingerprint, local.credentials.current().fingerprint);
      assert.notEqual(post?.peerFingerprint, fileFingerprint(fx.deployment.scanner.cert), 'a fresh leaf, not the one on disk');
      assert.equal(post?.intentFingerprint, post?.peerFingerprint);
    } finally {
      await local.close();
    }
  });

  it('does not send an artifact again when the same file is submitted again for the same scan', async () => {
    const before = fx.edge.seen.length;
    const file = fx.artifact('sbom-1.json', SBOM);
    const [result] = await submitArtifacts({ ...setup, outbox, scanId: 'scan-001', files: [file], sleep: noSleep });
    assert.equal(result?.state, 'delivered');
    assert.equal(result?.alreadyEnqueued, true);
    assert.equal(fx.edge.seen.length, before);
  });

  it('retries a 503 with backoff, honouring Retry-After, and stores the artifact once', async () => {
    fx.edge.plan.push({ status: 503, retryAfter: '2' }, 503);
    const waits: number[] = [];
    const file = fx.artifact('sbom-2.json', `${SBOM} `);
    const storedBefore = fx.edge.stored.size;
    const [result] = await submitArtifacts({
      ...setup, outbox, scanId: 'scan-002', files: [file], random: () => 0.5,
      sleep: async (ms) => { waits.push(ms); await new Promise((r) => setTimeout(r, Math.min(ms, 5))); },
      backoff: { baseMs: 1, capMs: 4 },
    });
    assert.equal(result?.state, 'delivered');
    assert.equal(result?.attempts, 3);
    assert.equal(fx.edge.stored.size, storedBefore + 1);
    assert.ok((waits[0] ?? 0) > 1000, `first wait ${waits[0]} ms should honour Retry-After: 2`);
    const posts = fx.edge.seen.filter((s) => s.method === 'POST' && s.scanId === 'scan-002');
    assert.deepEqual(posts.map((p) => p.status), [503, 503, 201]);
    assert.equal(new Set(posts.map((p) => p.contentDigest)).size, 1, 'every retry resends the same envelope bytes');
  });

  it('marks a 4xx answer rejected with the problem code and never retries it', async () => {
    fx.edge.plan.push({ status: 403, code: 'topology-mismatch' });
    const file = fx.artifact('sbom-3.json', `${SBOM}  `);
    const [result] = await submitArtifacts({ ...setup, outbox, scanId: 'scan-003', files: [file], sleep: noSleep });
    assert.equal(result?.state, 'rejected');
    assert.equal(result?.code, 'topology-mismatch');
    assert.equal(result?.status, 403);
    assert.equal(result?.attempts, 1);
    assert.equal(fx.edge.seen.filter((s) => s.scanId === 'scan-003').length, 1);
  });

  it('resends the frozen envelope when the answer was lost after the locker stored it, so the store holds it once', async () => {
    fx.edge.plan.push('store-and-drop');
    const file = fx.artifact('sbom-4.json', `${SBOM}   `);
    const storedBefore = fx.edge.stored.size;
    const [result] = await submitArtifacts({ ...setup, outbox, scanId: 'scan-004', files: [file], sleep: noSleep, backoff: { baseMs: 1, capMs: 1 } });
    assert.equal(result?.state, 'delivered');
    assert.equal(result?.status, 200, 'the second POST finds the envelope already stored');
    assert.equal(fx.edge.stored.size, storedBefore + 1);
  });

  it('asks the locker by digest after a 504 that came after the envelope was stored, and keeps that receipt', async () => {
    fx.edge.plan.push('store-and-504');
    const file = fx.artifact('sbom-504.json', `${SBOM}      `);
    const storedBefore = fx.edge.stored.size;
    const [result] = await submitArtifacts({ ...setup, outbox, scanId: 'scan-504', files: [file], sleep: noSleep, maxAttempts: 1 });
    assert.equal(result?.state, 'delivered', 'one attempt is enough: the lookup finds the stored envelope');
    assert.equal(result?.attempts, 1);
    assert.equal(fx.edge.stored.size, storedBefore + 1);
    const item = outbox.get(result?.itemId ?? -1);
    assert.equal(item?.receipt, fx.edge.stored.get(item?.envelopeSha256 ?? '')?.receipt);
    const seen = fx.edge.seen.filter((s) => s.scanId === 'scan-504');
    assert.deepEqual(seen.map((s) => `${s.method} ${s.status}`), ['POST 504', 'GET 200']);
  });

  it('looks up before re-sending when the previous attempt timed out, and re-sends the same bytes when nothing arrived', async () => {
    fx.edge.plan.push(504);
    const file = fx.artifact('sbom-504b.json', `${SBOM}       `);
    const [result] = await submitArtifacts({ ...setup, outbox, scanId: 'scan-504b', files: [file], sleep: noSleep, backoff: { baseMs: 1, capMs: 1 } });
    assert.equal(result?.state, 'delivered');
    assert.equal(result?.status, 201);
    const seen = fx.edge.seen.filter((s) => s.scanId === 'scan-504b');
    // attempt 1: POST 504, then GET 404 (not stored); attempt 2: GET 404 first, then the same POST.
    assert.deepEqual(seen.map((s) => `${s.method} ${s.status}`), ['POST 504', 'GET 404', 'GET 404', 'POST 201']);
    assert.equal(new Set(seen.filter((s) => s.method === 'POST').map((s) => s.contentDigest)).size, 1, 'the frozen envelope is re-sent');
  });

  it('re-sends fresh after 401 provenance-stale, a bounded number of times, within one attempt', async () => {
    fx.edge.plan.push({ status: 401, code: 'provenance-stale' }, { status: 401, code: 'provenance-stale' });
    const file = fx.artifact('sbom-stale.json', `${SBOM}        `);
    const [result] = await submitArtifacts({ ...setup, outbox, scanId: 'scan-stale', files: [file], sleep: noSleep, maxAttempts: 1 });
    assert.equal(result?.state, 'delivered');
    assert.deepEqual(fx.edge.seen.filter((s) => s.scanId === 'scan-stale').map((s) => s.status), [401, 401, 201]);
  });

  it('rejects for good when provenance-stale outlasts the bound, with the code and status, nothing stored', async () => {
    fx.edge.plan.push(...Array.from({ length: 3 }, () => ({ status: 401, code: 'provenance-stale' })));
    const file = fx.artifact('sbom-stale2.json', `${SBOM}         `);
    const storedBefore = fx.edge.stored.size;
    const [result] = await submitArtifacts({ ...setup, outbox, scanId: 'scan-stale2', files: [file], sleep: noSleep, maxStaleResends: 2 });
    assert.equal(result?.state, 'rejected');
    assert.equal(result?.code, 'provenance-stale');
    assert.equal(result?.status, 401);
    assert.equal(result?.attempts, 1);
    assert.equal(fx.edge.seen.filter((s) => s.scanId === 'scan-stale2').length, 3);
    assert.equal(fx.edge.stored.size, storedBefore);
  });

  it('treats any other 401 as final at once', async () => {
    fx.edge.plan.push({ status: 401, code: 'provenance-tampered' });
    const file = fx.artifact('sbom-tampered.json', `${SBOM}          `);
    const [result] = await submitArtifacts({ ...setup, outbox, scanId: 'scan-tampered', files: [file], sleep: noSleep });
    assert.equal(result?.state, 'rejected');
    assert.equal(result?.code, 'provenance-tampered');
    assert.equal(fx.edge.seen.filter((s) => s.scanId === 'scan-tampered').length, 1);
  });

  it('gives up after max attempts and leaves the item pending, reported as failed with the last code', async () => {
    // Each 502 is followed by a lookup (docs/scanner.md#unknown-outcomes), which meets the next 502.
    fx.edge.plan.push(502, 502, 502, 502, 502);
    const file = fx.artifact('sbom-5.json', `${SBOM}    `);
    const [result] = await submitArtifacts({ ...setup, outbox, scanId: 'scan-005', files: [file], sleep: noSleep, maxAttempts: 2, backoff: { baseMs: 1, capMs: 1 } });
    assert.equal(result?.state, 'failed');
    assert.equal(result?.code, 'planned-502');
    assert.equal(outbox.get(result?.itemId ?? -1)?.state, 'pending');
  });
});

describe('scanner delivery with a receipt key that did not sign the receipt', () => {
  it('rejects the item with SCANNER_RECEIPT_INVALID', async () => {
    const fx = await scannerFixture();
    // The edge's TLS key is not the locker's receipt key: verification must fail.
    const { generateKey } = await import('../../src/dsse/index.js');
    const other = fx.artifact('other.pub', generateKey('ed25519').public ?? '');
    const setup = await fx.setup({ receiptKey: other, certificateSource: 'files' });
    const outbox = Outbox.open(join(fx.dir, 'outbox.db'));
    try {
      const [result] = await submitArtifacts({ ...setup, outbox, scanId: 'scan-r', files: [fx.artifact('a.json', SBOM)], sleep: noSleep });
      assert.equal(result?.state, 'rejected');
      assert.equal(result?.code, 'SCANNER_RECEIPT_INVALID');
    } finally {
      outbox.close();
      await setup.close();
      await fx.cleanup();
    }
  });
});
