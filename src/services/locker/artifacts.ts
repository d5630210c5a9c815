/**
 * The artifact routes of the Evidence Locker (docs/services.md#artifacts): the bytes a scan's
 * signed statement names by SHA-256 travel as their own request after the statement, are stored
 * once per digest, and are read back only through a scan that references them.
 *
 * Binding: the body's `Content-Digest` is covered by every hop MAC (docs/provenance.md#3); the body
 * must hash to the digest in the path; and a statement this scanner stored under the request's scan
 * must name that digest as a subject. Any mismatch is `422 binding-mismatch` and nothing is stored.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { ARTIFACTS_PATH, ARTIFACT_MEDIA_TYPE, namesSubject, sha256Hex } from '../../evidence/artifacts.js';
import { ProvenanceError } from '../../provenance/problems.js';
import type { ArtifactRef, EvidenceStore } from '../../storage/types.js';
import type { AccessPolicy } from '../common/access.js';
import type { ServiceMetrics } from '../common/metrics.js';
import { requireSameScan, SCAN_ID_PARAMS, verifiedProvenance as verified } from '../common/binding.js';
import { ServiceError } from '../common/problems.js';

const SHA256_PARAM = { type: 'object', required: ['sha256'], properties: { sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' } } } as const;

/** What the artifact routes need from the locker. */
export interface ArtifactRoutesOptions {
  store: EvidenceStore;
  access: AccessPolicy;
  metrics: ServiceMetrics;
  now: () => number;
  /** The service's `maxArtifactBytes`: the body limit of an upload (docs/services.md#size). */
  maxArtifactBytes: number;
}

/** The JSON view of one scan's reference to an artifact. */
export function artifactView(ref: ArtifactRef): Record<string, unknown> {
  return { sha256: ref.sha256, scanId: ref.scanId, size: ref.size, evidenceSha256: ref.evidenceSha256, referencedAt: ref.referencedAt };
}

/** Adds `POST|GET /api/v1/artifacts/{sha256}` and `GET /api/v1/scans/{scanId}/artifacts`. */
export function installArtifactRoutes(app: FastifyInstance, options: ArtifactRoutesOptions): void {
  const { store, access, metrics, now } = options;

  app.post(`${ARTIFACTS_PATH}/:sha256`, { schema: { params: SHA256_PARAM }, bodyLimit: options.maxArtifactBytes }, async (request, reply) => {
    const provenance = verified(request);
    const { sha256 } = request.params as { sha256: string };
    const mediaType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (mediaType !== ARTIFACT_MEDIA_TYPE) throw new ServiceError('unsupported-media-type', `an artifact is sent as ${ARTIFACT_MEDIA_TYPE}, not ${mediaType || 'no media type'}`);
    const bytes = request.rawBody ?? Buffer.alloc(0);
    // The middleware checked Content-Digest against these bytes; the path must name the same digest.
    const actual = sha256Hex(bytes);
    if (actual !== sha256) throw new ProvenanceError('binding-mismatch', `the body hashes to ${actual}, not to ${sha256}`);
    const requester = access.requester(provenance);
    const owner = await store.getScanOwner(provenance.scanId);
    if (owner !== null && owner !== requester.scannerId) throw new ServiceError('scan-conflict', `scan ${provenance.scanId} belongs to another scanner`);
    // Only bytes a signed statement of this scan names are taken: the locker keeps evidence, not files.
    const statement = (await store.listByScan(provenance.scanId)).find((r) => r.scannerId === requester.scannerId && namesSubject(r.envelope, sha256));
    if (!statement) throw new ProvenanceError('binding-mismatch', `no statement stored under scan ${provenance.scanId} names sha256 ${sha256}; send the statement first`);
    const put = await store.putArtifact({ sha256, bytes, scanId: provenance.scanId, scannerId: requester.scannerId, evidenceSha256: statement.sha256, storedAt: new Date(now()).toISOString() });
    metrics.artifacts.inc({ outcome: put.bytesWritten ? 'stored' : put.created ? 'referenced' : 'duplicate' });
    request.log.info({ sha256, scanId: provenance.scanId, size: put.ref.size, created: put.created, bytesWritten: put.bytesWritten }, put.created ? 'artifact stored' : 'artifact already stored');
    reply.code(put.created ? 201 : 200).header('location', `${ARTIFACTS_PATH}/${sha256}`);
    return { ...artifactView(put.ref), created: put.created };
  });

  app.get(`${ARTIFACTS_PATH}/:sha256`, { schema: { params: SHA256_PARAM } }, async (request, reply) => {
    const provenance = verified(request);
    const { sha256 } = request.params as { sha256: string };
    // Readable through a scan that references it and that the requester may read; anything else
    // is as absent as no artifact (docs/services.md#who-may-write-and-read).
    const ref = await store.getArtifactRef(provenance.scanId, sha256);
    const readable = ref !== null && access.mayRead(access.requester(provenance), await store.getScanOwner(provenance.scanId));
    const artifact = readable ? await store.getArtifact(sha256) : null;
    if (!ref || !artifact) throw new ServiceError('artifact-not-found', `no artifact with sha256 ${sha256} in scan ${provenance.scanId}`);
    reply
      .type(ARTIFACT_MEDIA_TYPE)
      .header('content-length', String(artifact.size))
      .header('content-digest', `sha-256=:${Buffer.from(sha256, 'hex').toString('base64')}:`)
      .header('x-stella-evidence-sha256', ref.evidenceSha256);
    return reply.send(Readable.from(artifact.chunks()));
  });

  app.get('/api/v1/scans/:scanId/artifacts', { schema: { params: SCAN_ID_PARAMS } }, async (request) => {
    const provenance = verified(request);
    const { scanId } = request.params as { scanId: string };
    requireSameScan(provenance, scanId);
    if (!access.mayRead(access.requester(provenance), await store.getScanOwner(scanId))) throw new ServiceError('scan-not-found', `no evidence stored under scan ${scanId}`);
    return { scanId, artifacts: (await store.listArtifactsByScan(scanId)).map(artifactView) };
  });
}
