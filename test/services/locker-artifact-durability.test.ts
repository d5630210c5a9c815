/**
 * Acknowledged artifacts are durable and never partial (docs/services.md#artifacts): a locker
 * process is SIGKILLed at random moments while statements and multi-chunk artifacts stream in;
 * afterwards every artifact that got a 201 is there, its chunks hash to its digest, and no stored
 * artifact anywhere — acknowledged or not — is partial or without its reference. Uploads cut in
 * flight leave only staged chunks no reader reaches, deleted once stale. test/faults/sigkill.test.ts
 * runs this file and records its figures.
 */
import { describe, it, after } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { openSqlite } from '../../src/io/sqlite-driver.js';
import { generateKey, parseKeyFile } from '../../src/dsse/index.js';
import { openSqliteStore } from '../../src/storage/sqlite.js';
import { STALE_UPLOAD_MS } from '../../src/storage/staging.js';
import { ARTIFACT_CHUNK_BYTES } from '../../src/storage/types.js';
import { readAll } from '../storage/contract.js';
import { tempDir } from '../support/tmp.js';
import { serviceTopology, sha256Hex, signedEnvelope, stamp, testKeys } from './support/fixture.js';
import type { ChildConfig } from './support/locker-child.js';

const TRIALS = 10;
const PARALLEL_SENDERS = 3;
const CHILD = join(import.meta.dirname, 'support', 'locker-child.ts');

async function startChild(configFile: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), CHILD, configFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`locker child exited early with ${code}`)));
    lines.on('line', (line) => {
      const match = /^listening (\d+)$/.exec(line);
      if (match) resolve(Number(match[1]));
    });
  });
  return { child, port };
}

