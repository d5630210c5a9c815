/**
 * docs/operations/certificates.md "zero failed requests across a rotation under load": while two workers deliver a steady
 * stream through the reference chain, the worker's certificate is re-issued in place (the `files`
 * source re-reads it) and then the edge's (re-issued, then NGINX reloaded with SIGHUP). Every
 * submission is delivered, and stored once, and both identities of each side were really used.
 *
 * "Delivered" allows the outbox's retry (docs/services.md): when NGINX reloads, an old worker closes its idle
 * keep-alive connections, and a POST the client had just put on one fails with "other side closed"
 * (the classic keep-alive race; undici does not retry a POST). The worker retries such a transient
 * failure and the locker, idempotent by envelope SHA-256, stores the artifact once — which is what
 * the test checks, together with "no failure other than that transient one".
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { connect } from 'node:tls';
import { issueCertificate } from '../../src/pki/index.js';
import type { SubmitResult } from '../../src/scanner/submit.js';
import { splitListen } from '../../src/gateways/chain.js';
import { waitFor } from '../support/wait.js';
import { REFERENCE_TOPOLOGY, startChain, type Chain } from '../support/chain.js';
import { startWorker, storedCount, storedEvidence, type ChainWorker } from './support/client.js';

const LANES = 2;
const SCAN_ID = 'scan-rotation';

let chain: Chain;
let workers: ChainWorker[] = [];

before(async () => {
  chain = await startChain(REFERENCE_TOPOLOGY);
  workers = await Promise.all(Array.from({ length: LANES }, () => startWorker(chain)));
});
after(async () => {
  await Promise.all(workers.map((w) => w.close()));
  await chain?.close();
});

/** The certificate the edge serves to a new connection, as `sha256:<hex>`. */
async function edgeServes(): Promise<string> {
  const scanner = chain.scanner();
  const [ca, cert, key] = await Promise.all([readFile(chain.topology.pki.caBundle), readFile(scanner.tls.chain), readFile(scanner.tls.key)]);
  const { host, port } = splitListen(new URL(chain.edgeUrl()).host);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, ca, cert, key, servername: chain.edgeServerName() }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256.replace(/:/g, '').toLowerCase();
      socket.end();
      resolve(`sha256:${fingerprint}`);
    });
    socket.once('error', reject);
  });
}


describe('certificate rotation during a stream of deliveries', () => {
  const results: SubmitResult[] = [];
  let oldScanner = '';
  let newScanner = '';
  let oldEdge = '';
  let newEdge = '';

  before(async () => {
    const scanner = chain.scanner();
    const edge = chain.topology.hops.find((h) => h.id === scanner.edge);
    const nginx = chain.deployment.gateways.get(scanner.edge);
    if (!edge || !nginx) throw new TypeError('no edge');
    oldScanner = workers[0]?.setup.credentials.current().fingerprint ?? '';
    oldEdge = await edgeServes();

    let running = true;
    let n = 0;
    const lane = async (worker: ChainWorker, index: number): Promise<void> => {
      while (running) {
        const [result] = await worker.submit(SCAN_ID, { [`artifact-${index}-${++n}.json`]: JSON.stringify({ lane: index, n, at: Date.now() }) }, { maxAttempts: 3 });
        if (result) results.push(result);
      }
    };
    const lanes = workers.map((w, i) => lane(w, i));
    try {
      await waitFor(() => results.length >= 6, { what: 'a first few deliveries' });

      // The worker's certificate, re-issued in place, as an external issuer would write it.
      const reissued = await issueCertificate({ dir: chain.topology.pki.dir, role: 'scanner', name: scanner.id, out: dirname(scanner.tls.cert) });
      newScanner = reissued.fingerprint;
      await waitFor(() => workers.every((w) => w.setup.credentials.current().fingerprint === newScanner), { what: 'both workers presenting the new certificate' });
      const afterScanner = results.length;
      await waitFor(() => results.length >= afterScanner + 6, { what: 'deliveries with the new worker certificate' });

      // The edge's certificate, re-issued in place, then NGINX reloads (SIGHUP: new workers, old ones finish).
      const host = splitListen(edge.listen).host;
      const edgeCert = await issueCertificate({ dir: chain.topology.pki.dir, role: 'gateway', name: edge.id, dns: [edge.serverName], ip: [host], out: dirname(edge.tls.cert) });
      newEdge = edgeCert.fingerprint;
      process.kill(nginx.pid, 'SIGHUP');
      await waitFor(async () => (await edgeServes()) === newEdge, { what: 'the edge serving its new certificate' });
      const afterEdge = results.length;
      await waitFor(() => results.length >= afterEdge + 6, { what: 'deliveries through the reloaded edge' });
    } finally {
      running = false;
      await Promise.all(lanes);
    }
  });

  it('delivers every submission of the stream, each stored exactly once', async (t) => {
    const retries = workers.flatMap((w) => w.events).filter((e) => e.type === 'retry');
    t.diagnostic(`${results.length} deliveries by ${LANES} workers across both rotations; ${retries.length} attempt(s) retried`);
    assert.ok(results.length >= 18, `${results.length} deliveries`);
    const failed = results.filter((r) => r.state !== 'delivered');
    assert.deepEqual(
      failed.map((r) => [r.name, r.state, r.code, r.message]),
      [],
    );
    assert.equal(await storedCount(chain, SCAN_ID), results.length);
  });

  it('failed no attempt for any reason but a transient connection close', () => {
    const events = workers.flatMap((w) => w.events);
    assert.deepEqual(events.filter((e) => e.type === 'rejected').map((e) => e.item.name), []);
    for (const e of events) if (e.type === 'retry') assert.equal(e.error.code, 'SCANNER_NETWORK', e.error.message);
  });

  it('really rotated both certificates', () => {
    assert.match(newScanner, /^sha256:[0-9a-f]{64}$/);
    assert.notEqual(newScanner, oldScanner);
    assert.match(newEdge, /^sha256:[0-9a-f]{64}$/);
    assert.notEqual(newEdge, oldEdge);
  });

  it('stored deliveries under the old and under the new worker certificate (hop 1 peer)', async () => {
    const peers = new Set<string>();
    for (const result of [results[0], results.at(-1)]) {
      if (!result?.envelopeSha256) continue;
      peers.add((await storedEvidence(chain, result.envelopeSha256, SCAN_ID)).hops[0]?.peer ?? '');
    }
    assert.deepEqual([...peers].sort(), [oldScanner, newScanner].sort());
  });
});
