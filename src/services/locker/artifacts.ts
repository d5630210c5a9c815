/**
 * The artifact routes of the Evidence Locker (docs/services.md#artifacts): the bytes a scan's
 * signed statement names by SHA-256 travel as their own request after the statement, are stored
 * once per digest, and are read back only through a scan that references them.
 *
 * Binding: the body's `Content-Digest` is covered by every hop MAC (docs/provenance.md#3-the-mac); the body
 * must hash to the digest in the path; and a statement this scanner stored under the request's scan
 * must name that digest as a subject. Any mismatch is `422 binding-mismatch` and nothing is stored.
 * The upload streams into the store ({@link ingestArtifact}).
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { SHA256_HEX_SOURCE, WIRE_HEADERS } from '../../conventions/index.js';
import { ARTIFACTS_PATH, ARTIFACT_MEDIA_TYPE } from '../../evidence/artifacts.js';
import { ingestArtifact } from './artifact-ingest.js';
import type { ArtifactRef, EvidenceStore } from '../../storage/types.js';
import type { AccessPolicy } from '../common/access.js';
import type { ServiceMetrics } from '../common/metrics.js';
import { requireSameScan, SCAN_ID_PARAMS, verifiedProvenance as verified } from '../common/binding.js';
import { ServiceError } from '../common/problems.js';

const SHA256_PARAM = { type: 'object', required: ['sha256'], properties: { sha256: { type: 'string', pattern: SHA256_HEX_SOURCE } } } as const;

/** What the artifact routes need from the locker. */
export interface ArtifactRoutesOptions {
  store: EvidenceStore;
  access: AccessPolicy;
  metrics: ServiceMetrics;
  now: () => number;
  /** The service's `maxArtifactBytes`: the largest upload, counted as it streams (docs/services.md#size). */
  maxArtifactBytes: number;
}

/** The JSON view of one scan's reference to an artifact. */
export function artifactView(ref: ArtifactRef): Record<string, unknown> {
  return { sha256: ref.sha256, scanId: ref.scanId, size: ref.size, evidenceSha256: ref.evidenceSha256, referencedAt: ref.referencedAt };
}

/** Adds `POST|GET /api/v1/artifacts/{sha256}` and `GET /api/v1/scans/{scanId}/artifacts`. */
export function installArtifactRoutes(app: FastifyInstance, options: ArtifactRoutesOptions): void {
  const { store, access, metrics, now } = options;

  // Its own scope: here an octet-stream body is handed over as the request stream, unread, and
  // streamed into the store by the handler (docs/services.md#artifacts); the plugin's hooks still run.
  void app.register(async (scope) => {
    scope.removeContentTypeParser(ARTIFACT_MEDIA_TYPE);
    scope.addContentTypeParser(ARTIFACT_MEDIA_TYPE, (_request, payload, done) => done(null, payload));
    scope.post(`${ARTIFACTS_PATH}/:sha256`, { schema: { params: SHA256_PARAM }, config: { provenance: { streamBody: true } } }, async (request, reply) => {
      const put = await ingestArtifact(request, reply, { store, access, maxArtifactBytes: options.maxArtifactBytes, now });
      const { sha256 } = put.ref;
      metrics.artifacts.inc({ outcome: put.bytesWritten ? 'stored' : put.created ? 'referenced' : 'duplicate' });
      request.log.info({ sha256, scanId: put.ref.scanId, size: put.ref.size, created: put.created, bytesWritten: put.bytesWritten }, put.created ? 'artifact stored' : 'artifact already stored');
      reply.code(put.created ? 201 : 200).header('location', `${ARTIFACTS_PATH}/${sha256}`);
      return { ...artifactView(put.ref), created: put.created };
    });
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
      .header(WIRE_HEADERS.contentDigest, `sha-256=:${Buffer.from(sha256, 'hex').toString('base64')}:`)
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
