/**
 * Options common to the Fastify plugin and the Node adapter, validated once at registration
 * (STYLE: plugins validate options up front so a misconfigured service fails at start, not on the
 * first request).
 */
import type { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import type { Registry } from 'prom-client';
import { spiffeIdFromSubjectAltName } from '../topology/identity.js';
import type { ResolvedHop, ResolvedTopology } from '../topology/resolve.js';
import { stampingHops } from '../topology/resolve.js';
import { createDecisionRecorder, type DecisionRecorder } from './decisions.js';
import { createEnvelopeReader, type EnvelopeOptions, type EnvelopeReader } from './envelope.js';
import type { HopKeyring } from './keys.js';
import type { ReplayCache } from './replay/cache.js';
import { MemoryReplayCache } from './replay/memory.js';
import type { ChainVersions, PeerIdentity, VerifierContext } from './verify.js';
import { stampsV1, stampsV2, type V2Keyring } from './v2/keys.js';

/** What both adapters take. */
export interface ProvenanceBaseOptions {
  topology: ResolvedTopology;
  /** The service this instance is (its chain is what the records must match). */
  serviceId: string;
  /** From `loadHopKeyring(topology)`. */
  hopKeys: HopKeyring;
  /** From `loadV2Keyring(topology)`: required when the chain stamps v2 (docs/provenance.md#v2-keys). */
  v2Keys?: V2Keyring;
  /** Default: a `MemoryReplayCache` owned (and closed) by the plugin. */
  replayCache?: ReplayCache;
  /** Clock in ms; default `Date.now`. */
  now?: () => number;
  /** How envelope routes verify their DSSE envelope. */
  envelope?: EnvelopeOptions;
  /** Log one line per decision (default true). */
  logDecisions?: boolean;
  metrics?: { registry?: Registry };
}

/** The validated, ready-to-use form. */
export interface PreparedProvenance {
  ctx: VerifierContext;
  envelope: EnvelopeReader | null;
  recorder: DecisionRecorder;
  logDecisions: boolean;
  /** True when the replay cache was created here and must be closed here. */
  ownsReplayCache: boolean;
}

/**
 * Validates options. @throws TypeError naming the first bad option.
 */
export function prepareProvenance(options: ProvenanceBaseOptions): PreparedProvenance {
  if (!options || typeof options !== 'object') throw new TypeError('provenance: options are required');
  const { topology, serviceId, hopKeys } = options;
  if (!topology || !Array.isArray(topology.services)) throw new TypeError('provenance: options.topology must be a ResolvedTopology');
  const service = topology.services.find((s) => s.id === serviceId);
  if (!service) throw new TypeError(`provenance: no service "${String(serviceId)}" in topology ${topology.name}`);
  if (service.chain.length === 0) throw new TypeError(`provenance: no hop leads to service "${serviceId}"`);
  if (!(hopKeys instanceof Map)) throw new TypeError('provenance: options.hopKeys must be a HopKeyring (loadHopKeyring)');
  const stamping = stampingHops(service);
  if (stamping.length === 0) throw new TypeError(`provenance: no stamping hop in front of "${serviceId}"`);
  const versions = chainVersions(stamping, service.provenance?.require === 'v2');
  if (!versions.v1 && !versions.v2) throw new TypeError(`provenance: the hops in front of "${serviceId}" share no provenance version (docs/topology.md#fields)`);
  const v2Keys = options.v2Keys ?? new Map();
  for (const hop of stamping) {
    if (versions.v1 && !versions.requireV2 && !hopKeys.get(hop.id)?.size) throw new TypeError(`provenance: no MAC key for hop "${hop.id}"`);
    if (versions.v2 && !v2Keys.get(hop.id)?.keys.size) throw new TypeError(`provenance: no v2 key for hop "${hop.id}" (loadV2Keyring)`);
  }
  if (options.now !== undefined && typeof options.now !== 'function') throw new TypeError('provenance: options.now must be a function');
  const replayCache = options.replayCache ?? new MemoryReplayCache(options.now ? { now: options.now } : {});
  return {
    ctx: { topology, service, keys: hopKeys, v2Keys, versions, replayCache, now: options.now ?? Date.now },
    envelope: options.envelope ? createEnvelopeReader(options.envelope) : null,
    recorder: createDecisionRecorder(options.metrics?.registry),
    logDecisions: options.logDecisions ?? true,
    ownsReplayCache: options.replayCache === undefined,
  };
}

/** The versions a chain of stamping hops can carry (docs/provenance.md#v2-choosing-the-version). */
export function chainVersions(stamping: readonly ResolvedHop[], requireV2: boolean): ChainVersions {
  const v2 = stamping.every(stampsV2);
  if (requireV2 && !v2) throw new TypeError('provenance: require v2 needs every stamping hop of the chain to stamp v2');
  return { v1: !requireV2 && stamping.every(stampsV1), v2, requireV2 };
}

/** Peer identities per TLS connection: the certificate cannot change within one connection. */
const peerIdentities = new WeakMap<object, PeerIdentity | null>();

/**
 * The default peer identity: the verified client certificate of a TLS socket (CN, SHA-256
 * fingerprint as `sha256:` + lowercase hex, and its one SPIFFE ID), or null for plain TCP or an
 * unverified peer.
 *
 * Read once per TLS 1.3 connection and cached: `getPeerCertificate()` decodes the certificate into a new
 * object each call, which cost about a quarter of the traversal route's throughput under
 * keep-alive (2,530 → 3,419 requests/s with the cache, bench/RESULTS.md "locker").
 */
export function tlsPeerIdentity(socket: Socket): PeerIdentity | null {
  const cached = peerIdentities.get(socket);
  if (cached !== undefined) return cached;
  const tls = socket as Partial<TLSSocket>;
  if (typeof tls.getPeerCertificate !== 'function' || tls.authorized !== true) return null;
  const cert = tls.getPeerCertificate();
  const cn = cert?.subject?.CN;
  const identity =
    typeof cn === 'string' && cert.fingerprint256
      ? { cn, fingerprint: `sha256:${cert.fingerprint256.replace(/:/g, '').toLowerCase()}`, spiffeId: spiffeIdFromSubjectAltName(cert.subjectaltname) }
      : null;
  // TLS 1.3 has no renegotiation, so its peer certificate is fixed for the connection's life;
  // an older connection could renegotiate to another certificate and is read every time.
  if (tls.getProtocol?.() === 'TLSv1.3') peerIdentities.set(socket, identity);
  return identity;
}

/** A header's value when it came once, else null (a repeated header arrives as an array). */
export function headerText(value: string | string[] | undefined): string | null {
  return typeof value === 'string' ? value : null;
}
