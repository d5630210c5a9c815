/**
 * `POST /api/v1/artifacts/{sha256}` (docs/services.md#artifacts): the upload is streamed into the
 * store, never held whole. Its checks, in order, each refusing with nothing kept:
 *
 * 1. headers (the provenance plugin's `onRequest`);
 * 2. replay (the nonce is reserved), then before a byte of the body is read: media type (415),
 *    size from Content-Length (413), Content-Digest naming the path's digest (422), the scan not
 *    another scanner's (409), a stored statement of this scanner naming the digest (422);
 * 3. the body, hashed and written as staged chunks no reader can reach; past `maxArtifactBytes`
 *    (a body of unknown length) the upload stops (413);
 * 4. Content-Digest against the whole body (422, docs/provenance.md#3-the-mac), the path digest again;
 * 5. one commit makes the chunks the artifact and adds the scan's reference; 201 after it.
 *
 * A refused, failed or aborted upload drops its staged chunks; the nonce is released until the
 * body was bound (docs/provenance.md, "Replay").
 */
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ARTIFACT_MEDIA_TYPE, namesSubject } from '../../evidence/artifacts.js';
import { checkContentDigestHash } from '../../provenance/digest.js';
import { ProvenanceError } from '../../provenance/problems.js';
import { HEADER } from '../../provenance/record.js';
import type { VerifiedProvenance } from '../../provenance/verify.js';
import { combineFieldLines } from '../../provenance/codec.js';
import type { ArtifactStaging } from '../../storage/staging.js';
import type { EvidenceRecord, EvidenceStore, PutArtifactResult } from '../../storage/types.js';
import type { AccessPolicy } from '../common/access.js';
import { ServiceError } from '../common/problems.js';

/** What one upload needs. */
export interface ArtifactIngestOptions {
  store: EvidenceStore;
  access: AccessPolicy;
  maxArtifactBytes: number;
  now: () => number;
}

/** Runs the checks and the streamed write of one upload; answers what the store did. */
export async function ingestArtifact(request: FastifyRequest, reply: FastifyReply, options: ArtifactIngestOptions): Promise<PutArtifactResult> {
  const { store, access, maxArtifactBytes } = options;
  const { sha256 } = request.params as { sha256: string };
  const verifyStreamedBody = request.verifyStreamedBody;
  if (!verifyStreamedBody) throw new TypeError('POST artifact: the route must be registered with { provenance: { streamBody: true } }');
  let staging: ArtifactStaging | null = null;
  let statement: EvidenceRecord | undefined;
  try {
    const verified = await verifyStreamedBody(async (body, headers) => {
      await precheck(headers);
      staging = await store.stageArtifact(sha256);
      return readInto(body, staging, maxArtifactBytes);
    });
    const staged = staging as ArtifactStaging | null;
    if (!staged || !statement) throw new TypeError('POST artifact: verified without a staged body');
    // Content-Digest matched the body and the path's digest before it: the body hashes to the path.
    return await staged.commit({
      sha256,
      scanId: verified.scanId,
      scannerId: access.requester(verified).scannerId,
      evidenceSha256: statement.sha256,
      storedAt: new Date(options.now()).toISOString(),
    });
  } catch (error) {
    await (staging as ArtifactStaging | null)?.discard().catch(() => undefined);
    // The rest of an unread body is not worth reading: the connection ends after the refusal.
    if (!request.raw.readableEnded) reply.header('connection', 'close');
    // A client that went away mid-body is its own doing, not a failure of ours (no 500 in the log).
    if (request.raw.destroyed && !(error instanceof ServiceError) && !(error instanceof ProvenanceError)) {
      throw new ServiceError('invalid-request', `the upload ended after ${(staging as ArtifactStaging | null)?.length ?? 0} bytes: the client went away`, { cause: error });
    }
    throw error;
  }

  /** Every check that needs no body byte, so a refused upload is refused before it is read. */
  async function precheck(headers: VerifiedProvenance): Promise<void> {
    const mediaType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (mediaType !== ARTIFACT_MEDIA_TYPE) throw new ServiceError('unsupported-media-type', `an artifact is sent as ${ARTIFACT_MEDIA_TYPE}, not ${mediaType || 'no media type'}`);
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > maxArtifactBytes) throw new ServiceError('payload-too-large', `the artifact is ${declared} bytes; this locker takes at most ${maxArtifactBytes} (maxArtifactBytes)`);
    const contentDigest = combineFieldLines(request.headers[HEADER.contentDigest]);
    if (contentDigest !== null && checkContentDigestHash(contentDigest, Buffer.from(sha256, 'hex')) !== null) {
      throw new ProvenanceError('binding-mismatch', `Content-Digest does not name sha256 ${sha256}, the digest in the path`);
    }
    const scanId = headers.scanId;
    // The header checks passed, so hop 1 is the sending scanner (docs/services.md#who-may-write-and-read).
    const { scannerId } = access.requester(headers);
    const owner = await store.getScanOwner(scanId);
    if (owner !== null && owner !== scannerId) throw new ServiceError('scan-conflict', `scan ${scanId} belongs to another scanner`);
    // Only bytes a signed statement of this scan names are taken: the locker keeps evidence, not files.
    statement = (await store.listByScan(scanId)).find((r) => r.scannerId === scannerId && namesSubject(r.envelope, sha256));
    if (!statement) throw new ProvenanceError('binding-mismatch', `no statement stored under scan ${scanId} names sha256 ${sha256}; send the statement first`);
  }
}

/** Streams `body` into `staging`, hashing as it goes; stops past `maxBytes`. */
async function readInto(body: Readable, staging: ArtifactStaging, maxBytes: number): Promise<{ length: number; sha256: Buffer }> {
  for await (const chunk of body) {
    const bytes = chunk as Buffer;
    if (staging.length + bytes.length > maxBytes) throw new ServiceError('payload-too-large', `the artifact exceeds ${maxBytes} bytes (maxArtifactBytes)`);
    // Back-pressure: the socket is read again only once a full chunk is in the store.
    await staging.write(bytes);
  }
  return staging.finish();
}
