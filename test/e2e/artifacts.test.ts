/**
 * The evidence itself travels (docs/services.md#artifacts): the real worker sends each artifact's
 * bytes after its signed statement through the reference chain (NGINX → Apache+ModSecurity+CRS →
 * HAProxy → Evidence Locker), the WAF lets real SBOMs and binaries through without a false
 * positive yet still inspects the request line, the locker binds the bytes to the signed subject
 * digest, stores one copy per digest and gives the bytes back through the edge.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { openSqlite } from '../../src/io/sqlite-driver.js';
import { request } from 'undici';
import { hopBodyLimits } from '../../src/gateways/hop-facts.js';
import { ARTIFACT_FIXTURES } from '../fixtures/artifacts.js';
import { CADDY_TOPOLOGY, REFERENCE_TOPOLOGY, type Chain } from '../support/chain.js';
import { contentDigest, edgeHost, edgePost, problemCode, send, sha256Hex, startWorker, useChain, workerEnvelope, type Answer, type ChainWorker } from './support/client.js';

let chain: Chain;
let worker: ChainWorker;

useChain(REFERENCE_TOPOLOGY, (c, w) => {
  chain = c;
  worker = w;
});

/** Reads the locker's SQLite file (read-only): stored copies and references of a digest. */
function storedCopies(sha256: string): { copies: number; refs: string[] } {
  const storage = chain.topology.services[0]?.storage;
  if (storage?.kind !== 'sqlite') throw new TypeError('the reference locker stores in SQLite');
  const db = openSqlite(storage.file, { readonly: true, fileMustExist: true });
  try {
    const copies = (db.prepare('SELECT count(*) AS n FROM artifacts WHERE sha256 = ?').get(sha256) as { n: number }).n;
    const refs = (db.prepare('SELECT scan_id FROM artifact_refs WHERE sha256 = ? ORDER BY id').all(sha256) as { scan_id: string }[]).map((r) => r.scan_id);
    return { copies, refs };
  } finally {
    db.close();
  }
}

async function download(scanId: string, sha256: string): Promise<{ status: number; bytes: Buffer; headers: Record<string, unknown> }> {
  const res = await request(`${chain.edgeUrl()}/api/v1/artifacts/${sha256}`, {
    dispatcher: await chain.scannerAgent(),
    headers: { host: edgeHost(chain), 'x-stella-scan-id': scanId },
  });
  return { status: res.statusCode, bytes: Buffer.from(await res.body.arrayBuffer()), headers: res.headers };
}

async function upload(scanId: string, path: string, body: Buffer, query = ''): Promise<Answer> {
  return edgePost(chain, `${path}${query}`, scanId, body, { contentType: 'application/octet-stream' });
}

/** Stores a signed statement naming `bytes` under `scanId`, as the worker's first request does. */
async function storeStatement(scanId: string, bytes: Buffer): Promise<void> {
  const envelope = await workerEnvelope(chain, worker, scanId, { artifact: { name: 'artifact', sha256: sha256Hex(bytes) } });
  const answer = await edgePost(chain, '/api/v1/evidence', scanId, envelope);
  assert.equal(answer.status, 201, answer.text);
}

