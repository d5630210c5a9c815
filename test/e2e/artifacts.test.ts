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
import Database from 'better-sqlite3';
import { request } from 'undici';
import { ARTIFACT_FIXTURES } from '../fixtures/artifacts.js';
import { CADDY_TOPOLOGY, REFERENCE_TOPOLOGY, startChain, type Chain } from './support/harness.js';
import { contentDigest, edgeHost, problemCode, send, sha256Hex, startWorker, type Answer, type ChainWorker } from './support/client.js';

let chain: Chain;
let worker: ChainWorker;

before(async () => {
  chain = await startChain(REFERENCE_TOPOLOGY);
  worker = await startWorker(chain);
});
after(async () => {
  await worker?.close();
  await chain?.close();
});

/** Reads the locker's SQLite file (read-only): stored copies and references of a digest. */
function storedCopies(sha256: string): { copies: number; refs: string[] } {
  const storage = chain.topology.services[0]?.storage;
  if (storage?.kind !== 'sqlite') throw new TypeError('the reference locker stores in SQLite');
  const db = new Database(storage.file, { readonly: true, fileMustExist: true });
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
  return send(await chain.scannerAgent(), `${chain.edgeUrl()}${path}${query}`, {
    method: 'POST',
    headers: { host: edgeHost(chain), 'content-type': 'application/octet-stream', 'content-digest': contentDigest(body), 'x-stella-scan-id': scanId },
    body,
  });
}

/** Stores a signed statement naming `bytes` under `scanId`, as the worker's first request does. */
async function storeStatement(scanId: string, bytes: Buffer): Promise<void> {
  const envelope = Buffer.from(
    await worker.setup.createEnvelope({
      artifact: { name: 'artifact', sha256: sha256Hex(bytes) },
      intent: { scanId, topology: chain.topology.name, edgeHop: 'gw-edge', clientCertSha256: worker.setup.credentials.current().fingerprint, nonce: randomBytes(16).toString('hex'), issuedAt: new Date().toISOString() },
    }),
  );
  const answer = await send(await chain.scannerAgent(), `${chain.edgeUrl()}/api/v1/evidence`, {
    method: 'POST',
    headers: { host: edgeHost(chain), 'content-type': 'application/json', 'content-digest': contentDigest(envelope), 'x-stella-scan-id': scanId },
    body: envelope,
  });
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

  it('refuses an upload over the body limit with 413 at the edge, before the body is sent', async () => {
    const limit = chain.topology.services[0]!.maxBodyBytes;
    const body = new Readable({ read() {} });
    body.push(randomBytes(1024));
    const res = await request(`${chain.edgeUrl()}/api/v1/artifacts/${'a'.repeat(64)}`, {
      dispatcher: await chain.scannerAgent(),
      method: 'POST',
      headers: { host: edgeHost(chain), 'content-type': 'application/octet-stream', 'content-length': String(limit + 1), 'content-digest': contentDigest(Buffer.alloc(0)), 'x-stella-scan-id': 'scan-e2e-artifact-big' },
      body,
    });
    assert.equal(res.statusCode, 413);
    await res.body.dump();
    body.destroy();
    assert.deepEqual(storedCopies('a'.repeat(64)), { copies: 0, refs: [] });
  });
});

describe('artifacts through the Caddy chain (Caddy + forward-auth stamper → WAF → HAProxy)', () => {
  let caddy: Chain;
  let caddyWorker: ChainWorker;
  before(async () => {
    caddy = await startChain(CADDY_TOPOLOGY);
    caddyWorker = await startWorker(caddy);
  });
  after(async () => {
    await caddyWorker?.close();
    await caddy?.close();
  });

  it('delivers every artifact kind, bytes included, on the first attempt', async () => {
    for (const fixture of ARTIFACT_FIXTURES) {
      const [result] = await caddyWorker.submit(`scan-e2e-caddy-${fixture.kind}`, { [fixture.name]: fixture.bytes });
      assert.equal(result?.state, 'delivered', `${fixture.kind}: ${result?.code}: ${result?.message}\n${caddy.logTails()}`);
      assert.equal(result?.attempts, 1);
    }
  });
});
