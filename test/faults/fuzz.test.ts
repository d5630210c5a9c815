/**
 * Fuzzed envelopes and headers against the Evidence Locker (docs/faults.md): ≥ 100,000 generated
 * requests through the real app (`inject()`, real SQLite store, and a PostgreSQL part) — hostile
 * provenance headers, mutated valid headers, wrong scan ids and digests, mutated or arbitrary
 * bodies that the "gateways" stamped correctly (so they reach the envelope checks). No answer may
 * be a 5xx and no row may be stored; one genuine request before the run proves the app stores
 * what is valid, so "0 rows" cannot pass by refusing everything.
 */
import { describe, it, after } from 'node:test';
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { openSqlite } from '../../src/io/sqlite-driver.js';
import fc from 'fast-check';
import pg from 'pg';
import { parseProvenanceHeader, serializeProvenanceHeader } from '../../src/provenance/codec.js';
import { openSqliteStore } from '../../src/storage/sqlite.js';
import { openPostgresStore } from '../../src/storage/postgres.js';
import { send, signedEnvelope, stamp, type StampedRequest } from '../services/support/fixture.js';
import { lockerWorld, NOW_MS, type LockerWorld } from '../services/support/locker.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { tempDir } from '../support/tmp.js';
import { recordFault } from './support/figures.js';

const SQLITE_CASES = 100_000;
const POSTGRES_CASES = 5_000;
const URL = '/api/v1/evidence';
const LIMITS = { maxHeaderBytes: 64 * 1024, maxHops: 16 };

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 300 });

/** A byte-level edit of a string: replace, delete a range, insert, or truncate. */
const edit = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), text: fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: printable }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);
type Edit = typeof edit extends fc.Arbitrary<infer T> ? T : never;

function applyEdit(text: string, e: Edit): string {
  const at = text.length === 0 ? 0 : e.at % text.length;
  switch (e.kind) {
    case 'replace':
      return text.slice(0, at) + e.text + text.slice(at + e.text.length);
    case 'delete':
      return text.slice(0, at) + text.slice(at + e.length);
    case 'insert':
      return text.slice(0, at) + e.text + text.slice(at);
    case 'truncate':
      return text.slice(0, at);
  }
}

/** What a case does to an otherwise genuine, freshly stamped request. */
const fuzzCase = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('provenance-arbitrary' as const), value: printable }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('provenance-edit' as const), edit }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('provenance-duplicate' as const), index: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('scan-id' as const), value: printable }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('content-digest' as const), value: printable }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('content-type' as const), value: printable }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('body-edit' as const), edit }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('body-json' as const), value: fc.jsonValue({ maxDepth: 3 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('body-envelope' as const),
      payloadType: fc.oneof(fc.constant('application/vnd.in-toto+json'), printable),
      payload: fc.oneof(fc.base64String({ maxLength: 200 }), printable),
      signatures: fc.array(fc.record({ keyid: fc.oneof(fc.constant('scanner-01-hmac'), printable), sig: fc.oneof(fc.base64String({ maxLength: 90 }), printable) }), { maxLength: 3 }),
    }),
  },
);
type FuzzCase = typeof fuzzCase extends fc.Arbitrary<infer T> ? T : never;

/** The request a case sends; null when the mutation happened to change nothing. */
async function build(world: LockerWorld, c: FuzzCase, n: number): Promise<{ request: StampedRequest; headers: Record<string, string> } | null> {
  const scanId = `fuzz-${n}`;
  const genuine = await signedEnvelope(world.keys, { scanId, nowMs: NOW_MS });
  const restamp = (body: Buffer, contentType?: string) =>
    stamp(world.topology, world.keys, { method: 'POST', url: URL, scanId, body, nowMs: NOW_MS, ...(contentType ? { contentType } : {}) });
  switch (c.kind) {
    case 'provenance-arbitrary':
      return { request: restamp(genuine), headers: { 'x-stella-provenance': c.value } };
    case 'provenance-edit': {
      const request = restamp(genuine);
      const value = applyEdit(request.headers['x-stella-provenance']!, c.edit);
      // An edit of optional whitespace (after "," or ";") leaves the same records: not a forgery.
      return sameRecords(request.headers['x-stella-provenance']!, value) ? null : { request, headers: { 'x-stella-provenance': value } };
    }
    case 'provenance-duplicate': {
      const request = restamp(genuine);
      const members = request.headers['x-stella-provenance']!.split(', ');
      members.splice(c.index % members.length, 0, members[c.index % members.length]!);
      return { request, headers: { 'x-stella-provenance': members.join(', ') } };
    }
    case 'scan-id':
      return c.value.trim() === scanId ? null : { request: restamp(genuine), headers: { 'x-stella-scan-id': c.value } };
    case 'content-digest': {
      const request = restamp(genuine);
      return c.value.trim() === request.headers['content-digest'] ? null : { request, headers: { 'content-digest': c.value } };
    }
    case 'content-type':
      return /^\s*application\/json\s*(;.*)?$/i.test(c.value) ? null : { request: restamp(genuine), headers: { 'content-type': c.value } };
    case 'body-edit': {
      const text = genuine.toString('latin1');
      const mutated = applyEdit(text, c.edit);
      // A mutation that leaves the same envelope (e.g. whitespace between JSON tokens) is a valid
      // re-serialisation, not a forgery: skip it.
      if (sameEnvelope(genuine, mutated)) return null;
      return mutated.length === 0 ? null : { request: restamp(Buffer.from(mutated, 'latin1')), headers: {} };
    }
    case 'body-json': {
      const body = Buffer.from(JSON.stringify(c.value) ?? 'null');
      return { request: restamp(body), headers: {} };
    }
    case 'body-envelope':
      return { request: restamp(Buffer.from(JSON.stringify({ payloadType: c.payloadType, payload: c.payload, signatures: c.signatures }))), headers: {} };
  }
}

