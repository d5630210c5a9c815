/**
 * What a hop must do, read once from the resolved topology, so that each renderer's templates only
 * decide *how* its program does it (docs/provenance.md, docs/gateways/README.md, docs/services.md#health-and-metrics; docs/CONVENTIONS.md "Gateway behaviour").
 * Built on the chain facts all renderers share (`../chain.ts`).
 *
 * Used by the NGINX and HAProxy renderers.
 */
import type { ResolvedHop, ResolvedTopology } from '../topology/resolve.js';
import { formatHostPort, HEADERS, HEALTH_PATHS, SCAN_ID_SOURCE } from '../conventions/index.js';
import type { MacKeyRef, StampProfile, V2SigningKeyRef, V2StampAlg } from '../topology/schema.js';
import { hopTimeouts, type HopTimeouts } from '../topology/timeouts.js';
import { admittedPeerIds, admittedPeerRole, isEdge as isEdgeHop, nextAddresses, nextTarget, RULE_ONE_HEADERS, splitListen, stamperEndpoint, type StamperEndpoint } from './chain.js';
import { hopHealthPath } from './types.js';
import { ARTIFACT_UPLOAD_PATH_PATTERN } from '../evidence/artifacts.js';

export { ARTIFACT_UPLOAD_PATH_PATTERN };

/** The header a forward-auth hop uses to hand the verified certificate to its stamper (CONVENTIONS). */
export const STAMPER_CERT_HEADER = HEADERS.stamperClientCert;

/** docs/provenance.md#2-headers: the format of `X-Stella-Scan-Id`, a field of the MAC input, as the templates write it. */
export const SCAN_ID_REGEX = SCAN_ID_SOURCE;

/** A `host:port` split for programs that want them apart. */
export interface Address {
  readonly host: string;
  readonly port: number;
}

/** How a hop stamps its record (absent on an opaque hop). */
export interface StampFacts {
  readonly via: 'native' | 'forward-auth';
  /** `hop.stampSeq`: the record's `seq`. */
  readonly seq: number;
  /** v1, v2 or both (docs/provenance.md#part-2-version-2). */
  readonly profile: StampProfile;
  /** The v1 key used to stamp: the LAST of `hop.stamp.keys` (the others stay valid for verifiers); null for a v2-only hop. */
  readonly key: MacKeyRef | null;
  /** The v2 signature: its algorithm and the LAST of `hop.stamp.signing.keys`; null for a v1-only hop. */
  readonly signing: { readonly alg: V2StampAlg; readonly key: V2SigningKeyRef } | null;
  /** The stamping hop before this one in its chain (whose signature a v2 member covers); null for seq 1. */
  readonly previousHopId: string | null;
  /** How the forward-auth stamper is reached (only for `via: forward-auth`). */
  readonly stamper: StamperEndpoint | null;
}

/**
 * The v1 MAC key of a hop that stamps v1 natively (the HAProxy and NGINX templates).
 * @throws TypeError for a v2-only hop, which has none (validate the topology first).
 */
export function v1StampKey(stamp: StampFacts): MacKeyRef {
  if (!stamp.key) throw new TypeError('this hop stamps v2 only: it has no v1 MAC key (docs/topology.md#fields)');
  return stamp.key;
}

/** Everything the templates need. */
export interface HopFacts {
  readonly hop: ResolvedHop;
  /** No hop forwards to this one: scanners connect here (docs/provenance.md#rules-for-every-hop, rule 1 applies). */
  readonly isEdge: boolean;
  /** CNs admitted as the TLS peer: the scanners of this edge, or the hops that forward here. */
  readonly expectedPeers: readonly string[];
  /** The role those peers' certificates must carry: `scanner` at the edge, else `gateway`. */
  readonly expectedPeerRole: 'scanner' | 'gateway';
  /** Headers removed from every forwarded request (rule 1 at the edge, besides X-Stella-Provenance). */
  readonly stripHeaders: readonly string[];
  /** Whether an incoming `X-Stella-Provenance` is discarded: at the edge and at the seq-1 stamper. */
  readonly dropIncomingProvenance: boolean;
  readonly stamp: StampFacts | null;
  readonly listen: Address;
  /** `address` is the first of `addresses`: more than one when the next target is a replicated service. */
  readonly next: { readonly id: string; readonly address: Address; readonly addresses: readonly Address[]; readonly serverName: string; readonly healthPath: string };
  readonly maxBodyBytes: number;
  /** The body limit of the artifact upload route only ({@link hopBodyLimits}). */
  readonly maxArtifactBytes: number;
  /** The hop's place in the chain's timeout schedule (docs/gateways/README.md#timeouts). */
  readonly timeouts: HopTimeouts;
  readonly caBundle: string;
  readonly crl: string;
}

