import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { issueCertificate } from '../../src/pki/index.js';
import { Outbox } from '../../src/scanner/outbox.js';
import { submitArtifacts } from '../../src/scanner/submit.js';
import type { ScannerSetup } from '../../src/scanner/config.js';
import { waitFor } from '../support/wait.js';
import { fileFingerprint } from './support/edge.js';
import { noSleep, scannerFixture } from './support/fixture.js';
import type { ScannerFixture } from './support/fixture.js';

describe('scanner delivery across outages and certificate rotation', () => {
  let fx: ScannerFixture;
  let setup: ScannerSetup;
  let outbox: Outbox;
  before(async () => {
    fx = await scannerFixture();
    setup = await fx.setup({ timeoutMs: 5_000, certificateSource: 'files', certificatePollIntervalMs: 50 });
    outbox = Outbox.open(join(fx.dir, 'outbox.db'));
  });
  after(async () => {
    outbox.close();
    await setup.close();
    await fx.cleanup();
  });

  /** Re-issues the scanner's files (an external issuer renewing) and waits until the provider swapped it in. */
  const rotateScannerCertificate = async (): Promise<void> => {
    const leaf = await issueCertificate({ dir: join(fx.dir, 'pki'), role: 'scanner', name: 'scanner-01' });
    await waitFor(() => setup.credentials.current().fingerprint === leaf.fingerprint, { what: 'the provider to pick up the renewed certificate' });
  };

  it('retries while the edge refuses connections and delivers once when it is back', async () => {
    await fx.edge.stop();
    const storedBefore = fx.edge.stored.size;
    const file = fx.artifact('down.json', '{"outage":true}');
    let refused = 0;
    const running = submitArtifacts({ ...setup, outbox, scanId: 'scan-down', files: [file], maxAttempts: 100, backoff: { baseMs: 50, capMs: 200 }, onEvent: (e) => { if (e.type === 'retry') refused += 1; } });
    await waitFor(() => refused >= 2, { what: 'two refused attempts while the edge is down' });
    await fx.edge.start();
    const [result] = await running;
    assert.equal(result?.state, 'delivered');
    assert.ok((result?.attempts ?? 0) >= 2, `expected refused attempts before delivery, got ${result?.attempts}`);
    assert.equal(fx.edge.stored.size, storedBefore + 1);
    assert.equal(fx.edge.seen.filter((s) => s.scanId === 'scan-down' && s.method === 'POST').length, 1);
  });

  it('after a rotation, finds an envelope that did arrive instead of storing a re-signed copy', async () => {
    // The answer is lost and so is the immediate lookup that follows it: the item stays pending.
    fx.edge.plan.push('store-and-drop', 'drop');
    const file = fx.artifact('rotated-stored.json', '{"rotation":"stored"}');
    const [first] = await submitArtifacts({ ...setup, outbox, scanId: 'scan-rot-1', files: [file], maxAttempts: 1, sleep: noSleep });
    assert.equal(first?.state, 'failed');
    const storedAfterFirst = fx.edge.stored.size;
    await rotateScannerCertificate();

    const [second] = await submitArtifacts({ ...setup, outbox, scanId: 'scan-rot-1', files: [file], sleep: noSleep });
    assert.equal(second?.state, 'delivered');
    assert.equal(second?.envelopeSha256, first?.envelopeSha256);
    assert.equal(fx.edge.stored.size, storedAfterFirst, 'no second row for the same artifact');
    const lookups = fx.edge.seen.filter((s) => s.method === 'GET' && s.scanId === 'scan-rot-1' && s.status !== 0);
    assert.deepEqual(lookups.map((s) => s.status), [200]);
    assert.equal(lookups[0]?.peerFingerprint, fileFingerprint(fx.deployment.scanner.cert), 'the lookup already used the new certificate');
  });

  it('after a rotation, re-signs an envelope that never arrived so its intent names the new certificate', async () => {
    fx.edge.plan.push(503);
    const file = fx.artifact('rotated-lost.json', '{"rotation":"lost"}');
    const [first] = await submitArtifacts({ ...setup, outbox, scanId: 'scan-rot-2', files: [file], maxAttempts: 1, sleep: noSleep });
    assert.equal(first?.state, 'failed');
    const oldFingerprint = fileFingerprint(fx.deployment.scanner.cert);
    await rotateScannerCertificate();
    const newFingerprint = fileFingerprint(fx.deployment.scanner.cert);
    assert.notEqual(newFingerprint, oldFingerprint);

    const storedBefore = fx.edge.stored.size;
    const [second] = await submitArtifacts({ ...setup, outbox, scanId: 'scan-rot-2', files: [file], sleep: noSleep });
    assert.equal(second?.state, 'delivered');
    assert.notEqual(second?.envelopeSha256, first?.envelopeSha256);
    assert.equal(fx.edge.stored.size, storedBefore + 1);
    const posts = fx.edge.seen.filter((s) => s.method === 'POST' && s.scanId === 'scan-rot-2');
    assert.deepEqual(posts.map((s) => s.status), [503, 201]);
    assert.equal(posts[1]?.intentFingerprint, newFingerprint);
    assert.equal(posts[1]?.peerFingerprint, newFingerprint);
  });

  it('times out a request the edge never answers and keeps the item for a retry', async () => {
    const slow = await fx.setup({ timeoutMs: 200, certificateSource: 'files' });
    try {
      fx.edge.plan.push('hang');
      const file = fx.artifact('slow.json', '{"slow":true}');
      const [result] = await submitArtifacts({ ...slow, outbox, scanId: 'scan-slow', files: [file], maxAttempts: 1, sleep: noSleep });
      assert.equal(result?.state, 'failed');
      assert.equal(result?.code, 'SCANNER_TIMEOUT');
    } finally {
      await slow.close();
    }
  });
});
