/**
 * What a hop must do, read once from the resolved topology, so that each renderer's templates only
 * decide *how* its program does it (SPEC §4, §7, §9; docs/CONVENTIONS.md "Gateway behaviour").
 *
 * Shared by the NGINX and HAProxy renderers. It has no NGINX-specific content; it lives here only
 * because the gateway folder's shared files belong to another part of the project.
 */
import { edgeHops, type ResolvedHop, type ResolvedTopology } from '../../topology/resolve.js';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_UPSTREAM_TIMEOUT_SECONDS, type MacKeyRef } from '../../topology/schema.js';
import { hopHealthPath } from '../types.js';

/** SPEC §4 rule 1: headers the edge removes from every client request. */
export const RULE1_HEADERS = ['X-Stella-Provenance', 'Client-Cert', 'Client-Cert-Chain', 'X-Forwarded-Client-Cert'] as const;

/** The header a forward-auth hop uses to hand the verified certificate to its stamper (CONVENTIONS). */
export const STAMPER_CERT_HEADER = 'X-Stella-Client-Cert';

/** SPEC §4: the format of `X-Stella-Scan-Id`, a field of the MAC input. */
export const SCAN_ID_REGEX = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$';

/** How long a hop waits for a TCP+TLS connection to its next hop; the rest is `upstreamTimeoutSeconds`. */
export const UPSTREAM_CONNECT_TIMEOUT_SECONDS = 5;

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
  /** The key used to stamp: the LAST of `hop.stamp.keys` (the others stay valid for verifiers). */
  readonly key: MacKeyRef;
  /** Where the forward-auth stamper listens (only for `via: forward-auth`). */
  readonly stamper: Address | null;
}

/** Everything the templates need. */
export interface HopFacts {
  readonly hop: ResolvedHop;
  /** No hop forwards to this one: scanners connect here (SPEC §4 rule 1 applies). */
  readonly isEdge: boolean;
  /** CNs admitted as the TLS peer: the scanners of this edge, or the hops that forward here. */
  readonly expectedPeers: readonly string[];
  /** Headers removed from every forwarded request (rule 1 at the edge, besides X-Stella-Provenance). */
  readonly stripHeaders: readonly string[];
  /** Whether an incoming `X-Stella-Provenance` is discarded: at the edge and at the seq-1 stamper. */
  readonly dropIncomingProvenance: boolean;
  readonly stamp: StampFacts | null;
  readonly listen: Address;
  readonly next: { readonly id: string; readonly address: Address; readonly serverName: string; readonly healthPath: string };
  readonly maxBodyBytes: number;
  readonly upstreamTimeoutSeconds: number;
  readonly caBundle: string;
  readonly crl: string;
}

/** `127.0.0.1:8443` / `[::1]:8443` / `name:8443` → host and port. */
export function splitAddress(listen: string): Address {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(listen.slice(at + 1)) };
}

/** An address as NGINX and HAProxy write it (IPv6 in brackets). */
export function formatAddress(address: Address): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/**
 * Reads the facts of one hop.
 *
 * @throws {TypeError} when the topology was not validated (a stamping hop outside any chain, a
 * forward-auth hop without a stamper address).
 */
export function hopFacts(topology: ResolvedTopology, hop: ResolvedHop): HopFacts {
  const isEdge = edgeHops(topology.hops).some((h) => h.id === hop.id);
  const expectedPeers = isEdge
    ? topology.scanners.filter((s) => s.edge === hop.id).map((s) => s.id)
    : topology.hops.filter((h) => h.next === hop.id).map((h) => h.id);

  let stamp: StampFacts | null = null;
  if (hop.stamp !== false) {
    const key = hop.stamp.keys[hop.stamp.keys.length - 1];
    if (hop.stampSeq === null || !key) throw new TypeError(`hop ${hop.id}: stamping hop outside a chain or without keys; validate the topology first`);
    const stamper = hop.stamp.stamper ? splitAddress(hop.stamp.stamper.listen) : null;
    if (hop.stamp.via === 'forward-auth' && !stamper) throw new TypeError(`hop ${hop.id}: forward-auth needs stamp.stamper.listen`);
    stamp = { via: hop.stamp.via, seq: hop.stampSeq, key, stamper };
  }

  const target = hop.nextTarget;
  const next = target.type === 'hop'
    ? { id: target.hop.id, address: splitAddress(target.hop.listen), serverName: target.hop.serverName, healthPath: hopHealthPath(target.hop.id) }
    : { id: target.service.id, address: splitAddress(target.service.listen), serverName: target.service.serverName, healthPath: '/healthz/ready' };

  return {
    hop,
    isEdge,
    expectedPeers,
    stripHeaders: [...RULE1_HEADERS.slice(1), ...(isEdge ? topology.headers.strip : [])],
    dropIncomingProvenance: isEdge || stamp?.seq === 1,
    stamp,
    listen: splitAddress(hop.listen),
    next,
    maxBodyBytes: hop.limits?.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    upstreamTimeoutSeconds: hop.limits?.upstreamTimeoutSeconds ?? DEFAULT_UPSTREAM_TIMEOUT_SECONDS,
    caBundle: topology.pki.caBundle,
    crl: topology.pki.crl,
  };
}

/** The JSON body of `GET /healthz/hop/<id>` (CONVENTIONS "Health"). */
export function healthBody(hop: ResolvedHop): string {
  return JSON.stringify({ hop: hop.id, kind: hop.kind, status: 'live' });
}
