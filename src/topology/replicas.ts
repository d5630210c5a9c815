/**
 * Service replicas (docs/topology.md#replicas): one service id, several instances. `listen` is
 * replica 0 and `replicas[i]` is replica i+1; they share the service's name, certificate, keys and
 * store, and the last hop of the service's chain balances over all of them. Pure.
 */
import { bracketHost, parseHostPort } from '../conventions/index.js';

/** What this module reads of a service. */
export interface ReplicatedService {
  readonly id: string;
  readonly listen: string;
  readonly replicas?: readonly string[] | undefined;
}

/** Every listen address of a service, replica 0 (its `listen`) first. */
export function replicaAddresses(service: ReplicatedService): string[] {
  return [service.listen, ...(service.replicas ?? [])];
}

/**
 * The listen address of replica `n` (0 = `listen`).
 *
 * @throws {RangeError} naming the replicas there are, when `n` is not one of them.
 */
export function replicaAddress(service: ReplicatedService, n: number): string {
  const all = replicaAddresses(service);
  const address = Number.isInteger(n) && n >= 0 ? all[n] : undefined;
  if (address === undefined) throw new RangeError(`service ${service.id} has replicas 0…${all.length - 1} (0 is its listen ${service.listen}), not ${n}`);
  return address;
}

/**
 * The host part of a `host:port` listen address (an IPv6 host keeps its brackets), by the floor's
 * parser; text that does not parse (a draft that failed its shape check) is returned whole, so
 * the rules that compare hosts still run and the shape problem is reported at its own path.
 */
export function listenHost(listen: string): string {
  try {
    return bracketHost(parseHostPort(listen).host);
  } catch {
    return listen;
  }
}
