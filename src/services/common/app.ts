/**
 * What the Evidence Locker and the Scanner WebService share (docs/services.md, docs/services.md#health-and-metrics): a Fastify instance with
 * problem+json handlers, metrics, health probes and the provenance plugin in front of every route
 * that does not opt out. Each service adds its own routes to the instance this returns.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { SERVICE_REQUEST_TIMEOUT_SECONDS } from '../../topology/timeouts.js';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import type { Registry } from 'prom-client';
import provenancePlugin, { type ProvenancePluginOptions } from '../../provenance/fastify.js';
import { tlsPeerIdentity } from '../../provenance/options.js';
import type { ResolvedService, ResolvedTopology } from '../../topology/resolve.js';
import type { EvidenceStore } from '../../storage/types.js';
import { accessPolicy, type AccessPolicy } from './access.js';
import { installProblemHandlers } from './errors.js';
import { installHealth, storeCheck, type ReadinessCheck } from './health.js';
import { installMetrics, type ServiceMetrics } from './metrics.js';
import { REQUEST_ID_HEADER, requestIdOf } from '../../observe/request-id.js';

/** Options every service app takes. I/O comes in through them (STYLE: inject I/O). */
export interface ServiceAppOptions {
  topology: ResolvedTopology;
  serviceId: string;
  store: EvidenceStore;
  /** Provenance plugin options besides topology and service: hop keys, replay cache, envelope verifiers, peer identity, clock. */
  provenance: Omit<ProvenancePluginOptions, 'topology' | 'serviceId' | 'metrics'>;
  /** Clock in ms for receive times; default `Date.now`. Passed on to the plugin unless it has its own. */
  now?: () => number;
  /** A pino logger instance, or Fastify logger options; default: no logging. */
  logger?: FastifyBaseLogger | FastifyServerOptions['logger'];
  registry?: Registry;
  /** Extra readiness checks (keys, certificate); the database check is always there. */
  readiness?: readonly ReadinessCheck[];
  /** Serve HTTPS with these options (the mTLS server of `serve`); default plain HTTP (tests, behind a local proxy). */
  https?: HttpsServerOptions;
  /** Close the store when the app closes (default true: the app owns it). */
  closeStore?: boolean;
}

/** The instance plus what services need from the shared layer. */
export interface ServiceBase {
  app: FastifyInstance;
  service: ResolvedService;
  /** Who may read what (docs/services.md#who-may-write-and-read). */
  access: AccessPolicy;
  metrics: ServiceMetrics;
  now: () => number;
}

/** One route as registered (method and URL pattern, `:param` syntax). */
export interface RegisteredRoute {
  method: string;
  url: string;
}

const routeTables = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** The routes a service app registered (the OpenAPI test compares them with the document). */
export function routesOf(app: FastifyInstance): readonly RegisteredRoute[] {
  return routeTables.get(app) ?? [];
}

const readinessTables = new WeakMap<FastifyInstance, readonly ReadinessCheck[]>();

/** The checks behind a service app's `/healthz/ready` (the ops listener's `/readyz` runs the same). */
export function readinessOf(app: FastifyInstance): readonly ReadinessCheck[] {
  return readinessTables.get(app) ?? [];
}

/** Builds the shared part. @throws TypeError when the service id is not in the topology. */
export async function createServiceBase(options: ServiceAppOptions, kind: ResolvedService['kind']): Promise<ServiceBase> {
  const service = options.topology.services.find((s) => s.id === options.serviceId);
  if (!service) throw new TypeError(`no service "${options.serviceId}" in topology ${options.topology.name}`);
  if (service.kind !== kind) throw new TypeError(`service "${service.id}" is a ${service.kind}, not a ${kind}`);
  const now = options.now ?? Date.now;
  const logger = options.logger ?? false;
  const isInstance = typeof logger === 'object' && logger !== null && typeof (logger as FastifyBaseLogger).child === 'function';
  const app = Fastify({
    ...(isInstance ? { loggerInstance: logger as FastifyBaseLogger } : { logger: logger as FastifyServerOptions['logger'] }),
    ...(options.https ? { https: options.https } : {}),
    bodyLimit: service.maxBodyBytes,
    // The innermost timeout of the chain's schedule (docs/gateways/README.md#timeouts).
    requestTimeout: SERVICE_REQUEST_TIMEOUT_SECONDS * 1000,
    // Graceful shutdown (docs/services.md): close() stops accepting, lets in-flight requests finish, and
    // only then runs onClose hooks (which close the store). It sets no bound of its own: whoever stops
    // the process bounds it (the process runtime's DEFAULT_STOP_GRACE_MS, then SIGKILL; systemd's TimeoutStopSec).
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, allErrors: false } },
    // docs/operations/running.md#the-request-id: the gateway's X-Request-Id when sane, else a new
    // one; it is the `reqId` of every log line of the request, decisions included.
    requestIdHeader: false,
    genReqId: (request) => requestIdOf(request.headers),
  }) as unknown as FastifyInstance;
  // Echoed on every answer, refusals included, so a caller can quote it.
  app.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id);
  });

  const routes: RegisteredRoute[] = [];
  routeTables.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url });
  });
  installProblemHandlers(app);
  const peerIdentity = options.provenance.peerIdentity ?? ((request: FastifyRequest) => tlsPeerIdentity(request.raw.socket));
  const access = accessPolicy(options.topology, service, peerIdentity);
  const metrics = installMetrics(app, { registry: options.registry, service: service.id, access });
  await app.register(provenancePlugin, {
    ...options.provenance,
    now: options.provenance.now ?? now,
    topology: options.topology,
    serviceId: service.id,
    metrics: { registry: metrics.registry },
  });
  const checks = [storeCheck(options.store), ...(options.readiness ?? [])];
  readinessTables.set(app, checks);
  installHealth(app, { service: service.id, checks, access });
  if (options.closeStore ?? true) app.addHook('onClose', async () => options.store.close());
  return { app, service, access, metrics, now };
}
