/** Request-level helpers the protected routes of both services share. */
import type { FastifyRequest } from 'fastify';
import { SCAN_ID_SOURCE } from '../../conventions/index.js';
import { ProvenanceError } from '../../provenance/problems.js';
import type { VerifiedProvenance } from '../../provenance/verify.js';

/** The verified provenance of a protected route; its absence is a wiring bug, not a client error. */
export function verifiedProvenance(request: FastifyRequest): VerifiedProvenance {
  if (!request.provenance) throw new TypeError(`${request.method} ${request.url} reached without verified provenance`);
  return request.provenance;
}

/**
 * A scan-scoped route answers only requests made for that scan: the scan id is bound in the
 * header, every hop record and the envelope (docs/provenance.md#4-the-order-of-checks-and-the-problem-codes), so the path must agree with it.
 */
export function requireSameScan(provenance: VerifiedProvenance, scanId: string): void {
  if (provenance.scanId !== scanId) {
    throw new ProvenanceError('binding-mismatch', `X-Stella-Scan-Id ${provenance.scanId} does not name scan ${scanId}`);
  }
}

/** JSON-schema of a `:scanId` path parameter (docs/provenance.md#2-headers, the scan id format). */
export const SCAN_ID_PARAMS = {
  type: 'object',
  required: ['scanId'],
  properties: { scanId: { type: 'string', pattern: SCAN_ID_SOURCE } },
} as const;
