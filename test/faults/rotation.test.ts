/**
 * Rotation under load (docs/operations/certificates.md, docs/faults.md): the `scanner run` daemon streams artifacts through the real
 * chain while the scanner's client certificate is re-issued on disk ≥ 10 times; the worker's
 * `files` certificate source picks each one up and new requests present it, requests in flight
 * finish on the old connection. No attempt may fail, and the outbox must show the deliveries
 * spread over the rotated certificates (so the rotations really happened during the stream).
 */
import { describe, it, after } from 'node:test';
import { strict as assert } from 'node:assert';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { issueCertificate } from '../../src/pki/index.js';
import { REFERENCE_TOPOLOGY, startChain, type Chain } from '../support/chain.js';
import { letTimePass, waitFor } from '../support/wait.js';
import { startScannerDaemon, type ScannerDaemon } from './support/daemon.js';
import { recordFault } from './support/figures.js';

const ROTATIONS = 12;
const ROTATION_INTERVAL_MS = 600;
const ARTIFACT_INTERVAL_MS = 40;
const SETTLE_TIMEOUT_MS = 120_000;

describe('client certificate rotation under load', () => {
  let chain: Chain | undefined;
  let daemon: ScannerDaemon | undefined;
  after(async () => {
    await daemon?.close();
    await chain?.close();
  });

  it(`delivers a stream without one failed attempt across ${ROTATIONS} certificate rotations`, { timeout: 300_000 }, async () => {
    chain = await startChain(REFERENCE_TOPOLOGY);
    const topology = chain.topology;
    const scanner = chain.scanner();
    daemon = await startScannerDaemon(chain, { certificateSource: 'files', certificatePollIntervalMs: 100, timeoutMs: 15_000 }, { pollIntervalMs: 50, settleMs: 0, idlePollMs: 100 });
    const { outbox: box, spool, events } = daemon;

    // The stream: one artifact every ARTIFACT_INTERVAL_MS for as long as the rotations last.
    let streaming = true;
    let dropped = 0;
    const producer = (async () => {
      const dir = join(spool, 'rotation');
      mkdirSync(dir, { recursive: true });
      while (streaming) {
        const name = `sbom-${dropped}.json`;
        writeFileSync(join(dir, `.${name}`), JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.5', serialNumber: `urn:uuid:rotation-${dropped}` }));
        renameSync(join(dir, `.${name}`), join(dir, name));
        dropped += 1;
        await letTimePass(ARTIFACT_INTERVAL_MS, 'the pace of the stream');
      }
    })();
    for (let rotation = 0; rotation < ROTATIONS; rotation++) {
      await letTimePass(ROTATION_INTERVAL_MS, 'the pace of the rotations: deliveries in between');
      await issueCertificate({ dir: topology.pki.dir, role: 'scanner', name: scanner.id, out: dirname(scanner.tls.cert) });
    }
    await letTimePass(ROTATION_INTERVAL_MS, 'deliveries with the last certificate');
    streaming = false;
    await producer;
    // A stream that does not settle is recorded as a miss and fails the assertions below.
    await waitFor(() => box.summary().counts.delivered + box.summary().counts.rejected >= dropped, { what: 'the stream to settle', timeout: SETTLE_TIMEOUT_MS, interval: 100 }).catch(() => undefined);
    await daemon.stop();

    const items = box.itemsOfScan('rotation');
    const used = new Set(items.map((i) => i.clientFingerprint).filter((f): f is string => f !== null));
    const failed = events.flatMap((e) => (e.type === 'delivered' ? [] : [`${e.type}: ${e.error.code} ${e.error.status ?? ''} ${e.error.message}`]));
    recordFault({
      case: 'Client certificate rotation under load',
      target: `failed attempts = 0 over ≥ 10 rotations`,
      met: failed.length === 0 && used.size >= ROTATIONS && items.length === dropped,
      figures: { rotations: ROTATIONS, artifacts: dropped, delivered: box.summary().counts.delivered, failedAttempts: failed.length, certificatesUsed: used.size },
    });
    assert.deepEqual(failed, [], 'no attempt may fail during rotation');
    assert.equal(items.length, dropped);
    assert.deepEqual(box.summary().counts, { pending: 0, delivered: dropped, rejected: 0 });
    // The initial certificate plus every rotation carried deliveries (at most one may be skipped
    // over if two rotations land between two deliveries; with 600 ms apart none should).
    assert.ok(used.size >= ROTATIONS, `deliveries used ${used.size} certificates, expected at least ${ROTATIONS}`);
  });
});
