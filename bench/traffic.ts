/**
 * Requests as a scanner and its gateways make them, for the network benches: a fresh signed DSSE
 * envelope per ingest (its traversal intent names the scanner's certificate), and — for a request
 * sent straight to a service — the hop records the chain would have stamped (`stampRecord` with the
 * topology's hop keys and the real certificate fingerprints), so the service runs every check.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request, type Agent } from 'undici';
import { certificateFingerprint } from '../src/pki/index.js';
import { stampRecord } from '../src/provenance/chain.js';
import { serializeProvenanceHeader } from '../src/provenance/codec.js';
import { contentDigestOf } from '../src/provenance/digest.js';
import { loadHopKeyring, stampingKey, type HopKeyring } from '../src/provenance/keys.js';
import type { HopRecord } from '../src/provenance/record.js';
import { keyFileEnvelopeFactory } from '../src/scanner/signing.js';
import type { EnvelopeFactory } from '../src/scanner/deliver.js';
import { stampingHops, type ResolvedService, type ResolvedTopology } from '../src/topology/resolve.js';
import type { Prepare, Shot } from './load.js';

/** What building requests for one service of a topology needs, loaded once. */
export interface TrafficContext {
  readonly topology: ResolvedTopology;
  readonly service: ResolvedService;
  readonly keys: HopKeyring;
  readonly scannerId: string;
  readonly edgeHop: string;
  readonly scannerCert: string;
  readonly hopCerts: ReadonlyMap<string, string>;
  readonly createEnvelope: EnvelopeFactory;
}

/** Loads keys and certificate fingerprints of the topology's first scanner and `serviceId`. */
export async function trafficContext(topology: ResolvedTopology, serviceId: string): Promise<TrafficContext> {
  const service = topology.services.find((s) => s.id === serviceId);
  const scanner = topology.scanners[0];
  if (!service || !scanner) throw new TypeError(`topology ${topology.name} lacks service ${serviceId} or a scanner`);
  const hopCerts = new Map<string, string>();
  for (const hop of service.chain) hopCerts.set(hop.id, certificateFingerprint(await readFile(hop.tls.cert, 'utf8')));
  return {
    topology,
    service,
    keys: await loadHopKeyring(topology),
    scannerId: scanner.id,
    edgeHop: scanner.edge,
    scannerCert: certificateFingerprint(await readFile(scanner.tls.cert, 'utf8')),
    hopCerts,
    createEnvelope: keyFileEnvelopeFactory(scanner.signing.keys),
  };
}

let serial = 0;

/** A fresh scan id, unique in this process. */
export function nextScanId(): string {
  return `bench-${process.pid}-${serial++}`;
}

/** A new signed envelope (JSON bytes) for `scanId`. */
export async function signedEnvelope(ctx: TrafficContext, scanId: string): Promise<Buffer> {
  const artifact = `sbom-${scanId}.json`;
  return Buffer.from(
    await ctx.createEnvelope({
      artifact: { name: artifact, sha256: createHash('sha256').update(artifact).digest('hex') },
      intent: { scanId, topology: ctx.topology.name, edgeHop: ctx.edgeHop, clientCertSha256: ctx.scannerCert, nonce: randomBytes(16).toString('hex'), issuedAt: new Date().toISOString() },
    }),
  );
}

/** The records every stamping hop of the service's chain would append to this request. */
export function stampChain(ctx: TrafficContext, facts: { method: string; url: string; scanId: string; contentDigest: string | null }, nowMs = Date.now()): HopRecord[] {
  const { service } = ctx;
  const records: HopRecord[] = [];
  for (const hop of stampingHops(service)) {
    const index = service.chain.indexOf(hop);
    const { kid, secret } = stampingKey(ctx.keys, hop.id);
    const peerId = index === 0 ? ctx.scannerId : service.chain[index - 1]!.id;
    records.push(
      stampRecord({
        hop: hop.id,
        seq: hop.stampSeq!,
        ts: Math.floor(nowMs / 1000),
        nonce: randomBytes(16).toString('hex'),
        peer: index === 0 ? ctx.scannerCert : ctx.hopCerts.get(peerId)!,
        peerId,
        kid,
        key: secret,
        request: { method: facts.method, pathAndQuery: facts.url, scanId: facts.scanId, contentDigest: facts.contentDigest },
        previous: records.at(-1) ?? null,
      }),
    );
  }
  return records;
}

/** Options of {@link shots}. */
export interface ShotOptions {
  readonly ctx: TrafficContext;
  /** `https://host:port` of the edge (through the chain) or of the service (direct). */
  readonly origin: string;
  readonly agent: Agent;
  readonly method: 'GET' | 'POST';
  readonly url: string;
  /** Add the records the chain would stamp (requests sent straight to the service). */
  readonly stamp: boolean;
  /** Status every answer must have. */
  readonly expect: number;
  /** Called for any other answer; returning true counts it as tolerated instead of failing the bench. */
  readonly tolerate?: (status: number, body: string) => boolean;
}

/** Prepares fresh requests: POSTs carry a new signed envelope each, GETs a new scan id each. */
export function shots(options: ShotOptions): Prepare {
  const { ctx, origin, agent, method, url, expect } = options;
  return async (count) => {
    const list: Shot[] = [];
    for (let i = 0; i < count; i++) {
      const scanId = nextScanId();
      const body = method === 'POST' ? await signedEnvelope(ctx, scanId) : null;
      const contentDigest = body ? contentDigestOf(body) : null;
      const headers: Record<string, string> = { 'x-stella-scan-id': scanId };
      if (body) Object.assign(headers, { 'content-type': 'application/json', 'content-digest': contentDigest });
      if (options.stamp) headers['x-stella-provenance'] = serializeProvenanceHeader(stampChain(ctx, { method, url, scanId, contentDigest }));
      list.push(async () => {
        const res = await request(`${origin}${url}`, { method, headers, body, dispatcher: agent });
        const text = await res.body.text();
        if (res.statusCode !== expect && !options.tolerate?.(res.statusCode, text)) throw new Error(`${method} ${origin}${url}: ${res.statusCode} ${text.slice(0, 300)}`);
      });
    }
    return list;
  };
}
