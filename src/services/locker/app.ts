/**
 * The Evidence Locker (docs/services.md): takes DSSE envelopes that crossed the gateway chain, stores each
 * with its verified hop chain, and answers with a signed traversal receipt.
 *
 * Acknowledged means durable: the store's `putEvidence` resolves only after the commit reached
 * disk, and 201 is sent after it. The same envelope again (same bytes, same SHA-256) answers 200
 * with the ORIGINAL receipt — never a second row (the store's idempotency, also across instances).
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { SHA256_HEX_SOURCE } from '../../conventions/index.js';
import { serializeEnvelope, type Signer } from '../../dsse/index.js';
import { buildReceipt } from '../../evidence/receipt.js';
import type { EvidenceRecord } from '../../storage/types.js';
import { createServiceBase, type ServiceAppOptions } from '../common/app.js';
import { staticCheck } from '../common/health.js';
import { ServiceError } from '../common/problems.js';
import { requireSameScan, SCAN_ID_PARAMS, verifiedProvenance as verified } from '../common/binding.js';
import { installArtifactRoutes } from './artifacts.js';
import { evidenceView, receiptOf } from './views.js';
import { lockerOpenApi } from './openapi.js';

/** Options of {@link buildLockerApp}. */
export interface LockerAppOptions extends ServiceAppOptions {
  /** Signs receipts; must be Ed25519 (docs/services.md). */
  receiptSigner: Signer;
}

const SHA256_PARAM = { type: 'object', required: ['sha256'], properties: { sha256: { type: 'string', pattern: SHA256_HEX_SOURCE } } } as const;

/**
 * Builds the locker app (not listening). The caller owns `listen`/`close`; closing the app
 * finishes in-flight requests, then closes the store.
 *
 * @example
 * const app = await buildLockerApp({ topology, serviceId: 'evidence-locker', store, receiptSigner, provenance: { hopKeys, envelope } });
 * await app.listen({ port: 9443 });
 */
