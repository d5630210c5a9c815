/**
 * Durable ingest in the evidence stores (docs/services.md "acknowledged means durable", §11): the store's
 * `putEvidence` (validation, idempotent insert, conflict read-back) against a bare INSERT of the
 * same rows into a table of the same shape with the same durability (SQLite WAL +
 * synchronous=FULL; PostgreSQL synchronous_commit=on, fsync=on). Extra rows set eight puts, one
 * after another or concurrent (SQLite's group commit), against eight rows in one transaction.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { openSqlite } from '../src/io/sqlite-driver.js';
import pg from 'pg';
import { openPostgresStore } from '../src/storage/postgres.js';
import { openSqliteStore } from '../src/storage/sqlite.js';
import type { EvidenceRecord, EvidenceStore } from '../src/storage/types.js';
import { tempDir } from '../test/support/tmp.js';
import { compare, machineInfo, type BenchResult, type BenchRow } from './support.js';

/** The bench's name (bench/results/storage.json). */
export const name = 'storage';

const ENVELOPE = Buffer.from(JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: 'x'.repeat(1400), signatures: [{ keyid: 'scanner-01-hmac', sig: 'y'.repeat(44) }] }));
const RECEIPT = JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: 'r'.repeat(900), signatures: [{ keyid: 'locker-receipt', sig: 's'.repeat(88) }] });
const HOPS = [1, 2, 3].map((seq) => ({ id: `gw-${seq}`, seq, ts: 1_795_000_000, nonce: 'a'.repeat(32), peer: `sha256:${'b'.repeat(64)}`, peerId: `peer-${seq}`, kid: `k-${seq}` }));

const COLUMNS = 'sha256, scan_id, service_id, payload_type, envelope, hops, receipt, received_at';

let serial = 0;
/** A new row each call (a fresh sha256, so every insert creates). */
function nextRecord(): EvidenceRecord {
  const n = serial++;
  return {
    sha256: createHash('sha256').update(`row-${process.pid}-${n}`).digest('hex'),
    scanId: `scan-${n % 97}`,
    scannerId: 'scanner-01',
    serviceId: 'evidence-locker',
    payloadType: 'application/vnd.in-toto+json',
    envelope: ENVELOPE,
    hops: HOPS,
    receipt: RECEIPT,
    receivedAt: new Date().toISOString(),
  };
}

function values(r: EvidenceRecord): unknown[] {
  return [r.sha256, r.scanId, r.serviceId, r.payloadType, Buffer.from(r.envelope), JSON.stringify(r.hops), r.receipt, r.receivedAt];
}

const OPTIONS = { rounds: 7, roundMs: 400, warmupMs: 200 };

