/**
 * The tamper matrix through the REAL chain (docs/provenance.md, docs/faults.md): a scanner posts evidence to the NGINX
 * edge; between HAProxy (the last hop) and the Evidence Locker sits a relay that holds the
 * locker's certificate towards HAProxy and gw-internal's towards the locker — an on-path attacker
 * with stolen TLS identities but no hop MAC key. It forges, tampers with, replays and reorders the
 * provenance; the locker must refuse each with its code, and the scanner sees that answer
 * through the chain. Forged provenance from the client itself is stripped by the edge.
 */
import { describe, it, after } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request, type Dispatcher } from 'undici';
import { parseProvenanceHeader, serializeProvenanceHeader } from '../../src/provenance/codec.js';
import { contentDigestOf } from '../../src/provenance/digest.js';
import type { HopRecord } from '../../src/provenance/record.js';
import { startService, parseListen, type RunningService } from '../../src/services/common/server.js';
import { nextScanId, signedEnvelope, stampChain, trafficContext, type TrafficContext } from '../../bench/traffic.js';
import { REFERENCE_TOPOLOGY, startChain, type Chain } from '../e2e/support/harness.js';
import { recordFault } from './support/figures.js';

type Forwarded = { headers: Record<string, string>; body: Buffer };
type Tamper = (request: Forwarded) => Forwarded;

const LIMITS = { maxHeaderBytes: 64 * 1024, maxHops: 16 };
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host', 'upgrade', 'te', 'trailer', 'proxy-connection']);

function plain(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function withRecords(request: Forwarded, change: (records: HopRecord[]) => HopRecord[]): Forwarded {
  const records = parseProvenanceHeader(request.headers['x-stella-provenance']!, LIMITS);
  return { ...request, headers: { ...request.headers, 'x-stella-provenance': serializeProvenanceHeader(change(records)) } };
}

/** The relay: HAProxy → relay (as the locker) → the locker (as gw-internal), tampering on the way. */
async function startRelay(chain: Chain, locker: RunningService, tamper: () => Tamper): Promise<{ server: Server; agent: Agent; captured: Forwarded[] }> {
  const topology = chain.topology;
  const service = topology.services[0]!;
  const last = service.chain.at(-1)!;
  const [ca, cert, key, hopCert, hopKey] = await Promise.all([
    readFile(topology.pki.caBundle),
    readFile(service.tls.chain),
    readFile(service.tls.key),
    readFile(last.upstreamTls.chain),
    readFile(last.upstreamTls.key),
  ]);
  const agent = new Agent({ connect: { ca, cert: hopCert, key: hopKey, servername: service.serverName } });
  const captured: Forwarded[] = [];
  const server = createServer({ ca, cert, key, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const original = { headers: plain(req.headers), body: Buffer.concat(chunks) };
      captured.push(original);
      const sent = tamper()(original);
      request(`${locker.url}${req.url ?? '/'}`, { method: req.method as Dispatcher.HttpMethod, headers: sent.headers, body: sent.body.length > 0 ? sent.body : null, dispatcher: agent })
        .then(async (answer) => {
          const headers = plain(answer.headers as IncomingHttpHeaders);
          const body = Buffer.from(await answer.body.arrayBuffer());
          res.writeHead(answer.statusCode, { ...headers, 'content-length': String(body.length) }).end(body);
        })
        .catch((error: unknown) => res.writeHead(502).end(String(error)));
    });
  });
  const { host, port } = parseListen(service.listen);
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  return { server, agent, captured };
}

interface Answer {
  status: number;
  code: string | undefined;
  hops: string[];
}

async function post(ctx: TrafficContext, chain: Chain, agent: Agent, extraHeaders: Record<string, string> = {}): Promise<Answer> {
  const scanId = nextScanId();
  const body = await signedEnvelope(ctx, scanId);
  const res = await request(`${chain.edgeUrl()}/api/v1/evidence`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-digest': contentDigestOf(body), 'x-stella-scan-id': scanId, ...extraHeaders },
    body,
    dispatcher: agent,
  });
  const text = await res.body.text();
  let parsed: { code?: string; receipt?: { payload?: string } } = {};
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    parsed = {};
  }
  let hops: string[] = [];
  if (parsed.receipt?.payload) {
    const statement = JSON.parse(Buffer.from(parsed.receipt.payload, 'base64').toString('utf8')) as { predicate: { hops: { id: string }[] } };
    hops = statement.predicate.hops.map((h) => h.id);
  }
  return { status: res.statusCode, code: parsed.code, hops };
}

