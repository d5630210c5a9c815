/**
 * What provenance v2 costs per request against v1 in the same run (docs/provenance.md#part-2-version-2):
 * the header checks (`checkHeaders`: grammar, topology, every signature, clock) for a chain of 1, 3
 * and 8 stamping hops that all sign Ed25519, or all ECDSA P-256, against the same chain's v1 HMAC
 * records. Ratio < 1: v2 is slower (asymmetric verification is ~30–50× an HMAC, notes/asymmetric-hops.md).
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createVerifier as createRfc9421Verifier, httpbis } from 'http-message-signatures';
import { loadavg } from 'node:os';
import { Registry } from 'prom-client';
import { prepareProvenance } from '../src/provenance/options.js';
import type { ReplayCache } from '../src/provenance/replay/cache.js';
import { checkHeaders } from '../src/provenance/verify.js';
import { stampingHops, type ResolvedTopology } from '../src/topology/resolve.js';
import { splitDictionary } from '../src/provenance/v2/fields.js';
import type { V2StampAlg } from '../src/provenance/v2/profile.js';
import { appendV2Stamp, stampV2, type V2Stamp } from '../src/provenance/v2/sign.js';
import { buildRequest, fixtureKeys, fixtureTopology, freshNonce, NOW_MS, NOW_S, SCANNER_CERT, SERVICE } from '../test/provenance/support/fixture.js';
import { compare, machineInfo, type BenchResult, type BenchRow } from './support.js';

/** The bench's name (bench/results/provenance-v2.json). */
export const name = 'provenance-v2';

const admitAll: ReplayCache = { checkAndRemember: async () => true, forget: async () => undefined, close: async () => undefined };

/** The v1 fixture topology with every stamping hop stamping both versions with `alg`; returns its keys. */
function withV2(topology: ResolvedTopology, alg: V2StampAlg): Map<string, { private: KeyObject; public: KeyObject }> {
  const pairs = new Map<string, { private: KeyObject; public: KeyObject }>();
  for (const hop of topology.hops) {
    if (hop.stamp === false) continue;
    hop.stamp = { ...hop.stamp, profile: 'both', signing: { alg, keys: [{ kid: `${hop.id}-v2`, file: '-', publicFile: '-' }] } };
    const pair = alg === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    pairs.set(hop.id, { private: pair.privateKey, public: pair.publicKey });
  }
  return pairs;
}

/**
 * A peer: http-message-signatures (RFC 9421) verifying each of the chain's members with the same
 * public keys, against our check of the same request. The library reports only the last
 * signature's result, so each label is verified alone: Signature-Input cut to that member (cut
 * before the clock starts), Signature whole, as test/interop/support/rfc9421.ts does. It checks
 * the signatures only (no topology, chaining or clock rules). Ratio > 1: ours is faster.
 */
async function peerRow(
  alg: V2StampAlg,
  message: { url: string; headers: Record<string, string | undefined> },
  pairs: Map<string, { public: KeyObject }>,
  ours: () => unknown,
): Promise<BenchRow> {
  const keys = new Map([...pairs].map(([hop, p]) => [`${hop}-v2`, { id: `${hop}-v2`, algs: [alg], verify: createRfc9421Verifier(p.public, alg) }]));
  const config = { all: true, keyLookup: async (params: { keyid?: unknown }) => keys.get(String(params.keyid)) ?? null };
  const headers = Object.fromEntries(Object.entries(message.headers).filter((e): e is [string, string] => e[1] !== undefined));
  const perLabel = splitDictionary(headers['signature-input']!).map((m) => ({ method: 'POST', url: `https://evidence-locker.stella.local${message.url}`, headers: { ...headers, 'signature-input': m.raw } }));
  const peer = async (): Promise<boolean> => {
    for (const one of perLabel) if ((await httpbis.verifyMessage(config, one)) !== true) return false;
    return true;
  };
  if (!(await peer())) throw new Error('the RFC 9421 peer does not verify the v2 chain');
  return compare(`peer: ours v2 ${alg}, 3 hops vs RFC 9421 http-message-signatures verifying the 3 members`, ours, () => peer());
}

