/** The OpenAPI 3.1 description of the Scanner WebService (docs/services.md), served at `/openapi.json`. */
import { operationalPaths, provenanceResponses, PROVENANCE_PARAMETERS, serviceProblem, sharedComponents, type OpenApiDocument } from '../common/openapi.js';
import { SCAN_ID_SOURCE } from '../../conventions/index.js';

const scanAnswer = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Scan' } } } });
const scanIdParam = { name: 'scanId', in: 'path', required: true, schema: { type: 'string', pattern: SCAN_ID_SOURCE } };

/** Builds the document (a fresh object each call). */
export function webServiceOpenApi(): OpenApiDocument {
  const components = sharedComponents() as { schemas: Record<string, unknown> };
  components.schemas.Scan = {
    type: 'object',
    required: ['scanId', 'status', 'scannerId', 'registeredAt', 'registration', 'completion'],
    properties: {
      scanId: { type: 'string' },
      status: { type: 'string', enum: ['registered', 'completed'] },
      scannerId: { type: 'string', description: 'peer-id of hop 1: the scanner certificate CN' },
      registeredAt: { type: 'string', format: 'date-time' },
      registration: { type: 'object' },
      completion: {
        oneOf: [
          { type: 'null' },
          { type: 'object', properties: { envelopeSha256: { type: 'string' }, completedAt: { type: 'string', format: 'date-time' }, report: { type: 'object' } } },
        ],
      },
    },
  };
  components.schemas.Registration = {
    type: 'object',
    required: ['scanId'],
    properties: { scanId: { type: 'string', description: 'must equal X-Stella-Scan-Id' }, target: { type: 'string' }, labels: { type: 'object', additionalProperties: { type: 'string' } } },
  };
  return {
    openapi: '3.1.0',
    info: { title: 'Stella Scanner WebService', version: '1', description: 'Scan registration and signed completion reports, behind the provenance middleware.' },
    paths: {
      '/api/v1/scans': {
        post: {
          operationId: 'registerScan',
          parameters: PROVENANCE_PARAMETERS,
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Registration' } } } },
          responses: {
            '201': scanAnswer('registered'),
            '200': scanAnswer('registered before with the same data'),
            ...provenanceResponses({ envelope: false }),
            ...Object.fromEntries([serviceProblem('scan-conflict'), serviceProblem('payload-too-large'), serviceProblem('unsupported-media-type')]),
          },
        },
      },
      '/api/v1/scans/{scanId}': {
        get: {
          operationId: 'getScan',
          parameters: [scanIdParam, ...PROVENANCE_PARAMETERS],
          responses: { '200': scanAnswer('the scan'), ...provenanceResponses({ envelope: false }), ...Object.fromEntries([serviceProblem('scan-not-found')]) },
        },
      },
      '/api/v1/scans/{scanId}/complete': {
        post: {
          operationId: 'completeScan',
          parameters: [scanIdParam, ...PROVENANCE_PARAMETERS],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/DsseEnvelope' } } } },
          responses: {
            '200': scanAnswer('completed (also on a repeat of the same report)'),
            ...provenanceResponses({ envelope: true }),
            ...Object.fromEntries([serviceProblem('scan-not-found'), serviceProblem('scan-conflict'), serviceProblem('payload-too-large')]),
          },
        },
      },
      ...operationalPaths(),
    },
    components,
  };
}
