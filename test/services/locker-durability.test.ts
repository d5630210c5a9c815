/**
 * Acknowledged means durable (docs/services.md): a locker process is SIGKILLed at random moments while
 * ingests stream in; after each restart every envelope that got a 201 is present, whole and
 * readable, its receipt verifies, and no row is partial.
 */
import { describe, it, after } from 'node:test';
import { strict as assert } from 'node:assert';
import { openSqlite } from '../../src/io/sqlite-driver.js';
import { parseEnvelope } from '../../src/dsse/index.js';
import { verifyReceipt } from '../../src/evidence/receipt.js';
import { openSqliteStore } from '../../src/storage/sqlite.js';
import { tempDir } from '../support/tmp.js';
import { letTimePass, randomMs } from '../support/wait.js';
import { sha256Hex, signedEnvelope, stamp } from './support/fixture.js';
import { killWorld, runKillTrials } from './support/kill-trials.js';

const TRIALS = 20;
const PARALLEL_SENDERS = 4;

describe('Evidence Locker durability under kill -9', () => {
  const dir = tempDir('stella-durability-');
  after(() => dir.remove());

  it(`keeps every acknowledged envelope whole across ${TRIALS} SIGKILLs at random moments`, { timeout: 120_000 }, async () => {
    const world = killWorld(dir.path);
    const { keys, topology, dbFile } = world;
    const acknowledged = new Map<string, unknown>();
    let attempted = 0;
    let killedInFlight = 0;
    await runKillTrials({
      world,
      trials: TRIALS,
      senders: PARALLEL_SENDERS,
      send: async ({ port, trial, sender: n, i }) => {
        const scanId = `trial-${trial}`;
        const body = await signedEnvelope(keys, { scanId, nowMs: Date.now(), artifact: `t${trial}-s${n}-${i}` });
        const request = stamp(topology, keys, { method: 'POST', url: '/api/v1/evidence', scanId, body, nowMs: Date.now() });
        attempted += 1;
        try {
          const response = await fetch(`http://127.0.0.1:${port}/api/v1/evidence`, { method: 'POST', headers: request.headers, body });
          const answer = (await response.json()) as { sha256: string; receipt: unknown };
          if (response.status === 201) acknowledged.set(answer.sha256, answer.receipt);
          else assert.equal(response.status, 503, `unexpected status ${response.status}`);
        } catch (error) {
          if (error instanceof assert.AssertionError) throw error;
          killedInFlight += 1; // connection cut by the kill: not acknowledged, may or may not be stored
        }
      },
      killWhen: () => letTimePass(randomMs(60, 400), 'the kill lands at a random moment of the stream'),
    });

    assert.ok(acknowledged.size >= TRIALS, `expected at least ${TRIALS} acknowledged ingests, got ${acknowledged.size}`);
    const store = openSqliteStore({ file: dbFile });
    try {
      for (const [sha256, answeredReceipt] of acknowledged) {
        const record = await store.getEvidence(sha256);
        assert.ok(record, `acknowledged envelope ${sha256} is missing after kill -9`);
        assert.equal(sha256Hex(record.envelope), sha256);
        assert.deepEqual(JSON.parse(record.receipt), answeredReceipt);
        await verifyReceipt(parseEnvelope(record.receipt), { publicKey: keys.receiptPublic, expectedEnvelopeSha256: sha256 });
      }
    } finally {
      await store.close();
    }
    // No partial row anywhere, acknowledged or not: every stored envelope hashes to its key and
    // carries a receipt that verifies for it.
    const db = openSqlite(dbFile, { readonly: true });
    const rows = db.prepare('SELECT sha256, envelope, receipt, hops FROM evidence').all() as { sha256: string; envelope: Buffer; receipt: string; hops: string }[];
    db.close();
    assert.ok(rows.length >= acknowledged.size);
    for (const row of rows) {
      assert.equal(sha256Hex(row.envelope), row.sha256);
      assert.equal((JSON.parse(row.hops) as unknown[]).length, 2);
      await verifyReceipt(parseEnvelope(row.receipt), { publicKey: keys.receiptPublic, expectedEnvelopeSha256: row.sha256 });
    }
    process.stdout.write(`# durability: ${TRIALS} kills, ${attempted} attempts, ${acknowledged.size} acknowledged, ${rows.length} rows, ${killedInFlight} cut in flight\n`);
  });
});