describe('artifacts through the reference chain', () => {
  for (const fixture of ARTIFACT_FIXTURES) {
    it(`delivers a ${fixture.kind} artifact through the WAF and reads the same bytes back through the edge`, async () => {
      const scanId = `scan-e2e-artifact-${fixture.kind}`;
      const [result] = await worker.submit(scanId, { [fixture.name]: fixture.bytes });
      assert.equal(result?.state, 'delivered', `${result?.code}: ${result?.message}\n${chain.logTails()}`);
      const sha256 = sha256Hex(fixture.bytes);
      assert.equal(result?.artifactSha256, sha256);
      const read = await download(scanId, sha256);
      assert.equal(read.status, 200);
      assert.ok(read.bytes.equals(fixture.bytes), 'the bytes read back are the bytes sent');
      assert.equal(read.headers['content-digest'], contentDigest(fixture.bytes));
      assert.equal(read.headers['x-stella-evidence-sha256'], result?.envelopeSha256);
      assert.deepEqual(storedCopies(sha256), { copies: 1, refs: [scanId] });
    });
  }

  it('keeps one stored copy and two references when a second scan sends the same SBOM', async () => {
    const sbom = ARTIFACT_FIXTURES[0]!;
    const [result] = await worker.submit('scan-e2e-artifact-second', { [sbom.name]: sbom.bytes });
    assert.equal(result?.state, 'delivered', `${result?.code}: ${result?.message}`);
    assert.deepEqual(storedCopies(sha256Hex(sbom.bytes)), { copies: 1, refs: ['scan-e2e-artifact-cyclonedx', 'scan-e2e-artifact-second'] });
    assert.equal((await download('scan-e2e-artifact-second', sha256Hex(sbom.bytes))).status, 200);
  });

  it('refuses bytes other than the ones the signed subject names: 422 binding-mismatch from the locker, nothing stored', async () => {
    const named = Buffer.from(ARTIFACT_FIXTURES[1]!.bytes.toString('utf8').replace('3.2.3', '3.2.4'));
    await storeStatement('scan-e2e-artifact-mismatch', named);
    const other = ARTIFACT_FIXTURES[1]!.bytes;
    const answer = await upload('scan-e2e-artifact-mismatch', `/api/v1/artifacts/${sha256Hex(named)}`, other);
    assert.equal(answer.status, 422, answer.text);
    assert.equal(problemCode(answer), 'binding-mismatch');
    assert.deepEqual(storedCopies(sha256Hex(named)), { copies: 0, refs: [] });
    assert.equal((await download('scan-e2e-artifact-mismatch', sha256Hex(named))).status, 404);
  });

  it('still blocks an attack in the request line of an upload at the WAF', async () => {
    const bytes = ARTIFACT_FIXTURES[2]!.bytes;
    const answer = await upload('scan-e2e-artifact-attack', `/api/v1/artifacts/${sha256Hex(bytes)}`, bytes, `?q=${encodeURIComponent('<script>alert(1)</script>')}`);
    assert.equal(answer.status, 403, answer.text);
    assert.equal(problemCode(answer), undefined, 'the refusal is the WAF page, not a locker problem');
    assert.deepEqual(storedCopies(sha256Hex(bytes)).refs.includes('scan-e2e-artifact-attack'), false);
  });

  it('refuses an upload over limits.maxArtifactBytes with 413 at the edge, before the body is sent, and an envelope over maxBodyBytes too', async () => {
    const limits = hopBodyLimits(chain.topology.hops.find((h) => h.id === 'gw-edge')!);
    const tooLarge = async (path: string, contentLength: number, contentType: string): Promise<number> => {
      const body = new Readable({ read() {} });
      body.push(randomBytes(1024));
      const res = await request(`${chain.edgeUrl()}${path}`, {
        dispatcher: await chain.scannerAgent(),
        method: 'POST',
        headers: { host: edgeHost(chain), 'content-type': contentType, 'content-length': String(contentLength), 'content-digest': contentDigest(Buffer.alloc(0)), 'x-stella-scan-id': 'scan-e2e-artifact-big' },
        body,
      });
      await res.body.dump();
      body.destroy();
      return res.statusCode;
    };
    assert.equal(await tooLarge(`/api/v1/artifacts/${'a'.repeat(64)}`, limits.maxArtifactBytes + 1, 'application/octet-stream'), 413);
    // Between the two limits: an artifact would pass, an envelope does not.
    assert.equal(await tooLarge('/api/v1/evidence', limits.maxBodyBytes + 1, 'application/json'), 413);
    assert.deepEqual(storedCopies('a'.repeat(64)), { copies: 0, refs: [] });
  });

  it('delivers a 64 MiB artifact through NGINX, the WAF and HAProxy into the locker, streamed, and reads the same bytes back', { timeout: 240_000 }, async () => {
    const bytes = randomBytes(64 * 1024 * 1024);
    const scanId = 'scan-e2e-artifact-64mib';
    const [result] = await worker.submit(scanId, { 'image-layer.tar': bytes });
    assert.equal(result?.state, 'delivered', `${result?.code}: ${result?.message}\n${chain.logTails()}`);
    const sha256 = sha256Hex(bytes);
    assert.deepEqual(storedCopies(sha256), { copies: 1, refs: [scanId] });
    const read = await download(scanId, sha256);
    assert.equal(read.status, 200);
    assert.equal(read.bytes.length, bytes.length);
    assert.equal(sha256Hex(read.bytes), sha256);
  });
});