describe('Tamper matrix through the real chain', () => {
  let chain: Chain | undefined;
  let locker: RunningService | undefined;
  let relay: { server: Server; agent: Agent; captured: Forwarded[] } | undefined;
  after(async () => {
    if (relay) await new Promise((resolve) => relay!.server.close(resolve));
    await relay?.agent.close();
    await locker?.close();
    await chain?.close();
  });

  it('refuses forged, tampered, replayed and reordered provenance with their codes, and strips client forgeries at the edge', { timeout: 240_000 }, async () => {
    chain = await startChain(REFERENCE_TOPOLOGY);
    const topology = chain.topology;
    const service = topology.services[0]!;
    const ctx = await trafficContext(topology, service.id);
    // The locker moves behind the relay: same topology and keys, in this process, on a free port.
    await chain.deployment.stopService(service.id);
    locker = await startService({ topology, serviceId: service.id, listen: '127.0.0.1:0', logger: false });
    let current: Tamper = (r) => r;
    relay = await startRelay(chain, locker, () => current);
    const scanner = await chain.scannerAgent();
    const forgedRecords = (scanId: string) =>
      serializeProvenanceHeader(stampChain({ ...ctx, keys: new Map([...ctx.keys].map(([hop, ring]) => [hop, new Map([...ring].map(([kid]) => [kid, randomBytes(32)]))])) }, { method: 'POST', url: '/api/v1/evidence', scanId, contentDigest: null }));

    const cases: { name: string; tamper: Tamper; headers?: Record<string, string>; expect: { status: number; code?: string; hops?: string[] } }[] = [
      { name: 'untouched (control)', tamper: (r) => r, expect: { status: 201, hops: ['gw-edge', 'gw-internal'] } },
      { name: 'forged provenance sent by the client (stripped at the edge)', tamper: (r) => r, headers: { 'x-stella-provenance': forgedRecords('forged') }, expect: { status: 201, hops: ['gw-edge', 'gw-internal'] } },
      {
        name: 'record MAC altered between hops',
        tamper: (r) => withRecords(r, (records) => records.map((rec, i) => (i === 0 ? { ...rec, mac: Uint8Array.from(rec.mac, (b, j) => (j === 0 ? b ^ 1 : b)) } : rec))),
        expect: { status: 401, code: 'provenance-tampered' },
      },
      { name: 'record peer rewritten between hops', tamper: (r) => withRecords(r, (records) => records.map((rec, i) => (i === 0 ? { ...rec, peer: `sha256:${'0'.repeat(64)}` } : rec))), expect: { status: 401, code: 'provenance-tampered' } },
      {
        name: 'body swapped between hops (Content-Digest recomputed)',
        tamper: (r) => {
          const body = Buffer.from(r.body.toString('utf8').replace('"payloadType":"', '"payloadType" : "'));
          return { headers: { ...r.headers, 'content-digest': contentDigestOf(body) }, body };
        },
        expect: { status: 401, code: 'provenance-tampered' },
      },
      { name: 'records reordered', tamper: (r) => withRecords(r, (records) => [...records].reverse()), expect: { status: 403, code: 'topology-mismatch' } },
      { name: 'edge record dropped', tamper: (r) => withRecords(r, (records) => records.slice(1)), expect: { status: 403, code: 'topology-mismatch' } },
      { name: 'forged record appended with a guessed key', tamper: (r) => withRecords(r, (records) => [...records, { ...records.at(-1)!, seq: records.length + 1, mac: randomBytes(32) }]), expect: { status: 403, code: 'topology-mismatch' } },
      { name: 'the whole chain replaced by one stamped with guessed keys', tamper: (r) => ({ ...r, headers: { ...r.headers, 'x-stella-provenance': forgedRecords(r.headers['x-stella-scan-id']!) } }), expect: { status: 401, code: 'provenance-tampered' } },
      { name: 'provenance removed', tamper: (r) => ({ ...r, headers: Object.fromEntries(Object.entries(r.headers).filter(([k]) => k !== 'x-stella-provenance')) }), expect: { status: 401, code: 'provenance-missing' } },
    ];

    const outcomes: string[] = [];
    let refused = 0;
    let expectedRefusals = 0;
    for (const c of cases) {
      current = c.tamper;
      const answer = await post(ctx, chain, scanner, c.headers);
      outcomes.push(`${c.name}: ${answer.status} ${answer.code ?? ''}`.trim());
      assert.equal(answer.status, c.expect.status, `${c.name}: ${JSON.stringify(answer)}`);
      if (c.expect.code) {
        expectedRefusals += 1;
        assert.equal(answer.code, c.expect.code, c.name);
        refused += 1;
      }
      if (c.expect.hops) assert.deepEqual(answer.hops, c.expect.hops, c.name);
    }

    // Replay: the relay re-sends, byte for byte, the last request that was accepted.
    current = (r) => r;
    const accepted = await post(ctx, chain, scanner);
    assert.equal(accepted.status, 201);
    const captured = relay.captured.at(-1)!;
    const replay = await request(`${locker.url}/api/v1/evidence`, { method: 'POST', headers: captured.headers, body: captured.body, dispatcher: relay.agent });
    const replayAnswer = JSON.parse(await replay.body.text()) as { code?: string };
    outcomes.push(`replayed request: ${replay.statusCode} ${replayAnswer.code ?? ''}`);
    assert.equal(replay.statusCode, 409);
    assert.equal(replayAnswer.code, 'provenance-replayed');
    expectedRefusals += 1;
    refused += 1;

    recordFault({
      case: 'Tamper matrix through the real chain',
      target: 'every forgery refused with its code',
      met: refused === expectedRefusals,
      figures: { relayAttacks: expectedRefusals, refusedWithExpectedCode: refused, clientForgeriesStrippedAtEdge: 1, controlsAccepted: 2 },
    });
    process.stdout.write(`# tamper matrix:\n${outcomes.map((o) => `#   ${o}`).join('\n')}\n`);
  });
});