/** An address as NGINX and HAProxy write it: the floor's `host:port`, an IPv6 host in brackets. */
export function formatAddress(address: Address): string {
  return formatHostPort(address);
}

/**
 * Reads the facts of one hop.
 *
 * @throws {TypeError} when the topology was not validated (a stamping hop outside any chain, a
 * forward-auth hop without a stamper address).
 */
export function hopFacts(topology: ResolvedTopology, hop: ResolvedHop): HopFacts {
  const isEdge = isEdgeHop(topology, hop);
  const expectedPeers = admittedPeerIds(topology, hop);

  let stamp: StampFacts | null = null;
  if (hop.stamp !== false) {
    const { profile, keys, signing } = hop.stamp;
    const key = keys.at(-1) ?? null;
    const signingKey = signing?.keys.at(-1);
    const v1Ok = profile === 'v2' || key !== null;
    const v2Ok = profile === 'v1' || signingKey !== undefined;
    if (hop.stampSeq === null || !v1Ok || !v2Ok) throw new TypeError(`hop ${hop.id}: stamping hop outside a chain or without keys; validate the topology first`);
    const stamper = stamperEndpoint(hop);
    if (hop.stamp.via === 'forward-auth' && !stamper) throw new TypeError(`hop ${hop.id}: forward-auth needs stamp.stamper`);
    stamp = {
      via: hop.stamp.via,
      seq: hop.stampSeq,
      profile,
      key: profile === 'v2' ? null : key,
      signing: profile !== 'v1' && signing && signingKey ? { alg: signing.alg, key: signingKey } : null,
      previousHopId: previousStampingHop(hop),
      stamper,
    };
  }

  const target = nextTarget(hop);
  const next = {
    id: target.id,
    address: { host: target.host, port: target.port },
    addresses: nextAddresses(hop),
    serverName: target.serverName,
    // docs/services.md#health-and-metrics: a service's readiness; a hop's own liveness (a hop would forward /healthz/ready on).
    healthPath: hop.nextTarget.type === 'hop' ? hopHealthPath(target.id) : HEALTH_PATHS.ready,
  };

  return {
    hop,
    isEdge,
    expectedPeers,
    expectedPeerRole: admittedPeerRole(topology, hop),
    // Rule 1's certificate headers go at every hop (no hop sets them toward the next one);
    // X-Stella-Provenance is handled by `dropIncomingProvenance` and the stamping itself.
    stripHeaders: [...RULE_ONE_HEADERS.filter((h) => h !== HEADERS.provenance), ...(isEdge ? topology.headers.strip : [])],
    dropIncomingProvenance: isEdge || stamp?.seq === 1,
    stamp,
    listen: splitListen(hop.listen),
    next,
    ...hopBodyLimits(hop),
    timeouts: hopTimeouts(hop),
    caBundle: topology.pki.caBundle,
    crl: topology.pki.crl,
  };
}

/** The stamping hop before `hop` in the chain it forwards along (walked from the service it reaches). */
function previousStampingHop(hop: ResolvedHop): string | null {
  let target = hop.nextTarget;
  while (target.type === 'hop') target = target.hop.nextTarget;
  const stamping = target.service.chain.filter((h) => h.stamp !== false);
  const index = stamping.indexOf(hop);
  return index > 0 ? stamping[index - 1]!.id : null;
}

/** The JSON body of `GET /healthz/hop/<id>` (CONVENTIONS "Health"). */
export function healthBody(hop: ResolvedHop): string {
  return JSON.stringify({ hop: hop.id, kind: hop.kind, status: 'live' });
}

/**
 * A hop's two body limits (docs/topology.md#fields): `maxArtifactBytes` on the artifact upload route
 * ({@link ARTIFACT_UPLOAD_PATH_PATTERN}), `maxBodyBytes` on every other path. Every renderer reads
 * them here.
 */
export function hopBodyLimits(hop: ResolvedHop): { maxBodyBytes: number; maxArtifactBytes: number } {
  return { maxBodyBytes: hop.limits.maxBodyBytes, maxArtifactBytes: hop.limits.maxArtifactBytes };
}
