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
import { request, type Agent } from 'undici';
import { parseProvenanceHeader, serializeProvenanceHeader } from '../../src/provenance/codec.js';
import { contentDigestOf } from '../../src/provenance/digest.js';
import type { HopRecord } from '../../src/provenance/record.js';
import { startService, parseListen, type RunningService } from '../../src/services/common/server.js';
import { nextScanId, signedEnvelope, stampChain, trafficContext, type TrafficContext } from '../../bench/traffic.js';
import { REFERENCE_TOPOLOGY, startChain, type Chain } from '../support/chain.js';
import { forwardTo, startRelay, type Relay, type RelayedRequest } from '../support/relay.js';
import { recordFault } from './support/figures.js';

type Tamper = (request: RelayedRequest) => RelayedRequest;

const LIMITS = { maxHeaderBytes: 64 * 1024, maxHops: 16 };

function withRecords(request: RelayedRequest, change: (records: HopRecord[]) => HopRecord[]): RelayedRequest {
  const records = parseProvenanceHeader(request.headers['x-stella-provenance']!, LIMITS);
  return { ...request, headers: { ...request.headers, 'x-stella-provenance': serializeProvenanceHeader(change(records)) } };
}

/** The relay: HAProxy → relay (as the locker) → the locker (as gw-internal), tampering on the way. */
async function spliceTamperer(chain: Chain, locker: RunningService): Promise<{ relay: Relay; agent: Agent }> {
  const topology = chain.topology;
  const service = topology.services[0]!;
  const last = service.chain.at(-1)!;
  const forward = forwardTo({ ca: topology.pki.caBundle, listen: new URL(locker.url).host, servername: service.serverName, client: { cert: last.upstreamTls.chain, key: last.upstreamTls.key } });
  // Where the locker was: HAProxy's rendered config is left as it is.
  const relay = await startRelay({ ca: topology.pki.caBundle, serverIdentity: { cert: service.tls.chain, key: service.tls.key }, forward, listen: parseListen(service.listen) });
  return { relay, agent: forward.agent };
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
  let relay: Relay | undefined;
  after(async () => {
    await relay?.close();
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
    const spliced = await spliceTamperer(chain, locker);
    relay = spliced.relay;
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
          return { ...r, headers: { ...r.headers, 'content-digest': contentDigestOf(body) }, body };
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
      relay.rewrite = c.tamper;
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
    relay.rewrite = null;
    const accepted = await post(ctx, chain, scanner);
    assert.equal(accepted.status, 201);
    const captured = relay.received.at(-1)!;
    const { 'content-length': _length, ...headers } = captured.headers;
    const replay = await request(`${locker.url}/api/v1/evidence`, { method: 'POST', headers, body: captured.body, dispatcher: spliced.agent });
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
