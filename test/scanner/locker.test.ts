/**
 * The worker against the REAL Evidence Locker app (its provenance verification, SQLite store and
 * receipts), behind a relay that stamps the way the gateway chain does (support/relay.ts).
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKey } from '../../src/dsse/index.js';
import { issueCertificate } from '../../src/pki/index.js';
import { Outbox } from '../../src/scanner/outbox.js';
import { submitArtifacts } from '../../src/scanner/submit.js';
import type { DeliveryEvent } from '../../src/scanner/worker.js';
import type { ScannerSetup } from '../../src/scanner/config.js';
import { NOW_MS, lockerWorld } from '../services/support/locker.js';
import type { LockerWorld } from '../services/support/locker.js';
import { readAll } from '../storage/contract.js';
import { waitFor } from '../support/wait.js';
import { noSleep, scannerFixture } from './support/fixture.js';
import type { ScannerFixture } from './support/fixture.js';
import { startChainRelay } from './support/relay.js';
import type { ChainRelay } from './support/relay.js';

describe('scanner delivery to the real Evidence Locker', () => {
  let fx: ScannerFixture;
  let world: LockerWorld;
  let relay: ChainRelay;
  let setup: ScannerSetup;
  let outbox: Outbox;
  before(async () => {
    fx = await scannerFixture();
    await fx.edge.stop();
    world = await lockerWorld();
    if (world.keys.scanner.type !== 'secret') throw new TypeError('the services fixture signs with an HMAC key');
    writeFileSync(fx.deployment.hmacKeyFile, world.keys.scanner.secret.toString('base64'));
    const receiptKey = fx.artifact('locker-receipt.pub', world.keys.receiptPublicPem);
    relay = await startChainRelay({ deployment: fx.deployment, port: fx.edge.port, app: world.app, lockerTopology: world.topology, keys: world.keys, nowMs: NOW_MS });
    setup = await fx.setup({ receiptKey, certificateSource: 'files', certificatePollIntervalMs: 50 });
    outbox = Outbox.open(join(fx.dir, 'outbox.db'));
  });
  after(async () => {
    outbox.close();
    await setup.close();
    await relay.stop();
    await world.dispose();
    await fx.cleanup();
  });

  it('is stored by the locker, which accepts the headers, the binding and the signature, and its receipt verifies', async () => {
    const events: DeliveryEvent[] = [];
    const [result] = await submitArtifacts({ ...setup, outbox, scanId: 'real-1', files: [fx.artifact('sbom.json', '{"real":1}')], sleep: noSleep, onEvent: (e) => events.push(e) });
    assert.equal(result?.state, 'delivered', `${result?.code}: ${result?.message}`);
    // The worker knows each request by the id the edge gave it and the locker echoed (what its log line carries).
    const [statement, upload] = relay.seen.slice(-2);
    const delivered = events.find((e) => e.type === 'delivered');
    assert.ok(delivered?.type === 'delivered');
    assert.equal(delivered.delivered.requestId, statement?.requestId);
    assert.equal(delivered.delivered.artifact.requestId, upload?.requestId);
    assert.notEqual(statement?.requestId, upload?.requestId);
    assert.equal(result?.status, 201);
    const record = await world.store.getEvidence(result?.envelopeSha256 ?? '');
    assert.equal(record?.scanId, 'real-1');
    assert.equal(record?.receipt, outbox.get(result?.itemId ?? -1)?.receipt);
    // The artifact's bytes reached the locker too, referenced by the scan and its statement.
    const ref = await world.store.getArtifactRef('real-1', result?.artifactSha256 ?? '');
    assert.equal(ref?.evidenceSha256, result?.envelopeSha256);
    assert.deepEqual(await readAll((await world.store.getArtifact(result?.artifactSha256 ?? ''))!), Buffer.from('{"real":1}'));
  });

  it('after a lost answer, resends the frozen envelope and the locker keeps one row', async () => {
    relay.plan.push('drop-answer');
    const [result] = await submitArtifacts({ ...setup, outbox, scanId: 'real-2', files: [fx.artifact('lost.json', '{"real":2}')], sleep: noSleep, backoff: { baseMs: 1, capMs: 1 } });
    assert.equal(result?.state, 'delivered');
    assert.equal(result?.status, 200);
    assert.equal((await world.store.listByScan('real-2')).length, 1);
  });

  it('after lost answers and a certificate rotation, finds the stored envelope again and keeps one row', async () => {
    // The answer to the POST and to the worker's immediate lookup by digest are both lost, so the
    // first attempt ends without knowing (docs/scanner.md): the next one, under a new certificate, finds it.
    relay.plan.push('drop-answer', 'drop-answer');
    const file = fx.artifact('rotated.json', '{"real":3}');
    const [first] = await submitArtifacts({ ...setup, outbox, scanId: 'real-3', files: [file], maxAttempts: 1, sleep: noSleep });
    assert.equal(first?.state, 'failed');
    const leaf = await issueCertificate({ dir: join(fx.dir, 'pki'), role: 'scanner', name: 'scanner-01' });
    await waitFor(() => setup.credentials.current().fingerprint === leaf.fingerprint, { what: 'the renewed certificate' });
    const [second] = await submitArtifacts({ ...setup, outbox, scanId: 'real-3', files: [file], sleep: noSleep });
    assert.equal(second?.state, 'delivered', `${second?.code}: ${second?.message}`);
    assert.equal(second?.envelopeSha256, first?.envelopeSha256);
    assert.equal((await world.store.listByScan('real-3')).length, 1);
    // Found again either way the worker asks: its lookup by digest, or the idempotent resend the
    // locker answers 200 with the original receipt; never a second row.
    assert.equal(relay.seen.at(-1)?.status, 200);
  });

  it('is rejected with the locker code envelope-invalid, not retried, when signed with a key the locker does not trust', async () => {
    const before = relay.seen.length;
    writeFileSync(fx.deployment.hmacKeyFile, generateKey('hmac-sha256').private);
    try {
      const events: DeliveryEvent[] = [];
      const [result] = await submitArtifacts({ ...setup, outbox, scanId: 'real-4', files: [fx.artifact('untrusted.json', '{"real":4}')], sleep: noSleep, onEvent: (e) => events.push(e) });
      assert.equal(result?.state, 'rejected');
      assert.equal(result?.code, 'envelope-invalid');
      assert.equal(result?.status, 401);
      assert.equal(relay.seen.length, before + 1);
      // The refusal carries the id too, so the locker's decision line can be found from the worker's.
      const rejected = events.find((e) => e.type === 'rejected');
      assert.ok(rejected?.type === 'rejected');
      assert.equal(rejected.error.requestId, relay.seen.at(-1)?.requestId);
      assert.equal((await world.store.listByScan('real-4')).length, 0);
    } finally {
      if (world.keys.scanner.type === 'secret') writeFileSync(fx.deployment.hmacKeyFile, world.keys.scanner.secret.toString('base64'));
    }
  });
});
