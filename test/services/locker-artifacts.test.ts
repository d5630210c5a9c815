import { describe, it, before, after } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { openSqlite } from '../../src/io/sqlite-driver.js';
import { ARTIFACT_FIXTURES } from '../fixtures/artifacts.js';
import { readAll } from '../storage/contract.js';
import { LAST_HOP, OTHER_SCANNER_ID, send, sha256Hex, signedEnvelope, stamp, type TestScanner } from './support/fixture.js';
import { lockerWorld, NOW_MS, type LockerWorld } from './support/locker.js';
import { waitFor } from '../support/wait.js';

type Response = Awaited<ReturnType<typeof send>>;

function assertProblem(response: Response, status: number, code: string): void {
  assert.equal(response.statusCode, status, response.body);
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
  assert.equal((response.json() as { code: string }).code, code);
}

/** Stores the statement naming `bytes` under `scanId`, as the worker does first. */
async function sendStatement(world: LockerWorld, scanId: string, bytes: Uint8Array, scanner?: TestScanner): Promise<string> {
  const body = await signedEnvelope(world.keys, { scanId, nowMs: NOW_MS, artifactBytes: bytes, ...(scanner ? { scanner } : {}) });
  const response = await send(world.app, stamp(world.topology, world.keys, { method: 'POST', url: '/api/v1/evidence', scanId, body, nowMs: NOW_MS, ...(scanner ? { scanner } : {}) }));
  assert.equal(response.statusCode, 201, response.body);
  return sha256Hex(body);
}

function upload(world: LockerWorld, scanId: string, bytes: Buffer, options: { digest?: string; scanner?: TestScanner; contentType?: string } = {}): Promise<Response> {
  const url = `/api/v1/artifacts/${options.digest ?? sha256Hex(bytes)}`;
  return send(world.app, stamp(world.topology, world.keys, { method: 'POST', url, scanId, body: bytes, nowMs: NOW_MS, contentType: options.contentType ?? 'application/octet-stream', ...(options.scanner ? { scanner: options.scanner } : {}) }));
}

function download(world: LockerWorld, scanId: string, sha256: string, scanner?: TestScanner): Promise<Response> {
  return send(world.app, stamp(world.topology, world.keys, { method: 'GET', url: `/api/v1/artifacts/${sha256}`, scanId, nowMs: NOW_MS, ...(scanner ? { scanner } : {}) }));
}

async function nothingStored(world: LockerWorld, scanId: string, sha256: string): Promise<void> {
  assert.equal(await world.store.getArtifact(sha256), null);
  assert.equal(await world.store.getArtifactRef(scanId, sha256), null);
}

/** Uploads still staged, and chunk rows no artifact reaches: both zero once every upload ended. */
function leftovers(world: LockerWorld): { uploads: number; chunks: number } {
  const db = openSqlite(world.file, { readonly: true });
  try {
    const uploads = (db.prepare('SELECT count(*) AS n FROM artifact_uploads').get() as { n: number }).n;
    const chunks = (db.prepare('SELECT count(*) AS n FROM artifact_chunks WHERE blob NOT IN (SELECT blob FROM artifacts)').get() as { n: number }).n;
    return { uploads, chunks };
  } finally {
    db.close();
  }
}