async function sqliteRows(dir: string): Promise<BenchRow[]> {
  const store = openSqliteStore({ file: join(dir, 'store.db') });
  const bare = openSqlite(join(dir, 'bare.db'));
  bare.pragma('journal_mode = WAL');
  bare.pragma('synchronous = FULL');
  bare.exec(`CREATE TABLE evidence (id INTEGER PRIMARY KEY AUTOINCREMENT, sha256 TEXT NOT NULL UNIQUE, scan_id TEXT NOT NULL, service_id TEXT NOT NULL,
    payload_type TEXT NOT NULL, envelope BLOB NOT NULL, hops TEXT NOT NULL, receipt TEXT NOT NULL, received_at TEXT NOT NULL);
    CREATE INDEX evidence_by_scan ON evidence (scan_id, id);`);
  const insert = bare.prepare(`INSERT INTO evidence (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
  const insertMany = bare.transaction((rows: EvidenceRecord[]) => {
    for (const r of rows) insert.run(...values(r));
  });
  try {
    return [
      await compare('SQLite putEvidence vs bare INSERT', () => store.putEvidence(nextRecord()), () => insert.run(...values(nextRecord())), OPTIONS),
      await compare(
        'SQLite 8 putEvidence vs 8 rows in 1 transaction',
        async () => {
          for (let i = 0; i < 8; i++) await store.putEvidence(nextRecord());
        },
        () => insertMany(Array.from({ length: 8 }, nextRecord)),
        OPTIONS,
      ),
      await compare(
        'SQLite 8 concurrent putEvidence vs 8 rows in 1 transaction',
        () => Promise.all(Array.from({ length: 8 }, () => store.putEvidence(nextRecord()))),
        () => insertMany(Array.from({ length: 8 }, nextRecord)),
        OPTIONS,
      ),
    ];
  } finally {
    await store.close();
    bare.close();
  }
}

async function postgresRows(): Promise<BenchRow[]> {
  // Its own top-level temp folder: the script chowns it to postgres, which cannot enter ours (0700).
  const clusterDir = tempDir('stella-bench-pg-');
  const cluster = clusterDir.path;
  const url = execFileSync('bash', ['scripts/pg-cluster.sh', 'start', cluster], { encoding: 'utf8' }).trim();
  let store: EvidenceStore | undefined;
  const pool = new pg.Pool({ connectionString: url, max: 10, options: '-c synchronous_commit=on' });
  try {
    store = await openPostgresStore({ url });
    await pool.query(`CREATE TABLE evidence_bare (id BIGSERIAL PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, scan_id TEXT NOT NULL, service_id TEXT NOT NULL,
      payload_type TEXT NOT NULL, envelope BYTEA NOT NULL, hops TEXT NOT NULL, receipt TEXT NOT NULL, received_at TEXT NOT NULL);
      CREATE INDEX evidence_bare_by_scan ON evidence_bare (scan_id, id);`);
    const bareInsert = (r: EvidenceRecord) => pool.query(`INSERT INTO evidence_bare (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, values(r));
    const s = store;
    return [
      await compare('PostgreSQL putEvidence vs bare INSERT', () => s.putEvidence(nextRecord()), () => bareInsert(nextRecord()), OPTIONS),
      await compare(
        'PostgreSQL 8 concurrent putEvidence vs 8 concurrent INSERTs',
        () => Promise.all(Array.from({ length: 8 }, () => s.putEvidence(nextRecord()))),
        () => Promise.all(Array.from({ length: 8 }, () => bareInsert(nextRecord()))),
        OPTIONS,
      ),
      await compare(
        'PostgreSQL 8 putEvidence vs 8 rows in 1 transaction',
        async () => {
          for (let i = 0; i < 8; i++) await s.putEvidence(nextRecord());
        },
        async () => {
          const client = await pool.connect();
          try {
            await client.query('BEGIN');
            for (let i = 0; i < 8; i++) await client.query(`INSERT INTO evidence_bare (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, values(nextRecord()));
            await client.query('COMMIT');
          } finally {
            client.release();
          }
        },
        OPTIONS,
      ),
    ];
  } finally {
    await store?.close();
    await pool.end();
    execFileSync('bash', ['scripts/pg-cluster.sh', 'stop', cluster]);
    clusterDir.remove();
  }
}

/** Runs the SQLite rows, then the PostgreSQL rows on a throw-away cluster. */
export async function run(): Promise<BenchResult> {
  const loadBefore = loadavg()[0]!;
  const dir = tempDir('stella-bench-storage-');
  try {
    const rows = [...(await sqliteRows(dir.path)), ...(await postgresRows())];
    return {
      name,
      description:
        'Subject: the store\'s putEvidence (durable acknowledgement) of a new 1.6 KiB-envelope row with 3 hops. Baseline: a bare INSERT of the same row into a same-shaped table, same durability (SQLite WAL + synchronous=FULL; PostgreSQL fsync=on, synchronous_commit=on), no validation, idempotency or read-back. The "in 1 transaction" rows compare the store with 8 rows committed at once.',
      date: new Date().toISOString(),
      machine: machineInfo(),
      rows,
      notes: [
        'The single-row cases swing from 0.9 to 1.5 between runs (two files, each commit waits for its own fsync on a disk shared with other engineers\' runs): read them as "putEvidence adds nothing measurable over the commit itself"; the fsync dominates.',
        'Group commit: the SQLite store commits the puts that arrive together in one transaction (src/storage/sqlite.ts), so "8 concurrent putEvidence" (one fsync for the eight) is compared with 8 rows in 1 transaction; "8 putEvidence" one after another wait for one fsync each. The PostgreSQL store commits each put on its own (the server\'s commit_delay can group them); its "8 concurrent" row is against 8 concurrent bare INSERTs.',
        `1-minute load average ${loadBefore.toFixed(1)} before and ${loadavg()[0]!.toFixed(1)} after the run.`,
      ],
    };
  } finally {
    dir.remove();
  }
}
