/**
 * A v2 topology (three stamping hops, one per algorithm, an opaque WAF after the edge) and helpers
 * that stamp valid v2 requests through it, for the v2 tests. Asymmetric keys are generated once
 * per process; HMAC secrets are fixed bytes.
 */
import { createHash, createSecretKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { topologySchema, type TopologyInput, type V2StampAlg } from '../../../../src/topology/schema.js';
import { resolveTopology, stampingHops, type ResolvedTopology } from '../../../../src/topology/resolve.js';
import { contentDigestOf } from '../../../../src/provenance/digest.js';
import type { RequestFacts } from '../../../../src/provenance/record.js';
import type { V2Keyring } from '../../../../src/provenance/v2/keys.js';
import { appendV2Stamp, stampV2, type V2Stamp } from '../../../../src/provenance/v2/sign.js';
import { NOW_S, SCANNER_CERT, SERVICE, freshNonce } from '../../support/fixture.js';

export { NOW_MS, NOW_S, SCANNER_CERT, SERVICE } from '../../support/fixture.js';

/** The algorithm of each hop of {@link fixtureV2Topology}. */
export const HOP_ALGS: Record<string, V2StampAlg> = { 'gw-edge': 'ed25519', 'gw-mid1': 'ecdsa-p256-sha256', 'gw-internal': 'hmac-sha256' };

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
  const input: TopologyInput = {
    apiVersion: 'stella-gateway/v1',
    kind: 'Topology',
    name: 'demo',
    trustDomain: 'stella.local',
    pki: { dir: './pki' },
    scanners: [{ id: 'scanner-01', signing: { keys: [{ kid: 'scanner-01-hmac', file: './keys/scanner.hmac' }] } }],
    hops: [
      hop('gw-edge', 'waf'),
      { id: 'waf', kind: 'apache-modsecurity', listen: '127.0.0.1:8450', stamp: false, next: 'gw-mid1' },
      hop('gw-mid1', 'gw-internal'),
      hop('gw-internal', SERVICE),
    ],
    services: [{ id: SERVICE, kind: 'evidence-locker', listen: '127.0.0.1:9443', ...(requireV2 ? { provenance: { require: 'v2' as const } } : {}) }],
    provenance: { maxHops: 8, clockSkewSeconds: 30, maxAgeSeconds: 120, maxHeaderBytes: 8192 },
  };
  return resolveTopology(topologySchema.parse(input), '/tmp/stella-fixture');
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

/** A request as it arrives at the service, stamped v2 by every stamping hop. */
export interface BuiltV2Request {
  method: string;
  url: string;
  body: Buffer | null;
  headers: Record<string, string>;
  request: RequestFacts;
  stamps: V2Stamp[];
}

/** Options to vary a built chain. */
export interface V2BuildOptions {
  method?: string;
  url?: string;
  body?: Buffer | null;
  scanId?: string;
  createdS?: number | number[];
  nonce?: string;
  kid?: (hop: string) => string;
  /** Whose key signs a hop's member (default its own): a hop forging another hop's member with its own key. */
  keyOwner?: (hop: string) => string;
}

/** Stamps a valid v2 chain through every stamping hop of the service, the way the gateways would. */
export function buildV2Request(topology: ResolvedTopology, options: V2BuildOptions = {}): BuiltV2Request {
  const service = topology.services.find((s) => s.id === SERVICE)!;
  const method = options.method ?? 'POST';
  const url = options.url ?? '/api/v1/evidence?x=1';
  const body = options.body === undefined ? Buffer.from('{"hello":"world"}') : options.body;
  const scanId = options.scanId ?? 'scan-0001';
  const contentDigest = body && body.length > 0 ? contentDigestOf(body) : null;
  const request: RequestFacts = { method, pathAndQuery: url, scanId, contentDigest };
  const stamps: V2Stamp[] = [];
  let fields: { signatureInput: string | null; signature: string | null } = { signatureInput: null, signature: null };
  stampingHops(service).forEach((hop, i) => {
    const index = service.chain.indexOf(hop);
    const owner = options.keyOwner?.(hop.id) ?? hop.id;
    const kid = options.kid?.(hop.id) ?? `${owner}-new`;
    const previous = stamps.at(-1);
    const stamp = stampV2({
      hop: hop.id,
      seq: hop.stampSeq!,
      created: Array.isArray(options.createdS) ? options.createdS[i]! : (options.createdS ?? NOW_S - 2),
      nonce: i === 0 && options.nonce ? options.nonce : freshNonce(),
      peer: index === 0 ? SCANNER_CERT : `sha256:${createHash('sha256').update(`${service.chain[index - 1]!.id} certificate`).digest('hex')}`,
      peerId: index === 0 ? 'scanner-01' : service.chain[index - 1]!.id,
      keyid: kid,
      alg: HOP_ALGS[owner]!,
      key: fixtureV2Key(owner, kid).signing,
      request,
      previous: previous ? { label: previous.label, signatureValue: previous.signatureValue } : null,
    });
    stamps.push(stamp);
    fields = appendV2Stamp(fields, stamp);
  });
  const headers: Record<string, string> = { 'x-stella-scan-id': scanId, 'signature-input': fields.signatureInput!, signature: fields.signature! };
  if (contentDigest) headers['content-digest'] = contentDigest;
  if (body && body.length > 0) headers['content-type'] = 'application/json';
  return { method, url, body, headers, request, stamps };
}
