/**
 * Evidence Locker ingest over real HTTPS with mTLS (docs/services.md, docs/faults.md): POST /api/v1/evidence through
 * the provenance middleware (a 3-record chain stamped with `stampRecord` and the topology's hop
 * keys, the client presenting the last hop's certificate) against an opted-out route of the SAME
 * app that does the rest of the ingest itself — DSSE verification, receipt, durable store — so the
 * ratio is what the middleware costs a real ingest. Load: undici, N keep-alive connections.
 */
import { createHash } from 'node:crypto';
import { symlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Agent } from 'undici';
import type { PeerIdentity } from '../src/provenance/verify.js';
import { IN_TOTO_PAYLOAD_TYPE, parseEnvelope, serializeEnvelope, verifyEnvelope } from '../src/dsse/index.js';
import { buildReceipt } from '../src/evidence/receipt.js';
import { prepareDeployment } from '../src/deploy/prepare.js';
import { buildLockerApp } from '../src/services/locker/app.js';
import { SqliteReplayCache } from '../src/provenance/replay/sqlite.js';
import { loadServiceRuntime } from '../src/services/common/runtime.js';
import { tempDir } from '../test/support/tmp.js';
import { compareLoad } from './load.js';
import { shots, trafficContext } from './traffic.js';
import { machineInfo, type BenchResult, type BenchRow } from './support.js';

/** The bench's name (bench/results/locker.json). */
export const name = 'locker';

const SERVICE = 'evidence-locker';
const CONCURRENCY = [1, 8, 32];

/** examples/topology.yaml with a third stamping hop in place of the opaque WAF. */
function threeStampingHops(document: Record<string, unknown>): void {
  const hops = document.hops as Record<string, unknown>[];
  hops[0]!.next = 'gw-mid';
  hops[1] = { id: 'gw-mid', kind: 'haproxy', listen: hops[1]!.listen, stamp: { via: 'native', keys: [{ kid: 'mid-2026-11', file: './keys/gw-mid.key' }] }, next: 'gw-internal' };
}

/** Mean time of one durable replay reservation when each waits for the previous (no group commit possible). */
async function sequentialReserveMs(file: string): Promise<number> {
  const cache = new SqliteReplayCache({ file, cleanupIntervalMs: 0 });
  try {
    const count = 50;
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) await cache.checkAndRemember('gw-edge', `bench-${i}`, Date.now() + 60_000);
    return Number(process.hrtime.bigint() - start) / 1e6 / count;
  } finally {
    await cache.close();
  }
}