describe('artifacts of one scanner, seen by another, through the reference chain', () => {
  let other: ChainWorker;
  before(async () => {
    other = await startWorker(chain, {}, 'scanner-02');
  });
  after(async () => {
    await other?.close();
  });

  /** A request as scanner-02, through its own edge with its own certificate. */
  const asOther = async (method: 'GET' | 'POST', path: string, scanId: string, body?: Buffer): Promise<Answer> =>
    send(await chain.scannerAgent('scanner-02'), `${chain.edgeUrl('scanner-02')}${path}`, {
      method,
      headers: { host: edgeHost(chain, 'scanner-02'), 'x-stella-scan-id': scanId, ...(body ? { 'content-type': 'application/octet-stream', 'content-digest': contentDigest(body) } : {}) },
      ...(body ? { body } : {}),
    });

  it('cannot read, overwrite or attach to an artifact of a scan scanner-01 owns', async () => {
    const bytes = Buffer.from(ARTIFACT_FIXTURES[0]!.bytes.toString('utf8').replace('"version": 1', '"version": 2'));
    const sha256 = sha256Hex(bytes);
    const [mine] = await worker.submit('scan-e2e-owned', { 'owned.cdx.json': bytes });
    assert.equal(mine?.state, 'delivered', `${mine?.code}: ${mine?.message}`);

    // Reading: through the owner's scan, or through a scan of its own, it is as absent as no artifact.
    for (const scanId of ['scan-e2e-owned', 'scan-e2e-other']) {
      const read = await asOther('GET', `/api/v1/artifacts/${sha256}`, scanId);
      assert.equal(read.status, 404, read.text);
      assert.equal(problemCode(read), 'artifact-not-found');
    }
    // Attaching the same bytes, or other bytes under the same digest, to the owner's scan: refused.
    const attach = await asOther('POST', `/api/v1/artifacts/${sha256}`, 'scan-e2e-owned', bytes);
    assert.equal(attach.status, 409, attach.text);
    assert.equal(problemCode(attach), 'scan-conflict');
    const forged = Buffer.from(bytes.toString('utf8').replace('"version": 2', '"version": 3'));
    const overwrite = await asOther('POST', `/api/v1/artifacts/${sha256}`, 'scan-e2e-owned', forged);
    assert.equal(overwrite.status, 422, overwrite.text);
    assert.equal(problemCode(overwrite), 'binding-mismatch');
    // Under a scan of its own, with a statement of its own naming the digest, other bytes are refused too.
    const [statement] = await other.submit('scan-e2e-other', { 'claims.cdx.json': bytes }, { maxAttempts: 1 });
    assert.equal(statement?.state, 'delivered', `${statement?.code}: ${statement?.message}`);
    const swap = await asOther('POST', `/api/v1/artifacts/${sha256}`, 'scan-e2e-other', forged);
    assert.equal(swap.status, 422, swap.text);

    // The stored copy is still scanner-01's bytes, referenced by both scans whose statements name
    // them (scanner-02 sent the very same bytes), and scanner-01 reads exactly them.
    assert.deepEqual(storedCopies(sha256), { copies: 1, refs: ['scan-e2e-owned', 'scan-e2e-other'] });
    const read = await download('scan-e2e-owned', sha256);
    assert.equal(read.status, 200);
    assert.ok(read.bytes.equals(bytes));
  });
});

describe('artifacts through the Caddy chain (Caddy + forward-auth stamper → WAF → HAProxy)', () => {
  let caddy: Chain;
  let caddyWorker: ChainWorker;
  useChain(CADDY_TOPOLOGY, (c, w) => {
    caddy = c;
    caddyWorker = w;
  });

  it('delivers every artifact kind, bytes included, on the first attempt', async () => {
    for (const fixture of ARTIFACT_FIXTURES) {
      const [result] = await caddyWorker.submit(`scan-e2e-caddy-${fixture.kind}`, { [fixture.name]: fixture.bytes });
      assert.equal(result?.state, 'delivered', `${fixture.kind}: ${result?.code}: ${result?.message}\n${caddy.logTails()}`);
      assert.equal(result?.attempts, 1);
    }
  });
});
