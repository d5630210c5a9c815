/**
 * The one contract every EvidenceStore implementation passes (SQLite and PostgreSQL run the same
 * cases). `open` returns a fresh empty store; `openSibling`, when given, opens a second instance
 * on the same database (several lockers on one PostgreSQL, or two handles on one SQLite file).
 */
import { describe, it, after, before } from 'node:test';
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { ARTIFACT_CHUNK_BYTES, ScanConflictError, StorageError, type EvidenceRecord, type EvidenceStore, type NewArtifact, type ScanCompletion, type StoredArtifact } from '../../src/storage/types.js';

export interface StoreFactory {
  /** A new empty database and a store on it. */
  open(): Promise<{ store: EvidenceStore; openSibling: () => Promise<EvidenceStore>; dispose: () => Promise<void> }>;
}

/** A record with a real digest over random envelope bytes. */
export function sampleRecord(overrides: Partial<EvidenceRecord> = {}): EvidenceRecord {
  const envelope = Buffer.from(JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: randomBytes(24).toString('base64'), signatures: [{ keyid: 'k', sig: 'AA==' }] }));
  return {
    sha256: createHash('sha256').update(envelope).digest('hex'),
    scanId: 'scan-1',
    scannerId: 'scanner-01',
    serviceId: 'evidence-locker',
    payloadType: 'application/vnd.in-toto+json',
    envelope: new Uint8Array(envelope),
    hops: [{ id: 'gw-edge', seq: 1, ts: 1795891200, nonce: randomBytes(8).toString('hex'), peer: `sha256:${'ab'.repeat(32)}`, peerId: 'scanner-01', kid: 'edge-1' }],
    receipt: JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: randomBytes(8).toString('base64'), signatures: [] }),
    receivedAt: new Date().toISOString(),
    ...overrides,
  };
}

function completion(report: unknown): ScanCompletion {
  const envelope = Buffer.from(JSON.stringify(report));
  return { envelopeSha256: createHash('sha256').update(envelope).digest('hex'), envelope: new Uint8Array(envelope), report, completedAt: new Date().toISOString() };
}

/** An artifact over `bytes` with its true digest, referenced by `scanId`. */
export function sampleArtifact(bytes: Uint8Array, overrides: Partial<NewArtifact> = {}): NewArtifact {
  return {
    sha256: createHash('sha256').update(bytes).digest('hex'),
    bytes,
    scanId: 'scan-art',
    scannerId: 'scanner-01',
    evidenceSha256: createHash('sha256').update(randomBytes(8)).digest('hex'),
    storedAt: new Date().toISOString(),
    ...overrides,
  };
}

/** Reads a stored artifact back whole (tests only; services stream the chunks). */
export async function readAll(artifact: StoredArtifact): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of artifact.chunks()) parts.push(chunk);
  return Buffer.concat(parts);
}