describe('Evidence Locker artifact durability under kill -9', () => {
  const dir = tempDir('stella-artifact-durability-');
  after(() => dir.remove());

  it(`keeps every acknowledged artifact whole across ${TRIALS} SIGKILLs, and no partial one`, { timeout: 300_000 }, async () => {
    const keys = testKeys();
    const topology = serviceTopology('evidence-locker');
    const dbFile = join(dir.path, 'evidence.db');
    const receipt = generateKey('ed25519');
    keys.receiptPublic = parseKeyFile(Buffer.from(receipt.public!));
    const config: ChildConfig = {
      dbFile,
      hopKeys: Object.fromEntries([...keys.hopKeys].map(([hop, ring]) => [hop, Object.fromEntries([...ring].map(([kid, key]) => [kid, key.toString('base64')]))])),
      scannerSecret: keys.scanner.type === 'secret' ? keys.scanner.secret.toString('base64') : '',
      receiptPrivatePem: receipt.private,
      receiptPublicPem: receipt.public!,
    };
    const configFile = join(dir.path, 'child.json');
    writeFileSync(configFile, JSON.stringify(config), { mode: 0o600 });

    const acknowledged = new Map<string, string>(); // artifact sha256 → scan id
    let attempted = 0;
    let cutInFlight = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const { child, port } = await startChild(configFile);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      let alive = true;
      const post = async (url: string, scanId: string, body: Buffer, contentType: string): Promise<Response> => {
        const request = stamp(topology, keys, { method: 'POST', url, scanId, body, nowMs: Date.now(), contentType });
        return fetch(`http://127.0.0.1:${port}${url}`, { method: 'POST', headers: request.headers, body });
      };
      const sender = async (n: number): Promise<void> => {
        for (let i = 0; alive; i++) {
          const scanId = `trial-${trial}-${n}`;
          // 0.1 to 3 chunks, so a kill can land between the chunk rows of one artifact.
          const bytes = randomBytes(randomInt(100_000, ARTIFACT_CHUNK_BYTES * 3));
          try {
            const statement = await post('/api/v1/evidence', scanId, await signedEnvelope(keys, { scanId, nowMs: Date.now(), artifactBytes: bytes }), 'application/json');
            await statement.arrayBuffer();
            if (statement.status !== 201) continue;
            attempted += 1;
            const upload = await post(`/api/v1/artifacts/${sha256Hex(bytes)}`, scanId, bytes, 'application/octet-stream');
            await upload.arrayBuffer();
            if (upload.status === 201) acknowledged.set(sha256Hex(bytes), scanId);
            else assert.equal(upload.status, 503, `unexpected status ${upload.status}`);
          } catch (error) {
            if (error instanceof assert.AssertionError) throw error;
            // connection cut by the kill: not acknowledged, may or may not be stored
          }
        }
      };
      const senders = Array.from({ length: PARALLEL_SENDERS }, (_, n) => sender(n));
      await new Promise((resolve) => setTimeout(resolve, 200 + Math.floor(Math.random() * 600)));
      // On a loaded machine the first upload may take longer than the window: the kill waits for
      // one acknowledgement of this trial (then lands at a random moment of the next uploads).
      const before = acknowledged.size;
      for (const deadline = Date.now() + 20_000; acknowledged.size === before && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 20));
      await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 300)));
      child.kill('SIGKILL');
      await exited;
      alive = false;
      await Promise.all(senders);
    }

    assert.ok(acknowledged.size >= TRIALS, `expected at least ${TRIALS} acknowledged artifacts, got ${acknowledged.size}`);
    const store = openSqliteStore({ file: dbFile });
    try {
      for (const [sha256, scanId] of acknowledged) {
        const stored = await store.getArtifact(sha256);
        assert.ok(stored, `acknowledged artifact ${sha256} is missing after kill -9`);
        assert.equal(sha256Hex(await readAll(stored)), sha256);
        assert.ok(await store.getArtifactRef(scanId, sha256), `the reference of scan ${scanId} to ${sha256} is missing`);
      }
    } finally {
      await store.close();
    }
    // Nothing partial, acknowledged or not: every stored artifact has all its chunks, hashes to its
    // key, and is referenced; every reference names a stored artifact and a stored statement.
    const db = openSqlite(dbFile, { readonly: true });
    try {
      const artifacts = db.prepare('SELECT sha256, size, chunks FROM artifacts').all() as { sha256: string; size: number; chunks: number }[];
      for (const a of artifacts) {
        const chunks = db.prepare('SELECT bytes FROM artifact_chunks WHERE blob = (SELECT blob FROM artifacts WHERE sha256 = ?) ORDER BY idx').all(a.sha256) as { bytes: Buffer }[];
        assert.equal(chunks.length, a.chunks);
        const hash = createHash('sha256');
        for (const c of chunks) hash.update(c.bytes);
        assert.equal(hash.digest('hex'), a.sha256);
        assert.ok((db.prepare('SELECT count(*) AS n FROM artifact_refs WHERE sha256 = ?').get(a.sha256) as { n: number }).n >= 1);
      }
      const orphans = db.prepare('SELECT count(*) AS n FROM artifact_refs r LEFT JOIN artifacts a USING (sha256) LEFT JOIN evidence e ON e.sha256 = r.evidence_sha256 WHERE a.sha256 IS NULL OR e.sha256 IS NULL').get() as { n: number };
      assert.equal(orphans.n, 0);
      // Uploads the kills cut short: chunk rows only under a registered upload id, which no
      // artifact names, so no reader reaches them.
      cutInFlight = (db.prepare('SELECT count(*) AS n FROM artifact_uploads').get() as { n: number }).n;
      const stray = db.prepare('SELECT count(*) AS n FROM artifact_chunks WHERE blob NOT IN (SELECT blob FROM artifacts) AND blob NOT IN (SELECT blob FROM artifact_uploads)').get() as { n: number };
      assert.equal(stray.n, 0, 'every chunk row belongs to an artifact or to a registered upload');
      assert.equal((db.prepare('SELECT count(*) AS n FROM artifacts a JOIN artifact_uploads u USING (blob)').get() as { n: number }).n, 0, 'a committed upload is no longer registered');
      process.stdout.write(`# artifact durability: ${TRIALS} kills, ${attempted} uploads attempted, ${acknowledged.size} acknowledged, ${artifacts.length} stored, ${cutInFlight} cut in flight\n`);
    } finally {
      db.close();
    }
    // Once older than any request may last, the cut uploads go at the next start; what was stored stays.
    const later = openSqliteStore({ file: dbFile, now: () => Date.now() + STALE_UPLOAD_MS + 1000 });
    try {
      for (const [sha256] of acknowledged) assert.equal(sha256Hex(await readAll((await later.getArtifact(sha256))!)), sha256);
    } finally {
      await later.close();
    }
    const cleaned = openSqlite(dbFile, { readonly: true });
    try {
      assert.equal((cleaned.prepare('SELECT count(*) AS n FROM artifact_uploads').get() as { n: number }).n, 0);
      assert.equal((cleaned.prepare('SELECT count(*) AS n FROM artifact_chunks WHERE blob NOT IN (SELECT blob FROM artifacts)').get() as { n: number }).n, 0);
    } finally {
      cleaned.close();
    }
  });
});
