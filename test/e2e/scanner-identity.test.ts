/**
 * Scanner identity through the real chain (NGINX → Apache+ModSecurity+CRS → HAProxy → locker) with
 * two scanners (docs/services.md#who-may-write-and-read): the key that signs, the certificate the
 * edge saw and the scan must be the same scanner; reads answer only the owner; the operational
 * endpoints only the identities the topology names. Every refusal is checked against the store
 * file itself: nothing was written.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { deliveryOptionsFor, type ScannerSetup } from '../../src/scanner/config.js';
import { openSqliteStore } from '../../src/storage/sqlite.js';
import type { EvidenceStore } from '../../src/storage/types.js';
import { REFERENCE_TOPOLOGY, startChain, type Chain } from '../support/chain.js';
import { checkReceipt, contentDigest, edgeHost, fingerprintOf, problemCode, send, sha256Hex, type Answer } from './support/client.js';

/** The reference topology's second scanner. */
const OTHER = 'scanner-02';

let chain: Chain;
let setups: Map<string, ScannerSetup>;
let store: EvidenceStore;

before(async () => {
  chain = await startChain(REFERENCE_TOPOLOGY);
  setups = new Map();
  for (const id of ['scanner-01', OTHER]) setups.set(id, await deliveryOptionsFor(chain.topology, id, { certificateSource: 'files', timeoutMs: 15_000 }));
  const storage = chain.topology.services[0]!.storage;
  if (storage?.kind !== 'sqlite') throw new TypeError('the reference topology stores in SQLite');
  // A second handle on the locker's own file: what is really stored, not what the API says.
  store = openSqliteStore({ file: storage.file });
});
after(async () => {
  await store?.close();
  for (const setup of setups?.values() ?? []) await setup.close();
  await chain?.close();
});

/** An envelope signed with `signWith`'s keys whose intent names the certificate of `presenter`. */
async function envelope(scanId: string, presenter: string, signWith: string): Promise<Buffer> {
  const artifact = `artifact-${randomBytes(8).toString('hex')}`;
  const bytes = await setups.get(signWith)!.createEnvelope({
    artifact: { name: 'sbom.json', sha256: sha256Hex(artifact) },
    intent: {
      scanId,
      topology: chain.topology.name,
      edgeHop: 'gw-edge',
      clientCertSha256: await fingerprintOf(chain.scanner(presenter).tls.cert),
      nonce: randomBytes(16).toString('hex'),
      issuedAt: new Date().toISOString(),
    },
  });
  return Buffer.from(bytes);
}

/** POST through the edge over `presenter`'s certificate. */
async function post(presenter: string, scanId: string, body: Buffer): Promise<Answer> {
  return send(await chain.scannerAgent(presenter), `${chain.edgeUrl(presenter)}/api/v1/evidence`, {
    method: 'POST',
    headers: { host: edgeHost(chain, presenter), 'content-type': 'application/json', 'content-digest': contentDigest(body), 'x-stella-scan-id': scanId },
    body,
  });
}

async function get(presenter: string, path: string, scanId: string): Promise<Answer> {
  return send(await chain.scannerAgent(presenter), `${chain.edgeUrl(presenter)}${path}`, { headers: { host: edgeHost(chain, presenter), 'x-stella-scan-id': scanId } });
}

describe('scanner identity through the real chain, two scanners', () => {
  let ownedSha = '';

  it("stores scanner-01's own evidence and names scanner-01 in the receipt", async () => {
    const body = await envelope('e2e-owned', 'scanner-01', 'scanner-01');
    const answer = await post('scanner-01', 'e2e-owned', body);
    assert.equal(answer.status, 201, `${answer.text}\n${chain.logTails()}`);
    ownedSha = sha256Hex(body);
    const receipt = await checkReceipt(chain, (answer.json as { receipt: unknown }).receipt, ownedSha);
    assert.equal(receipt.predicate.scanner?.id, 'scanner-01');
    assert.equal(receipt.predicate.scanner?.spiffeId, `spiffe://${chain.topology.trustDomain}/scanner/scanner-01`);
    assert.equal(receipt.predicate.scanner?.certificateSha256, await fingerprintOf(chain.scanner('scanner-01').tls.cert));
    assert.equal((await store.getEvidence(ownedSha))?.scannerId, 'scanner-01');
  });

  it("refuses scanner-02's certificate with an envelope signed only by scanner-01's key: 401 envelope-invalid, nothing stored", async () => {
    const body = await envelope('e2e-stolen-key', OTHER, 'scanner-01');
    const answer = await post(OTHER, 'e2e-stolen-key', body);
    assert.equal(answer.status, 401, answer.text);
    assert.equal(problemCode(answer), 'envelope-invalid');
    assert.equal(await store.getEvidence(sha256Hex(body)), null);
    assert.equal(await store.getScanOwner('e2e-stolen-key'), null);
  });

  it("refuses scanner-01's certificate with an envelope signed only by scanner-02's key", async () => {
    const body = await envelope('e2e-stolen-key-2', 'scanner-01', OTHER);
    const answer = await post('scanner-01', 'e2e-stolen-key-2', body);
    assert.equal(answer.status, 401, answer.text);
    assert.equal(problemCode(answer), 'envelope-invalid');
    assert.equal(await store.getEvidence(sha256Hex(body)), null);
  });

  it("refuses scanner-02 adding its own valid evidence to scanner-01's scan: 409 scan-conflict, nothing stored", async () => {
    const body = await envelope('e2e-owned', OTHER, OTHER);
    const answer = await post(OTHER, 'e2e-owned', body);
    assert.equal(answer.status, 409, answer.text);
    assert.equal(problemCode(answer), 'scan-conflict');
    assert.equal(await store.getEvidence(sha256Hex(body)), null);
    assert.deepEqual((await store.listByScan('e2e-owned')).map((r) => r.sha256), [ownedSha]);
  });

  it("answers scanner-02's reads of scanner-01's scan as if it were absent (404), and the owner's reads normally", async () => {
    const foreign = await get(OTHER, `/api/v1/evidence/${ownedSha}`, 'e2e-owned');
    assert.equal(foreign.status, 404, foreign.text);
    assert.equal(problemCode(foreign), 'evidence-not-found');
    const list = await get(OTHER, '/api/v1/scans/e2e-owned/evidence', 'e2e-owned');
    assert.equal(list.status, 404, list.text);
    assert.equal(problemCode(list), 'scan-not-found');
    const mine = await get('scanner-01', `/api/v1/evidence/${ownedSha}`, 'e2e-owned');
    assert.equal(mine.status, 200, mine.text);
  });

  it("refuses /metrics and /healthz/ready at the locker's port to a scanner certificate (403 identity-not-allowed), answers the last hop", async () => {
    const service = chain.topology.services[0]!;
    const lastHop = service.chain.at(-1)!;
    const asScanner = await chain.agentFor({ cert: chain.scanner('scanner-01').tls.chain, key: chain.scanner('scanner-01').tls.key }, service.serverName);
    const asLastHop = await chain.agentFor({ cert: lastHop.tls.chain, key: lastHop.tls.key }, service.serverName);
    for (const path of ['/metrics', '/healthz/ready']) {
      const refused = await send(asScanner, `https://${service.listen}${path}`);
      assert.equal(refused.status, 403, refused.text);
      assert.equal(problemCode(refused), 'identity-not-allowed');
      const answered = await send(asLastHop, `https://${service.listen}${path}`);
      assert.equal(answered.status, 200, answered.text);
    }
  });
});
