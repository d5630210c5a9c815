/**
 * Starts a prepared deployment on the real programs: the services and stampers as child
 * processes of this product's CLI, then every gateway from the service outwards, each waited on
 * until it answers. Each gateway is supervised: when its certificates, the CA bundle or the CRL
 * change it gets its program's graceful reload within `pki.reloadSeconds`
 * (docs/operations/certificates.md#revocation). `stop()` ends everything by PID, also when a start
 * failed half-way.
 */
import { replicaAddresses } from '../topology/replicas.js';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { gatewayKind, renderTopology } from '../gateways/index.js';
import { startHop, type RunningGateway } from '../gateways/runtime.js';
import { superviseGateway, trustFilesOf, type GatewaySupervisor } from '../gateways/supervise.js';
import { writeRenderedFiles } from '../gateways/write.js';
import { splitListen, stamperEndpoint, type StamperEndpoint } from '../gateways/chain.js';
import type { ResolvedHop, ResolvedService, ResolvedTopology } from '../topology/resolve.js';
import type { PreparedDeployment } from './prepare.js';
import { cliInvocation, spawnManaged, waitUntil, type ManagedProcess } from '../io/process.js';
import { REGISTRY_BASE_PATH } from '../guard/server.js';
import { REGISTRY_PROGRAM, renderRegistryConfig } from '../registry/config.js';
import { GUARDED_SERVICE_KINDS } from '../topology/schema.js';

/** How long one part may take to come up. */
export const DEFAULT_START_TIMEOUT_MS = 30_000;

/** Options of {@link startDeployment}. */
export interface StartOptions {
  readonly startTimeoutMs?: number;
  /** Extra environment for the service processes (e.g. a PostgreSQL URL). */
  readonly serviceEnv?: Readonly<Record<string, string>>;
  /** How often the gateway supervisors look at the PKI files; default `pki.reloadSeconds`. */
  readonly reloadIntervalMs?: number;
  /** Told after every supervised gateway reload (error null on success). */
  readonly onGatewayReload?: (hopId: string, error: Error | null) => void;
}

