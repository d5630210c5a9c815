/**
 * Replay memory survives a restart (docs/provenance.md#5-replay-and-clock-rules): a request captured on its way to a
 * `serve` process is accepted once; the process is SIGKILLed and started again on the same
 * storage; the captured request, sent again byte for byte, is refused 409 `provenance-replayed`
 * and nothing more is stored. Run for SQLite (the replay file beside the evidence file) and
 * PostgreSQL (the replay table beside the evidence tables).
 */
import { describe, it, before, after } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { freePort } from '../../src/deploy/prepare.js';
import { cliInvocation, spawnManaged, waitUntil, type ManagedProcess } from '../../src/io/process.js';
import { initPki, issueCertificate } from '../../src/pki/index.js';
import { loadTopology } from '../../src/topology/load.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { tempDir } from '../support/tmp.js';
import { signedEnvelope, stamp, writeKeyFiles, type TestKeys } from './support/fixture.js';
import { recordFault } from '../faults/support/figures.js';

const PG_ENV = 'STELLA_REPLAY_RESTART_PG_URL';

describe('serve: replay memory across a SIGKILL and restart', () => {
  const dir = tempDir('stella-replay-restart-');
  let keys: TestKeys;
  let agent: Agent;
  let db: TestDatabase;

  before(async () => {
    const pki = join(dir.path, 'pki');
    await initPki({ dir: pki, trustDomain: 'stella.local' });
    await issueCertificate({ dir: pki, role: 'service', name: 'evidence-locker', dns: ['evidence-locker'], ip: ['127.0.0.1'] });
    await issueCertificate({ dir: pki, role: 'gateway', name: 'gw-internal', dns: ['gw-internal'] });
    keys = writeKeyFiles(join(dir.path, 'keys'));
    const issued = join(pki, 'issued', 'gateway', 'gw-internal');
    agent = new Agent({ connect: { key: readFileSync(join(issued, 'key.pem')), cert: readFileSync(join(issued, 'chain.pem')), ca: readFileSync(join(pki, 'ca-bundle.pem')), servername: 'evidence-locker' } });
    db = await createTestDatabase();
  });

  after(async () => {
    await agent?.close();
    await db?.drop();
    dir.remove();
  });

  const topologyFile = (name: string, storage: object): string => {
    const file = join(dir.path, `${name}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'stella-gateway/v1',
        kind: 'Topology',
        name,
        trustDomain: 'stella.local',
        pki: { dir: './pki' },
        scanners: [{ id: 'scanner-01', signing: { keys: [{ kid: 'scanner-01-hmac', file: './keys/scanner.hmac' }] } }],
        hops: [
          { id: 'gw-edge', kind: 'nginx', listen: '127.0.0.1:8443', stamp: { via: 'native', keys: [{ kid: 'edge-1', file: './keys/edge.key' }] }, next: 'gw-internal' },
          { id: 'gw-internal', kind: 'haproxy', listen: '127.0.0.1:8445', stamp: { via: 'native', keys: [{ kid: 'internal-1', file: './keys/internal.key' }] }, next: 'evidence-locker' },
        ],
        services: [{ id: 'evidence-locker', kind: 'evidence-locker', listen: '127.0.0.1:9443', storage, receiptKey: './keys/receipt.pem' }],
      }),
    );
    return file;
  };

  const runCase = async (name: string, storage: object): Promise<void> => {
    const file = topologyFile(name, storage);
    const topology = await loadTopology(file);
    const port = await freePort();
    const url = `https://127.0.0.1:${port}`;
    const start = async (): Promise<ManagedProcess> => {
      const cli = cliInvocation(['serve', '--topology', file, '--service', 'evidence-locker', '--listen', `127.0.0.1:${port}`]);
      const proc = spawnManaged(name, cli.command, cli.args, { logFile: join(dir.path, `${name}.log`), cwd: dir.path, env: { ...process.env, [PG_ENV]: db.url } });
      await waitUntil(proc, async () => (await request(`${url}/healthz/live`, { dispatcher: agent })).statusCode === 200, 30_000, `serve ${name}`);
      return proc;
    };
    const scanId = `scan-${name}`;
    const count = async (): Promise<number> => {
      const listing = stamp(topology, keys, { method: 'GET', url: `/api/v1/scans/${scanId}/evidence`, scanId, nowMs: Date.now() });
      const answer = await request(`${url}${listing.url}`, { headers: listing.headers, dispatcher: agent });
      assert.equal(answer.statusCode, 200);
      return ((await answer.body.json()) as { evidence: unknown[] }).evidence.length;
    };

    const nowMs = Date.now();
    const body = await signedEnvelope(keys, { scanId, nowMs, topology: name });
    const captured = stamp(topology, keys, { method: 'POST', url: '/api/v1/evidence', scanId, body, nowMs });
    const send = () => request(`${url}/api/v1/evidence`, { method: 'POST', headers: captured.headers, body, dispatcher: agent });

    let proc = await start();
    try {
      const first = await send();
      assert.equal(first.statusCode, 201);
      await first.body.dump();
      await proc.kill();
      proc = await start();
      const replay = await send();
      const replayCode = ((await replay.body.json()) as { code: string }).code;
      const rows = await count();
      recordFault({
        case: `replay after SIGKILL and restart (${name})`,
        target: 'the captured request refused 409 provenance-replayed, nothing stored',
        met: replay.statusCode === 409 && replayCode === 'provenance-replayed' && rows === 1,
        figures: { firstStatus: first.statusCode, replayStatus: replay.statusCode, replayCode, rowsAfter: rows },
      });
      assert.equal(replay.statusCode, 409);
      assert.equal(replayCode, 'provenance-replayed');
      assert.equal(rows, 1, 'the replay stored nothing');
      // The refusal is the replay's alone: a fresh stamp of the same envelope is answered (200, the original receipt).
      const fresh = stamp(topology, keys, { method: 'POST', url: '/api/v1/evidence', scanId, body, nowMs: Date.now() });
      const again = await request(`${url}/api/v1/evidence`, { method: 'POST', headers: fresh.headers, body, dispatcher: agent });
      assert.equal(again.statusCode, 200);
      await again.body.dump();
    } finally {
      await proc.stop();
    }
  };

  it('refuses a captured request replayed after a restart on SQLite storage', { timeout: 90_000 }, async () => {
    await runCase('sqlite', { kind: 'sqlite', file: './var/evidence.db' });
  });

  it('refuses a captured request replayed after a restart on PostgreSQL storage', { timeout: 90_000 }, async () => {
    await runCase('postgres', { kind: 'postgres', url: `env:${PG_ENV}` });
  });
});
