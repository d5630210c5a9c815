/** A Fastify app behind the provenance plugin, for inject() tests. */
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import provenance, { type ProvenancePluginOptions } from '../../../src/provenance/fastify.js';
import type { ReplayCache } from '../../../src/provenance/replay/cache.js';
import { fixtureKeys, fixtureTopology, NOW_MS, SERVICE, type BuiltRequest } from './fixture.js';

/** Header the tests use to say which certificate CN the TLS peer presented (no TLS in inject). */
export const TEST_PEER_HEADER = 'x-test-peer-cn';
/** Overrides the SPIFFE ID of the test peer (default: the gateway identity of its CN). */
export const TEST_PEER_SPIFFE_HEADER = 'x-test-peer-spiffe';

export interface TestApp {
  app: FastifyInstance;
  /** How many times a protected handler ran. */
  handled: () => number;
  registry: Registry;
  logLines: () => string[];
}

/** Builds the app; `overrides` replace plugin options. */
export async function buildTestApp(overrides: Partial<ProvenancePluginOptions> & { replayCache?: ReplayCache } = {}): Promise<TestApp> {
  const topology = overrides.topology ?? fixtureTopology();
  const lines: string[] = [];
  const app = Fastify({
    logger: { level: 'info', stream: { write: (line: string) => void lines.push(line) } },
  });
  const registry = new Registry();
  await app.register(provenance, {
    topology,
    serviceId: SERVICE,
    hopKeys: fixtureKeys(topology),
    now: () => NOW_MS,
    metrics: { registry },
    peerIdentity: (request) => {
      const cn = request.headers[TEST_PEER_HEADER];
      const spiffe = request.headers[TEST_PEER_SPIFFE_HEADER];
      return typeof cn === 'string' ? { cn, fingerprint: 'sha256:'.padEnd(71, '0'), spiffeId: typeof spiffe === 'string' ? spiffe : `spiffe://${topology.trustDomain}/gateway/${cn}` } : null;
    },
    ...overrides,
  });
  let count = 0;
  app.post('/api/v1/evidence', async (request) => {
    count += 1;
    return { provenance: request.provenance, body: request.body };
  });
  if (overrides.envelope) {
    app.post('/api/v1/envelope', { config: { provenance: { envelope: true } } }, async (request) => {
      count += 1;
      return { provenance: request.provenance, bodyParsed: request.body !== undefined, rawBodyBytes: request.rawBody?.length ?? null };
    });
  }
  app.post('/api/v1/any/*', async (request) => {
    count += 1;
    return { provenance: request.provenance };
  });
  app.get('/api/v1/scans/:id', async (request) => {
    count += 1;
    return { provenance: request.provenance };
  });
  app.get('/healthz/live', { config: { provenance: false } }, async (request) => ({ live: true, provenance: request.provenance }));
  await app.ready();
  return { app, handled: () => count, registry, logLines: () => lines };
}

/** Sends a built request from the last hop (or from `peer`). */
export function send(app: FastifyInstance, built: BuiltRequest, extra: { headers?: Record<string, string | string[]>; peer?: string | null; body?: Buffer } = {}) {
  const headers: Record<string, string | string[]> = { ...built.headers, ...extra.headers };
  const peer = extra.peer === undefined ? 'gw-internal' : extra.peer;
  if (peer !== null) headers[TEST_PEER_HEADER] = peer;
  const body = extra.body ?? built.body;
  return app.inject({ method: built.method as 'POST', url: built.url, headers, ...(body && body.length > 0 ? { payload: body } : {}) });
}
