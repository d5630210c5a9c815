/**
 * A 3-stamping-hop topology and helpers that build valid requests through it, for the provenance
 * tests and the bench. Keys are fixed bytes so failures are reproducible.
 */
import { createHash } from 'node:crypto';
import { topologySchema, type TopologyInput } from '../../../src/topology/schema.js';
import { resolveTopology, stampingHops, type ResolvedTopology } from '../../../src/topology/resolve.js';
import { stampRecord } from '../../../src/provenance/chain.js';
import { serializeProvenanceHeader } from '../../../src/provenance/codec.js';
import { contentDigestOf } from '../../../src/provenance/digest.js';
import type { HopKeyring } from '../../../src/provenance/keys.js';
import type { HopRecord, RequestFacts } from '../../../src/provenance/record.js';

/** 2026-11-28T12:00:00Z in ms: the fixed "now" of the tests. */
export const NOW_MS = Date.UTC(2026, 10, 28, 12, 0, 0);
export const NOW_S = NOW_MS / 1000;
export const SERVICE = 'evidence-locker';
export const SCANNER_CERT = `sha256:${createHash('sha256').update('scanner-01 certificate').digest('hex')}`;

/** A topology with `stampingCount` stamping hops (opaque WAF after the edge when count ≥ 2). */
export function fixtureTopology(stampingCount = 3, maxHops = 8): ResolvedTopology {
  const ids = Array.from({ length: stampingCount }, (_, i) => (i === 0 ? 'gw-edge' : i === stampingCount - 1 ? 'gw-internal' : `gw-mid${i}`));
  const hops: TopologyInput['hops'] = [];
  ids.forEach((id, i) => {
    hops.push({
      id,
      kind: 'haproxy',
      listen: `127.0.0.1:${8443 + hops.length}`,
      stamp: { via: 'native', keys: keyRefs(id) },
      next: i === ids.length - 1 ? SERVICE : i === 0 && stampingCount >= 2 ? 'waf' : ids[i + 1]!,
    });
    if (i === 0 && stampingCount >= 2) {
      hops.push({ id: 'waf', kind: 'apache-modsecurity', listen: `127.0.0.1:${8443 + hops.length}`, stamp: false, next: ids[1]! });
    }
  });
  const input: TopologyInput = {
    apiVersion: 'stella-gateway/v1',
    kind: 'Topology',
    name: 'demo',
    trustDomain: 'stella.local',
    pki: { dir: './pki' },
    scanners: [{ id: 'scanner-01', signing: { keys: [{ kid: 'scanner-01-hmac', file: './keys/scanner.hmac' }] } }],
    hops,
    services: [{ id: SERVICE, kind: 'evidence-locker', listen: '127.0.0.1:9443' }],
    provenance: { maxHops, clockSkewSeconds: 30, maxAgeSeconds: 120, maxHeaderBytes: 8192 },
  };
  return resolveTopology(topologySchema.parse(input), '/tmp/stella-fixture');
}

function keyRefs(id: string): { kid: string; file: string }[] {
  return [
    { kid: `${id}-old`, file: `./keys/${id}-old.key` },
    { kid: `${id}-new`, file: `./keys/${id}-new.key` },
  ];
}

/** A deterministic 32-byte secret per (hop, kid). */
export function secretFor(hop: string, kid: string): Buffer {
  return createHash('sha256').update(`secret:${hop}:${kid}`).digest();
}

/** In-memory keyring matching {@link fixtureTopology}: two kids per hop, the `-new` one stamps. */
export function fixtureKeys(topology: ResolvedTopology): HopKeyring {
  const ring = new Map<string, Map<string, Buffer>>();
  for (const hop of topology.hops) {
    if (hop.stamp === false) continue;
    ring.set(hop.id, new Map(hop.stamp.keys.map((k) => [k.kid, secretFor(hop.id, k.kid)])));
  }
  return ring;
}

/** A fully formed request: what arrives at the service from the last hop. */
export interface BuiltRequest {
  method: string;
  url: string;
  body: Buffer | null;
  headers: Record<string, string>;
  records: HopRecord[];
}

/** Options to vary a built chain. */
export interface BuildOptions {
  method?: string;
  url?: string;
  body?: Buffer | null;
  scanId?: string;
  tsS?: number | number[];
  nonce?: string;
  kid?: (hop: string) => string;
  contentType?: string;
}

let nonceCounter = 0;
/** A fresh 32-hex nonce per call. */
export function freshNonce(): string {
  nonceCounter += 1;
  return createHash('sha256').update(`nonce:${nonceCounter}:${process.pid}`).digest('hex').slice(0, 32);
}

/** Stamps a valid chain through every stamping hop of the service, the way the gateways would. */
export function buildRequest(topology: ResolvedTopology, keys: HopKeyring, options: BuildOptions = {}): BuiltRequest {
  const service = topology.services.find((s) => s.id === SERVICE)!;
  const method = options.method ?? 'POST';
  const url = options.url ?? '/api/v1/evidence?x=1';
  const body = options.body === undefined ? Buffer.from('{"hello":"world"}') : options.body;
  const scanId = options.scanId ?? 'scan-0001';
  const contentDigest = body && body.length > 0 ? contentDigestOf(body) : null;
  const request: RequestFacts = { method, pathAndQuery: url, scanId, contentDigest };
  const records: HopRecord[] = [];
  stampingHops(service).forEach((hop, i) => {
    const index = service.chain.indexOf(hop);
    const kid = options.kid?.(hop.id) ?? `${hop.id}-new`;
    const ts = Array.isArray(options.tsS) ? options.tsS[i]! : (options.tsS ?? NOW_S - 2);
    records.push(
      stampRecord({
        hop: hop.id,
        seq: hop.stampSeq!,
        ts,
        nonce: i === 0 && options.nonce ? options.nonce : freshNonce(),
        peer: index === 0 ? SCANNER_CERT : `sha256:${createHash('sha256').update(`${service.chain[index - 1]!.id} certificate`).digest('hex')}`,
        peerId: index === 0 ? 'scanner-01' : service.chain[index - 1]!.id,
        kid,
        key: keys.get(hop.id)!.get(kid) ?? secretFor(hop.id, kid),
        request,
        previous: records.at(-1) ?? null,
      }),
    );
  });
  const headers: Record<string, string> = { 'x-stella-scan-id': scanId, 'x-stella-provenance': serializeProvenanceHeader(records) };
  if (contentDigest) headers['content-digest'] = contentDigest;
  if (body && body.length > 0) headers['content-type'] = options.contentType ?? 'application/json';
  return { method, url, body, headers, records };
}