/** Registers the contract cases under `describe(name)`. */
export function storeContract(name: string, factory: StoreFactory): void {
  describe(`${name} evidence store contract`, () => {
    let store: EvidenceStore;
    let openSibling: () => Promise<EvidenceStore>;
    let dispose: () => Promise<void>;
    before(async () => {
      ({ store, openSibling, dispose } = await factory.open());
    });
    after(async () => {
      await store.close();
      await dispose();
    });

    it('stores an envelope and reads back exactly the same record', async () => {
      const record = sampleRecord();
      const put = await store.putEvidence(record);
      assert.equal(put.created, true);
      const read = await store.getEvidence(record.sha256);
      assert.deepEqual(read, record);
    });

    it('keeps each hop record\'s MAC and the request facts the MACs cover, for offline verification', async () => {
      const base = sampleRecord({ scanId: 'scan-macs' });
      const record: EvidenceRecord = {
        ...base,
        hops: base.hops.map((h) => ({ ...h, mac: randomBytes(32).toString('base64') })),
        request: { method: 'POST', pathAndQuery: '/api/v1/evidence?a=%20b', contentDigest: 'sha-256=:AAAA:, sha-512=:BBBB:' },
      };
      await store.putEvidence(record);
      assert.deepEqual(await store.getEvidence(record.sha256), record);
      const withoutDigest: EvidenceRecord = { ...sampleRecord({ scanId: 'scan-macs' }), request: { method: 'PUT', pathAndQuery: '/x', contentDigest: null } };
      await store.putEvidence(withoutDigest);
      assert.deepEqual((await store.listByScan('scan-macs')).map((r) => r.request), [record.request, withoutDigest.request]);
    });

    it('keeps the v2 members as received and each hop\'s alg and signature, so public keys alone re-verify the chain', async () => {
      const base = sampleRecord({ scanId: 'scan-v2' });
      const record: EvidenceRecord = {
        ...base,
        hops: base.hops.map((h) => ({ ...h, alg: 'ed25519', signature: randomBytes(64).toString('base64') })),
        request: { method: 'POST', pathAndQuery: '/api/v1/evidence', contentDigest: null },
        provenanceV2: { signatureInput: 'stella-1-gw-edge=("@method");created=1', signature: `stella-1-gw-edge=:${randomBytes(64).toString('base64')}:` },
      };
      await store.putEvidence(record);
      assert.deepEqual(await store.getEvidence(record.sha256), record);
      const v1 = sampleRecord({ scanId: 'scan-v2' });
      await store.putEvidence(v1);
      assert.deepEqual((await store.listByScan('scan-v2')).map((r) => r.provenanceV2), [record.provenanceV2, undefined]);
    });

    it('answers the original row, not a second one, when the same envelope comes again', async () => {
      const record = sampleRecord({ scanId: 'scan-twice' });
      await store.putEvidence(record);
      const again = await store.putEvidence({ ...record, receipt: '{"different":"receipt"}', receivedAt: '2030-01-01T00:00:00.000Z' });
      assert.equal(again.created, false);
      assert.equal(again.record.receipt, record.receipt);
      assert.equal(again.record.receivedAt, record.receivedAt);
      assert.equal((await store.listByScan('scan-twice')).length, 1);
    });

    it('writes one row when the same envelope is put many times concurrently', async () => {
      const base = sampleRecord({ scanId: 'scan-race' });
      const attempts = Array.from({ length: 12 }, (_, i) => ({ ...base, receipt: `{"attempt":${i}}` }));
      const results = await Promise.all(attempts.map((r) => store.putEvidence(r)));
      assert.equal(results.filter((r) => r.created).length, 1);
      const winner = results.find((r) => r.created)!.record.receipt;
      for (const r of results) assert.equal(r.record.receipt, winner);
      assert.equal((await store.listByScan('scan-race')).length, 1);
    });

    it('keeps one row when two store instances on one database race on the same envelope', async () => {
      const sibling = await openSibling();
      try {
        const base = sampleRecord({ scanId: 'scan-two-instances' });
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? store : sibling).putEvidence({ ...base, receipt: `{"instance":${i % 2},"n":${i}}` })),
        );
        assert.equal(results.filter((r) => r.created).length, 1);
        const receipts = new Set(results.map((r) => r.record.receipt));
        assert.equal(receipts.size, 1);
        assert.deepEqual(await sibling.getEvidence(base.sha256), await store.getEvidence(base.sha256));
      } finally {
        await sibling.close();
      }
    });

    it('gives a scan to its first writer and refuses another scanner with ScanConflictError, writing nothing', async () => {
      const first = sampleRecord({ scanId: 'scan-owned', scannerId: 'scanner-01' });
      await store.putEvidence(first);
      assert.equal(await store.getScanOwner('scan-owned'), 'scanner-01');
      const intruder = sampleRecord({ scanId: 'scan-owned', scannerId: 'scanner-02' });
      await assert.rejects(store.putEvidence(intruder), (error: unknown) => error instanceof ScanConflictError && error.code === 'scan-conflict' && error.owner === 'scanner-01');
      assert.equal(await store.getEvidence(intruder.sha256), null);
      assert.deepEqual((await store.listByScan('scan-owned')).map((r) => r.sha256), [first.sha256]);
      assert.equal(await store.getScanOwner('scan-nobody'), null);
    });

    it('leaves exactly one owner when two store instances race two scanners on a new scan id', async () => {
      const sibling = await openSibling();
      try {
        const attempts = Array.from({ length: 10 }, (_, i) => ({ via: i % 2 === 0 ? store : sibling, record: sampleRecord({ scanId: 'scan-claim-race', scannerId: i % 4 < 2 ? 'scanner-01' : 'scanner-02' }) }));
        const outcomes = await Promise.allSettled(attempts.map(({ via, record }) => via.putEvidence(record)));
        const owner = await store.getScanOwner('scan-claim-race');
        assert.ok(owner === 'scanner-01' || owner === 'scanner-02', `owner ${owner}`);
        assert.equal(await sibling.getScanOwner('scan-claim-race'), owner);
        outcomes.forEach((outcome, i) => {
          const mine = attempts[i]!.record.scannerId === owner;
          assert.equal(outcome.status, mine ? 'fulfilled' : 'rejected', `attempt ${i}`);
          if (outcome.status === 'rejected') assert.ok(outcome.reason instanceof ScanConflictError, String(outcome.reason));
        });
        const stored = await store.listByScan('scan-claim-race');
        assert.equal(stored.length, attempts.filter((a) => a.record.scannerId === owner).length);
        assert.ok(stored.every((r) => r.scannerId === owner));
      } finally {
        await sibling.close();
      }
    });

    it('answers null for an unknown digest', async () => {
      assert.equal(await store.getEvidence('0'.repeat(64)), null);
    });

    it('lists the evidence of one scan oldest first and nothing of other scans', async () => {
      const first = sampleRecord({ scanId: 'scan-list' });
      const second = sampleRecord({ scanId: 'scan-list' });
      await store.putEvidence(first);
      await store.putEvidence(sampleRecord({ scanId: 'scan-other' }));
      await store.putEvidence(second);
      const listed = await store.listByScan('scan-list');
      assert.deepEqual(listed.map((r) => r.sha256), [first.sha256, second.sha256]);
      assert.deepEqual(await store.listByScan('scan-nobody'), []);
    });

    it('rejects a record whose digest is not lowercase hex as a caller mistake', async () => {
      await assert.rejects(store.putEvidence(sampleRecord({ sha256: 'ABC' })), TypeError);
    });

    it('registers a scan once and answers the first registration on a repeat', async () => {
      const first = await store.registerScan({ scanId: 'scan-reg', scannerId: 'scanner-01', registration: { image: 'a' }, registeredAt: '2026-11-28T00:00:00.000Z' });
      assert.equal(first.created, true);
      assert.equal(first.record.status, 'registered');
      assert.deepEqual(first.record.registration, { image: 'a' });
      const again = await store.registerScan({ scanId: 'scan-reg', scannerId: 'scanner-02', registration: { image: 'b' }, registeredAt: '2026-11-28T01:00:00.000Z' });
      assert.equal(again.created, false);
      assert.equal(again.record.scannerId, 'scanner-01');
      assert.deepEqual(await store.getScan('scan-reg'), first.record);
    });

    it('completes a scan once, repeats idempotently, and reports a conflicting second report', async () => {
      await store.registerScan({ scanId: 'scan-done', scannerId: 'scanner-01', registration: {}, registeredAt: '2026-11-28T00:00:00.000Z' });
      const report = completion({ findings: 3 });
      const done = await store.completeScan('scan-done', report);
      assert.equal(done.outcome, 'completed');
      assert.equal(done.outcome === 'completed' && done.record.completion?.envelopeSha256, report.envelopeSha256);
      const repeat = await store.completeScan('scan-done', report);
      assert.equal(repeat.outcome, 'already-completed');
      const other = await store.completeScan('scan-done', completion({ findings: 4 }));
      assert.equal(other.outcome, 'conflict');
      const read = await store.getScan('scan-done');
      assert.equal(read?.status, 'completed');
      assert.deepEqual(read?.completion?.report, { findings: 3 });
      assert.deepEqual(Buffer.from(read!.completion!.envelope), Buffer.from(report.envelope));
    });

    it('reports not-found when completing a scan that was never registered', async () => {
      const result = await store.completeScan('scan-ghost', completion({}));
      assert.equal(result.outcome, 'not-found');
      assert.equal(await store.getScan('scan-ghost'), null);
    });

    it('fails with storage-unavailable, not a crash, once an instance is closed', async () => {
      const sibling = await openSibling();
      await sibling.close();
      await assert.rejects(sibling.getEvidence('0'.repeat(64)), (e: unknown) => e instanceof StorageError && e.code === 'storage-unavailable');
      await assert.rejects(sibling.ping(), (e: unknown) => e instanceof StorageError && e.code === 'storage-unavailable');
    });

    it('stores an artifact in chunks and reads back exactly its bytes', async () => {
      const bytes = randomBytes(ARTIFACT_CHUNK_BYTES * 2 + 17);
      const artifact = sampleArtifact(bytes, { scanId: 'scan-art-chunks' });
      const put = await store.putArtifact(artifact);
      assert.equal(put.created, true);
      assert.equal(put.bytesWritten, true);
      assert.deepEqual(put.ref, { sha256: artifact.sha256, scanId: 'scan-art-chunks', scannerId: 'scanner-01', evidenceSha256: artifact.evidenceSha256, size: bytes.length, referencedAt: artifact.storedAt });
      const stored = await store.getArtifact(artifact.sha256);
      assert.equal(stored?.size, bytes.length);
      const chunks: number[] = [];
      for await (const chunk of stored!.chunks()) chunks.push(chunk.length);
      assert.deepEqual(chunks, [ARTIFACT_CHUNK_BYTES, ARTIFACT_CHUNK_BYTES, 17]);
      assert.ok((await readAll(stored!)).equals(bytes));
      assert.deepEqual(await store.getArtifactRef('scan-art-chunks', artifact.sha256), put.ref);
    });

    it('keeps one copy of an artifact that a second scan names, with two references', async () => {
      const bytes = randomBytes(4096);
      const first = await store.putArtifact(sampleArtifact(bytes, { scanId: 'scan-art-a' }));
      const second = await store.putArtifact(sampleArtifact(bytes, { scanId: 'scan-art-b', scannerId: 'scanner-02' }));
      assert.equal(first.bytesWritten, true);
      assert.equal(second.created, true);
      assert.equal(second.bytesWritten, false);
      assert.deepEqual((await store.listArtifactsByScan('scan-art-a')).map((r) => r.sha256), [first.ref.sha256]);
      assert.deepEqual((await store.listArtifactsByScan('scan-art-b')).map((r) => [r.sha256, r.scannerId]), [[first.ref.sha256, 'scanner-02']]);
      assert.ok((await readAll((await store.getArtifact(first.ref.sha256))!)).equals(bytes));
    });

    it('writes nothing when the same scan sends the same artifact again', async () => {
      const artifact = sampleArtifact(randomBytes(100), { scanId: 'scan-art-again' });
      const first = await store.putArtifact(artifact);
      const again = await store.putArtifact({ ...artifact, storedAt: '2030-01-01T00:00:00.000Z' });
      assert.equal(again.created, false);
      assert.equal(again.bytesWritten, false);
      assert.deepEqual(again.ref, first.ref);
      assert.equal((await store.listArtifactsByScan('scan-art-again')).length, 1);
    });

    it('stores one copy when many puts of one new artifact race, from two instances', async () => {
      const sibling = await openSibling();
      try {
        const bytes = randomBytes(ARTIFACT_CHUNK_BYTES + 5);
        const results = await Promise.all(
          Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? store : sibling).putArtifact(sampleArtifact(bytes, { scanId: `scan-art-race-${i % 3}` }))),
        );
        assert.equal(results.filter((r) => r.bytesWritten).length, 1);
        assert.equal(results.filter((r) => r.created).length, 3);
        assert.ok((await readAll((await sibling.getArtifact(results[0]!.ref.sha256))!)).equals(bytes));
      } finally {
        await sibling.close();
      }
    });

    it('refuses bytes that do not hash to the digest and stores nothing', async () => {
      const artifact = sampleArtifact(randomBytes(64), { scanId: 'scan-art-lie' });
      await assert.rejects(store.putArtifact({ ...artifact, bytes: randomBytes(64) }), TypeError);
      assert.equal(await store.getArtifact(artifact.sha256), null);
      assert.equal(await store.getArtifactRef('scan-art-lie', artifact.sha256), null);
      assert.deepEqual(await store.listArtifactsByScan('scan-art-lie'), []);
    });

    it('stages a streamed upload invisibly and makes it the artifact only at commit', async () => {
      const bytes = randomBytes(2 * ARTIFACT_CHUNK_BYTES + 12_345);
      const artifact = sampleArtifact(bytes, { scanId: 'scan-art-stream' });
      const staging = await store.stageArtifact(artifact.sha256);
      // Pieces of odd sizes, as a socket hands them over.
      for (let offset = 0; offset < bytes.length; offset += 65_537) await staging.write(bytes.subarray(offset, offset + 65_537));
      const staged = await staging.finish();
      assert.equal(staged.length, bytes.length);
      assert.equal(staged.sha256.toString('hex'), artifact.sha256);
      assert.equal(await store.getArtifact(artifact.sha256), null, 'nothing is visible before the commit');
      const { bytes: _bytes, ...ref } = artifact;
      const put = await staging.commit(ref);
      assert.deepEqual([put.created, put.bytesWritten, put.ref.size], [true, true, bytes.length]);
      assert.ok((await readAll((await store.getArtifact(artifact.sha256))!)).equals(bytes));
      await staging.discard(); // after the commit: nothing happens
      assert.ok((await readAll((await store.getArtifact(artifact.sha256))!)).equals(bytes));
    });

    it('keeps nothing of a discarded upload, and the same bytes store whole afterwards', async () => {
      const bytes = randomBytes(ARTIFACT_CHUNK_BYTES + 7);
      const artifact = sampleArtifact(bytes, { scanId: 'scan-art-discard' });
      const staging = await store.stageArtifact(artifact.sha256);
      await staging.write(bytes);
      await staging.finish();
      await staging.discard();
      await staging.discard();
      assert.equal(await store.getArtifact(artifact.sha256), null);
      assert.deepEqual(await store.listArtifactsByScan('scan-art-discard'), []);
      const put = await store.putArtifact(artifact);
      assert.equal(put.bytesWritten, true);
      assert.ok((await readAll((await store.getArtifact(artifact.sha256))!)).equals(bytes));
    });

    it('refuses to commit staged bytes under another digest, and drops them', async () => {
      const claimed = sampleArtifact(randomBytes(100), { scanId: 'scan-art-claim' });
      const staging = await store.stageArtifact(claimed.sha256);
      await staging.write(randomBytes(100));
      await staging.finish();
      const { bytes: _bytes, ...ref } = claimed;
      await assert.rejects(staging.commit(ref), TypeError);
      assert.equal(await store.getArtifact(claimed.sha256), null);
      assert.equal(await store.getArtifactRef('scan-art-claim', claimed.sha256), null);
      await assert.rejects(staging.commit(ref), TypeError, 'a dropped upload cannot be committed');
    });

    it('only hashes an upload of bytes stored already, and adds the reference', async () => {
      const bytes = randomBytes(ARTIFACT_CHUNK_BYTES + 1);
      const first = await store.putArtifact(sampleArtifact(bytes, { scanId: 'scan-art-known-1' }));
      const second = sampleArtifact(bytes, { scanId: 'scan-art-known-2' });
      const staging = await store.stageArtifact(second.sha256);
      await staging.write(bytes);
      await staging.finish();
      const { bytes: _bytes, ...ref } = second;
      const put = await staging.commit(ref);
      assert.deepEqual([put.created, put.bytesWritten], [true, false]);
      assert.equal(first.bytesWritten, true);
      assert.ok((await readAll((await store.getArtifact(second.sha256))!)).equals(bytes));
    });

    it('answers null for an artifact nobody stored and for a scan that does not reference it', async () => {
      const artifact = sampleArtifact(randomBytes(32), { scanId: 'scan-art-owner' });
      await store.putArtifact(artifact);
      assert.equal(await store.getArtifact('0'.repeat(64)), null);
      assert.equal(await store.getArtifactRef('scan-art-stranger', artifact.sha256), null);
    });

    it('answers a ping while open', async () => {
      await store.ping();
      assert.equal(typeof store.kind, 'string');
    });
  });
}