export async function buildLockerApp(options: LockerAppOptions): Promise<FastifyInstance> {
  if (options.receiptSigner?.algorithm !== 'ed25519') throw new TypeError('buildLockerApp: receiptSigner must be an Ed25519 signer');
  if (!options.provenance.envelope) throw new TypeError('buildLockerApp: provenance.envelope (scanner verifiers) is required');
  const { app, service, access, metrics, now } = await createServiceBase(
    { ...options, readiness: [staticCheck('keys', `receipt key ${options.receiptSigner.keyid} (ed25519); hop keys loaded`), ...(options.readiness ?? [])] },
    'evidence-locker',
  );
  const { store, receiptSigner, topology } = options;
  const threshold = options.provenance.envelope.threshold ?? 1;
  // Only the media types whose bytes the provenance plugin keeps; anything else is a 415.
  app.removeContentTypeParser(['text/plain']);

  app.get('/openapi.json', { config: { provenance: false } }, async () => lockerOpenApi());

  app.post('/api/v1/evidence', { config: { provenance: { envelope: true } } }, async (request, reply) => {
    const provenance = verified(request);
    const envelope = provenance.envelope;
    const body = request.rawBody;
    if (!envelope || !body) throw new TypeError('POST /api/v1/evidence reached without a verified envelope');
    const sha256 = createHash('sha256').update(body).digest('hex');
    const requester = access.requester(provenance);
    if (envelope.scannerId !== requester.scannerId) throw new TypeError('the envelope was verified with the keys of another scanner than hop 1 names');

    // A retry of a stored envelope needs no new receipt: answer the original one. The same bytes
    // name the same certificate (check 8), so they come from the same scanner; checked anyway.
    const stored = await store.getEvidence(sha256);
    let record: EvidenceRecord;
    let created = false;
    if (stored) {
      if (stored.scannerId !== requester.scannerId) throw new ServiceError('scan-conflict', `envelope ${sha256} was stored by another scanner`);
      record = stored;
    } else {
      const receivedAt = new Date(now()).toISOString();
      const requestFacts = { method: request.method, pathAndQuery: request.raw.url ?? request.url, contentDigest: provenance.contentDigest };
      const receipt = await buildReceipt(
        {
          envelopeSha256: sha256,
          service: service.id,
          topology: topology.name,
          scanId: provenance.scanId,
          scanner: {
            id: requester.scannerId,
            spiffeId: requester.spiffeId,
            certificateSha256: provenance.hops[0]!.peer,
            keyids: envelope.accepted.map((a) => a.keyid),
          },
          receivedAt,
          hops: provenance.hops.map((h) => ({ id: h.id, seq: h.seq, ts: h.ts, peer: h.peer, peerId: h.peerId, kid: h.kid, ...(h.alg === undefined ? {} : { alg: h.alg }) })),
          // v2: the receipt embeds the chain, so it and the hops' public keys suffice to re-verify it.
          ...(provenance.v2 ? { provenanceV2: { ...provenance.v2, request: requestFacts } } : {}),
          verification: {
            provenance: 'verified',
            binding: 'verified',
            envelope: { result: 'verified', payloadType: envelope.payloadType, threshold, acceptedKeyids: envelope.accepted.map((a) => a.keyid) },
          },
        },
        receiptSigner,
      );
      const put = await store.putEvidence({
        sha256,
        scanId: provenance.scanId,
        scannerId: requester.scannerId,
        serviceId: service.id,
        payloadType: envelope.payloadType,
        envelope: body,
        // The MACs and the request facts they cover, so an auditor holding the hop keys can recompute
        // the chain from the store (`evidence verify --hop-keys`, docs/services.md#offline-verification).
        hops: provenance.hops.map((h) => ({ id: h.id, seq: h.seq, ts: h.ts, nonce: h.nonce, peer: h.peer, peerId: h.peerId, kid: h.kid, ...(h.mac === undefined ? {} : { mac: h.mac }), ...(h.alg === undefined ? {} : { alg: h.alg, signature: h.signature! }) })),
        request: requestFacts,
        ...(provenance.v2 ? { provenanceV2: provenance.v2 } : {}),
        receipt: serializeEnvelope(receipt),
        receivedAt,
      });
      record = put.record;
      created = put.created;
    }
    metrics.ingests.inc({ outcome: created ? 'created' : 'duplicate' });
    request.log.info({ sha256, scanId: record.scanId, created }, created ? 'evidence stored' : 'evidence already stored');
    reply.code(created ? 201 : 200).header('location', `/api/v1/evidence/${sha256}`);
    return { sha256, scanId: record.scanId, receivedAt: record.receivedAt, created, receipt: receiptOf(record) };
  });

  app.get('/api/v1/evidence/:sha256', { schema: { params: SHA256_PARAM } }, async (request) => {
    const provenance = verified(request);
    const { sha256 } = request.params as { sha256: string };
    const record = await store.getEvidence(sha256);
    // Another scan's evidence, or one this scanner may not read, is as absent as no evidence: no
    // oracle for what other scanners stored (docs/services.md#who-may-write-and-read).
    if (!record || record.scanId !== provenance.scanId || !access.mayRead(access.requester(provenance), record.scannerId)) {
      throw new ServiceError('evidence-not-found', `no evidence with sha256 ${sha256} in scan ${provenance.scanId}`);
    }
    return evidenceView(record, { withEnvelope: true });
  });

  app.get('/api/v1/scans/:scanId/evidence', { schema: { params: SCAN_ID_PARAMS } }, async (request) => {
    const provenance = verified(request);
    const { scanId } = request.params as { scanId: string };
    requireSameScan(provenance, scanId);
    // A scan nobody stored under and another scanner's scan answer alike.
    if (!access.mayRead(access.requester(provenance), await store.getScanOwner(scanId))) throw new ServiceError('scan-not-found', `no evidence stored under scan ${scanId}`);
    const records = await store.listByScan(scanId);
    return { scanId, evidence: records.map((r) => evidenceView(r, { withEnvelope: false })) };
  });

  installArtifactRoutes(app, { store, access, metrics, now, maxArtifactBytes: service.maxArtifactBytes });
  return app;
}
