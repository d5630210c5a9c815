/**
 * A v2 world for the locker tests: the services fixture's chain (edge → opaque WAF → internal)
 * with the edge signing Ed25519 through its stamper and the internal hop ECDSA P-256 natively,
 * both also stamping v1 (`profile: both`, a migration), and the locker requiring v2.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { topologySchema, type TopologyInput } from '../../../src/topology/schema.js';
import { resolveTopology, stampingHops, type ResolvedTopology } from '../../../src/topology/resolve.js';
import { contentDigestOf } from '../../../src/provenance/digest.js';
import type { V2StampAlg } from '../../../src/provenance/v2/profile.js';
import type { V2Keyring } from '../../../src/provenance/v2/keys.js';
import { appendV2Stamp, stampV2, type V2Stamp } from '../../../src/provenance/v2/sign.js';
import { SCANNER_ID, TEST_PEER_HEADER, TEST_SCANNERS, scannerCert, type StampedRequest } from './fixture.js';
import { topologyHead } from '../../support/topology.js';

/** Each stamping hop's v2 algorithm here. */
export const V2_HOP_ALGS: Readonly<Record<string, V2StampAlg>> = { 'gw-edge': 'ed25519', 'gw-internal': 'ecdsa-p256-sha256' };

/** The topology: the services fixture's chain, every stamping hop `profile: both`, the locker `require: v2`. */
export function v2ServiceTopology(): ResolvedTopology {
  const signing = (hop: string) => ({ alg: V2_HOP_ALGS[hop]!, keys: [{ kid: `${hop}-v2`, file: `./keys/${hop}.v2.pem`, publicFile: `./keys/${hop}.v2.pub.pem` }] });
  const input: TopologyInput = {
    ...topologyHead(),
    scanners: TEST_SCANNERS.map((id) => ({ id, signing: { keys: [{ kid: `${id}-hmac`, file: `./keys/${id}.hmac` }] } })),
    hops: [
      { id: 'gw-edge', kind: 'caddy', listen: '127.0.0.1:8443', stamp: { via: 'forward-auth', profile: 'both', stamper: { socket: './run/edge.sock' }, keys: [{ kid: 'edge-1', file: './keys/edge.key' }], signing: signing('gw-edge') }, next: 'waf' },
      { id: 'waf', kind: 'apache-modsecurity', listen: '127.0.0.1:8444', stamp: false, next: 'gw-internal' },
      { id: 'gw-internal', kind: 'haproxy', listen: '127.0.0.1:8445', stamp: { via: 'native', profile: 'both', keys: [{ kid: 'internal-1', file: './keys/internal.key' }], signing: signing('gw-internal') }, next: 'evidence-locker' },
    ],
    services: [{ id: 'evidence-locker', kind: 'evidence-locker', listen: '127.0.0.1:9443', provenance: { require: 'v2' } }],
  };
  return resolveTopology(topologySchema.parse(input), '/tmp/stella-services-fixture');
}

/** The hops' v2 key pairs: private keys stay with the hops (the test's stamping), public keys go to the locker. */
export interface V2HopKeyPairs {
  private: ReadonlyMap<string, KeyObject>;
  /** What the locker and an auditor hold. */
  publicRing: V2Keyring;
}

/** Fresh key pairs for the two stamping hops. */
export function v2HopKeyPairs(): V2HopKeyPairs {
  const priv = new Map<string, KeyObject>();
  const ring = new Map<string, { alg: V2StampAlg; keys: Map<string, KeyObject> }>();
  for (const [hop, alg] of Object.entries(V2_HOP_ALGS)) {
    const pair = alg === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    priv.set(hop, pair.privateKey);
    ring.set(hop, { alg, keys: new Map([[`${hop}-v2`, pair.publicKey]]) });
  }
  return { private: priv, publicRing: ring };
}

/** How to sign one hop's member: normally with its private key; a forgery test passes its own. */
export type MemberSigner = (hop: string) => { alg: V2StampAlg; key: KeyObject; keyid: string };

/** Stamps a v2 chain through the topology's only service (no v1 header). */
export function stampV2Request(
  topology: ResolvedTopology,
  signer: MemberSigner,
  options: { method: 'GET' | 'POST'; url: string; scanId: string; body?: Buffer | null; nowMs: number },
): StampedRequest & { stamps: V2Stamp[] } {
  const service = topology.services[0]!;
  const body = options.body ?? null;
  const contentDigest = body && body.length > 0 ? contentDigestOf(body) : null;
  const request = { method: options.method, pathAndQuery: options.url, scanId: options.scanId, contentDigest };
  const stamps: V2Stamp[] = [];
  let fields: { signatureInput: string | null; signature: string | null } = { signatureInput: null, signature: null };
  for (const hop of stampingHops(service)) {
    const index = service.chain.indexOf(hop);
    const peerId = index === 0 ? SCANNER_ID : service.chain[index - 1]!.id;
    const previous = stamps.at(-1);
    const { alg, key, keyid } = signer(hop.id);
    const stamp = stampV2({
      hop: hop.id,
      seq: hop.stampSeq!,
      created: Math.floor(options.nowMs / 1000) - 1,
      nonce: randomBytes(16).toString('hex'),
      peer: scannerCert(peerId),
      peerId,
      keyid,
      alg,
      key,
      request,
      previous: previous ? { label: previous.label, signatureValue: previous.signatureValue } : null,
    });
    stamps.push(stamp);
    fields = appendV2Stamp(fields, stamp);
  }
  const headers: Record<string, string> = { 'x-stella-scan-id': options.scanId, 'signature-input': fields.signatureInput!, signature: fields.signature!, [TEST_PEER_HEADER]: 'gw-internal' };
  if (contentDigest) headers['content-digest'] = contentDigest;
  if (body && body.length > 0) headers['content-type'] = 'application/json';
  return { method: options.method, url: options.url, headers, body, records: [], stamps };
}

/** The honest signer: each hop's own private key. */
export function honestSigner(pairs: V2HopKeyPairs): MemberSigner {
  return (hop) => ({ alg: V2_HOP_ALGS[hop]!, key: pairs.private.get(hop)!, keyid: `${hop}-v2` });
}
