/**
 * Pieces of the OpenAPI 3.1 descriptions both services share (docs/services.md): the problem document,
 * the provenance headers, and the health and metrics paths. Hand-written so the documents say
 * what the routes do, including every problem code; `test/services/openapi.test.ts` checks each
 * document against the routes the app really registers.
 */
import { HEADERS, HEALTH_PATHS, METRICS_PATH, SCAN_ID_SOURCE } from '../../conventions/index.js';
import { PROVENANCE_PROBLEMS } from '../../provenance/problems.js';
import { SERVICE_PROBLEMS } from './problems.js';

/** An OpenAPI document as plain JSON. */
export type OpenApiDocument = Record<string, unknown> & { openapi: string; paths: Record<string, Record<string, unknown>> };

const problemResponse = (description: string) => ({ description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } });

/** Responses every protected route can give: the provenance refusals of docs/provenance.md#4-the-order-of-checks-and-the-problem-codes. */
export function provenanceResponses(options: { envelope: boolean }): Record<string, unknown> {
  const byStatus = new Map<number, string[]>();
  for (const [code, { status }] of Object.entries(PROVENANCE_PROBLEMS)) {
    if (code === 'envelope-invalid' && !options.envelope) continue;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  byStatus.set(503, ['storage-unavailable']);
  return Object.fromEntries([...byStatus].map(([status, codes]) => [String(status), problemResponse(codes.join(', '))]));
}

/** The request headers of docs/provenance.md every protected route requires. */
export const PROVENANCE_PARAMETERS = [
  { name: HEADERS.scanId, in: 'header', required: true, schema: { type: 'string', pattern: SCAN_ID_SOURCE } },
  { name: HEADERS.provenance, in: 'header', required: true, description: 'RFC 9651 List of hop records (docs/provenance.md)', schema: { type: 'string' } },
  { name: HEADERS.contentDigest, in: 'header', required: false, description: 'RFC 9530 sha-256 of the body; required with a body', schema: { type: 'string' } },
];

/** The shared components: Problem, DsseEnvelope, Hop. */
export function sharedComponents(): Record<string, unknown> {
  const codes = [...Object.keys(SERVICE_PROBLEMS), ...Object.keys(PROVENANCE_PROBLEMS)];
  return {
    schemas: {
      Problem: {
        type: 'object',
        description: 'RFC 9457 problem details with a stable code',
        required: ['type', 'title', 'status', 'code'],
        properties: { type: { type: 'string', format: 'uri' }, title: { type: 'string' }, status: { type: 'integer' }, code: { type: 'string', enum: codes }, detail: { type: 'string' } },
      },
      DsseEnvelope: {
        type: 'object',
        required: ['payloadType', 'payload', 'signatures'],
        properties: {
          payloadType: { type: 'string' },
          payload: { type: 'string', contentEncoding: 'base64' },
          signatures: { type: 'array', items: { type: 'object', required: ['sig'], properties: { keyid: { type: 'string' }, sig: { type: 'string', contentEncoding: 'base64' } } } },
        },
      },
      Hop: {
        type: 'object',
        required: ['id', 'seq', 'ts', 'peer', 'peerId', 'kid'],
        properties: { id: { type: 'string' }, seq: { type: 'integer' }, ts: { type: 'integer' }, nonce: { type: 'string' }, peer: { type: 'string' }, peerId: { type: 'string' }, kid: { type: 'string' } },
      },
    },
  };
}

/** `/healthz/*`, `/metrics` and `/openapi.json`. */
export function operationalPaths(): Record<string, Record<string, unknown>> {
  const json = (description: string) => ({ description, content: { 'application/json': { schema: { type: 'object' } } } });
  return {
    [HEALTH_PATHS.live]: { get: { operationId: 'live', summary: 'Liveness of the process', responses: { '200': json('live') } } },
    [HEALTH_PATHS.ready]: { get: { operationId: 'ready', summary: 'Database, keys and certificate', responses: { '200': json('ready'), '503': problemResponse('not-ready') } } },
    [HEALTH_PATHS.traversal]: {
      get: {
        operationId: 'traversal',
        summary: 'Runs the full provenance validation on this request and answers with the verified chain',
        parameters: PROVENANCE_PARAMETERS,
        responses: { '200': json('each hop: id, seq, ageSeconds, peerId, kid, result'), ...provenanceResponses({ envelope: false }) },
      },
    },
    [METRICS_PATH]: { get: { operationId: 'metrics', summary: 'Prometheus metrics', responses: { '200': { description: 'text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
    '/openapi.json': { get: { operationId: 'openapi', summary: 'This document', responses: { '200': json('OpenAPI 3.1') } } },
  };
}

/** A problem response for one service code. */
export function serviceProblem(code: keyof typeof SERVICE_PROBLEMS): [string, unknown] {
  return [String(SERVICE_PROBLEMS[code].status), problemResponse(code)];
}
