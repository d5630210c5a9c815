/**
 * The timeout schedule of a chain (docs/gateways/README.md#timeouts): one place from which every
 * renderer, the services and the scanner worker take how long they wait, ordered by position so
 * that no part gives up on a request an inner part will still complete. A hop that answered 504
 * while the locker went on to store the envelope would leave the worker without its receipt.
 *
 * From the service outwards: the service takes a whole request within
 * {@link SERVICE_REQUEST_TIMEOUT_SECONDS}; the hop in front of it waits that long plus a margin;
 * every hop further out waits for the one behind it, plus that hop's own processing budget (the
 * WAF inspects the body before it forwards a byte), plus the margin; the worker waits for its
 * edge plus the margin. `limits.upstreamTimeoutSeconds` is a floor: a hop never waits less than
 * it, and the hops in front of it then wait longer still. Pure.
 */
import type { ResolvedHop, ResolvedTopology } from './resolve.js';
import { HOP_KIND_TRAITS, HOP_KINDS, type HopKind } from './schema.js';

/** How long a service takes to receive a whole request (Node's `requestTimeout` of its listener). */
export const SERVICE_REQUEST_TIMEOUT_SECONDS = 30;
/** What each part waits beyond everything behind it: transfer and scheduling slack. */
export const TIMEOUT_MARGIN_SECONDS = 5;
/**
 * Time a hop of each kind may spend on a request before it forwards it (its `processingSeconds` in
 * `HOP_KIND_TRAITS`). The WAF buffers and inspects the whole body first; with envelope inspection
 * bounded (docs/gateways/apache-modsecurity.md#envelope-routes) four 16 MiB envelopes at once took a
 * few seconds on two cores. The others stream.
 */
export const HOP_PROCESSING_SECONDS = Object.fromEntries(HOP_KINDS.map((kind) => [kind, HOP_KIND_TRAITS[kind].processingSeconds])) as Readonly<Record<HopKind, number>>;
/** How long a hop waits for a TCP+TLS connection to its next hop; part of its upstream wait. */
export const UPSTREAM_CONNECT_TIMEOUT_SECONDS = 5;

/** What one hop waits for. */
export interface HopTimeouts {
  /** For the next hop's (or service's) answer: proxy_read_timeout, ProxyTimeout, timeout server, route timeout. */
  readonly upstreamSeconds: number;
  /** For a TCP+TLS connection to the next hop. */
  readonly connectSeconds: number;
  /** For the previous hop (or scanner) between two reads of its request: at least the upstream wait, so a hop never drops its own client first. */
  readonly clientSeconds: number;
}

/**
 * The timeouts of `hop`, from its place in the chain.
 *
 * @example
 * // NGINX → WAF → HAProxy → locker, no limits set:
 * hopTimeouts(haproxy).upstreamSeconds; // max(60, 30 + 5) = 60
 * hopTimeouts(waf).upstreamSeconds;     // max(60, 60 + 2 + 5) = 67
 * hopTimeouts(edge).upstreamSeconds;    // max(60, 67 + 15 + 5) = 87
 */
export function hopTimeouts(hop: ResolvedHop): HopTimeouts {
  const upstreamSeconds = upstreamWaitSeconds(hop, 0);
  return { upstreamSeconds, connectSeconds: Math.min(UPSTREAM_CONNECT_TIMEOUT_SECONDS, upstreamSeconds), clientSeconds: upstreamSeconds };
}

/**
 * How long a scanner waits for its edge's answer: the edge's upstream wait, its own processing
 * budget and the margin. Undefined when the scanner has no edge in the topology.
 */
export function scannerTimeoutSeconds(topology: ResolvedTopology, scannerId: string): number | undefined {
  const edgeId = topology.scanners.find((s) => s.id === scannerId)?.edge;
  const edge = topology.hops.find((h) => h.id === edgeId);
  if (!edge) return undefined;
  return hopTimeouts(edge).upstreamSeconds + HOP_PROCESSING_SECONDS[edge.kind] + TIMEOUT_MARGIN_SECONDS;
}

function upstreamWaitSeconds(hop: ResolvedHop, depth: number): number {
  // A validated topology has no cycle (topology/validate.ts); this only keeps a bad one from looping.
  if (depth > 64) throw new TypeError(`hop ${hop.id}: the chain does not end at a service; validate the topology first`);
  const next = hop.nextTarget;
  const behind = next.type === 'service'
    ? SERVICE_REQUEST_TIMEOUT_SECONDS
    : upstreamWaitSeconds(next.hop, depth + 1) + HOP_PROCESSING_SECONDS[next.hop.kind];
  const floor = hop.limits.upstreamTimeoutSeconds;
  return Math.max(floor, behind + TIMEOUT_MARGIN_SECONDS);
}
