/** A Fastify app behind the provenance plugin, for inject() tests; a plain Node server behind the Node adapter. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import provenance, { type ProvenancePluginOptions } from '../../../src/provenance/fastify.js';
import { createProvenanceMiddleware, type ProvenanceIncomingMessage, type ProvenanceMiddlewareOptions } from '../../../src/provenance/node.js';
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

/** A real Node HTTP server behind `createProvenanceMiddleware`. */
export interface NodeGuard {
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  /** How many requests reached the handler (passed the check). */
  readonly handled: number;
  close(): Promise<void>;
}

/**
 * Starts the Node adapter on a loopback port in front of a handler answering `answer(req)` as JSON.
 * The peer is the CN in {@link TEST_PEER_HEADER} (a gateway identity), the clock is NOW_MS.
 */
export async function startNodeGuard(
  options: Pick<ProvenanceMiddlewareOptions, 'topology' | 'hopKeys'> & Partial<ProvenanceMiddlewareOptions>,
  answer: (req: ProvenanceIncomingMessage) => unknown,
): Promise<NodeGuard> {
  const { topology } = options;
  const guard = createProvenanceMiddleware({
    serviceId: SERVICE,
    now: () => NOW_MS,
    metrics: { registry: new Registry() },
    peerIdentity: (req) => {
      const cn = req.headers[TEST_PEER_HEADER];
      return typeof cn === 'string' ? { cn, fingerprint: 'sha256:', spiffeId: `spiffe://${topology.trustDomain}/gateway/${cn}` } : null;
    },
    ...options,
  });
  let handled = 0;
  const server = createServer((req, res) =>
    guard(req, res, (error) => {
      if (error) {
        res.statusCode = 500;
        res.end();
        return;
      }
      handled += 1;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(answer(req as ProvenanceIncomingMessage)));
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get handled() {
      return handled;
    },
    async close() {
      await new Promise((resolve) => server.close(resolve));
      await guard.close();
    },
  };
}
