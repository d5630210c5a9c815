/**
 * The Scanner WebService (docs/services.md): scan registration and signed completion reports, behind the
 * same provenance middleware and health endpoints as the Evidence Locker.
 *
 * Registration is idempotent by scan id (a retry answers 200 with the first registration; other
 * data under the same id is a 409). A completion report is a DSSE envelope verified like evidence;
 * the same report twice is a 200, another report for a completed scan a 409.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { SCAN_ID_SOURCE } from '../../conventions/index.js';
import { parseStatement } from '../../dsse/index.js';
import { ProvenanceError } from '../../provenance/problems.js';
import type { ScanRecord } from '../../storage/types.js';
import { createServiceBase, type ServiceAppOptions } from '../common/app.js';
import { requireSameScan, SCAN_ID_PARAMS, verifiedProvenance } from '../common/binding.js';
import { staticCheck } from '../common/health.js';
import { ServiceError } from '../common/problems.js';
import { webServiceOpenApi } from './openapi.js';

/** Options of {@link buildWebServiceApp}. */
export type WebServiceAppOptions = ServiceAppOptions;

/** The registration body: a scan id (equal to the header's) and free-form scan metadata. */
const REGISTRATION_BODY = {
  type: 'object',
  required: ['scanId'],
  properties: {
    scanId: { type: 'string', pattern: SCAN_ID_SOURCE },
    target: { type: 'string', maxLength: 1024 },
    labels: { type: 'object', additionalProperties: { type: 'string', maxLength: 256 }, maxProperties: 64 },
  },
} as const;

/** The JSON shape of a scan (docs/services.md). */
export function scanView(record: ScanRecord): Record<string, unknown> {
  return {
    scanId: record.scanId,
    status: record.status,
    scannerId: record.scannerId,
    registeredAt: record.registeredAt,
    registration: record.registration,
    completion: record.completion
      ? { envelopeSha256: record.completion.envelopeSha256, completedAt: record.completion.completedAt, report: record.completion.report }
      : null,
  };
}

/**
 * Builds the WebService app (not listening).
 *
 * @example
 * const app = await buildWebServiceApp({ topology, serviceId: 'scanner-webservice', store, provenance: { hopKeys, envelope } });
 */
export async function buildWebServiceApp(options: WebServiceAppOptions): Promise<FastifyInstance> {
  if (!options.provenance.envelope) throw new TypeError('buildWebServiceApp: provenance.envelope (scanner verifiers) is required for completion reports');
  const { app, access, now } = await createServiceBase({ ...options, readiness: [staticCheck('keys', 'hop keys and scanner keys loaded'), ...(options.readiness ?? [])] }, 'scanner-webservice');
  const { store } = options;
  app.removeContentTypeParser(['text/plain']);

  app.get('/openapi.json', { config: { provenance: false } }, async () => webServiceOpenApi());

  app.post('/api/v1/scans', { schema: { body: REGISTRATION_BODY } }, async (request, reply) => {
    const provenance = verifiedProvenance(request);
    const body = request.body as { scanId: string };
    if (body.scanId !== provenance.scanId) throw new ProvenanceError('binding-mismatch', `body scanId ${body.scanId} differs from X-Stella-Scan-Id ${provenance.scanId}`);
    // The scanner is whoever presented the certificate to the edge: hop 1's peer-id.
    const { scannerId } = access.requester(provenance);
    const { created, record } = await store.registerScan({ scanId: body.scanId, scannerId, registration: body, registeredAt: new Date(now()).toISOString() });
    if (!created && (record.scannerId !== scannerId || JSON.stringify(record.registration) !== JSON.stringify(body))) {
      throw new ServiceError('scan-conflict', `scan ${body.scanId} is registered with other data`);
    }
    reply.code(created ? 201 : 200).header('location', `/api/v1/scans/${body.scanId}`);
    return scanView(record);
  });

  app.get('/api/v1/scans/:scanId', { schema: { params: SCAN_ID_PARAMS } }, async (request) => {
    const { scanId } = request.params as { scanId: string };
    const provenance = verifiedProvenance(request);
    requireSameScan(provenance, scanId);
    const record = await store.getScan(scanId);
    // Another scanner's scan reads as absent (docs/services.md#who-may-write-and-read).
    if (!record || !access.mayRead(access.requester(provenance), record.scannerId)) throw new ServiceError('scan-not-found', `no scan ${scanId}`);
    return scanView(record);
  });

  app.post('/api/v1/scans/:scanId/complete', { schema: { params: SCAN_ID_PARAMS }, config: { provenance: { envelope: true } } }, async (request) => {
    const { scanId } = request.params as { scanId: string };
    const provenance = verifiedProvenance(request);
    requireSameScan(provenance, scanId);
    const envelope = provenance.envelope;
    const body = request.rawBody;
    if (!envelope || !body) throw new TypeError('completion reached without a verified envelope');
    // Only the scanner that registered the scan completes it; another scanner learns no more than a conflict.
    const registered = await store.getScan(scanId);
    if (registered && registered.scannerId !== access.requester(provenance).scannerId) throw new ServiceError('scan-conflict', `scan ${scanId} belongs to another scanner`);
    // The report is read from the verified payload bytes, never from the request JSON again.
    const statement = parseStatement(envelope.payload);
    const result = await store.completeScan(scanId, {
      envelopeSha256: createHash('sha256').update(body).digest('hex'),
      envelope: body,
      report: { subject: statement.subject, predicateType: statement.predicateType, acceptedKeyids: envelope.accepted.map((a) => a.keyid) },
      completedAt: new Date(now()).toISOString(),
    });
    switch (result.outcome) {
      case 'completed':
      case 'already-completed':
        return scanView(result.record);
      case 'conflict':
        throw new ServiceError('scan-conflict', `scan ${scanId} was completed with another report`);
      case 'not-found':
        throw new ServiceError('scan-not-found', `no scan ${scanId}`);
    }
  });

  return app;
}
