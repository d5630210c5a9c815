/**
 * Facts about a hop's place in the chain that every renderer needs: who may connect to it, where
 * it forwards to, whether it is the edge. Pure; derived from the resolved topology.
 */
import { replicaAddresses } from '../topology/replicas.js';
import type { ResolvedHop, ResolvedTopology } from '../topology/resolve.js';
import { spiffeId, type PkiRole } from '../topology/identity.js';
import { bracketHost, HEADERS, parseHostPort } from '../conventions/index.js';

/**
 * Splits `host:port` (the schema's listen format) with the floor's one parser, the host as
 * configs and URLs write it: an IPv6 address keeps its brackets.
 * @throws {TypeError} for text that is not `host:port` (validate the topology first).
 */
export function splitListen(listen: string): { host: string; port: number } {
  const { host, port } = parseHostPort(listen);
  return { host: bracketHost(host), port };
}

/** Where a hop forwards to: the next hop or the service, with the name its certificate carries. */
export function nextTarget(hop: ResolvedHop): { id: string; serverName: string; host: string; port: number } {
  const target = hop.nextTarget.type === 'hop' ? hop.nextTarget.hop : hop.nextTarget.service;
  return { id: target.id, serverName: target.serverName, ...splitListen(target.listen) };
}

/**
 * Every address of the hop's next target: the next hop's one listener, or each replica of the
 * service, replica 0 first (docs/topology.md#replicas). All answer to the same `serverName`.
 */
export function nextAddresses(hop: ResolvedHop): { host: string; port: number }[] {
  const addresses = hop.nextTarget.type === 'hop' ? [hop.nextTarget.hop.listen] : replicaAddresses(hop.nextTarget.service);
  return addresses.map(splitListen);
}

/**
 * The certificate Common Names a hop admits (docs/CONVENTIONS.md): the hops that forward to it or,
 * at the edge, the scanners that send to it.
 */
export function admittedPeerIds(topology: ResolvedTopology, hop: ResolvedHop): string[] {
  const before = topology.hops.filter((h) => h.next === hop.id).map((h) => h.id);
  if (before.length > 0) return before;
  return topology.scanners.filter((s) => s.edge === hop.id).map((s) => s.id);
}

/**
 * The certificate role a hop admits (docs/gateways/README.md, docs/operations/certificates.md#roles):
 * `scanner` at the edge, `gateway` behind it. Together with {@link admittedPeerIds}: CN and role.
 */
export function admittedPeerRole(topology: ResolvedTopology, hop: ResolvedHop): Extract<PkiRole, 'scanner' | 'gateway'> {
  return isEdge(topology, hop) ? 'scanner' : 'gateway';
}

/** The SPIFFE IDs a hop admits: {@link admittedPeerIds} under {@link admittedPeerRole}. */
export function admittedPeerSpiffeIds(topology: ResolvedTopology, hop: ResolvedHop): string[] {
  const role = admittedPeerRole(topology, hop);
  return admittedPeerIds(topology, hop).map((id) => spiffeId(topology.trustDomain, role, id));
}

/** Whether scanners connect to this hop directly (docs/provenance.md#rules-for-every-hop, rule 1 applies to it). */
export function isEdge(topology: ResolvedTopology, hop: ResolvedHop): boolean {
  return !topology.hops.some((h) => h.next === hop.id);
}

/** The headers the edge removes before anything else (docs/provenance.md#rules-for-every-hop, rule 1, plus `headers.strip`). */
export const RULE_ONE_HEADERS = [HEADERS.provenance, HEADERS.clientCert, HEADERS.clientCertChain, HEADERS.forwardedClientCert] as const;

/**
 * How a gateway reaches its forward-auth stamper (docs/provenance.md#the-forward-auth-stamper):
 * a Unix domain socket only the gateway's account can open, or TCP with mTLS where the gateway
 * presents its own certificate (`hop.upstreamTls`) and checks the stamper's (`hop.tls`, named
 * `serverName`): both ends are the same hop.
 */
export type StamperEndpoint =
  | { readonly kind: 'unix'; readonly socket: string; readonly gatewayUser: string | null }
  | { readonly kind: 'mtls'; readonly listen: string; readonly host: string; readonly port: number; readonly serverName: string };

/** The stamper endpoint of a forward-auth hop, or null when the hop has no stamper. */
export function stamperEndpoint(hop: ResolvedHop): StamperEndpoint | null {
  const stamper = hop.stamp === false ? undefined : hop.stamp.stamper;
  if (!stamper) return null;
  if ('socket' in stamper) return { kind: 'unix', socket: stamper.socket, gatewayUser: stamper.gatewayUser ?? null };
  return { kind: 'mtls', listen: stamper.listen, ...splitListen(stamper.listen), serverName: hop.serverName };
}