describe('Evidence Locker artifacts', () => {
  let world: LockerWorld;
  before(async () => {
    world = await lockerWorld();
  });
  after(() => world.dispose());

  for (const fixture of ARTIFACT_FIXTURES) {
    it(`stores a ${fixture.kind} artifact its statement names and gives back exactly its bytes`, async () => {
      const scanId = `scan-art-${fixture.kind}`;
      const evidenceSha256 = await sendStatement(world, scanId, fixture.bytes);
      const stored = await upload(world, scanId, fixture.bytes);
      assert.equal(stored.statusCode, 201, stored.body);
      const sha256 = sha256Hex(fixture.bytes);
      assert.deepEqual(stored.json(), { sha256, scanId, size: fixture.bytes.length, evidenceSha256, referencedAt: new Date(NOW_MS).toISOString(), created: true });
      assert.equal(stored.headers.location, `/api/v1/artifacts/${sha256}`);
      const read = await download(world, scanId, sha256);
      assert.equal(read.statusCode, 200);
      assert.equal(read.headers['content-type'], 'application/octet-stream');
      assert.equal(read.headers['content-digest'], `sha-256=:${Buffer.from(sha256, 'hex').toString('base64')}:`);
      assert.equal(read.headers['x-stella-evidence-sha256'], evidenceSha256);
      assert.ok(read.rawPayload.equals(fixture.bytes));
      const listed = await send(world.app, stamp(world.topology, world.keys, { method: 'GET', url: `/api/v1/scans/${scanId}/artifacts`, scanId, nowMs: NOW_MS }));
      assert.deepEqual((listed.json() as { artifacts: { sha256: string }[] }).artifacts.map((a) => a.sha256), [sha256]);
    });
  }

  it('answers 200 and writes nothing when the same scan sends the same artifact again', async () => {
    const bytes = randomBytes(2048);
    await sendStatement(world, 'scan-art-again', bytes);
    assert.equal((await upload(world, 'scan-art-again', bytes)).statusCode, 201);
    const again = await upload(world, 'scan-art-again', bytes);
    assert.equal(again.statusCode, 200);
    assert.equal((again.json() as { created: boolean }).created, false);
    assert.equal((await world.store.listArtifactsByScan('scan-art-again')).length, 1);
  });

  it('keeps one copy and two references when a second scan sends the same artifact', async () => {
    const bytes = ARTIFACT_FIXTURES[0]!.bytes;
    const sha256 = sha256Hex(bytes);
    await sendStatement(world, 'scan-art-second', bytes);
    const answer = await upload(world, 'scan-art-second', bytes);
    assert.equal(answer.statusCode, 201);
    const refs = [await world.store.getArtifactRef('scan-art-cyclonedx', sha256), await world.store.getArtifactRef('scan-art-second', sha256)];
    assert.ok(refs.every((r) => r !== null && r.sha256 === sha256));
    assert.notEqual(refs[0]!.evidenceSha256, refs[1]!.evidenceSha256);
    assert.ok((await readAll((await world.store.getArtifact(sha256))!)).equals(bytes));
    const metrics = await world.app.inject({ method: 'GET', url: '/metrics', headers: LAST_HOP });
    for (const outcome of ['stored', 'referenced', 'duplicate']) assert.match(metrics.body, new RegExp(`stella_artifact_ingests_total\\{[^}]*outcome="${outcome}"[^}]*\\} [1-9]`));
  });

  it('refuses bytes that do not hash to the digest their statement names: 422 binding-mismatch, nothing stored', async () => {
    const named = randomBytes(512);
    await sendStatement(world, 'scan-art-mismatch', named);
    const other = Buffer.concat([named.subarray(0, 511), Buffer.from([named[511]! ^ 1])]);
    // The path names the signed digest; the body (bound by its own Content-Digest) is other bytes.
    assertProblem(await upload(world, 'scan-art-mismatch', other, { digest: sha256Hex(named) }), 422, 'binding-mismatch');
    await nothingStored(world, 'scan-art-mismatch', sha256Hex(named));
    await nothingStored(world, 'scan-art-mismatch', sha256Hex(other));
  });

  it('streams a body that is not the one its Content-Digest and path name, refuses it after the last byte (422) and keeps no staged chunk', async () => {
    const named = randomBytes(2 * 1024 * 1024 + 100);
    await sendStatement(world, 'scan-art-swapped', named);
    const stamped = stamp(world.topology, world.keys, { method: 'POST', url: `/api/v1/artifacts/${sha256Hex(named)}`, scanId: 'scan-art-swapped', body: named, nowMs: NOW_MS, contentType: 'application/octet-stream' });
    // Same length, other bytes: only hashing the whole streamed body can tell.
    const swapped = randomBytes(named.length);
    assertProblem(await send(world.app, stamped, { body: swapped }), 422, 'binding-mismatch');
    await nothingStored(world, 'scan-art-swapped', sha256Hex(named));
    assert.deepEqual(leftovers(world), { uploads: 0, chunks: 0 });
    // The nonce of the refused request was released, and the real bytes still go in.
    assert.equal((await upload(world, 'scan-art-swapped', named)).statusCode, 201);
  });

  it('drops the staged chunks of an upload whose client goes away mid-body, and stores nothing', async () => {
    const bytes = randomBytes(3 * 1024 * 1024);
    await sendStatement(world, 'scan-art-abort', bytes);
    const stamped = stamp(world.topology, world.keys, { method: 'POST', url: `/api/v1/artifacts/${sha256Hex(bytes)}`, scanId: 'scan-art-abort', body: bytes, nowMs: NOW_MS, contentType: 'application/octet-stream' });
    const address = await world.app.listen({ host: '127.0.0.1', port: 0 });
    const { hostname, port } = new URL(address);
    // A raw socket: the head and 2 MiB of the 3 MiB body, then the connection ends.
    const socket = connect({ host: hostname, port: Number(port) });
    await once(socket, 'connect');
    const head = [`POST ${stamped.url} HTTP/1.1`, `host: ${hostname}`, `content-length: ${bytes.length}`, ...Object.entries(stamped.headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
    socket.write(head);
    socket.write(bytes.subarray(0, 2 * 1024 * 1024));
    // Wait until the locker has staged the first chunk, then cut the connection.
    await waitFor(() => leftovers(world).chunks > 0, { what: 'the upload being staged', timeout: 10_000, interval: 10 });
    socket.destroy();
    await waitFor(() => leftovers(world).uploads === 0, { what: 'the cut upload to be dropped', timeout: 10_000, interval: 10 });
    assert.deepEqual(leftovers(world), { uploads: 0, chunks: 0 });
    await nothingStored(world, 'scan-art-abort', sha256Hex(bytes));
  });

  it('refuses a replay of an accepted upload: 409 provenance-replayed, nothing written again', async () => {
    const bytes = randomBytes(4096);
    await sendStatement(world, 'scan-art-replay', bytes);
    const stamped = stamp(world.topology, world.keys, { method: 'POST', url: `/api/v1/artifacts/${sha256Hex(bytes)}`, scanId: 'scan-art-replay', body: bytes, nowMs: NOW_MS, contentType: 'application/octet-stream' });
    assert.equal((await send(world.app, stamped)).statusCode, 201);
    assertProblem(await send(world.app, stamped), 409, 'provenance-replayed');
    assert.deepEqual(leftovers(world), { uploads: 0, chunks: 0 });
  });

  it('refuses an artifact no statement of the scan names: 422 binding-mismatch, nothing stored', async () => {
    await sendStatement(world, 'scan-art-unnamed', randomBytes(64));
    const stray = randomBytes(64);
    assertProblem(await upload(world, 'scan-art-unnamed', stray), 422, 'binding-mismatch');
    await nothingStored(world, 'scan-art-unnamed', sha256Hex(stray));
  });

  it('refuses an artifact named only by another scan\'s statement', async () => {
    const bytes = randomBytes(64);
    await sendStatement(world, 'scan-art-elsewhere', bytes);
    assertProblem(await upload(world, 'scan-art-nostatement', bytes), 422, 'binding-mismatch');
    await nothingStored(world, 'scan-art-nostatement', sha256Hex(bytes));
  });

  it('refuses an upload to a scan another scanner owns: 409 scan-conflict, nothing stored', async () => {
    const bytes = randomBytes(64);
    await sendStatement(world, 'scan-art-owned', bytes);
    assertProblem(await upload(world, 'scan-art-owned', bytes, { scanner: OTHER_SCANNER_ID }), 409, 'scan-conflict');
    await nothingStored(world, 'scan-art-owned', sha256Hex(bytes));
  });

  it('refuses an artifact sent as JSON: 415, nothing stored', async () => {
    const bytes = ARTIFACT_FIXTURES[1]!.bytes;
    await sendStatement(world, 'scan-art-json', bytes);
    assertProblem(await upload(world, 'scan-art-json', bytes, { contentType: 'application/json' }), 415, 'unsupported-media-type');
    assert.equal(await world.store.getArtifactRef('scan-art-json', sha256Hex(bytes)), null);
  });

  it('reads an artifact only through a scan that references it and that the scanner may read', async () => {
    const bytes = randomBytes(300);
    const sha256 = sha256Hex(bytes);
    await sendStatement(world, 'scan-art-private', bytes);
    assert.equal((await upload(world, 'scan-art-private', bytes)).statusCode, 201);
    assertProblem(await download(world, 'scan-art-private', sha256, OTHER_SCANNER_ID), 404, 'artifact-not-found');
    assertProblem(await download(world, 'scan-art-unrelated', sha256), 404, 'artifact-not-found');
    // Absent and unreadable answer alike.
    const absent = await download(world, 'scan-art-private', '0'.repeat(64));
    assertProblem(absent, 404, 'artifact-not-found');
    assert.equal((await download(world, 'scan-art-private', sha256)).statusCode, 200);
  });
});

describe('Evidence Locker artifact size limit', () => {
  let world: LockerWorld;
  before(async () => {
    world = await lockerWorld({ maxBodyBytes: 32 * 1024, maxArtifactBytes: 64 * 1024 });
  });
  after(() => world.dispose());

  it('takes an artifact over maxBodyBytes up to maxArtifactBytes: the upload route has its own limit', async () => {
    const bytes = randomBytes(48 * 1024);
    await sendStatement(world, 'scan-art-mid', bytes);
    assert.equal((await upload(world, 'scan-art-mid', bytes)).statusCode, 201);
  });

  it('stops a body of unknown length once it passes maxArtifactBytes: 413, nothing kept', async () => {
    const bytes = randomBytes(64 * 1024 + 1);
    await sendStatement(world, 'scan-art-chunked', bytes);
    const stamped = stamp(world.topology, world.keys, { method: 'POST', url: `/api/v1/artifacts/${sha256Hex(bytes)}`, scanId: 'scan-art-chunked', body: bytes, nowMs: NOW_MS, contentType: 'application/octet-stream' });
    // A stream payload goes without Content-Length (chunked), so only counting can stop it.
    const response = await world.app.inject({ method: 'POST', url: stamped.url, headers: stamped.headers, payload: Readable.from([bytes.subarray(0, 40_000), bytes.subarray(40_000)]) });
    assertProblem(response, 413, 'payload-too-large');
    await nothingStored(world, 'scan-art-chunked', sha256Hex(bytes));
    assert.deepEqual(leftovers(world), { uploads: 0, chunks: 0 });
  });

  it('answers 413 payload-too-large from Content-Length, before reading the body, and stores nothing', async () => {
    const bytes = randomBytes(64 * 1024 + 1);
    await sendStatement(world, 'scan-art-big', bytes);
    assertProblem(await upload(world, 'scan-art-big', bytes), 413, 'payload-too-large');
    await nothingStored(world, 'scan-art-big', sha256Hex(bytes));
  });
});