/** The two header values parse to the same records (RFC 9651 allows spaces after "," and ";"). */
function sameRecords(original: string, edited: string): boolean {
  try {
    return serializeProvenanceHeader(parseProvenanceHeader(edited, LIMITS)) === serializeProvenanceHeader(parseProvenanceHeader(original, LIMITS));
  } catch {
    return false;
  }
}

/**
 * The same signed content: payloadType, payload bytes and signature bytes. Whitespace between
 * JSON tokens, base64 padding (the decoder accepts unpadded text) and the keyid (an
 * unauthenticated hint in DSSE: it only narrows which keys are tried, src/dsse/sign-verify.ts)
 * may change without making the envelope a forgery.
 */
function sameEnvelope(original: Buffer, mutated: string): boolean {
  type Shape = { payloadType?: unknown; payload?: unknown; signatures?: { sig?: unknown }[] };
  const bytes = (value: unknown) => (typeof value === 'string' ? Buffer.from(value, 'base64').toString('hex') : null);
  const signed = (e: Shape) => JSON.stringify([e.payloadType, bytes(e.payload), Array.isArray(e.signatures) ? e.signatures.map((s) => bytes(s?.sig)) : null]);
  try {
    return signed(JSON.parse(original.toString('utf8')) as Shape) === signed(JSON.parse(mutated) as Shape);
  } catch {
    return false;
  }
}

/** Runs `cases` fuzz cases; returns the status histogram. Fails on the first 5xx or 2xx. */
async function fuzz(world: LockerWorld, cases: number, seedOffset: number): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let n = seedOffset;
  await fc.assert(
    fc.asyncProperty(fuzzCase, async (c) => {
      const built = await build(world, c, n++);
      fc.pre(built !== null);
      const response = await send(world.app, built!.request, { headers: built!.headers });
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
      assert.ok(response.statusCode < 500, `${c.kind}: ${response.statusCode} ${response.body}`);
      assert.ok(response.statusCode >= 400, `${c.kind}: accepted with ${response.statusCode}`);
    }),
    { numRuns: cases, maxSkipsPerRun: 1000 },
  );
  return statuses;
}

/** One genuine ingest must be stored (201), so the count of fuzz rows is meaningful. */
async function control(world: LockerWorld): Promise<void> {
  const body = await signedEnvelope(world.keys, { scanId: 'control', nowMs: NOW_MS });
  const response = await send(world.app, stamp(world.topology, world.keys, { method: 'POST', url: URL, scanId: 'control', body, nowMs: NOW_MS }));
  assert.equal(response.statusCode, 201, response.body);
}

describe('Fuzzed envelopes and headers at the Evidence Locker', () => {
  const dir = tempDir('stella-fuzz-');
  const worlds: LockerWorld[] = [];
  let database: TestDatabase | undefined;
  after(async () => {
    for (const w of worlds) await w.dispose();
    await database?.drop();
    dir.remove();
  });

  it(`answers ${SQLITE_CASES.toLocaleString('en-US')} hostile requests without a 5xx and stores none of them (SQLite)`, { timeout: 600_000 }, async () => {
    const file = join(dir.path, 'evidence.db');
    const world = await lockerWorld({ store: openSqliteStore({ file }) });
    worlds.push(world);
    await control(world);
    const statuses = await fuzz(world, SQLITE_CASES, 0);
    const db = openSqlite(file, { readonly: true });
    const rows = (db.prepare('SELECT count(*) AS n FROM evidence').get() as { n: number }).n;
    db.close();
    const fiveXx = [...statuses].filter(([s]) => s >= 500).reduce((sum, [, n]) => sum + n, 0);
    recordFault({
      case: 'Fuzzed envelopes and headers (SQLite)',
      target: '5xx = 0, fuzz rows stored = 0',
      met: fiveXx === 0 && rows === 1,
      figures: { cases: SQLITE_CASES, '5xx': fiveXx, fuzzRowsStored: rows - 1, statuses: [...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ') },
    });
    assert.equal(rows, 1, 'only the genuine control request may be stored');
  });

  it(`answers ${POSTGRES_CASES.toLocaleString('en-US')} hostile requests without a 5xx and stores none of them (PostgreSQL)`, { timeout: 300_000 }, async () => {
    database = await createTestDatabase();
    const world = await lockerWorld({ store: await openPostgresStore({ url: database.url }) });
    worlds.push(world);
    await control(world);
    const statuses = await fuzz(world, POSTGRES_CASES, SQLITE_CASES);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const rows = Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM evidence')).rows[0]!.n);
    await client.end();
    const fiveXx = [...statuses].filter(([s]) => s >= 500).reduce((sum, [, n]) => sum + n, 0);
    recordFault({
      case: 'Fuzzed envelopes and headers (PostgreSQL)',
      target: '5xx = 0, fuzz rows stored = 0',
      met: fiveXx === 0 && rows === 1,
      figures: { cases: POSTGRES_CASES, '5xx': fiveXx, fuzzRowsStored: rows - 1, statuses: [...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ') },
    });
    assert.equal(rows, 1, 'only the genuine control request may be stored');
  });
});