/** A running deployment. */
export interface Deployment {
  readonly prepared: PreparedDeployment;
  readonly topology: ResolvedTopology;
  readonly gatewaysDir: string;
  /**
   * Service processes: `serve` for our services, the guard for a guarded one (docs/services.md#the-guard).
   * Replica N > 0 of a service (docs/topology.md#replicas) is under `<id>#<N>`.
   */
  readonly services: ReadonlyMap<string, ManagedProcess>;
  /** The third-party programs behind guards (an OCI registry), by service id. */
  readonly registries: ReadonlyMap<string, ManagedProcess>;
  readonly stampers: ReadonlyMap<string, ManagedProcess>;
  readonly gateways: ReadonlyMap<string, RunningGateway>;
  /** Stops one gateway (outage tests); `restartGateway` brings it back. */
  stopGateway(hopId: string): Promise<void>;
  restartGateway(hopId: string): Promise<void>;
  /** Stops every replica of a service, or only replica `replica` (0 is its `listen`). */
  stopService(serviceId: string, replica?: number): Promise<void>;
  restartService(serviceId: string): Promise<void>;
  /** Stops everything that is running; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Renders the gateway configs and starts every part of the deployment.
 *
 * @example
 * const dep = await startDeployment(await prepareDeployment({ topologyFile, workDir, freePorts: true }));
 * try { … } finally { await dep.stop(); }
 */
export async function startDeployment(prepared: PreparedDeployment, options: StartOptions = {}): Promise<Deployment> {
  const { topology, workDir } = prepared;
  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const gatewaysDir = join(workDir, 'gateways');
  const logsDir = join(workDir, 'logs');
  await mkdir(logsDir, { recursive: true });
  await writeRenderedFiles(gatewaysDir, renderTopology(topology, { outDir: gatewaysDir }));

  const services = new Map<string, ManagedProcess>();
  const registries = new Map<string, ManagedProcess>();
  const stampers = new Map<string, ManagedProcess>();
  const gateways = new Map<string, RunningGateway>();

  const startRegistry = async (service: ResolvedService): Promise<void> => {
    const registry = service.registry;
    if (!registry) throw new TypeError(`services.${service.id} has no registry`);
    await mkdir(registry.rootDirectory, { recursive: true, mode: 0o700 });
    const [config] = await writeRenderedFiles(join(workDir, 'registries'), renderRegistryConfig(topology, service));
    const proc = spawnManaged(`registry-${service.id}`, programPath(REGISTRY_PROGRAM), ['serve', config!], { logFile: join(logsDir, `registry-${service.id}.log`), cwd: workDir });
    registries.set(service.id, proc);
    await waitUntil(proc, () => registryIsLive(topology, service), timeoutMs, `registry of ${service.id}`);
  };
  const startService = async (service: ResolvedService): Promise<void> => {
    const guarded = GUARDED_SERVICE_KINDS.has(service.kind);
    // The registry outlives a restart of its guard (outage tests restart the guard alone).
    if (guarded && !registries.has(service.id)) await startRegistry(service);
    // Each replica is its own `serve --replica N` (docs/topology.md#replicas).
    for (const [n, listen] of replicaAddresses(service).entries()) {
      const key = replicaKey(service.id, n);
      const cli = cliInvocation([guarded ? 'guard' : 'serve', '--topology', prepared.topologyFile, '--service', service.id, ...(n > 0 ? ['--replica', String(n)] : [])]);
      const proc = spawnManaged(key, cli.command, cli.args, {
        logFile: join(logsDir, `${n > 0 ? `${service.id}-replica-${n}` : service.id}.log`),
        cwd: workDir,
        env: { ...process.env, ...options.serviceEnv },
      });
      services.set(key, proc);
      await waitUntil(proc, () => serviceIsLive(topology, service, listen), timeoutMs, `service ${key}`);
    }
  };
  const startGateway = async (hop: ResolvedHop): Promise<void> => {
    gateways.set(hop.id, await startHop(topology, hop, join(gatewaysDir, hop.id), { readyTimeoutMs: timeoutMs }));
  };

  const supervisors: GatewaySupervisor[] = [];
  const stopAllParts = async (): Promise<void> => {
    for (const supervisor of supervisors.splice(0)) supervisor.stop();
    await Promise.all([...gateways.values()].map((g) => g.stop()));
    await Promise.all([...stampers.values(), ...services.values()].map((p) => p.stop()));
    await Promise.all([...registries.values()].map((p) => p.stop()));
  };

  try {
    for (const service of topology.services) await startService(service);
    for (const hop of topology.hops) {
      const endpoint = hop.stamp !== false && hop.stamp.via === 'forward-auth' ? stamperEndpoint(hop) : null;
      if (!endpoint) continue;
      const cli = cliInvocation(['stamper', '--topology', prepared.topologyFile, '--hop', hop.id]);
      const proc = spawnManaged(`stamper-${hop.id}`, cli.command, cli.args, { logFile: join(logsDir, `stamper-${hop.id}.log`), cwd: workDir });
      stampers.set(hop.id, proc);
      await waitUntil(proc, () => stamperIsLive(topology, hop, endpoint), timeoutMs, `stamper of ${hop.id}`);
    }
    // From the service outwards, so every hop's upstream is up when it starts.
    for (const hop of [...topology.hops].reverse()) await startGateway(hop);
    const intervalMs = options.reloadIntervalMs ?? topology.pki.reloadSeconds * 1000;
    for (const hop of topology.hops) {
      // Only a program with an in-place reload is supervised (Envoy has none: docs/gateways/envoy.md).
      if (gatewayKind(hop.kind).program.reload(join(gatewaysDir, hop.id), hop).kind === 'unsupported') continue;
      supervisors.push(
        await superviseGateway(() => gateways.get(hop.id), trustFilesOf(topology, hop), {
          intervalMs,
          onReload: options.onGatewayReload ?? ((hopId, error) => void appendFile(join(logsDir, 'reload.log'), `${new Date().toISOString()} ${hopId} ${error ? `reload failed: ${error.message}` : 'reloaded'}\n`).catch(() => undefined)),
        }),
      );
    }
  } catch (error) {
    await stopAllParts();
    throw error;
  }

  let stopped = false;
  return {
    prepared,
    topology,
    gatewaysDir,
    services,
    registries,
    stampers,
    gateways,
    async stopGateway(hopId) {
      await gateways.get(hopId)?.stop();
    },
    async restartGateway(hopId) {
      const hop = topology.hops.find((h) => h.id === hopId);
      if (!hop) throw new TypeError(`no hop ${hopId}`);
      await gateways.get(hopId)?.stop();
      await startGateway(hop);
    },
    async stopService(serviceId, replica) {
      const service = topology.services.find((s) => s.id === serviceId);
      const replicas = replica === undefined ? replicaAddresses(service ?? { id: serviceId, listen: '' }).map((_a, n) => n) : [replica];
      for (const n of replicas) await services.get(replicaKey(serviceId, n))?.stop();
    },
    async restartService(serviceId) {
      const service = topology.services.find((s) => s.id === serviceId);
      if (!service) throw new TypeError(`no service ${serviceId}`);
      for (const n of replicaAddresses(service).keys()) await services.get(replicaKey(serviceId, n))?.stop();
      await startService(service);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopAllParts();
    },
  };
}

/** The key of replica `n` of a service in {@link Deployment.services}. */
function replicaKey(serviceId: string, n: number): string {
  return n === 0 ? serviceId : `${serviceId}#${n}`;
}

/** GET /healthz/live on a service (one replica's `listen`) over mTLS, presenting the certificate of the hop in front of it. */
async function serviceIsLive(topology: ResolvedTopology, service: ResolvedService, listen = service.listen): Promise<boolean> {
  const front = service.chain.at(-1);
  if (!front) return false;
  const [ca, cert, key] = await Promise.all([readFile(topology.pki.caBundle), readFile(front.upstreamTls.chain), readFile(front.upstreamTls.key)]);
  const { host, port } = splitListen(listen);
  const agent = new Agent({ connect: { ca, cert, key, servername: service.serverName } });
  try {
    const res = await request(`https://${host}:${port}/healthz/live`, { dispatcher: agent, headersTimeout: 2_000, bodyTimeout: 2_000 });
    await res.body.dump();
    return res.statusCode === 200;
  } finally {
    await agent.close();
  }
}

/** GET /healthz/live on a stamper the way its gateway reaches it: over its socket, or mTLS as the hop. */
async function stamperIsLive(topology: ResolvedTopology, hop: ResolvedHop, endpoint: StamperEndpoint): Promise<boolean> {
  let agent: Agent;
  let origin: string;
  if (endpoint.kind === 'unix') {
    agent = new Agent({ connect: { socketPath: endpoint.socket } });
    origin = 'http://stamper';
  } else {
    const [ca, cert, key] = await Promise.all([readFile(topology.pki.caBundle), readFile(hop.upstreamTls.chain), readFile(hop.upstreamTls.key)]);
    agent = new Agent({ connect: { ca, cert, key, servername: endpoint.serverName } });
    origin = `https://${endpoint.listen}`;
  }
  try {
    const res = await request(`${origin}/healthz/live`, { dispatcher: agent, headersTimeout: 2_000 });
    await res.body.dump();
    return res.statusCode === 200;
  } finally {
    await agent.close();
  }
}

/** GET /v2/ on the registry itself, with the guard's certificate (the service's own leaf). */
async function registryIsLive(topology: ResolvedTopology, service: ResolvedService): Promise<boolean> {
  const [ca, cert, key] = await Promise.all([readFile(topology.pki.caBundle), readFile(service.tls.chain), readFile(service.tls.key)]);
  const agent = new Agent({ connect: { ca, cert, key, servername: service.serverName } });
  try {
    const res = await request(`https://${service.registry!.listen}${REGISTRY_BASE_PATH}`, { dispatcher: agent, headersTimeout: 2_000, bodyTimeout: 2_000 });
    await res.body.dump();
    return res.statusCode === 200;
  } finally {
    await agent.close();
  }
}

/** Where a system program is, or an error that names the command installing it. */
function programPath(name: string): string {
  for (const dir of ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin']) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  throw new Error(`${name} is not installed; install the system packages with: bash scripts/install-system-deps.sh`);
}