/** Runs the comparison for 1, 3 and 8 stamping hops, Ed25519 and ECDSA P-256. */
export async function run(): Promise<BenchResult> {
  const rows: BenchRow[] = [];
  const loadBefore = loadavg()[0]!;
  for (const alg of ['ed25519', 'ecdsa-p256-sha256'] as const) {
    for (const hops of [1, 3, 8]) {
      const topology = fixtureTopology(hops, 16);
      const keys = fixtureKeys(topology);
      const pairs = withV2(topology, alg);
      const service = topology.services.find((s) => s.id === SERVICE)!;
      const lastHop = service.chain.at(-1)!.id;
      const built = buildRequest(topology, keys, { url: '/api/v1/evidence' });
      const request = { method: 'POST', pathAndQuery: built.url, scanId: built.headers['x-stella-scan-id']!, contentDigest: built.headers['content-digest'] ?? null };
      let fields: { signatureInput: string | null; signature: string | null } = { signatureInput: null, signature: null };
      let previous: V2Stamp | null = null;
      for (const hop of stampingHops(service)) {
        const index = service.chain.indexOf(hop);
        previous = stampV2({
          hop: hop.id,
          seq: hop.stampSeq!,
          created: NOW_S - 2,
          nonce: freshNonce(),
          peer: index === 0 ? SCANNER_CERT : built.records[hop.stampSeq! - 1]!.peer,
          peerId: index === 0 ? 'scanner-01' : service.chain[index - 1]!.id,
          keyid: `${hop.id}-v2`,
          alg,
          key: pairs.get(hop.id)!.private,
          request,
          previous: previous ? { label: previous.label, signatureValue: previous.signatureValue } : null,
        });
        fields = appendV2Stamp(fields, previous);
      }
      const v2Keys = new Map([...pairs].map(([id, p]) => [id, { alg, keys: new Map([[`${id}-v2`, p.public]]) }]));
      const prepared = prepareProvenance({ topology, serviceId: SERVICE, hopKeys: keys, v2Keys, now: () => NOW_MS, replayCache: admitAll, metrics: { registry: new Registry() } });
      const peer = { cn: lastHop, fingerprint: 'sha256:', spiffeId: `spiffe://${topology.trustDomain}/gateway/${lastHop}` };
      const v1 = { method: 'POST', url: built.url, headers: built.headers, peer };
      const v2 = { method: 'POST', url: built.url, headers: { ...built.headers, 'x-stella-provenance': undefined, 'signature-input': fields.signatureInput!, signature: fields.signature! }, peer };
      if (checkHeaders(v2, prepared.ctx).v2 === undefined || checkHeaders(v1, prepared.ctx).v2 !== undefined) throw new Error('the bench requests were not checked as the versions they claim');
      rows.push(await compare(`checkHeaders v2 ${alg}, ${hops} hop${hops > 1 ? 's' : ''} vs v1 HMAC`, () => checkHeaders(v2, prepared.ctx), () => checkHeaders(v1, prepared.ctx)));
      if (hops === 3) rows.push(await peerRow(alg, v2, pairs, () => checkHeaders(v2, prepared.ctx)));
    }
  }
  return {
    name,
    description:
      'Provenance v2 header checks (checkHeaders: grammar, topology, every member\'s signature, clock) vs the same chain\'s v1 HMAC records, both in one process and one run; every stamping hop signs with the algorithm named. Ratio = v2 ops/s ÷ v1 ops/s (< 1: v2 is slower). "peer": our v2 check of 3 hops vs http-message-signatures (RFC 9421) verifying the same 3 members with the same public keys, one label at a time (signatures only; ratio > 1: ours is faster).',
    date: new Date().toISOString(),
    machine: { ...machineInfo(), loadAverage1m: loadBefore },
    rows,
    notes: ['Replay and binding (phase 2) are the same for both versions and left out; ECDSA verification is per member, so 8 hops cost 8 verifications.'],
  };
}
