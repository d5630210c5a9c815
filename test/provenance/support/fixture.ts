/**
 * The provenance tests' fixture, v1 and v2 alike: a topology of three stamping hops with an opaque
 * WAF after the edge, the hops' keys, and requests stamped through it the way the gateways would —
 * v1 records (`buildRequest`) or v2 signatures (`buildV2Request`). v1 secrets and v2 HMAC secrets
 * are fixed bytes so failures are reproducible; v2 asymmetric keys are generated once per process.
 * Used by the provenance, guard, evidence and interop tests and the bench.
 */
import { createHash, createSecretKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { topologySchema, type TopologyInput, type V2StampAlg } from '../../../src/topology/schema.js';
import { resolveTopology, stampingHops, type ResolvedHop, type ResolvedService, type ResolvedTopology } from '../../../src/topology/resolve.js';
import { stampRecord } from '../../../src/provenance/chain.js';
import { serializeProvenanceHeader } from '../../../src/provenance/codec.js';
import { contentDigestOf } from '../../../src/provenance/digest.js';
import type { HopKeyring } from '../../../src/provenance/keys.js';
import type { HopRecord, RequestFacts } from '../../../src/provenance/record.js';
import type { V2Keyring } from '../../../src/provenance/v2/keys.js';
import { appendV2Stamp, stampV2, type V2Stamp } from '../../../src/provenance/v2/sign.js';
import { topologyHead } from '../../support/topology.js';

/** 2026-11-28T12:00:00Z in ms: the fixed "now" of the tests. */
export const NOW_MS = Date.UTC(2026, 10, 28, 12, 0, 0);
export const NOW_S = NOW_MS / 1000;
export const SERVICE = 'evidence-locker';
export const SCANNER_CERT = `sha256:${createHash('sha256').update('scanner-01 certificate').digest('hex')}`;

/** The algorithm of each hop of {@link fixtureV2Topology}. */
export const HOP_ALGS: Record<string, V2StampAlg> = { 'gw-edge': 'ed25519', 'gw-mid1': 'ecdsa-p256-sha256', 'gw-internal': 'hmac-sha256' };

/** The fixture's document around `hops`, resolved. */
function resolveFixture(hops: TopologyInput['hops'], service: Partial<TopologyInput['services'][number]> = {}, maxHops = 8): ResolvedTopology {
  const input: TopologyInput = {
    ...topologyHead({ kid: 'scanner-01-hmac', file: './keys/scanner.hmac' }),
    hops,
    services: [{ id: SERVICE, kind: 'evidence-locker', listen: '127.0.0.1:9443', ...service }],
    provenance: { maxHops, clockSkewSeconds: 30, maxAgeSeconds: 120, maxHeaderBytes: 8192 },
  };
  return resolveTopology(topologySchema.parse(input), '/tmp/stella-fixture');
}

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
  return resolveFixture(hops, {}, maxHops);
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

/** A topology whose stamping hops all stamp `profile` (v2 or both). */
export function fixtureV2Topology(profile: 'v2' | 'both' = 'v2', requireV2 = false): ResolvedTopology {
  const hop = (id: string, next: string): TopologyInput['hops'][number] => ({
    id,
    kind: 'haproxy',
    listen: `127.0.0.1:${8443 + Object.keys(HOP_ALGS).indexOf(id)}`,
    stamp: {
      via: 'native',
      profile,
      keys: profile === 'both' ? [{ kid: `${id}-v1`, file: `./keys/${id}.v1.key` }] : [],
      signing: { alg: HOP_ALGS[id]!, keys: ['old', 'new'].map((v) => ({ kid: `${id}-${v}`, file: `./keys/${id}-${v}.pem`, publicFile: `./keys/${id}-${v}.pub.pem` })) },
    },
    next,
  });
  return resolveFixture(
    [hop('gw-edge', 'waf'), { id: 'waf', kind: 'apache-modsecurity', listen: '127.0.0.1:8450', stamp: false, next: 'gw-mid1' }, hop('gw-mid1', 'gw-internal'), hop('gw-internal', SERVICE)],
    requireV2 ? { provenance: { require: 'v2' as const } } : {},
  );
}

/** A hop key pair (or secret) of the fixture. */
export interface FixtureKey {
  alg: V2StampAlg;
  signing: KeyObject;
  verifying: KeyObject;
}

const generated = new Map<string, FixtureKey>();

/** The key of (hop, kid): generated once per process for asymmetric algs, fixed bytes for HMAC. */
export function fixtureV2Key(hop: string, kid: string, alg: V2StampAlg = HOP_ALGS[hop]!): FixtureKey {
  const id = `${hop}/${kid}/${alg}`;
  let key = generated.get(id);
  if (!key) {
    if (alg === 'hmac-sha256') {
      const secret = createSecretKey(createHash('sha256').update(`v2-secret:${hop}:${kid}`).digest());
      key = { alg, signing: secret, verifying: secret };
    } else {
      const pair = alg === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
      key = { alg, signing: pair.privateKey, verifying: pair.publicKey };
    }
    generated.set(id, key);
  }
  return key;
}

/** What a service holds: every hop's verification keys (public for asymmetric hops). */
export function fixtureV2Keyring(topology: ResolvedTopology): V2Keyring {
  const ring = new Map<string, { alg: V2StampAlg; keys: Map<string, KeyObject> }>();
  for (const hop of topology.hops) {
    if (hop.stamp === false || !hop.stamp.signing) continue;
    const { alg, keys } = hop.stamp.signing;
    ring.set(hop.id, { alg, keys: new Map(keys.map((k) => [k.kid, fixtureV2Key(hop.id, k.kid, alg).verifying])) });
  }
  return ring;
}

let nonceCounter = 0;
/** A fresh 32-hex nonce per call. */
export function freshNonce(): string {
  nonceCounter += 1;
  return createHash('sha256').update(`nonce:${nonceCounter}:${process.pid}`).digest('hex').slice(0, 32);
}

/** What every built request shares: method, target, body, scan id and their defaults. */
interface RequestOptions {
  method?: string;
  url?: string;
  body?: Buffer | null;
  scanId?: string;
}

function requestOf(options: RequestOptions): { method: string; url: string; body: Buffer | null; scanId: string; request: RequestFacts } {
  const method = options.method ?? 'POST';
  const url = options.url ?? '/api/v1/evidence?x=1';
  const body = options.body === undefined ? Buffer.from('{"hello":"world"}') : options.body;
  const scanId = options.scanId ?? 'scan-0001';
  const contentDigest = body && body.length > 0 ? contentDigestOf(body) : null;
  return { method, url, body, scanId, request: { method, pathAndQuery: url, scanId, contentDigest } };
}

/** Who a hop saw: the scanner at the edge, the previous hop (by the fixture's certificate convention) after it. */
function peerOf(service: ResolvedService, hop: ResolvedHop): { peer: string; peerId: string } {
  const index = service.chain.indexOf(hop);
  if (index === 0) return { peer: SCANNER_CERT, peerId: 'scanner-01' };
  const previous = service.chain[index - 1]!.id;
  return { peer: `sha256:${createHash('sha256').update(`${previous} certificate`).digest('hex')}`, peerId: previous };
}

/** The scan id, Content-Digest and Content-Type headers of a built request, plus `stamped`. */
function headersOf(scanId: string, request: RequestFacts, body: Buffer | null, contentType: string, stamped: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = { 'x-stella-scan-id': scanId, ...stamped };
  if (request.contentDigest) headers['content-digest'] = request.contentDigest;
  if (body && body.length > 0) headers['content-type'] = contentType;
  return headers;
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
export interface BuildOptions extends RequestOptions {
  tsS?: number | number[];
  nonce?: string;
  kid?: (hop: string) => string;
  contentType?: string;
}

/** Stamps a valid chain through every stamping hop of the service, the way the gateways would. */
export function buildRequest(topology: ResolvedTopology, keys: HopKeyring, options: BuildOptions = {}): BuiltRequest {
  const service = topology.services.find((s) => s.id === SERVICE)!;
  const { method, url, body, scanId, request } = requestOf(options);
  const records: HopRecord[] = [];
  stampingHops(service).forEach((hop, i) => {
    const kid = options.kid?.(hop.id) ?? `${hop.id}-new`;
    const ts = Array.isArray(options.tsS) ? options.tsS[i]! : (options.tsS ?? NOW_S - 2);
    records.push(
      stampRecord({
        hop: hop.id,
        seq: hop.stampSeq!,
        ts,
        nonce: i === 0 && options.nonce ? options.nonce : freshNonce(),
        ...peerOf(service, hop),
        kid,
        key: keys.get(hop.id)!.get(kid) ?? secretFor(hop.id, kid),
        request,
        previous: records.at(-1) ?? null,
      }),
    );
  });
  const headers = headersOf(scanId, request, body, options.contentType ?? 'application/json', { 'x-stella-provenance': serializeProvenanceHeader(records) });
  return { method, url, body, headers, records };
}

/** A request as it arrives at the service, stamped v2 by every stamping hop. */
export interface BuiltV2Request {
  method: string;
  url: string;
  body: Buffer | null;
  headers: Record<string, string>;
  request: RequestFacts;
  stamps: V2Stamp[];
}

/** Options to vary a built v2 chain. */
export interface V2BuildOptions extends RequestOptions {
  createdS?: number | number[];
  nonce?: string;
  kid?: (hop: string) => string;
  /** Whose key signs a hop's member (default its own): a hop forging another hop's member with its own key. */
  keyOwner?: (hop: string) => string;
}

/** Stamps a valid v2 chain through every stamping hop of the service, the way the gateways would. */
export function buildV2Request(topology: ResolvedTopology, options: V2BuildOptions = {}): BuiltV2Request {
  const service = topology.services.find((s) => s.id === SERVICE)!;
  const { method, url, body, scanId, request } = requestOf(options);
  const stamps: V2Stamp[] = [];
  let fields: { signatureInput: string | null; signature: string | null } = { signatureInput: null, signature: null };
  stampingHops(service).forEach((hop, i) => {
    const owner = options.keyOwner?.(hop.id) ?? hop.id;
    const kid = options.kid?.(hop.id) ?? `${owner}-new`;
    const previous = stamps.at(-1);
    const stamp = stampV2({
      hop: hop.id,
      seq: hop.stampSeq!,
      created: Array.isArray(options.createdS) ? options.createdS[i]! : (options.createdS ?? NOW_S - 2),
      nonce: i === 0 && options.nonce ? options.nonce : freshNonce(),
      ...peerOf(service, hop),
      keyid: kid,
      alg: HOP_ALGS[owner]!,
      key: fixtureV2Key(owner, kid).signing,
      request,
      previous: previous ? { label: previous.label, signatureValue: previous.signatureValue } : null,
    });
    stamps.push(stamp);
    fields = appendV2Stamp(fields, stamp);
  });
  const headers = headersOf(scanId, request, body, 'application/json', { 'signature-input': fields.signatureInput!, signature: fields.signature! });
  return { method, url, body, headers, request, stamps };
}
