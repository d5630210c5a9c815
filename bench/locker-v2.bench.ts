/**
 * Evidence Locker ingest with provenance v2 over real HTTPS with mTLS (docs/provenance.md#part-2-version-2):
 * POST /api/v1/evidence carrying a 3-hop v2 chain (each hop's own ECDSA P-256 or Ed25519 key),
 * against (a) the same route with the same chain's v1 HMAC records, and (b) an opted-out route of
 * the same app doing the rest of the ingest (DSSE verify, receipt, durable store). Every hop stamps
 * both versions (`profile: both`), so one app takes both; every request is a new envelope.
 */
import { createHash, randomBytes } from 'node:crypto';
import { symlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { Agent, request } from 'undici';
import { IN_TOTO_PAYLOAD_TYPE, parseEnvelope, serializeEnvelope, verifyEnvelope } from '../src/dsse/index.js';
import { buildReceipt } from '../src/evidence/receipt.js';
import { prepareDeployment } from '../src/deploy/prepare.js';
import { contentDigestOf } from '../src/provenance/digest.js';
import { loadV2SigningKey, type V2SigningKey } from '../src/provenance/v2/keys.js';
import { appendV2Stamp, stampV2, type V2Stamp } from '../src/provenance/v2/sign.js';
import { buildLockerApp } from '../src/services/locker/app.js';
import { loadServiceRuntime } from '../src/services/common/runtime.js';
import { stampingHops } from '../src/topology/resolve.js';
import { tempDir } from '../test/support/tmp.js';
import { compareLoad, type Prepare, type Shot } from './load.js';
import { nextScanId, shots, signedEnvelope, trafficContext, type TrafficContext } from './traffic.js';
import { machineInfo, type BenchResult, type BenchRow } from './support.js';

/** The bench's name (bench/results/locker-v2.json). */
export const name = 'locker-v2';

const SERVICE = 'evidence-locker';

/** examples/topology.yaml as a 3-hop v2 chain: a Caddy edge whose stamper signs Ed25519, then two HAProxy hops signing ECDSA P-256. */
function threeV2Hops(document: Record<string, unknown>): void {
  const hops = document.hops as Record<string, unknown>[];
  const v2 = (id: string, alg: string, via: string, extra: Record<string, unknown> = {}) => ({
    via,
    profile: 'both',
    keys: [{ kid: `${id}-v1`, file: `./keys/${id}.key` }],
    signing: { alg, keys: [{ kid: `${id}-v2`, file: `./keys/${id}.v2.pem`, publicFile: `./keys/${id}.v2.pub.pem` }] },
    ...extra,
  });
  hops[0] = { ...hops[0], kind: 'caddy', next: 'gw-mid', stamp: v2('gw-edge', 'ed25519', 'forward-auth', { stamper: { socket: './run/gw-edge/stamper.sock' } }) };
  hops[1] = { id: 'gw-mid', kind: 'haproxy', listen: hops[1]!.listen, stamp: v2('gw-mid', 'ecdsa-p256-sha256', 'native'), next: 'gw-internal' };
  hops[2] = { ...hops[2], stamp: v2('gw-internal', 'ecdsa-p256-sha256', 'native') };
}

/** Fresh POSTs carrying a new envelope and the chain's v2 members each (signed before the clock runs). */
function v2Shots(ctx: TrafficContext, signers: ReadonlyMap<string, V2SigningKey>, origin: string, agent: Agent): Prepare {
  return async (count) => {
    const list: Shot[] = [];
    for (let i = 0; i < count; i++) {
      const scanId = nextScanId();
      const body = await signedEnvelope(ctx, scanId);
      const contentDigest = contentDigestOf(body);
      const facts = { method: 'POST', pathAndQuery: '/api/v1/evidence', scanId, contentDigest };
      let fields: { signatureInput: string | null; signature: string | null } = { signatureInput: null, signature: null };
      let previous: V2Stamp | null = null;
      for (const hop of stampingHops(ctx.service)) {
        const index = ctx.service.chain.indexOf(hop);
        const peerId = index === 0 ? ctx.scannerId : ctx.service.chain[index - 1]!.id;
        const signer = signers.get(hop.id)!;
        previous = stampV2({ hop: hop.id, seq: hop.stampSeq!, created: Math.floor(Date.now() / 1000), nonce: randomBytes(16).toString('hex'), peer: index === 0 ? ctx.scannerCert : ctx.hopCerts.get(peerId)!, peerId, keyid: signer.kid, alg: signer.alg, key: signer.key, request: facts, previous: previous ? { label: previous.label, signatureValue: previous.signatureValue } : null });
        fields = appendV2Stamp(fields, previous);
      }
      const headers = { 'x-stella-scan-id': scanId, 'content-type': 'application/json', 'content-digest': contentDigest, 'signature-input': fields.signatureInput!, signature: fields.signature! };
      list.push(async () => {
        const res = await request(`${origin}/api/v1/evidence`, { method: 'POST', headers, body, dispatcher: agent });
        const text = await res.body.text();
        if (res.statusCode !== 201) throw new Error(`POST v2: ${res.statusCode} ${text.slice(0, 300)}`);
      });
    }
    return list;
  };
}

/** Runs v2 vs v1 and v2 vs no provenance at 1 and 8 connections over one mTLS server. */
export async function run(): Promise<BenchResult> {
  const loadBefore = loadavg()[0]!;
  const dir = tempDir('stella-bench-locker-v2-');
  try {
    symlinkSync(resolve('node_modules'), join(dir.path, 'node_modules'), 'dir');
    const { topology } = await prepareDeployment({ topologyFile: resolve('examples/topology.yaml'), workDir: dir.path, edit: threeV2Hops });
    const runtime = await loadServiceRuntime(topology, SERVICE);
    const service = runtime.service;
    const signers = new Map<string, V2SigningKey>();
    for (const hop of stampingHops(service)) signers.set(hop.id, await loadV2SigningKey(hop));
    const [ca, cert, key] = await Promise.all([readFile(topology.pki.caBundle), readFile(service.tls.chain), readFile(service.tls.key)]);
    const app = await buildLockerApp({
      topology,
      serviceId: SERVICE,
      store: runtime.store,
      receiptSigner: runtime.receiptSigner!,
      https: { cert, key, ca, requestCert: true, rejectUnauthorized: true },
      provenance: { hopKeys: runtime.hopKeys, v2Keys: runtime.v2Keys, replayCache: runtime.replayCache, logDecisions: false, envelope: { scannerKeys: runtime.scannerKeys, threshold: 1 } },
    });
    app.addHook('onClose', async () => runtime.replayCache.close());
    // The baseline of bench/locker.bench.ts: the same ingest minus provenance.
    app.post('/bench/evidence', { config: { provenance: false } }, async (req, reply) => {
      const body = req.rawBody!;
      const sha256 = createHash('sha256').update(body).digest('hex');
      const envelope = await verifyEnvelope(parseEnvelope(body), { payloadType: IN_TOTO_PAYLOAD_TYPE, verifiers: [...runtime.scannerKeys.values()].flat(), threshold: 1 });
      const scanId = String(req.headers['x-stella-scan-id']);
      const receivedAt = new Date().toISOString();
      const receipt = await buildReceipt(
        { envelopeSha256: sha256, service: SERVICE, topology: topology.name, scanId, receivedAt, hops: [], verification: { provenance: 'verified', binding: 'verified', envelope: { result: 'verified', payloadType: envelope.payloadType, threshold: 1, acceptedKeyids: envelope.accepted.map((a) => a.keyid) } } },
        runtime.receiptSigner!,
      );
      await runtime.store.putEvidence({ sha256, scanId, scannerId: 'scanner-01', serviceId: SERVICE, payloadType: envelope.payloadType, envelope: body, hops: [], receipt: serializeEnvelope(receipt), receivedAt });
      return reply.code(201).send({ sha256 });
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    const origin = `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const ctx = await trafficContext(topology, SERVICE);
    const lastHop = service.chain.at(-1)!;
    const rows: BenchRow[] = [];
    try {
      for (const concurrency of [1, 8]) {
        const [hopCert, hopKey] = await Promise.all([readFile(lastHop.upstreamTls.chain), readFile(lastHop.upstreamTls.key)]);
        const agent = new Agent({ connect: { ca, cert: hopCert, key: hopKey, servername: service.serverName }, connections: concurrency, pipelining: 1 });
        try {
          const v2 = v2Shots(ctx, signers, origin, agent);
          const options = { concurrency, rounds: 5, requestsPerRound: 200, warmupRequests: 50 };
          rows.push(await compareLoad(`POST evidence v2 (3 hops) vs v1, ${concurrency} conn`, v2, shots({ ctx, origin, agent, method: 'POST', url: '/api/v1/evidence', stamp: true, expect: 201 }), options));
          rows.push(await compareLoad(`POST evidence v2 (3 hops) vs no provenance, ${concurrency} conn`, v2, shots({ ctx, origin, agent, method: 'POST', url: '/bench/evidence', stamp: false, expect: 201 }), options));
        } finally {
          await agent.close();
        }
      }
    } finally {
      await app.close();
    }
    return {
      name,
      description:
        'Locker ingest over HTTPS+mTLS in one process, every hop stamping both versions (Ed25519 edge, two ECDSA P-256 hops). Subject: POST /api/v1/evidence with the 3 v2 members. Baselines: the same route with the 3 v1 HMAC records; an opted-out route doing the rest of the ingest (DSSE verify, Ed25519 receipt, SQLite putEvidence, synchronous=FULL). Aim (issue 19): v2 vs no provenance ≥ 0.7.',
      date: new Date().toISOString(),
      machine: { ...machineInfo(), loadAverage1m: loadBefore },
      rows,
      notes: ['Requests are stamped before each round is timed; client and server share the process and the cores.'],
    };
  } finally {
    dir.remove();
  }
}
