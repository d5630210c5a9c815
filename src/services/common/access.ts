/**
 * Who may write and read what at a service (docs/services.md#who-may-write-and-read).
 *
 * * The **requester** of a request that crossed the chain is the scanner whose certificate the
 *   edge saw: hop 1's `peer-id`, which the provenance checks pinned to a scanner of that edge.
 * * A scan belongs to the scanner that first stored under it; only its owner and the identities
 *   the topology names in `services[].access.readers` read it. Anything else reads as absent (404),
 *   so a scanner cannot learn that another scanner's scan or digest exists.
 * * The operational endpoints answer only the identities of `services[].access.ops`: the TLS peer
 *   for the direct routes (`/metrics`, `/healthz/ready`), the requester for `/healthz/traversal`.
 */
import type { FastifyRequest } from 'fastify';
import type { PeerIdentity, VerifiedProvenance } from '../../provenance/verify.js';
import { identityMatches, parseSpiffeId, spiffeId } from '../../topology/identity.js';
import type { ResolvedService, ResolvedTopology } from '../../topology/resolve.js';
import { ServiceError } from './problems.js';

/** The scanner a verified request came from. */
export interface Requester {
  scannerId: string;
  spiffeId: string;
}

/** The access rules of one service, prepared once. */
export interface AccessPolicy {
  /** The scanner behind a verified request. */
  requester(provenance: VerifiedProvenance): Requester;
  /** True when the requester may read a scan owned by `owner` (null: nobody owns it yet). */
  mayRead(requester: Requester, owner: string | null): boolean;
  /**
   * @throws ServiceError `identity-not-allowed` unless the identity is named in `access.ops`. On a
   * `direct` route (the TLS peer itself) a scanner identity never qualifies: scanners reach a
   * service only through the chain, so a scanner certificate at the service's own port is misuse.
   */
  requireOps(spiffeId: string | null, what: string, options?: { direct?: boolean }): void;
  /** The TLS peer of a request that did not cross the chain (direct operational routes). */
  peerOf(request: FastifyRequest): PeerIdentity | null;
}

/** Builds the policy of a service. `peerIdentity` is the provenance plugin's (TLS, or a test's). */
export function accessPolicy(topology: ResolvedTopology, service: ResolvedService, peerIdentity: (request: FastifyRequest) => PeerIdentity | null): AccessPolicy {
  const { readers, ops } = service.access;
  return {
    requester(provenance) {
      const scannerId = provenance.hops[0]?.peerId;
      if (!scannerId) throw new TypeError('verified provenance without hops');
      return { scannerId, spiffeId: spiffeId(topology.trustDomain, 'scanner', scannerId) };
    },
    mayRead(requester, owner) {
      if (owner === null) return false;
      return owner === requester.scannerId || identityMatches(readers, requester.spiffeId);
    },
    requireOps(spiffeId, what, options = {}) {
      const scannerAtTheDoor = options.direct === true && spiffeId !== null && parseSpiffeId(spiffeId)?.role === 'scanner';
      if (scannerAtTheDoor || !identityMatches(ops, spiffeId)) {
        throw new ServiceError('identity-not-allowed', `${spiffeId ?? 'a peer without a SPIFFE ID'} is not named in services.${service.id}.access.ops for ${what}`);
      }
    },
    peerOf: peerIdentity,
  };
}
