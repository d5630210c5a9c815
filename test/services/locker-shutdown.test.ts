/**
 * Graceful shutdown (docs/services.md): `close()` stops accepting but lets an ingest that is already
 * writing finish — the client gets its 201 and the row is there.
 */
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { createSigner } from '../../src/dsse/index.js';
import { buildLockerApp } from '../../src/services/locker/app.js';
import { openSqliteStore } from '../../src/storage/sqlite.js';
import type { EvidenceRecord, EvidenceStore } from '../../src/storage/types.js';
import { tempDir } from '../support/tmp.js';
import { provenanceOptions, serviceTopology, sha256Hex, signedEnvelope, stamp, testKeys } from './support/fixture.js';

describe('Evidence Locker shutdown', () => {
  it('finishes an in-flight ingest before closing the store', async () => {
    const dir = tempDir('stella-shutdown-');
    const file = join(dir.path, 'evidence.db');
    const real = openSqliteStore({ file });
    let writing!: () => void;
    const writeStarted = new Promise<void>((resolve) => (writing = resolve));
    // The real store, with the write held back until close() has begun.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const slow: EvidenceStore = {
      kind: real.kind,
      putEvidence: async (record: EvidenceRecord) => {
        writing();
        await released;
        return real.putEvidence(record);
      },
      getEvidence: (sha) => real.getEvidence(sha),
      getScanOwner: (scanId) => real.getScanOwner(scanId),
      listByScan: (scanId) => real.listByScan(scanId),
      registerScan: (scan) => real.registerScan(scan),
      getScan: (scanId) => real.getScan(scanId),
      completeScan: (scanId, completion) => real.completeScan(scanId, completion),
      putArtifact: (artifact) => real.putArtifact(artifact),
      stageArtifact: (sha) => real.stageArtifact(sha),
      getArtifact: (sha) => real.getArtifact(sha),
      getArtifactRef: (scanId, sha) => real.getArtifactRef(scanId, sha),
      listArtifactsByScan: (scanId) => real.listArtifactsByScan(scanId),
      ping: () => real.ping(),
      close: () => real.close(),
    };
    const topology = serviceTopology('evidence-locker');
    const keys = testKeys();
    const app = await buildLockerApp({ topology, serviceId: 'evidence-locker', store: slow, receiptSigner: createSigner(keys.receiptPrivate), provenance: provenanceOptions(keys, Date.now) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const body = await signedEnvelope(keys, { scanId: 'scan-close', nowMs: Date.now() });
      const request = stamp(topology, keys, { method: 'POST', url: '/api/v1/evidence', scanId: 'scan-close', body, nowMs: Date.now() });
      const pending = fetch(`http://127.0.0.1:${port}/api/v1/evidence`, { method: 'POST', headers: request.headers, body });
      await writeStarted;
      const closing = app.close();
      release();
      const response = await pending;
      assert.equal(response.status, 201);
      await closing;
      const reopened = openSqliteStore({ file });
      assert.ok(await reopened.getEvidence(sha256Hex(body)));
      await reopened.close();
    } finally {
      dir.remove();
    }
  });
});
