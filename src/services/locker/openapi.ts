/** The OpenAPI 3.1 description of the Evidence Locker (docs/services.md), served at `/openapi.json`. */
import { operationalPaths, provenanceResponses, PROVENANCE_PARAMETERS, serviceProblem, sharedComponents, type OpenApiDocument } from '../common/openapi.js';
import { SHA256_HEX_SOURCE } from '../../conventions/index.js';

const envelopeBody = { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/DsseEnvelope' } } } };
const ingestAnswer = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/IngestResult' } } } });

/** Builds the document (a fresh object each call; callers may mutate it). */
export function lockerOpenApi(): OpenApiDocument {
  const components = sharedComponents() as { schemas: Record<string, unknown> };
  components.schemas.IngestResult = {
    type: 'object',
    required: ['sha256', 'scanId', 'receivedAt', 'created', 'receipt'],
    properties: {
      sha256: { type: 'string', pattern: SHA256_HEX_SOURCE },
      scanId: { type: 'string' },
      receivedAt: { type: 'string', format: 'date-time' },
      created: { type: 'boolean' },
      receipt: { $ref: '#/components/schemas/DsseEnvelope' },
    },
  };
  components.schemas.Evidence = {
    type: 'object',
    required: ['sha256', 'scanId', 'service', 'payloadType', 'receivedAt', 'hops', 'receipt'],
    properties: {
      sha256: { type: 'string' },
      scanId: { type: 'string' },
      service: { type: 'string' },
      payloadType: { type: 'string' },
      receivedAt: { type: 'string', format: 'date-time' },
      hops: { type: 'array', items: { $ref: '#/components/schemas/Hop' } },
      envelope: { $ref: '#/components/schemas/DsseEnvelope' },
      receipt: { $ref: '#/components/schemas/DsseEnvelope' },
    },
  };
  components.schemas.Artifact = {
    type: 'object',
    required: ['sha256', 'scanId', 'size', 'evidenceSha256', 'referencedAt'],
    properties: {
      sha256: { type: 'string', pattern: SHA256_HEX_SOURCE },
      scanId: { type: 'string' },
      size: { type: 'integer', minimum: 0 },
      evidenceSha256: { type: 'string', pattern: SHA256_HEX_SOURCE, description: 'the stored statement whose subject names this digest' },
      referencedAt: { type: 'string', format: 'date-time' },
      created: { type: 'boolean' },
    },
  };
  const sha256Param = { name: 'sha256', in: 'path', required: true, schema: { type: 'string', pattern: SHA256_HEX_SOURCE } };
  const artifactAnswer = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Artifact' } } } });
  return {
    openapi: '3.1.0',
    info: { title: 'Stella Evidence Locker', version: '1', description: 'Stores signed scan evidence with its verified gateway chain and answers with a signed traversal receipt.' },
    paths: {
      '/api/v1/evidence': {
        post: {
          operationId: 'ingestEvidence',
          summary: 'Store a DSSE envelope; idempotent by the SHA-256 of the body',
          parameters: PROVENANCE_PARAMETERS,
          requestBody: envelopeBody,
          responses: {
            '201': ingestAnswer('stored (durable) — the traversal receipt'),
            '200': ingestAnswer('stored before — the ORIGINAL receipt'),
            ...provenanceResponses({ envelope: true }),
            ...Object.fromEntries([serviceProblem('payload-too-large'), serviceProblem('unsupported-media-type')]),
          },
        },
      },
      '/api/v1/evidence/{sha256}': {
        get: {
          operationId: 'getEvidence',
          parameters: [{ name: 'sha256', in: 'path', required: true, schema: { type: 'string', pattern: SHA256_HEX_SOURCE } }, ...PROVENANCE_PARAMETERS],
          responses: {
            '200': { description: 'envelope, hop chain and receipt', content: { 'application/json': { schema: { $ref: '#/components/schemas/Evidence' } } } },
            ...provenanceResponses({ envelope: false }),
            ...Object.fromEntries([serviceProblem('evidence-not-found')]),
          },
        },
      },
      '/api/v1/artifacts/{sha256}': {
        post: {
          operationId: 'storeArtifact',
          summary: 'Store the bytes a stored statement of this scan names by SHA-256 (docs/services.md#artifacts)',
          parameters: [sha256Param, ...PROVENANCE_PARAMETERS],
          requestBody: { required: true, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
          responses: {
            '201': artifactAnswer('stored (durable): a new reference of this scan, bytes written once per digest'),
            '200': artifactAnswer('this scan referenced the digest before'),
            ...provenanceResponses({ envelope: false }),
            ...Object.fromEntries([serviceProblem('scan-conflict'), serviceProblem('payload-too-large'), serviceProblem('unsupported-media-type')]),
          },
        },
        get: {
          operationId: 'getArtifact',
          parameters: [sha256Param, ...PROVENANCE_PARAMETERS],
          responses: {
            '200': { description: 'the artifact bytes, with Content-Digest', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
            ...provenanceResponses({ envelope: false }),
            ...Object.fromEntries([serviceProblem('artifact-not-found')]),
          },
        },
      },
      '/api/v1/scans/{scanId}/artifacts': {
        get: {
          operationId: 'listScanArtifacts',
          parameters: [{ name: 'scanId', in: 'path', required: true, schema: { type: 'string' } }, ...PROVENANCE_PARAMETERS],
          responses: {
            '200': {
              description: 'the artifacts one scan references, oldest reference first',
              content: { 'application/json': { schema: { type: 'object', properties: { scanId: { type: 'string' }, artifacts: { type: 'array', items: { $ref: '#/components/schemas/Artifact' } } } } } },
            },
            ...provenanceResponses({ envelope: false }),
            ...Object.fromEntries([serviceProblem('scan-not-found')]),
          },
        },
      },
      '/api/v1/scans/{scanId}/evidence': {
        get: {
          operationId: 'listScanEvidence',
          parameters: [{ name: 'scanId', in: 'path', required: true, schema: { type: 'string' } }, ...PROVENANCE_PARAMETERS],
          responses: {
            '200': {
              description: 'the evidence of one scan, oldest first',
              content: { 'application/json': { schema: { type: 'object', properties: { scanId: { type: 'string' }, evidence: { type: 'array', items: { $ref: '#/components/schemas/Evidence' } } } } } },
            },
            ...provenanceResponses({ envelope: false }),
          },
        },
      },
      ...operationalPaths(),
    },
    components,
  };
}
