/**
 * Revocation that takes effect by itself (docs/operations/certificates.md#revocation): while a
 * worker streams deliveries through the real chain, `pki revoke` republishes `crl.pem` for a
 * second scanner's certificate. Nobody touches a gateway: the deployment's supervisors see the
 * new CRL and reload every program gracefully (NGINX SIGHUP, Apache SIGUSR1, HAProxy master
 * SIGUSR2; Caddy `caddy reload` on its admin socket), the stamper re-reads it. The revoked
 * certificate is refused within `pki.reloadSeconds` (+ the reload), and the genuine stream loses
 * nothing: every submission delivered and stored once.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import type { Agent } from 'undici';
import { revokeCertificate } from '../../src/pki/index.js';
import type { SubmitResult } from '../../src/scanner/submit.js';
import { waitFor } from '../support/wait.js';
import { CADDY_TOPOLOGY, REFERENCE_TOPOLOGY, startChain, type Chain } from '../support/chain.js';
import { edgeHost, send, startWorker, storedCount, type ChainWorker } from './support/client.js';
import { recordFault } from '../faults/support/figures.js';

/** The bound under test: short, so the test is too. */
const RELOAD_SECONDS = 1;
/** What a reload itself may add to the bound on this shared 2-core machine. */
const RELOAD_SLACK_MS = 6_000;
const REVOKED = 'scanner-02';

function withSecondScanner(document: Record<string, unknown>): void {
  const pki = document.pki as Record<string, unknown>;
  pki.reloadSeconds = RELOAD_SECONDS;
  const scanners = document.scanners as Record<string, unknown>[];
  // The Caddy example has one scanner; the reference topology already has scanner-02.
  if (!scanners.some((s) => s.id === REVOKED)) scanners.push({ ...scanners[0], id: REVOKED, signing: { keys: [{ kid: `${REVOKED}-hmac`, file: `./keys/${REVOKED}.hmac` }] } });
}

/** The deployment supervisors' log of reloads (src/deploy/start.ts). */
function reloadLog(chain: Chain): string {
  try {
    return readFileSync(join(chain.workDir, 'logs', 'reload.log'), 'utf8');
  } catch {
    return '';
  }
}


/** One round trip through the edge as the revoked scanner: true when it got through. */
async function passes(chain: Chain, agent: Agent): Promise<boolean> {
  try {
    const answer = await send(agent, `${chain.edgeUrl(REVOKED)}/healthz/traversal`, { headers: { host: edgeHost(chain, REVOKED), 'x-stella-scan-id': 'scan-revoked' } });
    return answer.status === 200;
  } catch {
    return false; // handshake refused or connection closed: refused
  }
}

for (const [name, file] of [
  ['NGINX → Apache+ModSecurity → HAProxy → locker', REFERENCE_TOPOLOGY],
  ['Caddy (forward-auth stamper) → … → locker', CADDY_TOPOLOGY],
] as const) {
  describe(`revocation during a stream of deliveries: ${name}`, () => {
    let chain: Chain;
    let worker: ChainWorker;
    const results: SubmitResult[] = [];
    let refusedAfterMs = Number.NaN;
    let passedBefore = false;
    const scanId = 'scan-revocation';
    let supervised: string[] = [];

    before(async () => {
      chain = await startChain(file, { edit: withSecondScanner });
      worker = await startWorker(chain);
      supervised = chain.topology.hops.filter((h) => h.kind !== 'envoy').map((h) => h.id);
      const revokedFiles = chain.scanner(REVOKED).tls;
      const serial = new X509Certificate(readFileSync(revokedFiles.cert)).serialNumber;
      // The revoked scanner's own keep-alive client, as an attacker holding the key would keep it.
      const revokedAgent = await chain.agentFor({ cert: revokedFiles.chain, key: revokedFiles.key }, chain.edgeServerName(REVOKED));
      passedBefore = await passes(chain, revokedAgent);

      let running = true;
      let n = 0;
      const lane = async (): Promise<void> => {
        while (running) {
          const [result] = await worker.submit(scanId, { [`artifact-${++n}.json`]: JSON.stringify({ n, at: Date.now() }) }, { maxAttempts: 3 });
          if (result) results.push(result);
        }
      };
      const stream = lane();
      try {
        await waitFor(() => results.length >= 4, { what: 'a first few deliveries' });
        const revokedAt = Date.now();
        await revokeCertificate({ dir: chain.topology.pki.dir, serial });
        await waitFor(async () => !(await passes(chain, revokedAgent)), { what: 'the revoked certificate refused', timeout: RELOAD_SECONDS * 1000 + RELOAD_SLACK_MS + 10_000 });
        refusedAfterMs = Date.now() - revokedAt;
        // Every gateway reloads on the new CRL while the stream runs; deliveries keep flowing after.
        await waitFor(() => supervised.every((id) => reloadLog(chain).includes(` ${id} `)), { what: 'every supervised gateway reloaded', timeout: RELOAD_SLACK_MS + 10_000 });
        const afterReloads = results.length;
        await waitFor(() => results.length >= afterReloads + 4, { what: 'deliveries after the reloads' });
      } finally {
        running = false;
        await stream;
      }
    });
    after(async () => {
      await worker?.close();
      await chain?.close();
    });

    it('let the second scanner through before, and refused its certificate within the bound after', (t) => {
      t.diagnostic(`refused ${refusedAfterMs} ms after pki revoke (bound ${RELOAD_SECONDS} s + ${RELOAD_SLACK_MS} ms reload slack)`);
      const failed = results.filter((r) => r.state !== 'delivered').length;
      recordFault({
        case: `revocation during a stream: ${name}`,
        target: `revoked certificate refused within ${RELOAD_SECONDS} s + ${RELOAD_SLACK_MS} ms of pki revoke; 0 failed genuine deliveries`,
        met: passedBefore && refusedAfterMs <= RELOAD_SECONDS * 1000 + RELOAD_SLACK_MS && failed === 0,
        figures: { refusedAfterMs, genuineDeliveries: results.length, failedDeliveries: failed, gatewaysReloaded: supervised.length },
      });
      assert.equal(passedBefore, true);
      assert.ok(refusedAfterMs <= RELOAD_SECONDS * 1000 + RELOAD_SLACK_MS, `${refusedAfterMs} ms`);
    });

    it('failed no genuine delivery, and stored each one once', async (t) => {
      const retries = worker.events.filter((e) => e.type === 'retry');
      t.diagnostic(`${results.length} deliveries; ${retries.length} attempt(s) retried`);
      assert.deepEqual(
        results.filter((r) => r.state !== 'delivered').map((r) => [r.name, r.state, r.code, r.message]),
        [],
      );
      assert.equal(await storedCount(chain, scanId), results.length);
    });

    it('reloaded every supervised gateway, none failed', () => {
      const log = reloadLog(chain);
      for (const id of supervised) assert.match(log, new RegExp(` ${id} reloaded`), log);
      assert.doesNotMatch(log, /reload failed/);
    });
  });
}