/** Runs the comparison at concurrency 1, 8 and 32 over one mTLS server. */
export async function run(): Promise<BenchResult> {
  const loadBefore = loadavg()[0]!;
  const dir = tempDir('stella-bench-locker-');
  try {
    symlinkSync(resolve('node_modules'), join(dir.path, 'node_modules'), 'dir');
    const { topology } = await prepareDeployment({ topologyFile: resolve('examples/topology.yaml'), workDir: dir.path, edit: threeStampingHops });
    const runtime = await loadServiceRuntime(topology, SERVICE);
    const service = runtime.service;
    const [ca, cert, key] = await Promise.all([readFile(topology.pki.caBundle), readFile(service.tls.chain), readFile(service.tls.key)]);
    const build = (peerIdentity?: (request: FastifyRequest) => PeerIdentity | null) =>
      buildLockerApp({
        topology,
        serviceId: SERVICE,
        store: runtime.store,
        closeStore: peerIdentity === undefined,
        receiptSigner: runtime.receiptSigner!,
        https: { cert, key, ca, requestCert: true, rejectUnauthorized: true },
        provenance: { hopKeys: runtime.hopKeys, replayCache: runtime.replayCache, logDecisions: false, envelope: { scannerKeys: runtime.scannerKeys, threshold: 1 }, ...(peerIdentity ? { peerIdentity } : {}) },
      });
    const app = await build();
    app.addHook('onClose', async () => runtime.replayCache.close());
    // The baseline: the same ingest minus provenance (no chain, no binding): DSSE verify, receipt, store.
    app.post('/bench/evidence', { config: { provenance: false } }, async (req, reply) => {
      const body = req.rawBody!;
      const sha256 = createHash('sha256').update(body).digest('hex');
      const envelope = await verifyEnvelope(parseEnvelope(body), { payloadType: IN_TOTO_PAYLOAD_TYPE, verifiers: [...runtime.scannerKeys.values()].flat(), threshold: 1 });
      const scanId = String(req.headers['x-stella-scan-id']);
      const receivedAt = new Date().toISOString();
      const stored = await runtime.store.getEvidence(sha256);
      if (stored) return reply.code(200).send({ sha256 });
      const receipt = await buildReceipt(
        {
          envelopeSha256: sha256,
          service: SERVICE,
          topology: topology.name,
          scanId,
          receivedAt,
          hops: [],
          verification: { provenance: 'verified', binding: 'verified', envelope: { result: 'verified', payloadType: envelope.payloadType, threshold: 1, acceptedKeyids: envelope.accepted.map((a) => a.keyid) } },
        },
        runtime.receiptSigner!,
      );
      await runtime.store.putEvidence({ sha256, scanId, scannerId: 'scanner-01', serviceId: SERVICE, payloadType: envelope.payloadType, envelope: body, hops: [], receipt: serializeEnvelope(receipt), receivedAt });
      return reply.code(201).send({ sha256, scanId, receivedAt, created: true, receipt: JSON.parse(serializeEnvelope(receipt)) as unknown });
    });
    const originOf = async (instance: FastifyInstance): Promise<string> => {
      await instance.listen({ host: '127.0.0.1', port: 0 });
      const address = instance.server.address();
      return `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    };
    const origin = await originOf(app);
    const lastHop = service.chain.at(-1)!;
    const ctx = await trafficContext(topology, SERVICE);
    const rows: BenchRow[] = [];
    try {
      for (const concurrency of CONCURRENCY) {
        const [hopCert, hopKey] = await Promise.all([readFile(lastHop.upstreamTls.chain), readFile(lastHop.upstreamTls.key)]);
        const agent = new Agent({ connect: { ca, cert: hopCert, key: hopKey, servername: service.serverName }, connections: concurrency, pipelining: 1 });
        try {
          const subject = shots({ ctx, origin, agent, method: 'POST', url: '/api/v1/evidence', stamp: true, expect: 201 });
          const baseline = shots({ ctx, origin, agent, method: 'POST', url: '/bench/evidence', stamp: false, expect: 201 });
          rows.push(await compareLoad(`POST evidence, 3 records, ${concurrency} connection${concurrency > 1 ? 's' : ''}`, subject, baseline, { concurrency, rounds: 7, requestsPerRound: 300 }));
          if (concurrency !== 1) continue;
          // Where the middleware's cost goes, without the fsync and receipt that hide it.
          rows.push(
            await compareLoad(
              'GET traversal (3 records checked) vs GET live, 1 connection',
              shots({ ctx, origin, agent, method: 'GET', url: '/healthz/traversal', stamp: true, expect: 200 }),
              shots({ ctx, origin, agent, method: 'GET', url: '/healthz/live', stamp: false, expect: 200 }),
              { concurrency, rounds: 7, requestsPerRound: 400 },
            ),
          );
        } finally {
          await agent.close();
        }
      }
    } finally {
      await app.close();
    }
    const reserveMs = await sequentialReserveMs(join(dir.path, 'bench-replay.db'));
    const ingestRows = rows.filter((r) => r.case.startsWith('POST'));
    const target = ingestRows.every((r) => r.ratio >= 0.95);
    // The explanation quotes this run's own figures, never numbers from an earlier one.
    const figure = (row: BenchRow | undefined, key: string): string => {
      const value = (row?.extra as Record<string, number> | undefined)?.[key];
      return typeof value === 'number' ? value.toFixed(2) : '?';
    };
    const ingestOne = ingestRows.find((r) => r.extra?.concurrency === 1);
    const traversal = rows.find((r) => r.case.startsWith('GET traversal'));
    const ingestMs = Number(figure(ingestOne, 'baselineP50Ms'));
    return {
      name,
      description:
        'Locker ingest over HTTPS+mTLS in one process. Subject: POST /api/v1/evidence through the provenance middleware (3 stamped records, the client presents the last hop\'s certificate). Baseline: an opted-out route of the same app doing the rest of the ingest (DSSE verify, Ed25519 receipt, SQLite putEvidence with synchronous=FULL). Every request is a new envelope. Target: ratio ≥ 0.95. Two GET rows isolate the checks: /healthz/traversal (all provenance checks, no storage) vs /healthz/live (opted out).',
      date: new Date().toISOString(),
      machine: machineInfo(),
      rows,
      notes: [
        `Target ratio ≥ 0.95: ${target ? 'met' : `missed (lowest ${Math.min(...ingestRows.map((r) => r.ratio)).toFixed(3)})`}. Latencies in ms over all rounds; addedP50Ms = subject p50 − baseline p50.`,
        `Where the ingest cost goes: the opted-out ingest (Ed25519 receipt + SQLite fsync on this machine's disk) takes ${figure(ingestOne, 'baselineP50Ms')} ms p50 at 1 connection, so a 0.95 ratio leaves the middleware ≈ ${Number.isFinite(ingestMs) ? ((ingestMs / 0.95 - ingestMs) * 1000).toFixed(0) : '?'} µs; the checks alone add ${figure(traversal, 'addedP50Ms')} ms p50 ("GET traversal vs GET live"), and an ingest adds the envelope binding (statement parse, intent checks) and a receipt and row with 3 hops. On a disk with a slower fsync the same absolute cost gives a higher ratio.`,
        `The one cost only the provenance path has that no CPU work can remove: the durable nonce reservation (SqliteReplayCache, synchronous=FULL), ${reserveMs.toFixed(2)} ms per reservation one after another on this disk in this run — one fsync, which the baseline does not pay. At 1 connection it cannot share its commit; with more connections the reservations of one event-loop turn share one (group commit).`,
        'Fixed after the first run: the default peerIdentity (tlsPeerIdentity, src/provenance/options.ts) called getPeerCertificate() on every request; it is now read once per TLS 1.3 connection (traversal throughput 2,530 → 3,419 requests/s in the run that found it).',
        'Client (undici) and server share the process and the 2 cores, so absolute ops/s understate a dedicated locker; both sides pay the same client cost.',
        `1-minute load average ${loadBefore.toFixed(1)} before and ${loadavg()[0]!.toFixed(1)} after the run.`,
      ],
    };
  } finally {
    dir.remove();
  }
}
