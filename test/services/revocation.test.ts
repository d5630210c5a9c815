/**
 * A service applies a republished CRL by itself (docs/operations/certificates.md#revocation): a
 * `serve` process with `pki.reloadSeconds: 1`; two peers with the last hop's identity stream
 * requests over keep-alive connections; one certificate is revoked (`pki revoke`). Its open
 * connection is ended and its next handshake refused within the bound, while the other peer's
 * stream loses no request.
 */
import { describe, it, before, after } from 'node:test';
import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes, X509Certificate } from 'node:crypto';
import { Agent, request } from 'undici';
import { generateKey } from '../../src/dsse/index.js';
import { freePort } from '../../src/deploy/prepare.js';
import { cliInvocation, spawnManaged, waitUntil, type ManagedProcess } from '../../src/io/process.js';
import { initPki, issueCertificate, revokeCertificate } from '../../src/pki/index.js';
import { tempDir } from '../support/tmp.js';
import { letTimePass, waitFor, WaitTimeout } from '../support/wait.js';

const RELOAD_SECONDS = 1;
const SLACK_MS = 3_000;

describe('serve: a republished CRL reaches the running service', () => {
  const dir = tempDir('stella-service-revocation-');
  const pki = join(dir.path, 'pki');
  let proc: ManagedProcess;
  let url: string;
  let genuine: Agent;
  let revoked: Agent;
  let revokedSerial: string;

  const agentWith = (issued: string): Agent =>
    new Agent({ connect: { key: readFileSync(join(issued, 'key.pem')), cert: readFileSync(join(issued, 'chain.pem')), ca: readFileSync(join(pki, 'ca-bundle.pem')), servername: 'evidence-locker' } });

  before(async () => {
    await initPki({ dir: pki, trustDomain: 'stella.local' });
    await issueCertificate({ dir: pki, role: 'service', name: 'evidence-locker', dns: ['evidence-locker'], ip: ['127.0.0.1'] });
    await issueCertificate({ dir: pki, role: 'gateway', name: 'gw-internal', dns: ['gw-internal'] });
    // A second certificate of the same identity, e.g. a copy an attacker took before a re-issue.
    const second = await issueCertificate({ dir: pki, role: 'gateway', name: 'gw-internal', dns: ['gw-internal'], out: join(dir.path, 'stolen') });
    revokedSerial = new X509Certificate(second.certPem).serialNumber;
    mkdirSync(join(dir.path, 'keys'));
    for (const name of ['edge.key', 'internal.key', 'scanner.hmac']) writeFileSync(join(dir.path, 'keys', name), randomBytes(32).toString('base64'), { mode: 0o600 });
    writeFileSync(join(dir.path, 'keys', 'receipt.pem'), generateKey('ed25519').private, { mode: 0o600 });
    const file = join(dir.path, 'topology.json');
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'stella-gateway/v1',
        kind: 'Topology',
        name: 'demo',
        trustDomain: 'stella.local',
        pki: { dir: './pki', reloadSeconds: RELOAD_SECONDS },
        scanners: [{ id: 'scanner-01', signing: { keys: [{ kid: 'scanner-01-hmac', file: './keys/scanner.hmac' }] } }],
        hops: [
          { id: 'gw-edge', kind: 'nginx', listen: '127.0.0.1:8443', stamp: { via: 'native', keys: [{ kid: 'edge-1', file: './keys/edge.key' }] }, next: 'gw-internal' },
          { id: 'gw-internal', kind: 'haproxy', listen: '127.0.0.1:8445', stamp: { via: 'native', keys: [{ kid: 'internal-1', file: './keys/internal.key' }] }, next: 'evidence-locker' },
        ],
        services: [{ id: 'evidence-locker', kind: 'evidence-locker', listen: '127.0.0.1:9443', storage: { kind: 'sqlite', file: './var/evidence.db' }, receiptKey: './keys/receipt.pem' }],
      }),
    );
    const port = await freePort();
    url = `https://127.0.0.1:${port}`;
    genuine = agentWith(join(pki, 'issued', 'gateway', 'gw-internal'));
    revoked = agentWith(join(dir.path, 'stolen'));
    const cli = cliInvocation(['serve', '--topology', file, '--service', 'evidence-locker', '--listen', `127.0.0.1:${port}`]);
    proc = spawnManaged('locker', cli.command, cli.args, { logFile: join(dir.path, 'locker.log'), cwd: dir.path });
    await waitUntil(proc, async () => (await request(`${url}/healthz/live`, { dispatcher: genuine })).statusCode === 200, 30_000, 'serve');
  });

  after(async () => {
    await proc?.stop();
    await genuine?.close();
    await revoked?.destroy();
    dir.remove();
  });

  it('refuses the revoked peer within the bound and drops none of the other peer’s requests', { timeout: 60_000 }, async (t) => {
    const live = async (agent: Agent): Promise<boolean> => {
      try {
        const res = await request(`${url}/healthz/live`, { dispatcher: agent, headersTimeout: 5_000 });
        await res.body.dump();
        return res.statusCode === 200;
      } catch {
        return false;
      }
    };
    assert.equal(await live(revoked), true, 'the second certificate works before the revocation');
    let running = true;
    let sent = 0;
    let failed = 0;
    const stream = (async () => {
      while (running) {
        sent += 1;
        if (!(await live(genuine))) failed += 1;
      }
    })();
    const revokedAt = Date.now();
    await revokeCertificate({ dir: pki, serial: revokedSerial });
    // The revoked peer keeps its keep-alive connection busy, as a client that never reconnects would.
    // Not refused in time: NaN, which the bound below reports (the stream must stop first).
    const refusedAfterMs = await waitFor(async () => !(await live(revoked)) && { ms: Date.now() - revokedAt }, {
      what: 'the revoked peer refused',
      timeout: RELOAD_SECONDS * 1000 + SLACK_MS + 5_000,
      interval: 20,
    }).then(
      (refused) => refused.ms,
      (error: unknown) => {
        if (error instanceof WaitTimeout) return Number.NaN;
        throw error;
      },
    );
    // And stays refused: a fresh connection does not complete its handshake.
    const fresh = agentWith(join(dir.path, 'stolen'));
    const freshPasses = await live(fresh);
    await fresh.destroy();
    await letTimePass(500, "the genuine peer's stream goes on after the refusal");
    running = false;
    await stream;
    t.diagnostic(`revoked peer refused ${refusedAfterMs} ms after pki revoke; genuine peer: ${sent} requests, ${failed} failed`);
    assert.ok(refusedAfterMs <= RELOAD_SECONDS * 1000 + SLACK_MS, `refused after ${refusedAfterMs} ms`);
    assert.equal(freshPasses, false);
    assert.ok(sent >= 10, `${sent} requests`);
    assert.equal(failed, 0);
  });
});
